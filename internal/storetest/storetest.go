// Package storetest is the contract of goldenpipe.Documents: one suite of
// table tests that every store runs (the in-memory store in inmem, the
// Azure adapters in azure on Azurite), so the stores answer alike.
//
// Where the stores could differ, the Azure adapter's behaviour, as Azure
// documents it, is the contract:
//   - conditional writes: If-None-Match: * (create) answers 409
//     BlobAlreadyExists and If-Match a 412 ConditionNotMet when the ETag
//     differs (Microsoft Learn, Specifying conditional headers for Blob
//     service operations); the adapter answers both ECONFLICT;
//   - listings: "The operation returns entities in alphabetical order", a
//     page holds at most maxresults, "less than or equal to zero" is 400,
//     and "When the NextMarker element is empty, the listing is complete"
//     (Microsoft Learn, Listing Blob storage resources). A page may hold
//     fewer than max names with a marker, so the suite follows markers
//     rather than counting pages.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/internal/docstore"
)

// Options say what a store answers where the port lets stores differ.
type Options struct {
	// WholeDocListing: ListPage answers each document itself as its
	// summary (a store that keeps small documents whole in its listing,
	// as Table storage kinds do) rather than its Summarizer summary.
	WholeDocListing bool
	// Less is the order keys list in; nil is byte order, as Azure lists
	// blobs.
	Less func(a, b string) bool
	// RefusedWriteClearsSummary: a write refused with ECONFLICT leaves the
	// document listed without a summary (azure.Store marks a summary dirty
	// before it writes the record; the caller reads the record instead).
	RefusedWriteClearsSummary bool
}

func (o Options) sorted(s []string) []string {
	s = slices.Clone(s)
	if o.Less == nil {
		slices.Sort(s)
		return s
	}
	slices.SortFunc(s, func(a, b string) int {
		switch {
		case o.Less(a, b):
			return -1
		case o.Less(b, a):
			return 1
		}
		return 0
	})
	return s
}

// Run runs the contract suite; newStore returns an empty store of its own
// for each test.
func Run(t *testing.T, newStore func(t *testing.T) goldenpipe.Documents) {
	RunWith(t, Options{}, newStore)
}

// RunWith is Run for a store that answers as o says.
func RunWith(t *testing.T, o Options, newStore func(t *testing.T) goldenpipe.Documents) {
	t.Run("GetPut", func(t *testing.T) { testGetPut(t, newStore) })
	t.Run("Overwrite", func(t *testing.T) { testOverwrite(t, newStore) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, newStore) })
	t.Run("Keys", func(t *testing.T) { testKeys(t, o, newStore) })
	t.Run("Paging", func(t *testing.T) { testPaging(t, o, newStore) })
	t.Run("Summaries", func(t *testing.T) { testSummaries(t, o, newStore) })
	t.Run("ConcurrentUpdate", func(t *testing.T) { testConcurrentUpdate(t, newStore) })
	t.Run("ConcurrentCreate", func(t *testing.T) { testConcurrentCreate(t, newStore) })
	t.Run("ConcurrentReplace", func(t *testing.T) { testConcurrentReplace(t, newStore) })
	t.Run("CanceledContext", func(t *testing.T) { testCanceled(t, newStore) })
}

// counter is a document Update increments.
type counter struct {
	N     int      `json:"n"`
	Names []string `json:"names,omitempty"`
}

// summarized is a document with a summary of a chosen size.
type summarized struct {
	Name    string `json:"name"`
	Pad     int    `json:"pad"` // the summary's length beyond {"name":...}
	Payload string `json:"payload"`
}

func (s summarized) DocSummary() ([]byte, error) {
	return json.Marshal(map[string]string{"name": s.Name, "pad": strings.Repeat("x", s.Pad)})
}

// failing is a Summarizer whose summary fails: it is stored without one.
type failing struct{ Name string }

func (failing) DocSummary() ([]byte, error) { return nil, fmt.Errorf("no summary") }

func code(err error) string { return goldenpipe.ErrorCode(err) }

func mustPut(t *testing.T, s goldenpipe.Documents, key string, v any, ifMatch string) string {
	t.Helper()
	etag, err := s.Put(context.Background(), key, v, ifMatch)
	if err != nil {
		t.Fatalf("Put(%s, ifMatch %q): %v", key, ifMatch, err)
	}
	if etag == "" {
		t.Fatalf("Put(%s) answered no ETag", key)
	}
	return etag
}

// wantDoc asserts key holds n with etag.
func wantDoc(t *testing.T, s goldenpipe.Documents, key string, n int, etag string) {
	t.Helper()
	var c counter
	got, err := s.Get(context.Background(), key, &c)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	if c.N != n || got != etag {
		t.Fatalf("Get(%s) = n %d etag %s, want n %d etag %s", key, c.N, got, n, etag)
	}
}

func wantGone(t *testing.T, s goldenpipe.Documents, key string) {
	t.Helper()
	var c counter
	if _, err := s.Get(context.Background(), key, &c); code(err) != goldenpipe.ENOTFOUND {
		t.Fatalf("Get(%s) after delete: %v, want %s", key, err, goldenpipe.ENOTFOUND)
	}
}

func testGetPut(t *testing.T, newStore func(*testing.T) goldenpipe.Documents) {
	ctx := context.Background()
	s := newStore(t)
	key := "docs/a.json"
	var c counter
	if etag, err := s.Get(ctx, key, &c); code(err) != goldenpipe.ENOTFOUND || etag != "" {
		t.Fatalf("Get of a missing key: %q %v, want ENOTFOUND", etag, err)
	}
	e1 := mustPut(t, s, key, counter{N: 1}, "")
	wantDoc(t, s, key, 1, e1)
	// an ETag this store gave, of another document: it names no version of key
	other := mustPut(t, s, "docs/other.json", counter{N: 7}, "")

	steps := []struct {
		name    string
		v       int
		ifMatch string
		want    string // error code, "" for success
	}{
		{"create over an existing document", 9, "", goldenpipe.ECONFLICT},
		{"replace with another document's ETag", 9, other, goldenpipe.ECONFLICT},
		{"replace the version read", 2, e1, ""},
		{"replace with the ETag of the version replaced", 9, e1, goldenpipe.ECONFLICT},
	}
	etag := e1
	n := 1
	for _, st := range steps {
		got, err := s.Put(ctx, key, counter{N: st.v}, st.ifMatch)
		if code(err) != st.want {
			t.Fatalf("%s: %v, want %q", st.name, err, st.want)
		}
		if st.want == "" {
			if got == "" || got == etag {
				t.Fatalf("%s: ETag %q, want a new one (was %q)", st.name, got, etag)
			}
			etag, n = got, st.v
		}
		wantDoc(t, s, key, n, etag) // a refused write changed nothing
	}

	// a value changed after it was written is not the stored document
	m := map[string]int{"n": 5}
	e := mustPut(t, s, "docs/shared.json", m, "")
	m["n"] = 6
	wantDoc(t, s, "docs/shared.json", 5, e)

	// a document read into a type it is not answers EINTERNAL
	var wrong struct {
		N string `json:"n"`
	}
	if _, err := s.Get(ctx, key, &wrong); code(err) != goldenpipe.EINTERNAL {
		t.Fatalf("Get into a mismatched type: %v, want %s", err, goldenpipe.EINTERNAL)
	}
	// a value that cannot be encoded is refused and writes nothing
	if _, err := s.Put(ctx, "docs/bad.json", map[string]any{"f": func() {}}, ""); code(err) != goldenpipe.EINTERNAL {
		t.Fatalf("Put of an unencodable value: %v, want %s", err, goldenpipe.EINTERNAL)
	}
	wantGone(t, s, "docs/bad.json")
}

func testOverwrite(t *testing.T, newStore func(*testing.T) goldenpipe.Documents) {
	ctx := context.Background()
	s := newStore(t)
	key := "history/1.json"
	e1, err := s.Overwrite(ctx, key, counter{N: 1})
	if err != nil || e1 == "" {
		t.Fatalf("Overwrite of a missing key: %q %v", e1, err)
	}
	wantDoc(t, s, key, 1, e1)
	e2, err := s.Overwrite(ctx, key, counter{N: 2})
	if err != nil || e2 == "" || e2 == e1 {
		t.Fatalf("Overwrite of an existing key: %q %v (was %q)", e2, err, e1)
	}
	wantDoc(t, s, key, 2, e2)
	if _, err := s.Put(ctx, key, counter{N: 9}, e1); code(err) != goldenpipe.ECONFLICT {
		t.Fatalf("Put with the ETag an overwrite replaced: %v, want ECONFLICT", err)
	}
	wantDoc(t, s, key, 2, e2)
}

func testDelete(t *testing.T, newStore func(*testing.T) goldenpipe.Documents) {
	ctx := context.Background()
	s := newStore(t)
	key := "docs/d.json"
	e1 := mustPut(t, s, key, counter{N: 1}, "")
	e2 := mustPut(t, s, key, counter{N: 2}, e1)

	if err := s.Delete(ctx, key, e1); code(err) != goldenpipe.ECONFLICT {
		t.Fatalf("Delete with a stale ETag: %v, want ECONFLICT", err)
	}
	wantDoc(t, s, key, 2, e2)
	if err := s.Delete(ctx, key, e2); err != nil {
		t.Fatalf("Delete with the current ETag: %v", err)
	}
	wantGone(t, s, key)

	// gone is not an error for a delete of whatever is there; a delete of
	// a version that is gone lost a race (Azure: 412 ConditionNotMet, as
	// HTTP/1.1's If-Match is false when there is no representation)
	for _, c := range []struct {
		key, ifMatch, want string
	}{
		{key, "", ""},
		{key, "", ""},
		{key, e2, goldenpipe.ECONFLICT},
		{key, e1, goldenpipe.ECONFLICT},
		{"docs/never.json", "", ""},
		{"docs/never.json", e2, goldenpipe.ECONFLICT},
	} {
		if err := s.Delete(ctx, c.key, c.ifMatch); code(err) != c.want {
			t.Fatalf("Delete of %s, gone (ifMatch %q): %v, want %q", c.key, c.ifMatch, err, c.want)
		}
	}

	// an ETag read before a delete does not name the document created since
	if _, err := s.Put(ctx, key, counter{N: 3}, e2); code(err) != goldenpipe.ECONFLICT {
		t.Fatalf("Put with the ETag of a deleted document: %v, want ECONFLICT", err)
	}
	wantGone(t, s, key)
	e3 := mustPut(t, s, key, counter{N: 3}, "")
	if e3 == e1 || e3 == e2 {
		t.Fatalf("a re-created document has an old ETag %q", e3)
	}
	if _, err := s.Put(ctx, key, counter{N: 4}, e2); code(err) != goldenpipe.ECONFLICT {
		t.Fatalf("Put with the ETag of the deleted version over a re-created one: %v, want ECONFLICT", err)
	}
	if err := s.Delete(ctx, key, e2); code(err) != goldenpipe.ECONFLICT {
		t.Fatalf("Delete with the ETag of the deleted version over a re-created one: %v, want ECONFLICT", err)
	}
	wantDoc(t, s, key, 3, e3)
	if err := s.Delete(ctx, key, ""); err != nil {
		t.Fatalf("Delete with no ETag: %v", err)
	}
	wantGone(t, s, key)
}

// keySet is written by the listing tests: keys under "p/" in byte order,
// and neighbours outside it.
var (
	inside  = []string{"p/0", "p/A", "p/B-1", "p/a", "p/a-b", "p/a.b", "p/a/b", "p/a/c", "p/b", "p/z"}
	outside = []string{"o/1", "p", "pa/1", "q/p/1", "P/1"}
)

func testKeys(t *testing.T, o Options, newStore func(*testing.T) goldenpipe.Documents) {
	ctx := context.Background()
	s := newStore(t)
	if keys, err := s.Keys(ctx, "p/"); err != nil || len(keys) != 0 {
		t.Fatalf("Keys of an empty store: %v %v", keys, err)
	}
	// written out of order
	all := append(slices.Clone(inside), outside...)
	for i := len(all) - 1; i >= 0; i-- {
		mustPut(t, s, all[i], counter{N: i}, "")
	}
	cases := []struct {
		prefix string
		want   []string
	}{
		{"p/", o.sorted(inside)},
		{"p/a", o.sorted([]string{"p/a", "p/a-b", "p/a.b", "p/a/b", "p/a/c"})},
		{"p/a/", []string{"p/a/b", "p/a/c"}},
		{"p/zz", nil},
		{"", o.sorted(all)},
	}
	for _, c := range cases {
		t.Run(c.prefix, func(t *testing.T) {
			got, err := s.Keys(ctx, c.prefix)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("Keys(%q) = %q, want %q", c.prefix, got, c.want)
			}
		})
	}
	if err := s.Delete(ctx, "p/a-b", ""); err != nil {
		t.Fatal(err)
	}
	got, err := s.Keys(ctx, "p/a")
	if err != nil || !slices.Equal(got, o.sorted([]string{"p/a", "p/a.b", "p/a/b", "p/a/c"})) {
		t.Fatalf("Keys after a delete: %q %v", got, err)
	}
}

// pages follows a listing to its end, asserting each page's bound and
// that it ends; it returns the keys in the order listed.
func pages(t *testing.T, s goldenpipe.Documents, prefix string, max int, list bool) []string {
	t.Helper()
	var keys []string
	marker := ""
	for calls := 0; ; calls++ {
		if calls > 10_000 {
			t.Fatalf("listing %q by %d did not end", prefix, max)
		}
		var page []string
		var next string
		var err error
		if list {
			var items []goldenpipe.Listed
			items, next, err = s.ListPage(context.Background(), prefix, marker, max)
			for _, it := range items {
				page = append(page, it.Key)
			}
		} else {
			page, next, err = s.KeysPage(context.Background(), prefix, marker, max)
		}
		if err != nil {
			t.Fatalf("page of %q by %d from %q: %v", prefix, max, marker, err)
		}
		if len(page) > max {
			t.Fatalf("page of %q by %d: %d keys", prefix, max, len(page))
		}
		keys = append(keys, page...)
		if next == "" {
			return keys
		}
		if next == marker {
			t.Fatalf("page of %q by %d: the marker %q did not move", prefix, max, next)
		}
		marker = next
	}
}

func testPaging(t *testing.T, o Options, newStore func(*testing.T) goldenpipe.Documents) {
	ctx := context.Background()
	s := newStore(t)
	const n = 57
	var want []string
	for i := n - 1; i >= 0; i-- { // written out of order
		k := fmt.Sprintf("page/%03d", i)
		mustPut(t, s, k, counter{N: i}, "")
		want = append(want, k)
	}
	want = o.sorted(want)
	for _, k := range []string{"pag", "page", "pagf/1", "a/1", "z/1"} {
		mustPut(t, s, k, counter{}, "")
	}
	for _, max := range []int{1, 2, 7, 56, 57, 58, 1000, 6000} {
		for _, list := range []bool{false, true} {
			t.Run(fmt.Sprintf("by%d/list=%v", max, list), func(t *testing.T) {
				if got := pages(t, s, "page/", max, list); !slices.Equal(got, want) {
					t.Fatalf("paged by %d: %d keys %q, want %d", max, len(got), got, len(want))
				}
			})
		}
	}
	t.Run("empty prefix", func(t *testing.T) {
		if got := pages(t, s, "none/", 10, false); len(got) != 0 {
			t.Fatalf("a prefix with no keys listed %q", got)
		}
	})
	t.Run("first page", func(t *testing.T) {
		keys, next, err := s.KeysPage(ctx, "page/", "", 10)
		if err != nil || len(keys) == 0 || next == "" || !slices.Equal(keys, want[:len(keys)]) {
			t.Fatalf("first page of 10 of 57: %q next %q %v", keys, next, err)
		}
	})
	t.Run("changes between pages", func(t *testing.T) {
		// a key deleted or added after the marker shows in the pages after
		// it; the keys that stay are listed once each
		keys, next, err := s.KeysPage(ctx, "page/", "", 20)
		if err != nil || next == "" {
			t.Fatalf("first page: %v next %q", err, next)
		}
		last := keys[len(keys)-1]
		if err := s.Delete(ctx, "page/050", ""); err != nil {
			t.Fatal(err)
		}
		mustPut(t, s, "page/050a", counter{}, "")
		defer func() {
			_ = s.Delete(ctx, "page/050a", "")
			mustPut(t, s, "page/050", counter{N: 50}, "")
		}()
		var rest []string
		marker := next
		for marker != "" {
			var page []string
			page, marker, err = s.KeysPage(ctx, "page/", marker, 20)
			if err != nil {
				t.Fatal(err)
			}
			rest = append(rest, page...)
		}
		got := append(keys, rest...)
		wantNow := slices.DeleteFunc(slices.Clone(want), func(k string) bool { return k == "page/050" })
		wantNow = o.sorted(append(wantNow, "page/050a"))
		if !slices.Equal(got, wantNow) {
			t.Fatalf("listed across a change after %s: %q, want %q", last, got, wantNow)
		}
	})
	t.Run("max of zero or less", func(t *testing.T) {
		for _, max := range []int{0, -1} {
			if _, _, err := s.KeysPage(ctx, "page/", "", max); code(err) != goldenpipe.EINVALID {
				t.Fatalf("KeysPage by %d: %v, want %s", max, err, goldenpipe.EINVALID)
			}
			if _, _, err := s.ListPage(ctx, "page/", "", max); code(err) != goldenpipe.EINVALID {
				t.Fatalf("ListPage by %d: %v, want %s", max, err, goldenpipe.EINVALID)
			}
		}
	})
}

func testSummaries(t *testing.T, o Options, newStore func(*testing.T) goldenpipe.Documents) {
	ctx := context.Background()
	s := newStore(t)
	small := summarized{Name: "small", Payload: strings.Repeat("p", 10_000)}
	smallSum, _ := small.DocSummary()
	// the largest summary kept, and one byte more
	base, _ := summarized{Name: "edge"}.DocSummary()
	edge := summarized{Name: "edge", Pad: goldenpipe.MaxSummaryBytes - len(base)}
	edgeSum, _ := edge.DocSummary()
	if len(edgeSum) != goldenpipe.MaxSummaryBytes {
		t.Fatalf("the edge summary is %d bytes", len(edgeSum))
	}
	over := summarized{Name: "over", Pad: edge.Pad + 1}

	docs := []struct {
		key  string
		v    any
		want []byte // the summary listed; nil none
	}{
		{"sum/1-small", small, smallSum},
		{"sum/2-edge", edge, edgeSum},
		{"sum/3-over", over, nil},
		{"sum/4-plain", counter{N: 4}, nil},
		{"sum/5-failing", failing{Name: "f"}, nil},
	}
	for _, d := range docs {
		mustPut(t, s, d.key, d.v, "")
	}
	listed := func() map[string][]byte {
		items, next, err := s.ListPage(ctx, "sum/", "", 100)
		if err != nil || next != "" {
			t.Fatalf("ListPage: %v next %q", err, next)
		}
		m := map[string][]byte{}
		for _, it := range items {
			m[it.Key] = it.Summary
		}
		if len(m) != len(items) {
			t.Fatalf("a key listed twice: %v", items)
		}
		return m
	}
	wantSummary := func(got map[string][]byte, key string, v any, want []byte) {
		t.Helper()
		if o.WholeDocListing {
			doc, _ := json.Marshal(v)
			var a, b any
			if json.Unmarshal(got[key], &a) != nil || json.Unmarshal(doc, &b) != nil || fmt.Sprint(a) != fmt.Sprint(b) {
				t.Fatalf("%s listed with %.80q, want the document %.80q", key, got[key], doc)
			}
			return
		}
		s, ok := got[key]
		if !ok {
			t.Fatalf("%s not listed", key)
		}
		if (want == nil) != (s == nil) || string(s) != string(want) {
			t.Fatalf("%s listed with summary %.80q (nil %v), want %.80q (nil %v)", key, s, s == nil, want, want == nil)
		}
	}
	got := listed()
	if len(got) != len(docs) {
		t.Fatalf("listed %d, want %d", len(got), len(docs))
	}
	for _, d := range docs {
		wantSummary(got, d.key, d.v, d.want)
	}

	// a write replaces the summary: a new one, none, one again
	var cur summarized
	etag, err := s.Get(ctx, "sum/1-small", &cur)
	if err != nil {
		t.Fatal(err)
	}
	renamed := summarized{Name: "renamed", Payload: cur.Payload}
	renamedSum, _ := renamed.DocSummary()
	etag = mustPut(t, s, "sum/1-small", renamed, etag)
	wantSummary(listed(), "sum/1-small", renamed, renamedSum)
	if _, err := s.Overwrite(ctx, "sum/1-small", counter{N: 1}); err != nil {
		t.Fatal(err)
	}
	wantSummary(listed(), "sum/1-small", counter{N: 1}, nil)
	if _, err := s.Overwrite(ctx, "sum/1-small", small); err != nil {
		t.Fatal(err)
	}
	wantSummary(listed(), "sum/1-small", small, smallSum)
	if _, err := s.Put(ctx, "sum/1-small", over, etag); code(err) != goldenpipe.ECONFLICT {
		t.Fatalf("stale Put: %v", err)
	}
	if o.RefusedWriteClearsSummary {
		wantSummary(listed(), "sum/1-small", small, nil)
	} else {
		wantSummary(listed(), "sum/1-small", small, smallSum) // a refused write changed nothing
	}

	// a deleted document is not listed
	if err := s.Delete(ctx, "sum/2-edge", ""); err != nil {
		t.Fatal(err)
	}
	if _, ok := listed()["sum/2-edge"]; ok {
		t.Fatal("a deleted document is listed")
	}
}

// workers is how many goroutines race in the concurrency tests.
const workers = 12

func testConcurrentUpdate(t *testing.T, newStore func(*testing.T) goldenpipe.Documents) {
	ctx := context.Background()
	s := newStore(t)
	key := "race/counter.json"
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("w%02d", w)
			// Update gives up after its bounded attempts with ECONFLICT;
			// the caller tries again, as a redelivered message would
			for try := 0; ; try++ {
				_, err := docstore.Update(ctx, s, key, func(c *counter) error {
					c.N++
					c.Names = append(c.Names, name)
					return nil
				})
				if err == nil {
					return
				}
				if code(err) != goldenpipe.ECONFLICT || try == 50 {
					errs <- fmt.Errorf("%s: %w", name, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var c counter
	if _, err := s.Get(ctx, key, &c); err != nil {
		t.Fatal(err)
	}
	names := slices.Clone(c.Names)
	slices.Sort(names)
	if c.N != workers || len(slices.Compact(names)) != workers {
		t.Fatalf("%d concurrent updates left n=%d by %q, want %d, one each", workers, c.N, c.Names, workers)
	}
}

func testConcurrentCreate(t *testing.T, newStore func(*testing.T) goldenpipe.Documents) {
	s := newStore(t)
	key := "race/created.json"
	won := race(t, func(w int) error {
		_, err := s.Put(context.Background(), key, counter{N: w}, "")
		return err
	})
	var c counter
	if _, err := s.Get(context.Background(), key, &c); err != nil || c.N != won {
		t.Fatalf("the winner was %d, stored %d (%v)", won, c.N, err)
	}
}

func testConcurrentReplace(t *testing.T, newStore func(*testing.T) goldenpipe.Documents) {
	s := newStore(t)
	key := "race/replaced.json"
	etag := mustPut(t, s, key, counter{N: -1}, "")
	won := race(t, func(w int) error {
		_, err := s.Put(context.Background(), key, counter{N: w}, etag)
		return err
	})
	var c counter
	if _, err := s.Get(context.Background(), key, &c); err != nil || c.N != won {
		t.Fatalf("the winner was %d, stored %d (%v)", won, c.N, err)
	}
	// the same for deletes of one version: one deletes, the others lose
	key = "race/deleted.json"
	etag = mustPut(t, s, key, counter{N: 1}, "")
	race(t, func(int) error { return s.Delete(context.Background(), key, etag) })
	wantGone(t, s, key)
}

// race runs write in workers goroutines at once and asserts exactly one
// succeeds and the others answer ECONFLICT; it returns the winner.
func race(t *testing.T, write func(w int) error) int {
	t.Helper()
	var mu sync.Mutex
	winners := []int{}
	var other []error
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			err := write(w)
			mu.Lock()
			defer mu.Unlock()
			switch code(err) {
			case "":
				winners = append(winners, w)
			case goldenpipe.ECONFLICT:
			default:
				other = append(other, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(other) > 0 || len(winners) != 1 {
		t.Fatalf("%d racing writes: winners %v, other errors %v; want one winner, the rest ECONFLICT", workers, winners, other)
	}
	return winners[0]
}

func testCanceled(t *testing.T, newStore func(*testing.T) goldenpipe.Documents) {
	s := newStore(t)
	key := "cancel/a.json"
	etag := mustPut(t, s, key, counter{N: 1}, "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var c counter
	calls := map[string]func() error{
		"Get":       func() error { _, err := s.Get(ctx, key, &c); return err },
		"Put":       func() error { _, err := s.Put(ctx, key, counter{N: 2}, etag); return err },
		"Overwrite": func() error { _, err := s.Overwrite(ctx, key, counter{N: 2}); return err },
		"Delete":    func() error { return s.Delete(ctx, key, "") },
		"Keys":      func() error { _, err := s.Keys(ctx, "cancel/"); return err },
		"KeysPage":  func() error { _, _, err := s.KeysPage(ctx, "cancel/", "", 10); return err },
		"ListPage":  func() error { _, _, err := s.ListPage(ctx, "cancel/", "", 10); return err },
	}
	for name, call := range calls {
		if err := call(); code(err) != goldenpipe.EUNAVAILABLE {
			t.Errorf("%s with a canceled context: %v, want %s", name, err, goldenpipe.EUNAVAILABLE)
		}
	}
	wantDoc(t, s, key, 1, etag) // nothing changed
}
