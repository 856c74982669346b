package azure

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/goldenpipe/goldenpipe"
)

// TableKind is a kind of document the store keeps in Table storage: small
// documents that lists page through (index entries, in-flight markers),
// or, with Summaries, blob records whose summaries are kept as entities
// so that a page of them is one query.
type TableKind struct {
	// Prefix is where the kind's keys start.
	Prefix string
	// Table is the name of the kind's table, after the store's prefix.
	Table string
	// Partitioned keys have their first segment after Prefix (up to "/")
	// as the partition: a list of one partition reads only it.
	Partitioned bool
	// Bucket groups the keys of a kind into partitions, each a table of
	// its own, by their first Bucket characters (a time-ordered kind's
	// fixed-width time, a hash's first digit), each recorded by a row of
	// the kind's bucket table, so a page reads one or two small tables
	// however long the history is.
	Bucket int
	// Summaries keeps the documents as blobs and their summaries as
	// entities (see Store).
	Summaries bool
	// Summarize, when set on a kind with Summaries, is the summary of a
	// stored document (its JSON): a listing that finds a record whose
	// write is under way summarizes the record itself (SummaryOf).
	Summarize func(doc []byte) ([]byte, error)
}

// SummaryOf is a kind's Summarize for documents of type T.
func SummaryOf[T goldenpipe.Summarizer]() func([]byte) ([]byte, error) {
	return func(doc []byte) ([]byte, error) {
		var v T
		if err := json.Unmarshal(doc, &v); err != nil {
			return nil, err
		}
		return v.DocSummary()
	}
}

// maxEntityDoc bounds a document kept in an entity: a string property
// holds 64 KiB as UTF-16.
const maxEntityDoc = 30 << 10

// bucketPartition is the partition of a bucketed kind's bucket entries.
const bucketPartition = "~buckets"

// entity is a document's row. Doc is the document (table kinds); Summary
// a summarized blob record's summary, and Dirty that a write of it may be
// under way (the blob is the truth).
type entity struct {
	PartitionKey string `json:"PartitionKey"`
	RowKey       string `json:"RowKey"`
	Doc          string `json:"Doc,omitempty"`
	Summary      string `json:"Summary,omitempty"`
	Dirty        bool   `json:"Dirty,omitempty"`
	ETag         string `json:"odata.etag,omitempty"`
	// Timestamp is when the entity was last written, as the service
	// keeps it ("The Timestamp property is a DateTime value that is
	// maintained on the server side to record the time an entity was
	// last modified", Microsoft Learn, Understanding the Table service
	// data model); never sent.
	Timestamp time.Time `json:"Timestamp,omitzero"`
}

// tables is the Table storage half of Store: one table per kind, created
// when first needed.
type tables struct {
	svc    *aztables.ServiceClient
	prefix string

	mu    sync.Mutex
	ready map[string]bool
	// buckets are the bucket entries this process wrote or found (never
	// deleted, so written once a process)
	buckets map[string]bool
}

// TableName returns the table of a kind for a store whose state container
// is container: letters and digits only, starting with a letter, at most
// 63 characters (a hash stands for a longer container name).
func TableName(container, kind string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(container) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	base := b.String()
	if base == "" || base[0] < 'a' || base[0] > 'z' {
		base = "gp" + base
	}
	name := base + kind
	if len(name) > 63 {
		sum := sha256.Sum256([]byte(container))
		name = "gp" + hex.EncodeToString(sum[:])[:24] + kind
		if len(name) > 63 {
			name = name[:63]
		}
	}
	return name
}

func (t *tables) client(ctx context.Context, name string) (*aztables.Client, error) {
	c := t.svc.NewClient(TableName(t.prefix, name))
	t.mu.Lock()
	ok := t.ready[name]
	t.mu.Unlock()
	if ok {
		return c, nil
	}
	if _, err := c.CreateTable(ctx, nil); err != nil {
		var re *azcore.ResponseError
		if !errors.As(err, &re) || re.StatusCode != http.StatusConflict {
			return nil, StorageError(err, "creating table %s failed", TableName(t.prefix, name))
		}
	}
	t.mu.Lock()
	t.ready[name] = true
	t.mu.Unlock()
	return c, nil
}

// escapeKey makes text a partition or row key: the characters keys may
// not hold ('/', '\', '#', '?', controls) and the escape '!' itself become
// '!' and two hex digits.
func escapeKey(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '/' || c == '\\' || c == '#' || c == '?' || c == '!' || c < 0x20 || c == 0x7f {
			fmt.Fprintf(&b, "!%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func unescapeKey(s string) string {
	if !strings.Contains(s, "!") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '!' && i+2 < len(s) {
			if v, err := hex.DecodeString(s[i+1 : i+3]); err == nil {
				b.WriteByte(v[0])
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// odata quotes a string for a filter.
func odata(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// locate returns a key's partition and row.
func (k TableKind) locate(key string) (pk, rk string) {
	rest := strings.TrimPrefix(key, k.Prefix)
	switch {
	case k.Partitioned:
		p, r, _ := strings.Cut(rest, "/")
		return escapeKey(p), escapeKey(r)
	case k.Bucket > 0 && len(rest) >= k.Bucket:
		return escapeKey(rest[:k.Bucket]), escapeKey(rest)
	}
	return "all", escapeKey(rest)
}

// shards is how many tables a partitioned kind's partitions are spread
// over, by a hash of the partition.
const shards = 32

// tableOf names the table that holds partition pk of a kind: a bucketed
// kind keeps each bucket in a table of its own (as Azure's pattern of a
// table per period), a partitioned kind spreads its partitions over
// shards tables, so a query reads one small table (Azurite scans a whole
// table per query; Azure reads the partition either way).
func (k TableKind) tableOf(pk string) string {
	switch {
	case k.Bucket > 0:
		return k.Table + hex.EncodeToString([]byte(pk))
	case k.Partitioned:
		h := fnv.New32a()
		h.Write([]byte(pk))
		return fmt.Sprintf("%s%02d", k.Table, h.Sum32()%shards)
	}
	return k.Table
}

// bucketTable names the table that lists a bucketed kind's buckets.
func (k TableKind) bucketTable() string { return k.Table + "buckets" }

// keyOf is locate's inverse.
func (k TableKind) keyOf(pk, rk string) string {
	if k.Partitioned {
		return k.Prefix + unescapeKey(pk) + "/" + unescapeKey(rk)
	}
	return k.Prefix + unescapeKey(rk)
}

func decodeEntity(b []byte) (entity, error) {
	var e entity
	if err := json.Unmarshal(b, &e); err != nil {
		return e, goldenpipe.Wrap(goldenpipe.EINTERNAL, err, "a table entity is not valid JSON")
	}
	return e, nil
}

// get reads a key's entity; ENOTFOUND when there is none.
func (t *tables) get(ctx context.Context, k TableKind, key string) (entity, error) {
	pk, rk := k.locate(key)
	c, err := t.client(ctx, k.tableOf(pk))
	if err != nil {
		return entity{}, err
	}
	resp, err := c.GetEntity(ctx, pk, rk, nil)
	if err != nil {
		return entity{}, StorageError(err, "reading %s failed", key)
	}
	e, err := decodeEntity(resp.Value)
	e.ETag = string(resp.ETag)
	return e, err
}

// write adds (ifMatch "" and create), replaces the version ifMatch names,
// or upserts (ifMatch "*"), and returns the entity's new ETag.
func (t *tables) write(ctx context.Context, k TableKind, key string, e entity, ifMatch string, create bool) (string, error) {
	e.PartitionKey, e.RowKey = k.locate(key)
	c, err := t.client(ctx, k.tableOf(e.PartitionKey))
	if err != nil {
		return "", err
	}
	e.ETag, e.Timestamp = "", time.Time{}
	if len(e.Doc) > maxEntityDoc || len(e.Summary) > maxEntityDoc {
		return "", goldenpipe.Errorf(goldenpipe.EINVALID, "%s is %d bytes: more than a table entity keeps (%d)", key, len(e.Doc)+len(e.Summary), maxEntityDoc)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return "", goldenpipe.Wrap(goldenpipe.EINTERNAL, err, "encoding %s failed", key)
	}
	if k.Bucket > 0 && (create || ifMatch == "*") {
		if err := t.bucket(ctx, k, e.PartitionKey); err != nil {
			return "", err
		}
	}
	var etag azcore.ETag
	switch {
	case create:
		resp, err := c.AddEntity(ctx, b, nil)
		if err != nil {
			return "", StorageError(err, "writing %s failed", key)
		}
		etag = resp.ETag
	case ifMatch == "*":
		resp, err := c.UpsertEntity(ctx, b, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace})
		if err != nil {
			return "", StorageError(err, "writing %s failed", key)
		}
		etag = resp.ETag
	default:
		resp, err := c.UpdateEntity(ctx, b, &aztables.UpdateEntityOptions{IfMatch: to.Ptr(azcore.ETag(ifMatch)), UpdateMode: aztables.UpdateModeReplace})
		if err != nil {
			var re *azcore.ResponseError
			if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
				return "", goldenpipe.Wrap(goldenpipe.ECONFLICT, err, "%s is gone", key)
			}
			return "", StorageError(err, "writing %s failed", key)
		}
		etag = resp.ETag
	}
	return string(etag), nil
}

// bucket records that a bucketed kind has entries in partition pk
// (idempotent; a bucket left empty costs one empty query of a page).
func (t *tables) bucket(ctx context.Context, k TableKind, pk string) error {
	key := k.Table + "/" + pk
	t.mu.Lock()
	known := t.buckets[key]
	t.mu.Unlock()
	if known {
		return nil
	}
	c, err := t.client(ctx, k.bucketTable())
	if err != nil {
		return err
	}
	b, _ := json.Marshal(entity{PartitionKey: bucketPartition, RowKey: pk})
	if _, err := c.UpsertEntity(ctx, b, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace}); err != nil {
		return StorageError(err, "recording bucket %s failed", pk)
	}
	t.mu.Lock()
	if t.buckets == nil {
		t.buckets = map[string]bool{}
	}
	t.buckets[key] = true
	t.mu.Unlock()
	return nil
}

// remove deletes a key's entity if its ETag is ifMatch ("" any); gone is
// not an error.
func (t *tables) remove(ctx context.Context, k TableKind, key, ifMatch string) error {
	pk, rk := k.locate(key)
	c, err := t.client(ctx, k.tableOf(pk))
	if err != nil {
		return err
	}
	opts := &aztables.DeleteEntityOptions{}
	if ifMatch != "" {
		opts.IfMatch = to.Ptr(azcore.ETag(ifMatch))
	}
	if _, err := c.DeleteEntity(ctx, pk, rk, opts); err != nil {
		var re *azcore.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
			if ifMatch != "" {
				return goldenpipe.Wrap(goldenpipe.ECONFLICT, err, "%s is gone", key)
			}
			return nil
		}
		return StorageError(err, "deleting %s failed", key)
	}
	return nil
}

// query reads up to max entities of one partition in row order, rows
// after after ("" from the first), with rows starting with within ("" any).
func (t *tables) query(ctx context.Context, c *aztables.Client, pk, after, within string, max int, sel *string) ([]entity, error) {
	filter := "PartitionKey eq " + odata(pk)
	if after != "" {
		filter += " and RowKey gt " + odata(after)
	}
	if within != "" {
		filter += " and RowKey ge " + odata(within) + " and RowKey lt " + odata(within+"\U0010FFFF")
	}
	pager := c.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter, Select: sel, Top: to.Ptr(int32(min(max, 1000)))})
	var out []entity
	for pager.More() && len(out) < max {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, StorageError(err, "listing partition %s failed", pk)
		}
		for _, b := range page.Entities {
			e, err := decodeEntity(b)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
	}
	if len(out) > max {
		out = out[:max]
	}
	return out, nil
}

// page lists up to max entities of a kind under prefix, in key order,
// after marker (the last key of the previous page, "" for the first),
// and whether more follow; sel, when set, names the properties listed
// ($select: "PartitionKey,RowKey" lists keys only).
func (t *tables) page(ctx context.Context, k TableKind, prefix, marker string, max int, sel *string) ([]entity, bool, error) {
	rest := strings.TrimPrefix(prefix, k.Prefix)
	after := ""
	if marker != "" {
		_, after = k.locate(marker)
	}
	switch {
	case k.Partitioned:
		p, within, ok := strings.Cut(rest, "/")
		if !ok {
			return nil, false, goldenpipe.Errorf(goldenpipe.EINTERNAL, "listing %s: a partitioned kind is listed one partition at a time", prefix)
		}
		c, err := t.client(ctx, k.tableOf(escapeKey(p)))
		if err != nil {
			return nil, false, err
		}
		es, err := t.query(ctx, c, escapeKey(p), after, escapeKey(within), max+1, sel)
		if err != nil {
			return nil, false, err
		}
		return trim(es, max)
	case k.Bucket > 0:
		return t.bucketPage(ctx, k, escapeKey(rest), after, max, sel)
	}
	c, err := t.client(ctx, k.Table)
	if err != nil {
		return nil, false, err
	}
	es, err := t.query(ctx, c, "all", after, escapeKey(rest), max+1, sel)
	if err != nil {
		return nil, false, err
	}
	return trim(es, max)
}

func trim(es []entity, max int) ([]entity, bool, error) {
	if len(es) > max {
		return es[:max], true, nil
	}
	return es, false, nil
}

// bucketPage reads a bucketed kind's page: the buckets from the marker's
// on (a listing of the bucket table), each bucket's entries in order,
// until the page is full. Its sequential round trips are few whatever the
// number of buckets it reads:
//
//   - the bucket this process last knew to be the page's first (a bucket
//     it wrote or listed; buckets are never deleted) is queried while the
//     buckets are listed: when the listing agrees, the page took one round
//     trip;
//   - when a bucket falls short, the buckets that should fill the page (as
//     many as the entries per bucket read so far say, one more for luck,
//     all the rest when none held anything, at most maxWave) are queried
//     at once.
func (t *tables) bucketPage(ctx context.Context, k TableKind, within, after string, max int, sel *string) ([]entity, bool, error) {
	c, err := t.client(ctx, k.bucketTable())
	if err != nil {
		return nil, false, err
	}
	from, past := "", ""
	if len(after) >= k.Bucket {
		from = after[:k.Bucket]
	}
	f := &bucketFetch{t: t, k: k, within: within, after: after, sel: sel}
	defer f.wait() // the guess's query never outlives the page
	if guess := t.firstKnown(k, from, within); guess != "" {
		f.guess(ctx, guess, max+1)
	}
	var out []entity
	read, found := 0, 0 // buckets read and the entries they held
	for {
		page, more, err := t.listBuckets(ctx, c, k, from, past)
		if err != nil {
			return nil, false, err
		}
		if len(page) == 0 {
			return out, false, nil
		}
		var cands []string
		for _, b := range page {
			if within == "" || strings.HasPrefix(b, within) || strings.HasPrefix(within, b) {
				cands = append(cands, b)
			}
		}
		for len(cands) > 0 {
			n := waveSize(read, found, max+1-len(out), len(cands))
			got, err := f.fetch(ctx, cands[:n], max+1-len(out))
			if err != nil {
				return nil, false, err
			}
			for _, es := range got {
				out = append(out, es...)
				found += len(es)
			}
			read += n
			if len(out) > max {
				return out[:max], true, nil
			}
			cands = cands[n:]
		}
		if !more {
			return out, false, nil
		}
		from, past = "", page[len(page)-1]
	}
}

// bucketsListed is how many buckets one query of a bucket table lists;
// maxWave how many buckets a page queries at once.
const (
	bucketsListed = 50
	maxWave       = 16
)

// waveSize is how many buckets a page queries next: one first (a page
// usually fills from one), then as many as the entries per bucket read so
// far say the need takes, and one more; all that are left (at most
// maxWave) when none held anything.
func waveSize(read, found, need, left int) int {
	n := maxWave
	switch {
	case read == 0:
		n = 1
	case found > 0:
		n = (need*read+found-1)/found + 1
	}
	return min(n, left, maxWave)
}

// listBuckets lists one page of a bucketed kind's buckets, from from on
// (inclusive) or past past, and whether more may follow; what it lists
// is known to this process from then on (firstKnown).
func (t *tables) listBuckets(ctx context.Context, c *aztables.Client, k TableKind, from, past string) ([]string, bool, error) {
	filter := "PartitionKey eq " + odata(bucketPartition)
	if from != "" {
		filter += " and RowKey ge " + odata(from)
	}
	if past != "" {
		filter += " and RowKey gt " + odata(past)
	}
	pager := c.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter, Top: to.Ptr(int32(bucketsListed))})
	var page aztables.ListEntitiesResponse
	for {
		var err error
		page, err = pager.NextPage(ctx)
		if err != nil {
			return nil, false, StorageError(err, "listing the buckets of %s failed", k.Table)
		}
		// "It is possible for a query to return no results but to
		// still return a continuation header" (Table service REST,
		// Query timeout and pagination): an empty page ends the
		// listing only when it carries no continuation
		if len(page.Entities) > 0 || !pager.More() {
			break
		}
	}
	out := make([]string, 0, len(page.Entities))
	for _, b := range page.Entities {
		bk, err := decodeEntity(b)
		if err != nil {
			return nil, false, err
		}
		out = append(out, bk.RowKey)
	}
	t.mu.Lock()
	if t.buckets == nil {
		t.buckets = map[string]bool{}
	}
	for _, b := range out {
		t.buckets[k.Table+"/"+b] = true
	}
	t.mu.Unlock()
	return out, pager.More() || len(out) == bucketsListed, nil
}

// firstKnown is the first bucket of a kind this process knows of (wrote
// or listed) from from on that may hold keys starting with within; ""
// when it knows none.
func (t *tables) firstKnown(k TableKind, from, within string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	first := ""
	for key := range t.buckets {
		b, ok := strings.CutPrefix(key, k.Table+"/")
		if !ok || b < from || (first != "" && b >= first) {
			continue
		}
		if within == "" || strings.HasPrefix(b, within) || strings.HasPrefix(within, b) {
			first = b
		}
	}
	return first
}

// bucketFetch queries the buckets of one page: the guessed first bucket
// while the buckets are listed, then waves of buckets at once.
type bucketFetch struct {
	t             *tables
	k             TableKind
	within, after string
	sel           *string
	guessed       string
	guessMax      int
	guessDone     chan struct{}
	guessOut      []entity
	guessErr      error
	cancelGuess   context.CancelFunc
}

// one queries bucket b for up to n entries.
func (f *bucketFetch) one(ctx context.Context, b string, n int) ([]entity, error) {
	a, w := "", ""
	if strings.HasPrefix(f.after, b) {
		a = f.after
	}
	if strings.HasPrefix(f.within, b) {
		w = f.within
	}
	c, err := f.t.client(ctx, f.k.tableOf(b))
	if err != nil {
		return nil, err
	}
	return f.t.query(ctx, c, b, a, w, n, f.sel)
}

// guess queries bucket b for up to n entries in the background.
func (f *bucketFetch) guess(ctx context.Context, b string, n int) {
	gctx, cancel := context.WithCancel(ctx)
	f.guessed, f.guessMax, f.guessDone, f.cancelGuess = b, n, make(chan struct{}), cancel
	go func() {
		defer close(f.guessDone)
		f.guessOut, f.guessErr = f.one(gctx, b, n)
	}()
}

// wait ends the guess's query (if the page did not use it) and waits for it.
func (f *bucketFetch) wait() {
	if f.guessDone != nil {
		f.cancelGuess()
		<-f.guessDone
	}
}

// fetch queries the buckets bs at once for up to n entries each, the
// guess's answer used for its bucket; the entries in bucket order.
func (f *bucketFetch) fetch(ctx context.Context, bs []string, n int) ([][]entity, error) {
	out := make([][]entity, len(bs))
	var g errgroup.Group
	for i, b := range bs {
		if b == f.guessed && f.guessMax >= n {
			g.Go(func() error {
				<-f.guessDone
				out[i] = f.guessOut
				if len(out[i]) > n {
					out[i] = out[i][:n]
				}
				return f.guessErr
			})
			continue
		}
		g.Go(func() error {
			es, err := f.one(ctx, b, n)
			out[i] = es
			return err
		})
	}
	return out, g.Wait()
}
