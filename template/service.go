package template

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/blobevent"
)

// Blobs is the templates container as the service reads it.
type Blobs interface {
	Properties(ctx context.Context, name string) (goldenpipe.BlobVersion, error)
	OpenRange(ctx context.Context, name, etag string, off, count int64) (io.ReadCloser, error)
	ContainerURL() string
	URL(name string) string
	// List returns the names of every blob in the container.
	List(ctx context.Context) ([]string, error)
}

// Record is the catalog's view of one template: what was uploaded, what is
// wrong with it, what would be built, and whether it needs a build.
type Record struct {
	Name         string    `json:"name"`
	Blob         string    `json:"blob"`
	URL          string    `json:"url"`
	ETag         string    `json:"etag"`
	LastModified time.Time `json:"lastModified"`
	ProcessedAt  time.Time `json:"processedAt"`

	SourceAPI string    `json:"sourceApiVersion,omitempty"`
	Valid     bool      `json:"valid"`
	Problems  []Problem `json:"problems"`
	Warnings  []Problem `json:"warnings"`
	Notes     []string  `json:"upgradeNotes"`
	Policy    Policy    `json:"policy"`

	Rendered *Rendered `json:"rendered,omitempty"`
	Plan     *Plan     `json:"plan,omitempty"`
	// Stale is set when something the rendering depends on changed (a
	// script) and cleared when it is rendered again.
	Stale       bool   `json:"stale"`
	StaleReason string `json:"staleReason,omitempty"`
	// LastBuild is the last successful build's summary (set by builds).
	LastBuild *BuildSummary `json:"lastBuild,omitempty"`

	// Source is the uploaded text, kept so the template can be rendered
	// again (new checksums, a new "latest") without reading the blob.
	Source string `json:"source"`
}

// Service keeps the template catalog in step with the templates container.
type Service struct {
	Blobs      Blobs
	Docs       goldenpipe.Documents
	Container  string // the templates container
	ScriptsURL string
	Checksums  ChecksumSource
	Versions   VersionLister
	Log        *slog.Logger
	Now        func() time.Time
	// Listeners hear of every template rendered after an upload or a
	// script change whose plan asks for a build (not of the nightly
	// refresh, whose caller reads the plans itself).
	Listeners []PlanListener
}

// PlanListener hears of templates whose plan asks for a build.
type PlanListener interface {
	Planned(ctx context.Context, rec Record) error
}

const (
	recordPrefix  = "templates/"
	historyPrefix = "templates-history/"
	maxAttempts   = 5
)

func recordKey(name string) string { return recordPrefix + keyOf(name) + ".json" }

func keyOf(name string) string {
	h := sha256.Sum256([]byte(name))
	return hex.EncodeToString(h[:20])
}

// HandleBlobEvent checks an event of the templates container and reconciles
// the template it names.
func (s *Service) HandleBlobEvent(ctx context.Context, ev goldenpipe.BlobEvent) (string, error) {
	blob, ignored, err := blobevent.Target(ev, s.Container, s.Blobs.ContainerURL())
	if err != nil || ignored != "" {
		return ignored, err
	}
	name, err := NameFromBlob(blob)
	if err != nil {
		return "ignored: " + err.Error(), nil
	}
	outcome, err := s.Reconcile(ctx, blob, name, &Resolver{Lister: s.Versions}, false)
	if err == nil {
		err = s.notify(ctx, name)
	}
	return outcome, err
}

// notify tells the listeners of a template whose plan asks for a build.
func (s *Service) notify(ctx context.Context, name string) error {
	if len(s.Listeners) == 0 {
		return nil
	}
	rec, err := s.Get(ctx, name)
	if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
		return nil
	}
	if err != nil {
		return err
	}
	if !rec.Valid || rec.Plan == nil || !rec.Plan.Rebuild {
		return nil
	}
	for _, l := range s.Listeners {
		if err := l.Planned(ctx, rec); err != nil {
			return fmt.Errorf("requesting a build of %q: %w", name, err)
		}
	}
	return nil
}

// RecordBuild records a template's last successful build and plans again.
// A build that finished before the one recorded changes nothing.
func (s *Service) RecordBuild(ctx context.Context, name string, sum BuildSummary) error {
	_, err := s.update(ctx, recordKey(name), func(r *Record) error {
		if r.LastBuild != nil && r.LastBuild.FinishedAt.After(sum.FinishedAt) {
			return nil
		}
		r.LastBuild = &sum
		if r.Rendered != nil {
			p := MakePlan(r.Rendered, r.Policy, &sum)
			r.Plan = &p
		}
		return nil
	})
	if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
		return nil // the template was deleted meanwhile
	}
	return err
}

// Reconcile makes the record of a template match its blob as it is now.
// With render, an unchanged template is rendered again (new checksums, a
// new "latest") from the stored source; without, it is left as it is.
func (s *Service) Reconcile(ctx context.Context, blob, name string, versions *Resolver, render bool) (string, error) {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		outcome, retry, err := s.reconcileOnce(ctx, blob, name, versions, render)
		if !retry {
			return outcome, err
		}
	}
	return "", goldenpipe.Errorf(goldenpipe.ECONFLICT, "template %q kept changing; the event will be redelivered", name)
}

func (s *Service) reconcileOnce(ctx context.Context, blob, name string, versions *Resolver, render bool) (string, bool, error) {
	var old Record
	oldETag, err := s.Docs.Get(ctx, recordKey(name), &old)
	hasOld := err == nil
	if err != nil && goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
		return "", false, fmt.Errorf("reading the record of template %q: %w", name, err)
	}
	ver, err := s.Blobs.Properties(ctx, blob)
	if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
		if !hasOld {
			return "template blob does not exist and has no record; nothing to do", false, nil
		}
		if _, err := s.Docs.Overwrite(ctx, historyPrefix+keyOf(name)+"/"+old.ETag+".json", old); err != nil {
			return "", false, fmt.Errorf("keeping template %q in history: %w", name, err)
		}
		if err := s.Docs.Delete(ctx, recordKey(name), oldETag); err != nil {
			if goldenpipe.ErrorCode(err) == goldenpipe.ECONFLICT {
				return "", true, nil
			}
			return "", false, err
		}
		return "template deleted; record removed (kept in history)", false, nil
	}
	if err != nil {
		return "", false, err
	}
	unchanged := hasOld && old.ETag == ver.ETag
	if unchanged && !old.Stale && !render {
		return fmt.Sprintf("version %s already processed", ver.ETag), false, nil
	}
	rec := Record{Name: name, Blob: blob, URL: s.Blobs.URL(blob), ETag: ver.ETag, LastModified: ver.LastModified, ProcessedAt: s.now()}
	if hasOld {
		rec.LastBuild = old.LastBuild
	}
	if ver.Size > MaxTemplateBytes {
		rec.Problems = []Problem{{Path: "(template)", Message: fmt.Sprintf("the blob is %d bytes, over the limit of %d", ver.Size, MaxTemplateBytes)}}
	} else if unchanged {
		rec.Source = old.Source
		if err := s.render(ctx, &rec, versions); err != nil {
			return "", false, err
		}
	} else {
		text, err := s.read(ctx, blob, ver)
		switch goldenpipe.ErrorCode(err) {
		case "":
		case goldenpipe.ECONFLICT, goldenpipe.ENOTFOUND:
			return "", true, nil
		default:
			return "", false, err
		}
		rec.Source = text
		if err := s.render(ctx, &rec, versions); err != nil {
			return "", false, err
		}
	}
	if _, err := s.Docs.Put(ctx, recordKey(name), rec, oldETag); err != nil {
		if goldenpipe.ErrorCode(err) == goldenpipe.ECONFLICT {
			return "", true, nil
		}
		return "", false, fmt.Errorf("writing the record of template %q: %w", name, err)
	}
	return rec.summary(), false, nil
}

// render parses and renders rec.Source into rec.
func (s *Service) render(ctx context.Context, rec *Record, versions *Resolver) error {
	p := Parse(rec.Name, []byte(rec.Source), Options{ScriptsURL: s.ScriptsURL})
	rec.SourceAPI, rec.Problems, rec.Warnings, rec.Notes, rec.Policy = p.SourceAPI, p.Problems, p.Warnings, p.Notes, p.Policy
	rec.Valid, rec.Rendered, rec.Plan, rec.Stale, rec.StaleReason = false, nil, nil, false, ""
	if !p.Valid() {
		return nil
	}
	r := &Renderer{ScriptsURL: s.ScriptsURL, Checksums: s.Checksums, Versions: versions}
	out, problems, err := r.Render(ctx, p)
	if err != nil {
		return fmt.Errorf("rendering template %q: %w", rec.Name, err)
	}
	if len(problems) > 0 {
		rec.Problems = problems
		return nil
	}
	rec.Valid, rec.Rendered = true, out
	rec.Warnings = append(rec.Warnings, out.Warnings...)
	plan := MakePlan(out, p.Policy, rec.LastBuild)
	rec.Plan = &plan
	return nil
}

func (r Record) summary() string {
	switch {
	case !r.Valid:
		return fmt.Sprintf("template %q is invalid: %d problem(s)", r.Name, len(r.Problems))
	case r.Plan != nil:
		return fmt.Sprintf("template %q rendered: fingerprint %s; rebuild=%v (%s)", r.Name, short(r.Rendered.Fingerprint), r.Plan.Rebuild, r.Plan.Reason)
	}
	return fmt.Sprintf("template %q rendered", r.Name)
}

// read reads a template blob whole, conditioned on its version.
func (s *Service) read(ctx context.Context, blob string, ver goldenpipe.BlobVersion) (string, error) {
	if ver.Size == 0 {
		return "", nil
	}
	body, err := s.Blobs.OpenRange(ctx, blob, ver.ETag, 0, ver.Size)
	if err != nil {
		return "", err
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, MaxTemplateBytes+1))
	if err != nil {
		return "", goldenpipe.Wrap(goldenpipe.EUNAVAILABLE, err, "reading template blob %q", blob)
	}
	return string(b), nil
}

// refreshWorkers bounds the templates rendered at once by Refresh.
const refreshWorkers = 16

// Refresh brings every template up to date: it lists the templates
// container (so a lost upload or delete event is caught here), renders each
// template again with one version lookup per image and one checksum check
// per script for the whole run, and stores the new plans.
func (s *Service) Refresh(ctx context.Context) ([]Record, error) {
	blobs, err := s.Blobs.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing the templates container: %w", err)
	}
	known, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	run := *s // this run's view: checksums memoized, versions cached
	run.Checksums = &memoChecksums{src: s.Checksums}
	versions := &Resolver{Lister: s.Versions}
	type job struct{ blob, name string }
	var jobs []job
	seen := map[string]bool{}
	for _, blob := range blobs {
		if name, err := NameFromBlob(blob); err == nil {
			seen[name] = true
			jobs = append(jobs, job{blob, name})
		}
	}
	for _, rec := range known {
		if !seen[rec.Name] { // its blob is gone: the record goes to history
			jobs = append(jobs, job{rec.Blob, rec.Name})
		}
	}
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, refreshWorkers)
	for i, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			_, errs[i] = run.Reconcile(ctx, j.blob, j.name, versions, true)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s.List(ctx)
}

// memoChecksums answers each script once per run.
type memoChecksums struct {
	src ChecksumSource
	mu  sync.Mutex
	m   map[string]*memoEntry
}

type memoEntry struct {
	done chan struct{}
	c    goldenpipe.Checksum
	err  error
}

func (m *memoChecksums) Checksum(ctx context.Context, name string) (goldenpipe.Checksum, error) {
	m.mu.Lock()
	if m.m == nil {
		m.m = map[string]*memoEntry{}
	}
	e, ok := m.m[name]
	if !ok {
		e = &memoEntry{done: make(chan struct{})}
		m.m[name] = e
	}
	m.mu.Unlock()
	if !ok {
		e.c, e.err = m.src.Checksum(ctx, name)
		close(e.done)
	}
	<-e.done
	return e.c, e.err
}

// update applies fn to a stored record with a conditional write, retrying
// when another writer got there first.
func (s *Service) update(ctx context.Context, key string, fn func(*Record) error) (Record, error) {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		var rec Record
		etag, err := s.Docs.Get(ctx, key, &rec)
		if err != nil {
			return Record{}, err
		}
		if err := fn(&rec); err != nil {
			return Record{}, err
		}
		rec.ProcessedAt = s.now()
		if _, err := s.Docs.Put(ctx, key, rec, etag); err == nil {
			return rec, nil
		} else if goldenpipe.ErrorCode(err) != goldenpipe.ECONFLICT {
			return Record{}, err
		}
	}
	return Record{}, goldenpipe.Errorf(goldenpipe.ECONFLICT, "record %s kept changing", key)
}

// ScriptChanged renders the templates that use a script again (with its
// new checksum) and tells the listeners of those that now need a build. It
// implements the checksum catalog's change hook; the nightly refresh renders
// every template anyway, so a lost notice delays nothing past that.
func (s *Service) ScriptChanged(ctx context.Context, name string) error {
	list, err := s.List(ctx)
	if err != nil {
		return err
	}
	versions := &Resolver{Lister: s.Versions}
	for _, rec := range list {
		if rec.Rendered == nil {
			continue
		}
		if _, uses := rec.Rendered.Scripts[name]; !uses {
			continue
		}
		if _, err := s.update(ctx, recordKey(rec.Name), func(r *Record) error {
			r.Stale, r.StaleReason = true, fmt.Sprintf("script %q changed", name)
			return nil
		}); err != nil {
			return fmt.Errorf("marking template %q stale: %w", rec.Name, err)
		}
		if _, err := s.Reconcile(ctx, rec.Blob, rec.Name, versions, true); err != nil {
			return fmt.Errorf("rendering template %q again: %w", rec.Name, err)
		}
		if err := s.notify(ctx, rec.Name); err != nil {
			return err
		}
	}
	return nil
}

// List returns every template's record, by name.
func (s *Service) List(ctx context.Context) ([]Record, error) {
	keys, err := s.Docs.Keys(ctx, recordPrefix)
	if err != nil {
		return nil, fmt.Errorf("listing templates: %w", err)
	}
	return goldenpipe.ReadAll[Record](ctx, s.Docs, keys, func(a, b Record) bool { return a.Name < b.Name })
}

// Get returns one template's record; ENOTFOUND when unknown.
func (s *Service) Get(ctx context.Context, name string) (Record, error) {
	var rec Record
	if _, err := s.Docs.Get(ctx, recordKey(name), &rec); err != nil {
		if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
			return Record{}, goldenpipe.Errorf(goldenpipe.ENOTFOUND, "no template %q", name)
		}
		return Record{}, err
	}
	return rec, nil
}

func (s *Service) now() time.Time { return goldenpipe.NowUTC(s.Now) }
