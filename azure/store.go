package azure

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/goldenpipe/goldenpipe"
)

// Store is the app's state: records are blobs of one container (DocStore),
// and what the app lists lives in Table storage, where a page of a list
// is one query of the rows it shows, whatever else is stored:
//
//   - small documents of the kinds Kinds names (index entries, in-flight
//     markers) are table entities, with their ETags;
//   - records of a kind with Summaries stay blobs, and each has an entity
//     with its summary. A write marks the entity dirty, writes the blob,
//     then stores the summary conditioned on the dirty mark's ETag (a
//     later writer's mark wins); a reader takes a dirty or missing
//     summary from the blob. A crash anywhere leaves either the right
//     summary or a dirty mark, never a wrong summary. A kind with
//     Summarize has a listing read the blob of a record whose write is
//     under way (a mark younger than writeUnderWay) and summarize it
//     itself, writing nothing: the writer stores the summary.
//
// Everything else is a blob, as in DocStore.
type Store struct {
	blobs *DocStore
	t     *tables
	kinds []TableKind
	// now is the clock a listing ages dirty marks by (tests move it)
	now func() time.Time
}

func (s *Store) since(t time.Time) time.Duration {
	if s.now != nil {
		return s.now().Sub(t)
	}
	return time.Since(t)
}

// NewStore returns the store on the blob container named container and
// the tables named after it (TableName).
func NewStore(blobSvc interface {
	NewContainerClient(string) *container.Client
}, tableSvc *aztables.ServiceClient, containerName string, kinds []TableKind) *Store {
	return &Store{blobs: NewDocStore(blobSvc, containerName),
		t: &tables{svc: tableSvc, prefix: containerName, ready: map[string]bool{}}, kinds: kinds}
}

// Blobs is the blob half of the store.
func (s *Store) Blobs() *DocStore { return s.blobs }

func (s *Store) kind(key string) (TableKind, bool) {
	for _, k := range s.kinds {
		if strings.HasPrefix(key, k.Prefix) {
			return k, true
		}
	}
	return TableKind{}, false
}

// summaryOf is v's summary, "" when it has none or one too large.
func summaryOf(v any) string {
	if sm, ok := v.(goldenpipe.Summarizer); ok {
		if b, err := sm.DocSummary(); err == nil && len(b) <= goldenpipe.MaxSummaryBytes {
			return string(b)
		}
	}
	return ""
}

func (s *Store) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, docTimeout)
}

// Get reads the document at key into v and returns its ETag.
func (s *Store) Get(ctx context.Context, key string, v any) (string, error) {
	k, ok := s.kind(key)
	if !ok || k.Summaries {
		return s.blobs.Get(ctx, key, v)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	e, err := s.t.get(ctx, k, key)
	if err != nil {
		return "", err
	}
	if err := json.Unmarshal([]byte(e.Doc), v); err != nil {
		return "", goldenpipe.Wrap(goldenpipe.EINTERNAL, err, "record %s is not valid JSON", key)
	}
	return e.ETag, nil
}

// Put creates (ifMatch "") or replaces the version ifMatch names.
func (s *Store) Put(ctx context.Context, key string, v any, ifMatch string) (string, error) {
	return s.put(ctx, key, v, ifMatch, false)
}

// Overwrite writes v at key whatever is there.
func (s *Store) Overwrite(ctx context.Context, key string, v any) (string, error) {
	return s.put(ctx, key, v, "", true)
}

func (s *Store) put(ctx context.Context, key string, v any, ifMatch string, overwrite bool) (string, error) {
	k, ok := s.kind(key)
	if !ok {
		if overwrite {
			return s.blobs.Overwrite(ctx, key, v)
		}
		return s.blobs.Put(ctx, key, v, ifMatch)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	if k.Summaries {
		return s.putSummarized(ctx, k, key, v, ifMatch, overwrite)
	}
	doc, err := json.Marshal(v)
	if err != nil {
		return "", goldenpipe.Wrap(goldenpipe.EINTERNAL, err, "encoding record %s failed", key)
	}
	e := entity{Doc: string(doc)}
	switch {
	case overwrite:
		return s.t.write(ctx, k, key, e, "*", false)
	case ifMatch == "":
		return s.t.write(ctx, k, key, e, "", true)
	}
	return s.t.write(ctx, k, key, e, ifMatch, false)
}

// putSummarized writes a summarized record: dirty mark, blob, summary.
func (s *Store) putSummarized(ctx context.Context, k TableKind, key string, v any, ifMatch string, overwrite bool) (string, error) {
	mark, err := s.t.write(ctx, k, key, entity{Dirty: true}, "*", false)
	if err != nil {
		return "", err
	}
	var etag string
	if overwrite {
		etag, err = s.blobs.Overwrite(ctx, key, v)
	} else {
		etag, err = s.blobs.Put(ctx, key, v, ifMatch)
	}
	if err != nil {
		return "", err // the mark stays: readers take the blob
	}
	// a later writer's mark makes this fail: its summary will be the one
	_, _ = s.t.write(ctx, k, key, entity{Summary: summaryOf(v)}, mark, false)
	return etag, nil
}

// Delete removes the document at key if its ETag is ifMatch ("" any).
func (s *Store) Delete(ctx context.Context, key, ifMatch string) error {
	k, ok := s.kind(key)
	if !ok {
		return s.blobs.Delete(ctx, key, ifMatch)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	if !k.Summaries {
		return s.t.remove(ctx, k, key, ifMatch)
	}
	mark, err := s.t.write(ctx, k, key, entity{Dirty: true}, "*", false)
	if err != nil {
		return err
	}
	if err := s.blobs.Delete(ctx, key, ifMatch); err != nil {
		return err
	}
	if err := s.t.remove(ctx, k, key, mark); err != nil && goldenpipe.ErrorCode(err) != goldenpipe.ECONFLICT {
		return err
	}
	return nil
}

// Keys lists the keys under prefix, in order.
func (s *Store) Keys(ctx context.Context, prefix string) ([]string, error) {
	if k, ok := s.kind(prefix); !ok || k.Summaries {
		return s.blobs.Keys(ctx, prefix) // the records themselves
	}
	var keys []string
	marker := ""
	for {
		page, next, err := s.KeysPage(ctx, prefix, marker, goldenpipe.MaxPageSize)
		if err != nil {
			return nil, err
		}
		keys = append(keys, page...)
		if next == "" {
			return keys, nil
		}
		marker = next
	}
}

// KeysPage lists one page of keys under prefix. Summarized records are
// listed from their blobs, which are the truth.
func (s *Store) KeysPage(ctx context.Context, prefix, marker string, max int) ([]string, string, error) {
	k, ok := s.kind(prefix)
	if !ok || k.Summaries {
		return s.blobs.KeysPage(ctx, prefix, marker, max) // the records themselves
	}
	if err := checkPageSize(prefix, max); err != nil {
		return nil, "", err
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	// the keys alone ($select): a page of keys carries none of the documents
	es, more, err := s.t.page(ctx, k, prefix, marker, max, to.Ptr("PartitionKey,RowKey"))
	if err != nil {
		return nil, "", err
	}
	keys := make([]string, len(es))
	for i, e := range es {
		keys[i] = k.keyOf(e.PartitionKey, e.RowKey)
	}
	next := ""
	if more && len(keys) > 0 {
		next = keys[len(keys)-1]
	}
	return keys, next, nil
}

// ListPage lists one page of keys under prefix with their summaries: for
// a table kind one query of the page's rows (two for a bucketed kind),
// each listed with the whole document as its summary. A summarized record
// whose summary is dirty is listed without one: the caller reads it;
// with the kind's Summarize, a record whose write is under way is read
// and summarized here, or left out when its blob is not written yet
// (summarizeWriting).
func (s *Store) ListPage(ctx context.Context, prefix, marker string, max int) ([]goldenpipe.Listed, string, error) {
	k, ok := s.kind(prefix)
	if !ok {
		return s.blobs.ListPage(ctx, prefix, marker, max)
	}
	if err := checkPageSize(prefix, max); err != nil {
		return nil, "", err
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	es, more, err := s.t.page(ctx, k, prefix, marker, max, nil)
	if err != nil {
		return nil, "", err
	}
	out := make([]goldenpipe.Listed, 0, len(es))
	var writing []int // records whose write is under way
	for _, e := range es {
		l := goldenpipe.Listed{Key: k.keyOf(e.PartitionKey, e.RowKey)}
		switch {
		case !k.Summaries:
			l.Summary = []byte(e.Doc) // the listing holds the whole document
		case e.Summary != "" && !e.Dirty:
			l.Summary = []byte(e.Summary)
		case e.Dirty && k.Summarize != nil && s.since(e.Timestamp) < writeUnderWay:
			writing = append(writing, len(out))
		}
		out = append(out, l)
	}
	next := ""
	if more && len(out) > 0 {
		next = out[len(out)-1].Key
	}
	if len(writing) > 0 {
		if out, err = s.summarizeWriting(ctx, k, out, writing); err != nil {
			return nil, "", err
		}
	}
	return out, next, nil
}

// writeUnderWay is how long a dirty mark is taken for a write under way:
// a write ends within docTimeout (a minute more for the service's clock).
// An older mark was left by a writer that stopped before the summary.
const writeUnderWay = docTimeout + time.Minute

// listReads bounds the records a listing reads at once.
const listReads = 8

// summarizeWriting summarizes the listed records at the indexes writing
// whose write is under way, from their blobs (one read each, at once, at
// most listReads together), and leaves out those not written yet: the
// writer stores the summary when it is done, so the listing writes
// nothing and its caller reads nothing. Marks left by a writer that
// stopped stay listed without a summary: the caller reads the record and
// writes its summary again.
func (s *Store) summarizeWriting(ctx context.Context, k TableKind, out []goldenpipe.Listed, writing []int) ([]goldenpipe.Listed, error) {
	gone := make([]bool, len(out))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(listReads)
	for _, i := range writing {
		g.Go(func() error {
			var doc json.RawMessage
			_, err := s.blobs.Get(gctx, out[i].Key, &doc)
			switch goldenpipe.ErrorCode(err) {
			case "":
			case goldenpipe.ENOTFOUND:
				gone[i] = true // created by the write under way: not yet a record
				return nil
			default:
				return err
			}
			if sum, err := k.Summarize(doc); err == nil && len(sum) <= goldenpipe.MaxSummaryBytes {
				out[i].Summary = sum
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	kept := out[:0]
	for i, l := range out {
		if !gone[i] {
			kept = append(kept, l)
		}
	}
	return kept, nil
}

func (s *Store) String() string {
	return s.blobs.String() + ", lists in tables " + TableName(s.t.prefix, "*")
}

// tableMigration is the progress of moving what was kept as blobs before
// the lists moved to tables.
type tableMigration struct {
	Done   bool   `json:"done"`
	Kind   int    `json:"kind"`
	Marker string `json:"marker,omitempty"`
	Moved  int    `json:"moved"`
}

// keyTableMigration records the migration's progress.
const keyTableMigration = "migrations/tables.json"

// Migrate moves, once, what the store kept as blobs before its lists moved
// to tables: each small document of a table kind becomes an entity (one
// written since wins) and its blob is deleted; each summarized record gets
// its summary entity. It runs a page at a time from a recorded marker
// until it is done or the deadline passes, and once done costs one read.
// It reports how many documents it moved in all. Kinds are moved in the
// order the store was given them, so a kind is only ever appended: a
// deployment whose migration was done before a kind moved to tables has
// that kind moved too: its record's Kind stops before it (Done is never
// stored; the end of the kinds is).
func (s *Store) Migrate(ctx context.Context, deadline time.Time) (done bool, moved int, err error) {
	var m tableMigration
	etag, err := s.blobs.Get(ctx, keyTableMigration, &m)
	if err != nil && goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
		return false, 0, err
	}
	for !m.Done && time.Now().Before(deadline) {
		if m.Kind >= len(s.kinds) {
			m.Done = true
			break
		}
		k := s.kinds[m.Kind]
		items, next, err := s.blobs.ListPage(ctx, k.Prefix, m.Marker, 200)
		if err != nil {
			return false, m.Moved, err
		}
		for _, it := range items {
			if err := s.migrateOne(ctx, k, it); err != nil {
				return false, m.Moved, err
			}
			m.Moved++
		}
		if next == "" {
			m.Kind, m.Marker = m.Kind+1, ""
		} else {
			m.Marker = next
		}
		if etag, err = s.blobs.Put(ctx, keyTableMigration, m, etag); err != nil {
			return false, m.Moved, err // another instance is migrating: it goes on
		}
	}
	return m.Done, m.Moved, nil
}

func (s *Store) migrateOne(ctx context.Context, k TableKind, it goldenpipe.Listed) error {
	if k.Summaries {
		// a dirty mark makes the next listing read the record; its next write stores the summary
		_, err := s.t.write(ctx, k, it.Key, entity{Dirty: true}, "", true)
		if err != nil && goldenpipe.ErrorCode(err) != goldenpipe.ECONFLICT {
			return err
		}
		return nil
	}
	var raw json.RawMessage
	etag, err := s.blobs.Get(ctx, it.Key, &raw)
	switch goldenpipe.ErrorCode(err) {
	case "":
	case goldenpipe.ENOTFOUND:
		return nil
	default:
		return err
	}
	e := entity{Doc: string(raw)}
	if _, err := s.t.write(ctx, k, it.Key, e, "", true); err != nil && goldenpipe.ErrorCode(err) != goldenpipe.ECONFLICT {
		return err
	}
	return s.blobs.Delete(ctx, it.Key, etag)
}

// checkPageSize refuses a page of no keys, as a blob listing answers: "If
// you specify a maximum number of results of less than or equal to zero,
// the service returns status code 400 (Bad Request)" (Microsoft Learn,
// Listing Blob storage resources); a table query would answer an empty,
// final page.
func checkPageSize(prefix string, max int) error {
	if max <= 0 {
		return goldenpipe.Errorf(goldenpipe.EINVALID, "listing records under %s failed: a page holds at least one key (asked %d)", prefix, max)
	}
	return nil
}
