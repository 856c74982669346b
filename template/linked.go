package template

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/goldenpipe/goldenpipe"
)

// Linked templates. A nested deployment's templateLink.relativePath names
// a file beside the linking one, as a template in a storage account or a
// template spec links the files beside it ("Linked templates: relative
// path", Microsoft Learn, azure-resource-manager/templates/linked-templates
// #linked-template-with-relative-path; the Resources API's TemplateLink
// model: "deploy a linked template at a location relative to the
// parent"; if the parent was linked by URI, "a combination of the parent
// and relativePath URIs", here the linking blob's folder in the templates
// container). The function app reads it from the
// templates container (Service's loader), `goldenpipe render` and
// `goldenpipe validate` from the linking file's folder on disk (DirLoader);
// package arm bounds how many and how large. A uri or a template spec id
// is not fetched: arm says so, a problem of the linking template.
//
// A linking template's record lists the linked blobs it read with their
// ETags: a change to one of them renders the template again, and a
// reverse index (template-links/) names, for each linked blob, the
// template files that link it, so the linked blob's upload re-plans them.
// A linked file that is not a valid template on its own (its parameters
// come from the linking deployment, or it holds no image template) is
// recorded as "linked by …" with no problems: it is evaluated where it is
// linked. A linked file that is a whole template of its own (an image
// template, every parameter with a value) is a template as well.

// KindLinked is the kind of a record of a file other templates link, not
// a template of its own (Record.LinkedBy says which).
const KindLinked = "linked"

// LinkedBlob is a linked template a deployment template read, with the
// version read (no ETag: the blob did not exist).
type LinkedBlob struct {
	Blob string `json:"blob"`
	ETag string `json:"etag"`
}

// linksPrefix holds the reverse index: for a linked blob, the template
// files that link it.
const linksPrefix = "template-links/"

func linksKey(blob string) string { return linksPrefix + keyOf(blob) + ".json" }

// linkIndex names the template files (blobs) that link Blob.
type linkIndex struct {
	Blob string   `json:"blob"`
	By   []string `json:"by"`
}

// DirLoader reads linked templates from dir (the linking file's folder),
// for Deployment.Load in tools that read files from disk: a path must
// stay inside dir, and a file is read up to MaxTemplateBytes (and one
// byte more, so that arm reports it as too large).
func DirLoader(dir string) func(string) ([]byte, error) {
	return func(rel string) ([]byte, error) {
		clean := filepath.Clean(filepath.FromSlash(rel))
		if !filepath.IsLocal(clean) {
			return nil, fmt.Errorf("%q is outside the folder %s", rel, dir)
		}
		root, err := os.OpenRoot(dir)
		if err != nil {
			return nil, err
		}
		defer root.Close()
		f, err := root.Open(clean)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("no file %s in %s", filepath.ToSlash(clean), dir)
			}
			return nil, err
		}
		defer f.Close()
		b := make([]byte, 0, 4096)
		for len(b) <= MaxTemplateBytes {
			if len(b) == cap(b) {
				b = slices.Grow(b, min(cap(b), MaxTemplateBytes+1-len(b)))
			}
			n, err := f.Read(b[len(b):min(cap(b), MaxTemplateBytes+1)])
			b = b[:len(b)+n]
			if err != nil {
				break
			}
		}
		return b, nil
	}
}

// linkedBy returns the template files that link blob (none: nil).
func (s *Service) linkedBy(ctx context.Context, r *run, blob string) ([]string, error) {
	if !r.linkIndexes.has(linksKey(blob)) {
		return nil, nil // the run's listing has no index for it
	}
	var idx linkIndex
	_, err := s.Docs.Get(ctx, linksKey(blob), &idx)
	switch goldenpipe.ErrorCode(err) {
	case "":
		return idx.By, nil
	case goldenpipe.ENOTFOUND:
		return nil, nil
	}
	return nil, fmt.Errorf("reading which templates link %q: %w", blob, err)
}

// asLinked turns the parse of a linked file that is not a valid template
// on its own into one record saying who links it.
// A file linking itself, or linking back a file that links it (a cycle:
// neither is evaluated to the end), is not "linked" by it: its problems
// show.
func asLinked(blob, base string, parsed []*Parsed, by []string, reads []LinkedBlob) []*Parsed {
	by = slices.DeleteFunc(slices.Clone(by), func(b string) bool {
		return b == blob || slices.ContainsFunc(reads, func(r LinkedBlob) bool { return r.Blob == b })
	})
	if len(by) == 0 {
		return parsed
	}
	for _, p := range parsed {
		if p.Valid() {
			return parsed // a template of its own as well
		}
	}
	return []*Parsed{{Name: base, Kind: KindLinked, LinkedBy: by}}
}

// renderLinked fills the record of a linked file that is no template of
// its own.
func renderLinked(rec *Record, p *Parsed) {
	rec.Kind, rec.LinkedBy = KindLinked, p.LinkedBy
	rec.Valid, rec.Rendered, rec.Plan, rec.Stale, rec.StaleReason = false, nil, nil, false, ""
	rec.Problems, rec.Warnings = []Problem{}, []Problem{}
	rec.Notes = []string{fmt.Sprintf("linked by %s (templateLink.relativePath): evaluated there, with the parameters passed; not a template of its own", strings.Join(by(p.LinkedBy), ", "))}
}

func by(blobs []string) []string {
	out := make([]string, len(blobs))
	for i, b := range blobs {
		out[i] = fmt.Sprintf("%q", b)
	}
	return out
}

// linkedSet is the linked blobs of a file's records.
func linkedSet(recs []Record) map[string]bool {
	out := map[string]bool{}
	for _, r := range recs {
		for _, lb := range r.Linked {
			out[lb.Blob] = true
		}
	}
	return out
}

// relink brings the reverse index in step with what a template file now
// links (was: before). A blob that becomes linked, or is linked no more,
// is reconciled again, so its record says whether it is linked.
func (s *Service) relink(ctx context.Context, r *run, blob string, was, now map[string]bool) error {
	var changed []string
	for lb := range now {
		if was[lb] {
			continue
		}
		first := false
		err := s.editLinks(ctx, r, lb, func(idx *linkIndex) {
			if !slices.Contains(idx.By, blob) {
				first = len(idx.By) == 0
				idx.By = append(idx.By, blob)
				sort.Strings(idx.By)
			}
		})
		if err != nil {
			return err
		}
		if first {
			changed = append(changed, lb)
		}
	}
	for lb := range was {
		if now[lb] {
			continue
		}
		last := false
		err := s.editLinks(ctx, r, lb, func(idx *linkIndex) {
			if i := slices.Index(idx.By, blob); i >= 0 {
				idx.By = slices.Delete(idx.By, i, i+1)
				last = len(idx.By) == 0
			}
		})
		if err != nil {
			return err
		}
		if last {
			changed = append(changed, lb)
		}
	}
	if r.noCascade {
		return nil
	}
	sort.Strings(changed)
	// read as it is now, the records it settles going where this run's go
	once := &run{settled: r.settled, checksums: r.checksums, versions: &Resolver{Lister: s.Versions}, render: true, noCascade: true}
	for _, lb := range changed {
		if lb == blob {
			continue
		}
		if _, _, err := s.reconcileFile(ctx, once, lb); err != nil {
			return fmt.Errorf("reconciling linked template %q: %w", lb, err)
		}
	}
	return nil
}

// editLinks changes a blob's reverse index with a conditional write; an
// index left empty is deleted.
func (s *Service) editLinks(ctx context.Context, r *run, blob string, fn func(*linkIndex)) error {
	key := linksKey(blob)
	for attempt := 0; attempt < maxAttempts; attempt++ {
		var idx linkIndex
		etag, err := s.Docs.Get(ctx, key, &idx)
		switch goldenpipe.ErrorCode(err) {
		case "", goldenpipe.ENOTFOUND:
		default:
			return err
		}
		existed := err == nil
		idx.Blob = blob
		before := slices.Clone(idx.By)
		fn(&idx)
		switch {
		case slices.Equal(before, idx.By) && existed:
			return nil
		case len(idx.By) == 0 && !existed:
			return nil
		case len(idx.By) == 0:
			err = s.Docs.Delete(ctx, key, etag)
		default:
			if _, err = s.Docs.Put(ctx, key, idx, etag); err == nil {
				r.linkIndexes.add(key) // a refresh's later reconciles read it
			}
		}
		if goldenpipe.ErrorCode(err) == goldenpipe.ECONFLICT {
			continue
		}
		return err
	}
	return goldenpipe.Errorf(goldenpipe.ECONFLICT, "the templates linking %q kept changing; the event will be redelivered", blob)
}

// linkersChanged reconciles the template files that link a blob which
// changed, and returns the templates they hold (for notify).
func (s *Service) linkersChanged(ctx context.Context, r *run, blob string) ([]string, error) {
	linkers, err := s.linkedBy(ctx, r, blob)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, l := range linkers {
		if l == blob {
			continue
		}
		_, ns, err := s.reconcileFile(ctx, r, l)
		if err != nil {
			return names, fmt.Errorf("rendering %q, which links %q, again: %w", l, blob, err)
		}
		names = append(names, ns...)
	}
	return names, nil
}

// keySet is a refresh's view of the reverse indexes that exist: listed
// once, and added to as its reconciles write new ones (they run
// concurrently). A nil set holds every key (no view: read the index).
type keySet struct {
	mu sync.Mutex
	m  map[string]bool
}

func (k *keySet) has(key string) bool {
	if k == nil {
		return true
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.m[key]
}

func (k *keySet) add(key string) {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.m[key] = true
}

// linkIndexKeys lists the reverse indexes (for a refresh's view).
func (s *Service) linkIndexKeys(ctx context.Context) (*keySet, error) {
	keys, err := s.Docs.Keys(ctx, linksPrefix)
	if err != nil {
		return nil, fmt.Errorf("listing linked templates: %w", err)
	}
	out := &keySet{m: make(map[string]bool, len(keys))}
	for _, k := range keys {
		out.m[k] = true
	}
	return out, nil
}
