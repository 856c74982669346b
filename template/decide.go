package template

import (
	"context"
	"fmt"
	stdpath "path"
	"slices"
	"strings"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

// The catalog as a pure decision, in the spirit of controller-runtime's
// Reconcile (and of builds.Decide): given what was observed of one
// template file (its blob, its parameters file, the records and the index
// it has, the linked templates, the scripts' checksums, the platform
// images' newest versions) and the time, decide returns the records to
// write or delete with their ETag conditions, the pending build index
// entries, the reverse link index changes, the templates whose build
// requests are to be sent, and the outcome. It does no I/O: what it lacks
// it names (Need), and the shell (catalog.go) reads it and decides again.
// The shell applies the decision with conditional writes; a lost race
// (ECONFLICT) observes again.

// OutcomeKind is how a template file's reconcile ended.
type OutcomeKind int

// Outcomes.
const (
	OutcomeIgnored   OutcomeKind = iota + 1 // the blob is no template file (Reason says why)
	OutcomeAbsent                           // no blob, no record: nothing to do
	OutcomeDeleted                          // the blob is gone: its records went to history
	OutcomeUnchanged                        // this version was processed already (Pending: requests still to send)
	OutcomeRendered                         // the records were rendered (Summaries)
)

// Outcome is a reconcile's outcome, as a value; String is the text the
// handlers answer with.
type Outcome struct {
	Kind      OutcomeKind
	Reason    string   // OutcomeIgnored
	Version   string   // OutcomeUnchanged: the blob's ETag
	Pending   []string // OutcomeUnchanged: templates whose build request was not sent before
	Summaries []string // OutcomeRendered: one per template of the file
}

func (o Outcome) String() string {
	switch o.Kind {
	case OutcomeIgnored:
		return "ignored: " + o.Reason
	case OutcomeUnchanged:
		if len(o.Pending) > 0 {
			return fmt.Sprintf("version %s already processed; sending the build request of %s, not sent before", o.Version, strings.Join(o.Pending, ", "))
		}
		return fmt.Sprintf("version %s already processed", o.Version)
	case OutcomeRendered:
		return strings.Join(o.Summaries, "; ")
	}
	return outcomeText[o.Kind]
}

// outcomeText is the text of the outcomes that carry nothing more.
var outcomeText = map[OutcomeKind]string{
	OutcomeAbsent:  "template blob does not exist and has no record; nothing to do",
	OutcomeDeleted: "template deleted; record removed (kept in history)",
}

// BlobState is a blob as observed: its version and, once read, its text.
type BlobState struct {
	Absent  bool
	Version goldenpipe.BlobVersion
	Text    string
	Read    bool // Text holds the blob's content (or the blob is too large to read)
}

// stored is a record as read, with its ETag.
type stored struct {
	rec  Record
	etag string
}

// fileIndex names the templates of a file that holds several (or whose
// one template is not named after the file); other files have none.
type fileIndex struct {
	Blob  string   `json:"blob"`
	Names []string `json:"names"`
}

// checksumState is a script's checksum as observed (Missing: the script
// does not exist).
type checksumState struct {
	C       goldenpipe.Checksum
	Missing bool
}

// latestState is a platform image's newest version as observed (NotFound:
// Azure answered not found, with its message).
type latestState struct {
	Version  string
	NotFound error
}

// imageRef names a platform image whose newest version is needed.
type imageRef struct{ Location, Publisher, Offer, SKU string }

// observation is what the shell saw of one template file.
type observation struct {
	Blob   string
	URL    string    // the blob's URL
	Now    time.Time // for ProcessedAt and pending requests
	Render bool      // render unchanged templates again (a refresh, a script change)
	// Announce says build requests are sent by this reconcile's caller
	// (listeners; not a refresh, which reads the plans itself).
	Announce bool

	Template BlobState
	Params   BlobState // Absent when the file has no parameters file
	// Index is the file's index of templates, IndexETag "" when it has none.
	Index     fileIndex
	IndexETag string
	Records   map[string]stored
	// LinkedBy is the template files that link this one (LinkedByRead once read).
	LinkedBy     []string
	LinkedByRead bool
	// Linked holds the linked blobs observed: the versions of those the
	// records read, the content of those the parse loads.
	Linked    map[string]BlobState
	Checksums map[string]checksumState
	Latest    map[string]latestState
	// Parse is an earlier round's parse of the file (nil: parse it).
	Parse *fileParse
}

// need is what a decision lacks: the shell observes it and decides again.
type need struct {
	Source       bool     // the template file's text (and its parameters file's)
	LinkVersions []string // linked blobs whose version is needed
	LinkTexts    []string // linked blobs whose content is needed
	LinkedBy     bool     // the reverse link index of this file
	Scripts      []string
	Images       []imageRef
}

func (n need) empty() bool {
	return !n.Source && !n.LinkedBy && len(n.LinkVersions)+len(n.LinkTexts)+len(n.Scripts)+len(n.Images) == 0
}

// writeKind is a store operation of a decision.
type writeKind int

const (
	writePut       writeKind = iota + 1 // conditional on IfMatch ("": create)
	writeOverwrite                      // unconditional
	writeDelete                         // conditional on IfMatch
)

// write is one store operation, applied in order; What names it in an error.
type write struct {
	Kind    writeKind
	Key     string
	Doc     any
	IfMatch string
	What    string
}

// decision is what to do about one template file.
type decision struct {
	Outcome Outcome
	Need    need
	// Parse is the file's parse, for the next round (with Need).
	Parse *fileParse
	// Err is a failure that is no problem of the template's (an internal
	// one): nothing is written and the event is delivered again.
	Err    error
	Writes []write
	// Settled are the file's records as they stand once the writes are
	// done (a refresh collects them).
	Settled []Record
	// Notify names the templates whose build request (if any) is sent.
	Notify []string
	// LinksWas and LinksNow are the linked blobs before and after: the
	// reverse index is brought in step (linked.go).
	LinksWas, LinksNow map[string]bool
}

// catalogConfig is what rendering needs of the service.
type catalogConfig struct {
	ScriptsURL string
	Deployment Deployment
}

// decide is the pure decision for one template file.
func decide(cfg catalogConfig, o observation) decision {
	base, err := NameFromBlob(o.Blob)
	if err != nil {
		return decision{Outcome: Outcome{Kind: OutcomeIgnored, Reason: err.Error()}}
	}
	if o.Template.Absent {
		return decideDeleted(o)
	}
	prev := []string{base}
	if o.IndexETag != "" {
		prev = o.Index.Names
	}
	unchanged, stale, some := compareRecords(o)
	if unchanged {
		current, n := linksCurrent(o)
		if !n.empty() {
			return decision{Need: n}
		}
		unchanged = current
	}
	if unchanged && len(o.Records) == len(prev) && !stale && !o.Render {
		return decideUnchanged(o, prev)
	}
	text, params := some.Source, some.ParametersSource
	if !unchanged && o.Template.Version.Size <= MaxTemplateBytes {
		if !o.Template.Read || !o.Params.Absent && !o.Params.Read {
			return decision{Need: need{Source: true}}
		}
		text, params = o.Template.Text, o.Params.Text
	}
	if o.Template.Version.Size > MaxTemplateBytes {
		text, params = "", ""
	}
	// a user's SAS signatures and keys never reach a record, a page or a
	// log: the template is read with stand-ins, put back just before the
	// body goes to Image Builder (RestoreSecrets)
	text, params = redactSource(text), redactSource(params)
	fp, n := parseObserved(cfg, o, base, text, params)
	parsed := fp.Parsed
	if !n.LinkedBy {
		parsed = asLinked(o.Blob, base, parsed, o.LinkedBy, fp.Reads)
	}
	recs, n2, err := renderObserved(cfg, o, parsed, fp.Reads, text, params)
	n.Scripts, n.Images = n2.Scripts, n2.Images
	switch {
	case !n.empty():
		if len(n.LinkTexts) > 0 {
			fp = nil // parsed without what it links: parsed again once read
		}
		return decision{Need: n, Parse: fp}
	case err != nil:
		return decision{Err: err}
	}
	return decideRecords(o, prev, recs, fp.Reads)
}

// compareRecords reports whether every record read this version of the
// file, whether one is stale, and one of them.
func compareRecords(o observation) (unchanged, stale bool, some Record) {
	unchanged = len(o.Records) > 0
	for _, name := range slices.Sorted(mapKeys(o.Records)) {
		old := o.Records[name]
		unchanged = unchanged && old.rec.ETag == o.Template.Version.ETag && old.rec.ParametersETag == o.Params.Version.ETag
		stale = stale || old.rec.Stale
		some = old.rec
	}
	return unchanged, stale, some
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// linksCurrent reports whether every linked blob the records read is still
// the version read, or what must be observed to say.
func linksCurrent(o observation) (bool, need) {
	var n need
	current := true
	for _, name := range slices.Sorted(mapKeys(o.Records)) {
		for _, lb := range o.Records[name].rec.Linked {
			st, ok := o.Linked[lb.Blob]
			switch {
			case !ok:
				if !slices.Contains(n.LinkVersions, lb.Blob) {
					n.LinkVersions = append(n.LinkVersions, lb.Blob)
				}
			case st.Absent:
				current = current && lb.ETag == "" // deleted since, unless it was absent then
			default:
				current = current && st.Version.ETag == lb.ETag
			}
		}
	}
	return current, n
}

// decideDeleted: the blob is gone; its records go to history.
func decideDeleted(o observation) decision {
	if len(o.Records) == 0 && o.IndexETag == "" {
		return decision{Outcome: Outcome{Kind: OutcomeAbsent}}
	}
	d := decision{Outcome: Outcome{Kind: OutcomeDeleted}}
	for _, name := range slices.Sorted(mapKeys(o.Records)) {
		d.Writes = append(d.Writes, removal(name, o.Records[name])...)
	}
	if o.IndexETag != "" {
		d.Writes = append(d.Writes, write{Kind: writeDelete, Key: fileKey(o.Blob), IfMatch: o.IndexETag, What: fmt.Sprintf("deleting the index of template file %q", o.Blob)})
	}
	d.LinksWas, d.LinksNow = linkedSet(records(o.Records)), map[string]bool{}
	return d
}

// decideUnchanged: this version was processed; a build request written
// with a record and not sent (a crash, a storage error) is sent now.
func decideUnchanged(o observation, prev []string) decision {
	out := Outcome{Kind: OutcomeUnchanged, Version: o.Template.Version.ETag}
	for _, name := range prev {
		if old, ok := o.Records[name]; ok && old.rec.Pending != nil {
			out.Pending = append(out.Pending, name)
		}
	}
	return decision{Outcome: out, Notify: out.Pending}
}

// removal moves a template's record to history and deletes it.
func removal(name string, old stored) []write {
	return []write{
		{Kind: writeOverwrite, Key: historyPrefix + keyOf(name) + "/" + old.rec.ETag + ".json", Doc: old.rec, What: fmt.Sprintf("keeping template %q in history", name)},
		{Kind: writeDelete, Key: recordKey(name), IfMatch: old.etag, What: fmt.Sprintf("deleting the record of template %q", name)},
	}
}

func records(m map[string]stored) []Record {
	out := make([]Record, 0, len(m))
	for _, name := range slices.Sorted(mapKeys(m)) {
		out = append(out, m[name].rec)
	}
	return out
}

// fileParse is a template file's parse: it depends on the texts alone
// (and the linked blobs read), so a decision hands it to the next round
// of the same attempt, which renders it with what it lacked.
type fileParse struct {
	Text, Params string
	Parsed       []*Parsed
	Reads        []LinkedBlob
}

// parseObserved parses the file with the linked templates observed (or
// takes the earlier round's parse of the same texts); it names the linked
// blobs it lacks, and the reverse link index when it is not read.
func parseObserved(cfg catalogConfig, o observation, base, text, params string) (*fileParse, need) {
	n := need{LinkedBy: !o.LinkedByRead}
	if o.Template.Version.Size > MaxTemplateBytes {
		return &fileParse{Parsed: []*Parsed{{Name: base, Kind: KindResource, Problems: []Problem{{Path: "(template)",
			Message: fmt.Sprintf("the blob is %d bytes, over the limit of %d", o.Template.Version.Size, MaxTemplateBytes)}}}}}, n
	}
	if p := o.Parse; p != nil && p.Text == text && p.Params == params {
		return p, n
	}
	var pb []byte
	if !o.Params.Absent {
		pb = []byte(params)
	}
	dir := stdpath.Dir(o.Blob)
	if dir == "." {
		dir = ""
	}
	lk := &observedLinks{dir: dir, files: o.Linked}
	opts := Options{ScriptsURL: cfg.ScriptsURL, Deployment: cfg.Deployment}
	opts.Deployment.Now = o.Template.Version.LastModified // utcNow() in a parameter default: stable until the file changes
	opts.Deployment.Load = lk.load
	parsed := ParseFile(base, []byte(text), pb, opts)
	n.LinkTexts = lk.need
	return &fileParse{Text: text, Params: params, Parsed: parsed, Reads: lk.read}, n
}

// renderObserved renders each parsed template into its record with the
// checksums and versions observed; it names those it lacks (the records
// are then not to be used).
func renderObserved(cfg catalogConfig, o observation, parsed []*Parsed, reads []LinkedBlob, text, params string) ([]Record, need, error) {
	lookups := &observedLookups{o: o}
	r := &Renderer{ScriptsURL: cfg.ScriptsURL, Checksums: lookups, Versions: &Resolver{Lister: lookups}}
	paramsBlob := ""
	if !o.Params.Absent {
		paramsBlob = ParametersBlobOf(o.Blob)
	}
	recs := make([]Record, 0, len(parsed))
	for _, p := range parsed {
		rec := Record{Name: p.Name, Blob: o.Blob, URL: o.URL, ETag: o.Template.Version.ETag, LastModified: o.Template.Version.LastModified,
			ProcessedAt: o.Now, Source: text, ParametersBlob: paramsBlob, ParametersETag: o.Params.Version.ETag, ParametersSource: params, Linked: reads}
		if old, ok := o.Records[p.Name]; ok {
			rec.LastBuild = old.rec.LastBuild
		}
		if err := renderParsed(r, &rec, p); err != nil {
			return nil, lookups.need, err
		}
		recs = append(recs, rec)
	}
	return recs, lookups.need, nil
}

// decideRecords writes the records that changed, removes those the file
// no longer holds, and keeps the file's index.
func decideRecords(o observation, prev []string, recs []Record, reads []LinkedBlob) decision {
	d := decision{}
	var names []string
	for _, rec := range recs {
		old, hasOld := o.Records[rec.Name]
		if hasOld {
			outbox(&rec, &old.rec, o.Announce, o.Now)
		} else {
			outbox(&rec, nil, o.Announce, o.Now)
		}
		names = append(names, rec.Name)
		d.Outcome.Summaries = append(d.Outcome.Summaries, rec.summary())
		if hasOld && sameBut(rec, old.rec) {
			// rendered again to the same record (a quiet night): nothing to
			// write, so a night without change costs no write per template
			d.Settled = append(d.Settled, old.rec)
			continue
		}
		if rec.Pending != nil { // the index first: the monitor finds the request
			d.Writes = append(d.Writes, write{Kind: writeOverwrite, Key: pendingKey(rec.Name),
				Doc:  pendingEntry{Name: rec.Name, Fingerprint: rec.Pending.Fingerprint, At: o.Now},
				What: fmt.Sprintf("indexing the build request of template %q", rec.Name)})
		}
		d.Writes = append(d.Writes, write{Kind: writePut, Key: recordKey(rec.Name), Doc: rec, IfMatch: old.etag,
			What: fmt.Sprintf("writing the record of template %q", rec.Name)})
		d.Settled = append(d.Settled, rec)
	}
	d.Outcome.Kind, d.Notify = OutcomeRendered, names
	for _, name := range prev {
		if old, ok := o.Records[name]; ok && !slices.Contains(names, name) {
			d.Writes = append(d.Writes, removal(name, old)...)
		}
	}
	base, _ := NameFromBlob(o.Blob)
	switch {
	case len(names) == 1 && names[0] == base:
		if o.IndexETag != "" {
			d.Writes = append(d.Writes, write{Kind: writeDelete, Key: fileKey(o.Blob), IfMatch: o.IndexETag,
				What: fmt.Sprintf("deleting the index of template file %q", o.Blob)})
		}
	case !slices.Equal(names, prev) || o.IndexETag == "":
		d.Writes = append(d.Writes, write{Kind: writePut, Key: fileKey(o.Blob), Doc: fileIndex{Blob: o.Blob, Names: names}, IfMatch: o.IndexETag,
			What: fmt.Sprintf("writing the index of template file %q", o.Blob)})
	}
	d.LinksWas, d.LinksNow = linkedSet(records(o.Records)), linkedSet([]Record{{Linked: reads}})
	return d
}

// renderParsed fills a record from a parsed template: its findings, and
// when it is valid its rendering and plan. The renderer's look-ups are
// the observation's (observedLookups): an error is an internal failure
// (copying or encoding the template).
func renderParsed(r *Renderer, rec *Record, p *Parsed) error {
	if p.Kind == KindLinked {
		renderLinked(rec, p)
		return nil
	}
	rec.Kind, rec.ResourceName, rec.OtherResources = p.Kind, p.ResourceName, p.OtherResources
	rec.Valid, rec.Rendered, rec.Plan, rec.Stale, rec.StaleReason = false, nil, nil, false, ""
	res, err := r.Check(context.Background(), p)
	if err != nil {
		return fmt.Errorf("rendering template %q: %w", rec.Name, err)
	}
	rec.SourceAPI, rec.Policy, rec.Notes = p.SourceAPI, p.Policy, p.Notes
	rec.Problems, rec.Warnings, rec.Scripts = res.Problems, res.Warnings, res.Scripts
	if res.Rendered == nil {
		return nil
	}
	rec.Valid, rec.Rendered = true, res.Rendered
	plan := MakePlan(res.Rendered, p.Policy, rec.LastBuild)
	rec.Plan = &plan
	return nil
}

// observedLookups answers the renderer's look-ups from the observation;
// what it lacks it names, answering with a stand-in so that one pass
// finds every lack.
type observedLookups struct {
	o    observation
	need need
}

func (l *observedLookups) Checksum(_ context.Context, name string) (goldenpipe.Checksum, error) {
	st, ok := l.o.Checksums[name]
	switch {
	case !ok:
		if !slices.Contains(l.need.Scripts, name) {
			l.need.Scripts = append(l.need.Scripts, name)
		}
		return goldenpipe.Checksum{SHA256: strings.Repeat("0", 64)}, nil
	case st.Missing:
		return goldenpipe.Checksum{}, goldenpipe.Errorf(goldenpipe.ENOTFOUND, "no script %q", name)
	}
	return st.C, nil
}

func (l *observedLookups) ListVersions(_ context.Context, location, publisher, offer, sku string) ([]string, error) {
	st, ok := l.o.Latest[imageKey(location, publisher, offer, sku)]
	switch {
	case !ok:
		ref := imageRef{location, publisher, offer, sku}
		if !slices.Contains(l.need.Images, ref) {
			l.need.Images = append(l.need.Images, ref)
		}
		return []string{"0"}, nil
	case st.NotFound != nil:
		return nil, st.NotFound
	}
	return []string{st.Version}, nil
}

// observedLinks is arm.Scope's Load over the linked blobs observed: rel is
// relative to the linking blob's folder (arm has cleaned it and kept it
// inside).
type observedLinks struct {
	dir   string // the linking blob's folder ("" at the container's root)
	files map[string]BlobState
	read  []LinkedBlob
	need  []string
}

func (l *observedLinks) load(rel string) ([]byte, error) {
	name := stdpath.Join(l.dir, rel)
	if rel == ".." || strings.HasPrefix(rel, "../") || stdpath.IsAbs(rel) {
		return nil, fmt.Errorf("%q is outside the templates container", rel)
	}
	st, ok := l.files[name]
	switch {
	case !ok || !st.Absent && !st.Read && st.Version.Size <= MaxTemplateBytes:
		if !slices.Contains(l.need, name) {
			l.need = append(l.need, name)
		}
		return nil, fmt.Errorf("blob %q is not read yet", name)
	case st.Absent:
		// its upload renders this template again
		l.add(LinkedBlob{Blob: name})
		return nil, fmt.Errorf("no blob %q in the templates container", name)
	}
	l.add(LinkedBlob{Blob: name, ETag: st.Version.ETag})
	if st.Version.Size > MaxTemplateBytes {
		return nil, fmt.Errorf("blob %q is %d bytes, over the limit of %d", name, st.Version.Size, MaxTemplateBytes)
	}
	return []byte(st.Text), nil
}

func (l *observedLinks) add(b LinkedBlob) {
	if i, found := slices.BinarySearchFunc(l.read, b.Blob, func(r LinkedBlob, blob string) int { return strings.Compare(r.Blob, blob) }); !found {
		l.read = slices.Insert(l.read, i, b)
	}
}

// outbox sets the pending request of a record about to be written: the
// old record's, when it asks for the same fingerprint; a new one when the
// plan asks for a build and this is a change whose build is requested
// here (announce: listeners, not the nightly refresh, which sends its own).
func outbox(rec *Record, old *Record, announce bool, now time.Time) {
	rec.Pending = nil
	if !rec.Valid || rec.Rendered == nil || rec.Plan == nil || !rec.Plan.Rebuild {
		return
	}
	fp := rec.Rendered.Fingerprint
	if old != nil && old.Pending != nil && old.Pending.Fingerprint == fp {
		p := *old.Pending
		rec.Pending = &p
		return
	}
	if announce {
		rec.Pending = &PendingBuild{Fingerprint: fp, Reason: rec.Plan.Reason, Since: now}
	}
}
