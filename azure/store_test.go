package azure

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/internal/azurite"
	"github.com/goldenpipe/goldenpipe/internal/azurite/azuritetest"
)

var az *azurite.Server

func TestMain(m *testing.M) { os.Exit(azuritetest.Run(m, &az)) }

var testKinds = []TableKind{
	{Prefix: "active/", Table: "active"},
	{Prefix: "by-time/", Table: "bytime", Bucket: 4},
	{Prefix: "by-template/", Table: "bytemplate", Partitioned: true},
	{Prefix: "records/", Table: "records", Summaries: true},
}

// newStore returns a store on its own container and tables.
func newStore(t *testing.T) *Store {
	t.Helper()
	return contractStore(t, testKinds)
}

// rec is a record with a summary.
type rec struct {
	Name string `json:"name"`
	Big  string `json:"big"`
}

func (r rec) DocSummary() ([]byte, error) { return json.Marshal(map[string]string{"name": r.Name}) }

func TestStoreEntitiesKeepETags(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	key := "active/b-1"
	e1, err := s.Put(ctx, key, map[string]int{"n": 1}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, key, map[string]int{"n": 2}, ""); goldenpipe.ErrorCode(err) != goldenpipe.ECONFLICT {
		t.Fatalf("create over an existing entity: %v, want ECONFLICT", err)
	}
	e2, err := s.Put(ctx, key, map[string]int{"n": 2}, e1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, key, map[string]int{"n": 3}, e1); goldenpipe.ErrorCode(err) != goldenpipe.ECONFLICT {
		t.Fatalf("replace with a stale ETag: %v, want ECONFLICT", err)
	}
	var v map[string]int
	etag, err := s.Get(ctx, key, &v)
	if err != nil || etag != e2 || v["n"] != 2 {
		t.Fatalf("get: %v %q (want %q) %v", v, etag, e2, err)
	}
	if err := s.Delete(ctx, key, e1); goldenpipe.ErrorCode(err) != goldenpipe.ECONFLICT {
		t.Fatalf("delete with a stale ETag: %v, want ECONFLICT", err)
	}
	if _, err := s.Overwrite(ctx, key, map[string]int{"n": 4}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, key, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, key, ""); err != nil {
		t.Fatalf("deleting what is gone: %v", err)
	}
	if _, err := s.Get(ctx, key, &v); goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
		t.Fatalf("get after delete: %v", err)
	}
	if _, err := s.Put(ctx, "active/big", rec{Big: strings.Repeat("x", 40<<10)}, ""); goldenpipe.ErrorCode(err) != goldenpipe.EINVALID {
		t.Fatalf("a document too large for an entity: %v, want EINVALID", err)
	}
}

// timeKey is a 16-hex-digit time key as the builds' lists use.
func timeKey(i int) string { return fmt.Sprintf("%016x-id%d", uint64(i)*(1<<40), i) }

func TestStorePagesInKeyOrderAcrossBuckets(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	var want []string
	order := rand.Perm(300)
	for _, i := range order {
		k := "by-time/" + timeKey(i*3) // gaps between buckets too
		if _, err := s.Overwrite(ctx, k, map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
		want = append(want, k)
	}
	slices.Sort(want)
	for _, size := range []int{1, 7, 100, 300, 1000} {
		var got []string
		marker, pages := "", 0
		for {
			keys, next, err := s.KeysPage(ctx, "by-time/", marker, size)
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) > size {
				t.Fatalf("page of %d keys, asked for %d", len(keys), size)
			}
			got = append(got, keys...)
			pages++
			if next == "" {
				break
			}
			marker = next
		}
		if !slices.Equal(got, want) {
			t.Fatalf("pages of %d: %d keys, want %d in order (first %v)", size, len(got), len(want), got[:min(3, len(got))])
		}
		if wantPages := (len(want) + size - 1) / size; pages != wantPages {
			t.Errorf("pages of %d: %d pages, want %d (no empty last page)", size, pages, wantPages)
		}
	}
}

func TestStorePartitionsListOnePartition(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	for _, k := range []string{"by-template/a/2", "by-template/a/1", "by-template/ab/1", "by-template/b/1", "by-template/a/3#?!"} {
		if _, err := s.Overwrite(ctx, k, map[string]string{"k": k}); err != nil {
			t.Fatal(err)
		}
	}
	keys, next, err := s.KeysPage(ctx, "by-template/a/", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"by-template/a/1", "by-template/a/2", "by-template/a/3#?!"}
	if !slices.Equal(keys, want) || next != "" {
		t.Fatalf("partition a: %v next %q, want %v", keys, next, want)
	}
	var v map[string]string
	if _, err := s.Get(ctx, "by-template/a/3#?!", &v); err != nil || v["k"] != "by-template/a/3#?!" {
		t.Fatalf("a key with characters table keys refuse: %v %v", v, err)
	}
}

func TestStoreSummariesNeverWrong(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	etag, err := s.Put(ctx, "records/one", rec{Name: "first", Big: strings.Repeat("b", 100<<10)}, "")
	if err != nil {
		t.Fatal(err)
	}
	list := func() []goldenpipe.Listed {
		t.Helper()
		items, _, err := s.ListPage(ctx, "records/", "", 10)
		if err != nil {
			t.Fatal(err)
		}
		return items
	}
	if items := list(); len(items) != 1 || string(items[0].Summary) != `{"name":"first"}` {
		t.Fatalf("after a write: %+v", items)
	}
	// a write that loses its race leaves a dirty mark: listed without a
	// summary (the reader takes the blob, still "first"), never "second"
	if _, err := s.Put(ctx, "records/one", rec{Name: "second"}, `"0x0"`); goldenpipe.ErrorCode(err) != goldenpipe.ECONFLICT {
		t.Fatalf("stale write: %v", err)
	}
	if items := list(); len(items) != 1 || items[0].Summary != nil {
		t.Fatalf("after a lost race: %+v, want the record listed without a summary", items)
	}
	var r rec
	if _, err := s.Get(ctx, "records/one", &r); err != nil || r.Name != "first" {
		t.Fatalf("the record: %v %v", r.Name, err)
	}
	if _, err := s.Put(ctx, "records/one", rec{Name: "third"}, etag); err != nil {
		t.Fatal(err)
	}
	if items := list(); len(items) != 1 || string(items[0].Summary) != `{"name":"third"}` {
		t.Fatalf("after the next write: %+v", items)
	}
	if err := s.Delete(ctx, "records/one", ""); err != nil {
		t.Fatal(err)
	}
	if items := list(); len(items) != 0 {
		t.Fatalf("after a delete: %+v", items)
	}
}

func TestStoreMigratesBlobsOnce(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	old := s.Blobs() // the layout before the tables
	for i := 0; i < 5; i++ {
		if _, err := old.Overwrite(ctx, fmt.Sprintf("active/b-%d", i), map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
		if _, err := old.Overwrite(ctx, "by-time/"+timeKey(i), map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
		if _, err := old.Overwrite(ctx, fmt.Sprintf("records/r-%d", i), rec{Name: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	// one written since the upgrade, before the migration reached it: kept
	if _, err := s.Overwrite(ctx, "active/b-0", map[string]int{"i": 100}); err != nil {
		t.Fatal(err)
	}
	done, moved, err := s.Migrate(ctx, time.Now().Add(time.Minute))
	if err != nil || !done || moved != 15 {
		t.Fatalf("migration: done %v, moved %d, err %v", done, moved, err)
	}
	wantMoved(t, s, old, "active/", 5, "active/b-0", 100) // the newer marker kept
	if keys, _, err := s.KeysPage(ctx, "by-time/", "", 100); err != nil || len(keys) != 5 {
		t.Fatalf("time list after the move: %v %v", keys, err)
	}
	items, _, err := s.ListPage(ctx, "records/", "", 100)
	if err != nil || len(items) != 5 {
		t.Fatalf("records listed after the move: %v %v", items, err)
	}
	done, moved, err = s.Migrate(ctx, time.Now().Add(time.Minute))
	if err != nil || !done || moved != 15 {
		t.Fatalf("second migration: done %v, moved %d, err %v", done, moved, err)
	}
}

func TestTableKeysRoundTrip(t *testing.T) {
	for _, s := range []string{"", "plain", "a/b", `x\y#z?w`, "!21", "tab\there", "\x7f"} {
		e := escapeKey(s)
		if strings.ContainsAny(e, "/\\#?\t\x7f") {
			t.Errorf("escapeKey(%q) = %q holds a character keys refuse", s, e)
		}
		if u := unescapeKey(e); u != s {
			t.Errorf("unescapeKey(escapeKey(%q)) = %q", s, u)
		}
	}
	if n := TableName("scale-state", "buildsbytime"); n != "scalestatebuildsbytime" {
		t.Errorf("TableName = %q", n)
	}
	if n := TableName("9-"+strings.Repeat("x", 70), "active"); len(n) > 63 || n[0] < 'a' || n[0] > 'z' {
		t.Errorf("TableName of a long name = %q", n)
	}
}

func FuzzTableKeys(f *testing.F) {
	f.Add("a/b#c?d\\e!f")
	f.Fuzz(func(t *testing.T, s string) {
		e := escapeKey(s)
		if strings.ContainsAny(e, "/\\#?") {
			t.Fatalf("escapeKey(%q) = %q", s, e)
		}
		if u := unescapeKey(e); u != s {
			t.Fatalf("round trip of %q: %q", s, u)
		}
	})
}

// roundTrips is a table client's transport that counts requests and the
// longest chain of them one after the other (a request's round is one
// more than the latest round of those that ended before it started). A
// request lasts at least 20 ms, so that requests sent at once start
// before any ends; what is asserted is their order, never a time.
type roundTrips struct {
	mu     sync.Mutex
	ended  []int // the rounds of the requests that ended
	calls  int
	rounds int
}

func (r *roundTrips) Do(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	round := 1
	for _, e := range r.ended {
		round = max(round, e+1)
	}
	r.calls++
	r.mu.Unlock()
	resp, err := http.DefaultClient.Do(req)
	time.Sleep(20 * time.Millisecond) // latency, so requests at once overlap
	r.mu.Lock()
	r.ended = append(r.ended, round)
	r.rounds = max(r.rounds, round)
	r.mu.Unlock()
	return resp, err
}

func (r *roundTrips) reset() (calls, rounds int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	calls, rounds = r.calls, r.rounds
	r.ended, r.calls, r.rounds = nil, 0, 0
	return calls, rounds
}

// A page of a kind spread over 16 tables by the first hex digit of its
// keys (as template records are) reads the buckets it needs at once: with
// few keys in each bucket, it takes at most three rounds (the bucket
// list with the guessed first bucket, then the buckets that fill the
// page, then what a short estimate left), not one per bucket; with full
// buckets one round of two calls.
func TestStoreBucketPageRoundTrips(t *testing.T) {
	ctx := context.Background()
	conn, blobs, name := testContainer(t, "rt")
	rt := &roundTrips{}
	tbl, err := aztables.NewServiceClientFromConnectionString(conn.ConnectionString, &aztables.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: rt}})
	if err != nil {
		t.Fatal(err)
	}
	kinds := []TableKind{{Prefix: "hash/", Table: "hash", Bucket: 1}}
	s := NewStore(blobs, tbl, name, kinds)
	var want []string
	write := func(from, to int) {
		for i := from; i < to; i++ {
			sum := sha256.Sum256([]byte(fmt.Sprint(i)))
			k := "hash/" + hex.EncodeToString(sum[:8])
			if _, err := s.Overwrite(ctx, k, map[string]int{"i": i}); err != nil {
				t.Fatal(err)
			}
			want = append(want, k)
		}
		slices.Sort(want)
	}
	for _, c := range []struct {
		keys, page          int
		maxCalls, maxRounds int
	}{
		{keys: 40, page: 25, maxCalls: 18, maxRounds: 3}, // about 2.5 a bucket: 1 + 16 queries, one after the other before
		{keys: 400, page: 25, maxCalls: 2, maxRounds: 1}, // about 25 a bucket: the first fills the page
	} {
		write(len(want), c.keys)
		rt.reset()
		items, next, err := s.ListPage(ctx, "hash/", "", c.page)
		if err != nil {
			t.Fatal(err)
		}
		calls, rounds := rt.reset()
		got := make([]string, len(items))
		for i, it := range items {
			got[i] = it.Key
		}
		if !slices.Equal(got, want[:c.page]) || next != want[c.page-1] {
			t.Fatalf("%d keys: page %v next %q, want the first %d in order", c.keys, got, next, c.page)
		}
		if calls > c.maxCalls || rounds > c.maxRounds {
			t.Errorf("%d keys, a page of %d: %d calls in %d rounds, want at most %d in %d", c.keys, c.page, calls, rounds, c.maxCalls, c.maxRounds)
		}
		t.Logf("%d keys, a page of %d: %d calls in %d rounds", c.keys, c.page, calls, rounds)
	}
}

// A kind with Summarize: a listing that meets a record whose write is
// under way (a fresh dirty mark) summarizes its blob itself and writes
// nothing, and leaves out a record whose blob is not written yet; a mark
// older than any write is listed without a summary, as without
// Summarize, for the caller to read and write again.
func TestStoreListingSummarizesWritesUnderWay(t *testing.T) {
	ctx := context.Background()
	kinds := []TableKind{{Prefix: "records/", Table: "records", Summaries: true, Bucket: 1, Summarize: SummaryOf[rec]()}}
	s := contractStore(t, kinds)
	etag, err := s.Put(ctx, "records/1one", rec{Name: "first"}, "")
	if err != nil {
		t.Fatal(err)
	}
	// a write that loses its race leaves a dirty mark over "first"
	if _, err := s.Put(ctx, "records/1one", rec{Name: "second"}, `"0x0"`); goldenpipe.ErrorCode(err) != goldenpipe.ECONFLICT {
		t.Fatalf("stale write: %v", err)
	}
	// a create under way: its mark, no blob yet
	if _, err := s.t.write(ctx, kinds[0], "records/2two", entity{Dirty: true}, "*", false); err != nil {
		t.Fatal(err)
	}
	list := func() []goldenpipe.Listed {
		t.Helper()
		items, next, err := s.ListPage(ctx, "records/", "", 10)
		if err != nil || next != "" {
			t.Fatalf("listing: next %q, %v", next, err)
		}
		return items
	}
	if items := list(); len(items) != 1 || items[0].Key != "records/1one" || string(items[0].Summary) != `{"name":"first"}` {
		t.Fatalf("writes under way: %+v, want records/1one with the blob's summary and nothing of records/2two", items)
	}
	if e, err := s.t.get(ctx, kinds[0], "records/1one"); err != nil || !e.Dirty || e.Summary != "" {
		t.Fatalf("the listing wrote the summary (%+v, %v): the writer does", e, err)
	}
	// the marks, long after any write could still be under way
	s.now = func() time.Time { return time.Now().Add(2 * writeUnderWay) }
	items := list()
	if len(items) != 2 || items[0].Summary != nil || items[1].Summary != nil {
		t.Fatalf("marks left by writers that stopped: %+v, want both listed without a summary", items)
	}
	if _, err := s.Put(ctx, "records/1one", rec{Name: "third"}, etag); err != nil {
		t.Fatal(err)
	}
	if items := list(); string(items[0].Summary) != `{"name":"third"}` {
		t.Fatalf("after the next write: %+v", items)
	}
}

// A kind moved to tables after a deployment's migration was done has its
// blobs moved by the next migration; the kinds before it are not walked
// again.
func TestStoreMigratesAKindAppendedSinceItWasDone(t *testing.T) {
	ctx := context.Background()
	conn, blobs, name := testContainer(t, "ap")
	tbl, err := NewTableService(conn)
	if err != nil {
		t.Fatal(err)
	}
	before := NewStore(blobs, tbl, name, testKinds)
	if _, err := before.Blobs().Overwrite(ctx, "active/b-0", map[string]int{"i": 0}); err != nil { // kept as a blob before
		t.Fatal(err)
	}
	if done, _, err := before.Migrate(ctx, time.Now().Add(time.Minute)); err != nil || !done {
		t.Fatalf("first migration: done %v, err %v", done, err)
	}
	// the entries of the new kind, kept as blobs by the version before
	old := before.Blobs()
	for i := 0; i < 3; i++ {
		if _, err := old.Overwrite(ctx, fmt.Sprintf("pending/p-%d", i), map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	after := NewStore(blobs, tbl, name, append(slices.Clone(testKinds), TableKind{Prefix: "pending/", Table: "pending"}))
	if keys, _, err := after.KeysPage(ctx, "pending/", "", 100); err != nil || len(keys) != 0 {
		t.Fatalf("before the migration the table holds %v %v", keys, err)
	}
	done, moved, err := after.Migrate(ctx, time.Now().Add(time.Minute))
	if err != nil || !done || moved != 1+3 {
		t.Fatalf("migration of the appended kind: done %v, moved %d (want 1 before and 3 now), err %v", done, moved, err)
	}
	wantMoved(t, after, old, "pending/", 3, "pending/p-2", 2)
}

// wantMoved asserts that n documents under prefix are entities of s, the
// one at key holding {"i": i}, and that no blob is left under prefix.
func wantMoved(t *testing.T, s *Store, old *DocStore, prefix string, n int, key string, i int) {
	t.Helper()
	ctx := context.Background()
	keys, _, err := s.KeysPage(ctx, prefix, "", 100)
	if err != nil || len(keys) != n {
		t.Fatalf("%s after the move: %v %v, want %d", prefix, keys, err, n)
	}
	var v map[string]int
	if _, err := s.Get(ctx, key, &v); err != nil || v["i"] != i {
		t.Fatalf("%s after the move: %v %v, want i %d", key, v, err, i)
	}
	if left, err := old.Keys(ctx, prefix); err != nil || len(left) != 0 {
		t.Fatalf("blobs left behind under %s: %v %v", prefix, left, err)
	}
}
