package azure

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/internal/defaults"
	"github.com/goldenpipe/goldenpipe/internal/docstore"
)

// Builds is the builds' store (builds.Store) over the app's documents: it
// owns where a build's record, marker, list entries, place in the line or
// the due list, the admission ledger, the recent builds, the view of the
// builds in flight and the refused requests are kept, and the migrations
// of what earlier versions kept. B is the build record, S its summary;
// it knows of them only what goldenpipe.BuildRecord says.
//
// The layout (document keys; the lists are table kinds, BuildKinds):
//   - builds/{id}.json: the record;
//   - builds-active/{id}: the in-flight marker, written before the record
//     on every path, with the summary of the record version its ETag names;
//   - builds-by-time/{newest-first time}-{id} and
//     builds-by-template/{template}/{newest-first time}-{id}: the list
//     entries, written before the record, refreshed with each write of it;
//   - builds-line/{oldest-first time}-{id}: a waiting build's place;
//   - builds-due/{oldest-first time}-{id}: a finished build still in
//     flight, filed under when to look at it again;
//   - builds-admission.json, builds-recent.json, builds-inflight-view.json;
//   - builds-rejected/{hash}.json and builds-rejected-by-time/…: refused
//     request messages and their list;
//   - migrations/builds-index.json, migrations/rejected-index.json.
type Builds[B goldenpipe.BuildRecord[S], S goldenpipe.BuildSummary] struct {
	docs goldenpipe.Documents
	now  func() time.Time

	mu sync.Mutex
	// mig is the migrations' record as last read (at migETag); migDone
	// says both are done, so they are not read again.
	mig       buildMigration
	migETag   string
	migLoaded bool
	migDone   bool
	// rejectedDone says the rejections' index is migrated.
	rejectedDone bool
}

// NewBuilds returns the builds' store over docs; now is the clock (nil:
// the wall clock).
func NewBuilds[B goldenpipe.BuildRecord[S], S goldenpipe.BuildSummary](docs goldenpipe.Documents, now func() time.Time) *Builds[B, S] {
	return &Builds[B, S]{docs: docs, now: now}
}

// Docs is the documents the store keeps the builds in (for tools and
// tests that look at the layout).
func (s *Builds[B, S]) Docs() goldenpipe.Documents { return s.docs }

func (s *Builds[B, S]) clock() time.Time { return defaults.NowUTC(s.now) }

// The keys of the builds' documents and the prefixes of their lists.
const (
	BuildKeyRecords         = "builds/"
	BuildKeyActive          = "builds-active/"
	BuildKeyByTime          = "builds-by-time/"
	BuildKeyByTemplate      = "builds-by-template/"
	BuildKeyLine            = "builds-line/"
	BuildKeyDue             = "builds-due/"
	BuildKeyRejected        = "builds-rejected/"
	BuildKeyRejectedByTime  = "builds-rejected-by-time/"
	buildKeyAdmission       = "builds-admission.json"
	buildKeyRecent          = "builds-recent.json"
	buildKeyInFlightView    = "builds-inflight-view.json"
	buildKeyMigration       = "migrations/builds-index.json"
	buildKeyRejectedIndexed = "migrations/rejected-index.json"
)

// BuildKinds are the builds' table kinds (see TableKind), the in-flight
// markers first (the migration from blobs moves them before anything
// else): time-ordered lists are bucketed by their first bucket hex digits,
// the builds of a template partitioned by it.
func BuildKinds(bucket int) []TableKind {
	return []TableKind{
		{Prefix: BuildKeyActive, Table: "active"},
		{Prefix: BuildKeyLine, Table: "buildsline", Bucket: bucket},
		{Prefix: BuildKeyDue, Table: "buildsdue", Bucket: bucket},
		{Prefix: BuildKeyByTime, Table: "buildsbytime", Bucket: bucket},
		{Prefix: BuildKeyByTemplate, Table: "buildsbytemplate", Partitioned: true},
		{Prefix: BuildKeyRejectedByTime, Table: "rejectedbytime", Bucket: bucket},
	}
}

// BuildGrace is how long an entry or a marker without its record is kept:
// the request path writes them first, then the record.
const BuildGrace = 10 * time.Minute

// recentKept bounds the recent builds kept; inFlightViewed the builds the
// view of the builds in flight keeps.
const (
	recentKept     = 50
	inFlightViewed = 50
)

// BuildRecordKey and BuildMarkerKey are the document keys of a build's
// record and of its in-flight marker (for tools that seed or migrate the
// store).
func BuildRecordKey(id string) string { return BuildKeyRecords + id + ".json" }
func BuildMarkerKey(id string) string { return BuildKeyActive + id }

// newestFirst orders times newest first as text; oldestFirst oldest first.
func newestFirst(t time.Time) string {
	return fmt.Sprintf("%016x", uint64(math.MaxInt64-t.UTC().UnixNano()))
}

func oldestFirst(t time.Time) string { return fmt.Sprintf("%016x", uint64(t.UTC().UnixNano())) }

func byTimeKey(h goldenpipe.BuildHead) string {
	return BuildKeyByTime + newestFirst(h.RequestedAt) + "-" + h.ID
}

func byTemplatePrefix(template string) string { return BuildKeyByTemplate + template + "/" }

func byTemplateKey(h goldenpipe.BuildHead) string {
	return byTemplatePrefix(h.Template) + newestFirst(h.RequestedAt) + "-" + h.ID
}

func lineKey(id string, at time.Time) string { return BuildKeyLine + oldestFirst(at) + "-" + id }

func dueKey(id string, at time.Time) string { return BuildKeyDue + oldestFirst(at) + "-" + id }

// parseEntry reads a build id and request time from a list entry's key.
func parseEntry(key, prefix string) (id string, at int64, ok bool) {
	rest := strings.TrimPrefix(key, prefix)
	if len(rest) < 18 || rest[16] != '-' {
		return "", 0, false
	}
	inv, err := strconv.ParseUint(rest[:16], 16, 64)
	if err != nil {
		return "", 0, false
	}
	return rest[17:], math.MaxInt64 - int64(inv), true
}

// parseAsc reads a build id and time from a line or due entry's key.
func parseAsc(key, prefix string) (id string, at time.Time, ok bool) {
	rest := strings.TrimPrefix(key, prefix)
	if len(rest) < 18 || rest[16] != '-' {
		return "", time.Time{}, false
	}
	n, err := strconv.ParseUint(rest[:16], 16, 64)
	if err != nil {
		return "", time.Time{}, false
	}
	return rest[17:], time.Unix(0, int64(n)).UTC(), true
}

// buildEntry is a list's document: the build it names, and the summary of
// the version of its record named by ETag ("" before the record is
// written, and in entries written before summaries were kept). A
// rejection's entry holds the rejection itself.
type buildEntry[S any] struct {
	ID        string                `json:"id"`
	ETag      string                `json:"etag,omitempty"`
	Build     *S                    `json:"build,omitempty"`
	Rejection *goldenpipe.Rejection `json:"rejection,omitempty"`
}

// buildMarker is an in-flight build's document in builds-active/.
type buildMarker[S any] struct {
	At   time.Time `json:"at"`
	ETag string    `json:"etag,omitempty"`
	// Build is the summary of the record version ETag names.
	Build *S `json:"build,omitempty"`
}

// Get reads a build's record; ENOTFOUND when there is none.
func (s *Builds[B, S]) Get(ctx context.Context, id string) (B, string, error) {
	var b B
	etag, err := s.docs.Get(ctx, BuildRecordKey(id), &b)
	return b, etag, err
}

// GetMany reads the records of ids (at once, in their order), leaving out
// those that do not exist.
func (s *Builds[B, S]) GetMany(ctx context.Context, ids []string) ([]goldenpipe.BuildVersion[B], error) {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = BuildRecordKey(id)
	}
	found, _, err := docstore.ReadAllVersioned[B](ctx, s.docs, keys)
	if err != nil {
		return nil, err
	}
	out := make([]goldenpipe.BuildVersion[B], len(found))
	for i, f := range found {
		out[i] = goldenpipe.BuildVersion[B]{Build: f.Value, ETag: f.ETag, Summarized: f.ETag}
	}
	return out, nil
}

// Create writes a new build's record; ECONFLICT when its id is taken.
func (s *Builds[B, S]) Create(ctx context.Context, b B) (string, error) {
	return s.docs.Put(ctx, BuildRecordKey(b.BuildHead().ID), b, "")
}

// Update writes a build's record over the version etag names; ECONFLICT
// when another write came first.
func (s *Builds[B, S]) Update(ctx context.Context, b B, etag string) (string, error) {
	return s.docs.Put(ctx, BuildRecordKey(b.BuildHead().ID), b, etag)
}

// List reads every record of one template ("" for all), newest first.
func (s *Builds[B, S]) List(ctx context.Context, template string) ([]B, error) {
	prefix := BuildKeyRecords
	if template != "" {
		prefix += template + "-"
	}
	keys, err := s.docs.Keys(ctx, prefix)
	if err != nil {
		return nil, err
	}
	list, err := docstore.ReadAll[B](ctx, s.docs, keys, func(a, b B) bool {
		return a.BuildHead().RequestedAt.After(b.BuildHead().RequestedAt)
	})
	if err != nil || template == "" {
		return list, err
	}
	out := list[:0]
	for _, b := range list { // a prefix also matches longer template names
		if b.BuildHead().Template == template {
			out = append(out, b)
		}
	}
	return out, nil
}

// Announce files a build about to be recorded, at once: its in-flight
// marker, its list entries and, while it waits, its place in the line. A
// crash after them leaves entries readers drop after BuildGrace.
func (s *Builds[B, S]) Announce(ctx context.Context, b B) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.Mark(gctx, b, "") })
	g.Go(func() error { return s.entries(gctx, b, "", b.BuildSummary()) })
	if b.BuildHead().Stage == goldenpipe.BuildWaiting {
		g.Go(func() error { return s.PutInLine(gctx, b, "") })
	}
	return g.Wait()
}

// Withdraw drops the entries an announcement of b left when its record
// names another request (a request that lost its race); best effort: a
// reader skips them anyway.
func (s *Builds[B, S]) Withdraw(ctx context.Context, b B) {
	h := b.BuildHead()
	_ = s.docs.Delete(ctx, byTimeKey(h), "")
	_ = s.docs.Delete(ctx, byTemplateKey(h), "")
	_ = s.docs.Delete(ctx, lineKey(h.ID, h.RequestedAt), "")
}

// Publish refreshes what the lists show of a build just written (its
// record's new ETag): its list entries and, while it is marked in flight,
// its marker, at once.
func (s *Builds[B, S]) Publish(ctx context.Context, b B, etag string, marked bool) error {
	sum := b.BuildSummary()
	if !marked {
		return s.entries(ctx, b, etag, sum)
	}
	h := b.BuildHead()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.entries(gctx, b, etag, sum) })
	g.Go(func() error {
		return s.writeMarker(gctx, h.ID, buildMarker[S]{At: h.RequestedAt, ETag: etag, Build: &sum})
	})
	return g.Wait()
}

// entries writes a build's list entries with a summary (idempotent).
func (s *Builds[B, S]) entries(ctx context.Context, b B, etag string, sum S) error {
	h := b.BuildHead()
	g, gctx := errgroup.WithContext(ctx)
	for _, k := range []string{byTimeKey(h), byTemplateKey(h)} {
		g.Go(func() error {
			if _, err := s.docs.Overwrite(gctx, k, buildEntry[S]{ID: h.ID, ETag: etag, Build: &sum}); err != nil {
				return fmt.Errorf("indexing build %s: %w", h.ID, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// Mark writes a build's in-flight marker (idempotent), with the summary
// of the record version etag names ("" before it is written).
func (s *Builds[B, S]) Mark(ctx context.Context, b B, etag string) error {
	sum := b.BuildSummary()
	return s.writeMarker(ctx, b.BuildHead().ID, buildMarker[S]{At: s.clock(), ETag: etag, Build: &sum})
}

func (s *Builds[B, S]) writeMarker(ctx context.Context, id string, m buildMarker[S]) error {
	if _, err := s.docs.Overwrite(ctx, BuildMarkerKey(id), m); err != nil {
		return fmt.Errorf("marking build %s in flight: %w", id, err)
	}
	return nil
}

// Unmark takes a build out of flight (its marker goes).
func (s *Builds[B, S]) Unmark(ctx context.Context, id string) error {
	return s.docs.Delete(ctx, BuildMarkerKey(id), "")
}

// Markers lists the in-flight markers (a page at a time).
func (s *Builds[B, S]) Markers(ctx context.Context) ([]goldenpipe.BuildMarker[S], error) {
	var out []goldenpipe.BuildMarker[S]
	token := ""
	for {
		items, next, err := s.docs.ListPage(ctx, BuildKeyActive, token, goldenpipe.MaxPageSize)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			out = append(out, markerOf[S](it))
		}
		if next == "" {
			return out, nil
		}
		token = next
	}
}

func markerOf[S any](it goldenpipe.Listed) goldenpipe.BuildMarker[S] {
	var m buildMarker[S]
	if it.Summary != nil {
		_ = json.Unmarshal(it.Summary, &m) // a marker without a summary reads the record
	}
	return goldenpipe.BuildMarker[S]{ID: strings.TrimPrefix(it.Key, BuildKeyActive), At: m.At, ETag: m.ETag, Build: m.Build}
}

// InFlight reads the records the in-flight markers name, with their ETags
// and their markers'. A marker whose record does not exist is dropped
// once it is older than BuildGrace (its request never got as far as the
// record).
func (s *Builds[B, S]) InFlight(ctx context.Context) ([]goldenpipe.BuildVersion[B], error) {
	marks, err := s.Markers(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing the builds in flight: %w", err)
	}
	keys := make([]string, len(marks))
	byKey := make(map[string]goldenpipe.BuildMarker[S], len(marks))
	for i, m := range marks {
		keys[i] = BuildRecordKey(m.ID)
		byKey[keys[i]] = m
	}
	found, missing, err := docstore.ReadAllVersioned[B](ctx, s.docs, keys)
	if err != nil {
		return nil, err
	}
	for _, k := range missing {
		if m := byKey[k]; s.clock().Sub(m.At) > BuildGrace {
			_ = s.docs.Delete(ctx, BuildMarkerKey(m.ID), "")
		}
	}
	out := make([]goldenpipe.BuildVersion[B], len(found))
	for i, f := range found {
		out[i] = goldenpipe.BuildVersion[B]{Build: f.Value, ETag: f.ETag, Summarized: byKey[f.Key].ETag}
	}
	return out, nil
}

// Holders reads the records of ids and their markers at once (to see a
// summary behind its record): O(ids).
func (s *Builds[B, S]) Holders(ctx context.Context, ids []string) ([]goldenpipe.BuildVersion[B], error) {
	keys := make([]string, 0, 2*len(ids))
	for _, id := range ids {
		keys = append(keys, BuildRecordKey(id))
	}
	for _, id := range ids {
		keys = append(keys, BuildMarkerKey(id))
	}
	found, _, err := docstore.ReadAllVersioned[json.RawMessage](ctx, s.docs, keys)
	if err != nil {
		return nil, err
	}
	marks := map[string]buildMarker[S]{}
	for _, f := range found {
		if strings.HasPrefix(f.Key, BuildKeyActive) {
			var m buildMarker[S]
			_ = json.Unmarshal(f.Value, &m)
			marks[strings.TrimPrefix(f.Key, BuildKeyActive)] = m
		}
	}
	var out []goldenpipe.BuildVersion[B]
	for _, f := range found {
		if !strings.HasPrefix(f.Key, BuildKeyRecords) {
			continue
		}
		var b B
		if err := json.Unmarshal(f.Value, &b); err != nil {
			return nil, goldenpipe.Wrap(goldenpipe.EINTERNAL, err, "reading %s", f.Key)
		}
		summarized := f.ETag
		if m, ok := marks[b.BuildHead().ID]; ok {
			summarized = m.ETag
		}
		out = append(out, goldenpipe.BuildVersion[B]{Build: b, ETag: f.ETag, Summarized: summarized})
	}
	return out, nil
}

// Newest returns the newest build of a template's list (one listing):
// its id and request time, "" when the list is empty.
func (s *Builds[B, S]) Newest(ctx context.Context, template string) (string, time.Time, error) {
	prefix := byTemplatePrefix(template)
	items, _, err := s.docs.ListPage(ctx, prefix, "", 1)
	if err != nil || len(items) == 0 {
		return "", time.Time{}, err
	}
	id, at, ok := parseEntry(items[0].Key, prefix)
	if !ok {
		return "", time.Time{}, nil
	}
	return id, time.Unix(0, at).UTC(), nil
}

// Page returns one page of builds' summaries, newest first: of one
// template, or of all ("" template), from token ("" for the first page),
// with the next page's token ("" after the last). It is one listing of
// the page's entries, whatever the history holds; an entry not confirmed
// by a write of its record (written before it, or before summaries were
// kept) has its record read and is written again with its summary.
func (s *Builds[B, S]) Page(ctx context.Context, template, token string, top int) ([]S, string, error) {
	prefix := BuildKeyByTime
	if template != "" {
		prefix = byTemplatePrefix(template)
	}
	items, next, err := s.docs.ListPage(ctx, prefix, token, top)
	if err != nil {
		return nil, "", err
	}
	out := make([]S, 0, len(items))
	var check []unconfirmed
	for _, e := range listedEntries[S](items, prefix) {
		// an entry written after its record's write (an ETag) is trusted;
		// one written before it is checked against the record
		if e.whole && e.doc.Build != nil && e.doc.ETag != "" {
			if (*e.doc.Build).Requested().UTC().UnixNano() == e.at {
				out = append(out, *e.doc.Build)
			} else {
				_ = s.docs.Delete(ctx, e.key, "") // a request that lost its race
			}
			continue
		}
		check = append(check, unconfirmed{slot: len(out), key: BuildRecordKey(e.id), at: e.at, entry: e.key})
		var zero S
		out = append(out, zero)
	}
	if len(check) == 0 {
		return out, next, nil
	}
	drop, err := s.confirm(ctx, out, check)
	if err != nil {
		return nil, "", err
	}
	kept := out[:0]
	for i, v := range out {
		if !drop[i] {
			kept = append(kept, v)
		}
	}
	return kept, next, nil
}

// listedEntry is an entry of a newest-first list as listed: its key, the
// id and time its key names, and its document when the listing held it
// (whole).
type listedEntry[S any] struct {
	key, id string
	at      int64
	doc     buildEntry[S]
	whole   bool
}

// listedEntries reads the entries of a listing of a newest-first list
// (an entry whose key does not parse is left out).
func listedEntries[S any](items []goldenpipe.Listed, prefix string) []listedEntry[S] {
	out := make([]listedEntry[S], 0, len(items))
	for _, it := range items {
		id, at, ok := parseEntry(it.Key, prefix)
		if !ok {
			continue
		}
		e := listedEntry[S]{key: it.Key, id: id, at: at}
		e.whole = it.Summary != nil && json.Unmarshal(it.Summary, &e.doc) == nil
		out = append(out, e)
	}
	return out
}

// unconfirmed is a list entry of a page whose record is read: its place
// in the page, its record's key, its request time and its own key.
type unconfirmed struct {
	slot       int
	key, entry string
	at         int64
}

// confirm reads the records of a page's unconfirmed entries, puts their
// summaries in their places (writing the entries again with them), and
// returns the places to drop: a request that lost its race, or one whose
// record was never written (a crash between the entry and the record)
// older than BuildGrace, whose entries go.
func (s *Builds[B, S]) confirm(ctx context.Context, out []S, check []unconfirmed) (map[int]bool, error) {
	keys := make([]string, len(check))
	for i, c := range check {
		keys[i] = c.key
	}
	found, _, err := docstore.ReadAllVersioned[B](ctx, s.docs, keys)
	if err != nil {
		return nil, err
	}
	byKey := make(map[string]docstore.Versioned[B], len(found))
	for _, f := range found {
		byKey[f.Key] = f
	}
	drop := map[int]bool{}
	for _, c := range check {
		f, ok := byKey[c.key]
		switch {
		case ok && f.Value.BuildHead().RequestedAt.UTC().UnixNano() == c.at:
			out[c.slot] = f.Value.BuildSummary()
			if err := s.entries(ctx, f.Value, f.ETag, out[c.slot]); err != nil {
				return nil, err
			}
			continue
		case ok || s.clock().Sub(time.Unix(0, c.at)) > BuildGrace:
			_ = s.docs.Delete(ctx, c.entry, "")
		}
		drop[c.slot] = true
	}
	return drop, nil
}

// hashOf is the hex sha256 of id and a zero byte (a rejection's key).
func hashOf(id string) string {
	h := sha256.New()
	h.Write([]byte(id))
	h.Write([]byte{0})
	return hex.EncodeToString(h.Sum(nil))
}
