package template

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/goldenpipe/goldenpipe"
)

// The shell around decide (decide.go): it observes one template file,
// asks decide, observes what the decision still needs, and applies the
// decision with conditional writes. A lost race, or a blob that changed
// while it was read, observes the file again (up to maxAttempts times).

// run is one pass's view of the world, handed to each reconcile of the
// pass (never kept on the Service): a refresh's listing of the templates
// container and of the indexes that exist, where the records it settles
// go, the checksum and version look-ups it shares.
type run struct {
	// listed is the templates container's listing with each blob's
	// version (nil: each blob's properties are read).
	listed map[string]goldenpipe.BlobVersion
	// fileIndexes are the file indexes that exist (nil: each is read).
	fileIndexes map[string]bool
	// linkIndexes are the reverse indexes of linked blobs listed (nil:
	// each is read).
	linkIndexes *keySet
	// settled hears of each record as it stands once reconciled (a
	// refresh); a run with it sends no build requests itself.
	settled   func(Record)
	checksums ChecksumSource
	versions  *Resolver
	// render renders unchanged templates again (new checksums, a new
	// "latest") from their stored sources.
	render bool
	// noCascade stops a reconcile from reconciling the blobs it links
	// or unlinks (linked.go).
	noCascade bool
	// written are the records the run wrote, by name, with their ETags
	// (nil: not kept): sending a build request starts from the record as
	// written instead of reading it again.
	written map[string]stored
}

// eventRun is the view of a reconcile on its own (an event, a script
// change): every blob and index is read.
func (s *Service) eventRun(versions *Resolver, render bool) *run {
	return &run{checksums: s.Checksums, versions: versions, render: render, written: map[string]stored{}}
}

// writtenRecord is the record name as the run wrote it, nil when it did
// not.
func (r *run) writtenRecord(name string) *stored {
	if w, ok := r.written[name]; ok {
		return &w
	}
	return nil
}

// fresh is the run's view without its listings: a blob found changed
// since the listing is read as it is now.
func (r *run) fresh() *run {
	f := *r
	f.listed, f.fileIndexes = nil, nil
	return &f
}

// errChanged is a blob that changed while it was read, or a conditional
// write that lost its race: the file is observed again.
var errChanged = errors.New("changed while it was reconciled")

// maxRounds bounds the observe-decide rounds of one attempt (each may
// find more to read: the source, linked templates linked in turn, the
// scripts and images of what was read).
const maxRounds = 16

// reconcileFile makes the records of a template file match its blob (and
// its parameters file) as they are now; it returns the outcome and the
// templates whose build requests are to be sent.
func (s *Service) reconcileFile(ctx context.Context, r *run, blob string) (Outcome, []string, error) {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		d, err := s.reconcileOnce(ctx, r, blob)
		if !errors.Is(err, errChanged) {
			return d.Outcome, d.Notify, err
		}
		r = r.fresh() // the run's listing is behind what was found: look at the blob itself
	}
	return Outcome{}, nil, goldenpipe.Errorf(goldenpipe.ECONFLICT, "template file %q kept changing; the event will be redelivered", blob)
}

// reconcileOnce observes, decides and applies once.
func (s *Service) reconcileOnce(ctx context.Context, r *run, blob string) (decision, error) {
	if _, err := NameFromBlob(blob); err != nil {
		return decide(s.catalogConfig(), observation{Blob: blob}), nil
	}
	o, err := s.observe(ctx, r, blob)
	if err != nil {
		return decision{}, err
	}
	for round := 0; ; round++ {
		d := decide(s.catalogConfig(), o)
		switch {
		case d.Err != nil:
			return decision{}, d.Err
		case d.Need.empty():
			return d, s.apply(ctx, r, blob, d)
		case round == maxRounds:
			return decision{}, goldenpipe.Errorf(goldenpipe.EINTERNAL, "template file %q: still needing %+v after %d rounds", blob, d.Need, round)
		}
		o.Parse = d.Parse
		if err := s.observeNeed(ctx, r, &o, d.Need); err != nil {
			return decision{}, err
		}
	}
}

func (s *Service) catalogConfig() catalogConfig {
	return catalogConfig{ScriptsURL: s.ScriptsURL, Deployment: s.Deployment}
}

// observe reads what every decision about a file needs: its index, its
// records, its blob's and its parameters file's versions.
func (s *Service) observe(ctx context.Context, r *run, blob string) (observation, error) {
	base, _ := NameFromBlob(blob)
	o := observation{Blob: blob, URL: s.Blobs.URL(blob), Now: s.now(), Render: r.render,
		Announce: len(s.Listeners) > 0 && r.settled == nil, Records: map[string]stored{}}
	prev := []string{base}
	var err error
	if r.fileIndexes != nil && !r.fileIndexes[fileKey(blob)] {
		err = goldenpipe.Errorf(goldenpipe.ENOTFOUND, "no index listed for %s", blob) // the run's listing
	} else {
		o.IndexETag, err = s.Docs.Get(ctx, fileKey(blob), &o.Index)
	}
	switch goldenpipe.ErrorCode(err) {
	case "":
		prev = o.Index.Names
	case goldenpipe.ENOTFOUND:
		o.Index, o.IndexETag = fileIndex{}, ""
	default:
		return o, fmt.Errorf("reading the index of template file %q: %w", blob, err)
	}
	for _, name := range prev {
		var rec Record
		etag, err := s.Docs.Get(ctx, recordKey(name), &rec)
		switch goldenpipe.ErrorCode(err) {
		case "":
			o.Records[name] = stored{rec, etag}
		case goldenpipe.ENOTFOUND:
		default:
			return o, fmt.Errorf("reading the record of template %q: %w", name, err)
		}
	}
	ver, err := r.properties(ctx, s.Blobs, blob, false)
	switch goldenpipe.ErrorCode(err) {
	case "":
		o.Template.Version = ver
	case goldenpipe.ENOTFOUND:
		o.Template.Absent = true
		return o, nil
	default:
		return o, err
	}
	pver, err := r.properties(ctx, s.Blobs, ParametersBlobOf(blob), true)
	switch goldenpipe.ErrorCode(err) {
	case "":
		o.Params.Version = pver
	case goldenpipe.ENOTFOUND:
		o.Params.Absent = true
	default:
		return o, err
	}
	return o, nil
}

// observeNeed reads what a decision lacks into the observation.
func (s *Service) observeNeed(ctx context.Context, r *run, o *observation, n need) error {
	if n.Source {
		if err := s.readSource(ctx, o); err != nil {
			return err
		}
	}
	if n.LinkedBy {
		by, err := s.linkedBy(ctx, r, o.Blob)
		if err != nil {
			return err
		}
		o.LinkedBy, o.LinkedByRead = by, true
	}
	if err := s.observeLinked(ctx, r, o, n); err != nil {
		return err
	}
	for _, name := range n.Scripts {
		c, err := r.checksums.Checksum(ctx, name)
		switch goldenpipe.ErrorCode(err) {
		case "":
			setKey(&o.Checksums, name, checksumState{C: c})
		case goldenpipe.ENOTFOUND:
			setKey(&o.Checksums, name, checksumState{Missing: true})
		default:
			return fmt.Errorf("rendering template file %q: reading the checksum of %q: %w", o.Blob, name, err)
		}
	}
	for _, img := range n.Images {
		v, err := r.versions.Latest(ctx, img.Location, img.Publisher, img.Offer, img.SKU)
		switch goldenpipe.ErrorCode(err) {
		case "":
			setKey(&o.Latest, imageKey(img.Location, img.Publisher, img.Offer, img.SKU), latestState{Version: v})
		case goldenpipe.ENOTFOUND:
			setKey(&o.Latest, imageKey(img.Location, img.Publisher, img.Offer, img.SKU), latestState{NotFound: err})
		default:
			return fmt.Errorf("rendering template file %q: %w", o.Blob, err)
		}
	}
	return nil
}

func setKey[V any](m *map[string]V, k string, v V) {
	if *m == nil {
		*m = map[string]V{}
	}
	(*m)[k] = v
}

// readSource reads the template file and its parameters file, each
// conditioned on the version observed.
func (s *Service) readSource(ctx context.Context, o *observation) error {
	text, err := s.read(ctx, o.Blob, o.Template.Version)
	if err == nil && !o.Params.Absent {
		o.Params.Text, err = s.read(ctx, ParametersBlobOf(o.Blob), o.Params.Version)
	}
	switch goldenpipe.ErrorCode(err) {
	case "":
	case goldenpipe.ECONFLICT, goldenpipe.ENOTFOUND:
		return errChanged
	default:
		return err
	}
	o.Template.Text, o.Template.Read, o.Params.Read = text, true, true
	return nil
}

// observeLinked reads the versions, and the contents, of linked blobs.
func (s *Service) observeLinked(ctx context.Context, r *run, o *observation, n need) error {
	for _, name := range slices.Concat(n.LinkVersions, n.LinkTexts) {
		if _, ok := o.Linked[name]; ok {
			continue
		}
		ver, err := r.properties(ctx, s.Blobs, name, false)
		switch goldenpipe.ErrorCode(err) {
		case "":
			setKey(&o.Linked, name, BlobState{Version: ver})
		case goldenpipe.ENOTFOUND:
			setKey(&o.Linked, name, BlobState{Absent: true}) // listed with no version: its upload renders this template again
		default:
			return fmt.Errorf("reading the templates %q links: %w", o.Blob, err)
		}
	}
	for _, name := range n.LinkTexts {
		st := o.Linked[name]
		if st.Absent || st.Read {
			continue
		}
		st.Read = true
		if st.Version.Size <= MaxTemplateBytes {
			text, err := s.read(ctx, name, st.Version)
			switch goldenpipe.ErrorCode(err) {
			case "":
				st.Text = text
			case goldenpipe.ECONFLICT, goldenpipe.ENOTFOUND:
				return errChanged // a linked blob changed while it was read
			default:
				return fmt.Errorf("reading the templates %q links: %w", o.Blob, err)
			}
		}
		o.Linked[name] = st
	}
	return nil
}

// apply carries out a decision: its writes in order (a lost race
// observes again), the records settled, the reverse link index.
func (s *Service) apply(ctx context.Context, r *run, blob string, d decision) error {
	for _, w := range d.Writes {
		var err error
		etag := ""
		switch w.Kind {
		case writePut:
			etag, err = s.Docs.Put(ctx, w.Key, w.Doc, w.IfMatch)
		case writeOverwrite:
			etag, err = s.Docs.Overwrite(ctx, w.Key, w.Doc)
		case writeDelete:
			err = s.Docs.Delete(ctx, w.Key, w.IfMatch)
		}
		switch {
		case goldenpipe.ErrorCode(err) == goldenpipe.ECONFLICT:
			return errChanged
		case err != nil:
			return fmt.Errorf("%s: %w", w.What, err)
		}
		if rec, ok := w.Doc.(Record); ok && r.written != nil && w.Key == recordKey(rec.Name) {
			r.written[rec.Name] = stored{rec, etag}
		}
	}
	if r.settled != nil {
		for _, rec := range d.Settled {
			r.settled(rec)
		}
	}
	if len(d.LinksWas) == 0 && len(d.LinksNow) == 0 {
		return nil
	}
	return s.relink(ctx, r, blob, d.LinksWas, d.LinksNow)
}

// properties reads a blob's version: from the run's listing when it
// lists the blob, else from the blob (a template uploaded since the
// listing is not taken for deleted). A parameters file the listing does
// not hold is taken as absent (absent: true): its own upload event
// re-plans its template.
func (r *run) properties(ctx context.Context, blobs Blobs, blob string, absent bool) (goldenpipe.BlobVersion, error) {
	if v, ok := r.listed[blob]; ok {
		return v, nil
	}
	if absent && r.listed != nil {
		return goldenpipe.BlobVersion{}, goldenpipe.Errorf(goldenpipe.ENOTFOUND, "parameters file %q is not listed", blob)
	}
	return blobs.Properties(ctx, blob)
}
