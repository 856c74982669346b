package docstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/inmem"
	"github.com/goldenpipe/goldenpipe/internal/docstore"
)

// counting is a store that counts its calls and can make the next Puts
// lose a race (ECONFLICT), as another instance's write would.
type counting struct {
	goldenpipe.Documents
	gets, puts atomic.Int64
	conflicts  atomic.Int64 // Puts still to refuse
}

func (c *counting) Get(ctx context.Context, key string, v any) (string, error) {
	c.gets.Add(1)
	return c.Documents.Get(ctx, key, v)
}

func (c *counting) Put(ctx context.Context, key string, v any, ifMatch string) (string, error) {
	c.puts.Add(1)
	if c.conflicts.Add(-1) >= 0 {
		return "", goldenpipe.Errorf(goldenpipe.ECONFLICT, "%s changed", key)
	}
	return c.Documents.Put(ctx, key, v, ifMatch)
}

type counter struct{ N int }

// TestUpdate: the read-modify-write writes what fn made, nothing when fn
// says unchanged or fails, and reads again when it loses a race, at most
// 8 times.
func TestUpdate(t *testing.T) {
	errBad := errors.New("bad")
	for _, tc := range []struct {
		name      string
		start     int // 0: no document
		conflicts int64
		fn        func(*counter) error
		want      int // the stored N afterwards
		wantPuts  int64
		wantCode  string
		wantErr   error
	}{
		{name: "creates a missing document", fn: func(c *counter) error { c.N++; return nil }, want: 1, wantPuts: 1},
		{name: "changes an existing one", start: 4, fn: func(c *counter) error { c.N++; return nil }, want: 5, wantPuts: 1},
		{name: "unchanged writes nothing", start: 4, fn: func(*counter) error { return docstore.ErrUnchanged }, want: 4},
		{name: "fn's error is returned, nothing written", start: 4, fn: func(*counter) error { return errBad }, want: 4, wantErr: errBad},
		{name: "a lost race is read again", start: 4, conflicts: 3, fn: func(c *counter) error { c.N++; return nil }, want: 5, wantPuts: 4},
		{name: "always losing ends in ECONFLICT", start: 4, conflicts: 100, fn: func(c *counter) error { c.N++; return nil }, want: 4, wantPuts: 8, wantCode: goldenpipe.ECONFLICT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			mem := inmem.NewDocs()
			if tc.start > 0 {
				if _, err := mem.Put(ctx, "k", counter{tc.start}, ""); err != nil {
					t.Fatal(err)
				}
			}
			store := &counting{Documents: mem}
			store.conflicts.Store(tc.conflicts)
			_, err := docstore.Update(ctx, store, "k", tc.fn)
			switch {
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
			case tc.wantCode != "":
				if goldenpipe.ErrorCode(err) != tc.wantCode {
					t.Fatalf("err = %v (%s), want code %s", err, goldenpipe.ErrorCode(err), tc.wantCode)
				}
			case err != nil:
				t.Fatal(err)
			}
			if got := store.puts.Load(); got != tc.wantPuts {
				t.Errorf("%d writes, want %d", got, tc.wantPuts)
			}
			var got counter
			if _, err := mem.Get(ctx, "k", &got); err != nil && goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
				t.Fatal(err)
			}
			if got.N != tc.want {
				t.Errorf("stored %d, want %d", got.N, tc.want)
			}
		})
	}
}

// TestUpdateFrom: from the version known, the write needs no read; a
// version changed since (a stale ETag) or deleted since is read, as
// Update reads it.
func TestUpdateFrom(t *testing.T) {
	inc := func(c *counter) error { c.N++; return nil }
	for _, tc := range []struct {
		name     string
		changed  bool // the document written again after it was known
		deleted  bool
		want     int // the stored N afterwards
		wantGets int64
	}{
		{name: "the known version: written without a read", want: 5},
		{name: "changed since: read and written again", changed: true, want: 11, wantGets: 1},
		{name: "deleted since: read, and created as Update would", deleted: true, want: 1, wantGets: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			mem := inmem.NewDocs()
			etag, err := mem.Put(ctx, "k", counter{4}, "")
			if err != nil {
				t.Fatal(err)
			}
			known := &docstore.Known[counter]{V: counter{4}, ETag: etag}
			if tc.changed {
				if _, err := mem.Put(ctx, "k", counter{10}, etag); err != nil {
					t.Fatal(err)
				}
			}
			if tc.deleted {
				if err := mem.Delete(ctx, "k", ""); err != nil {
					t.Fatal(err)
				}
			}
			store := &counting{Documents: mem}
			if _, err := docstore.UpdateFrom(ctx, store, "k", known, inc); err != nil {
				t.Fatal(err)
			}
			if got := store.gets.Load(); got != tc.wantGets {
				t.Errorf("%d reads, want %d", got, tc.wantGets)
			}
			var got counter
			if _, err := mem.Get(ctx, "k", &got); err != nil || got.N != tc.want {
				t.Errorf("stored %d (%v), want %d", got.N, err, tc.want)
			}
		})
	}
}

// TestReadAll: documents come back in the order of the keys (sorted by
// less for ReadAll), with their ETags; those gone are listed as missing.
func TestReadAll(t *testing.T) {
	ctx := context.Background()
	mem := inmem.NewDocs()
	etags := map[string]string{}
	for i, n := range []int{3, 1, 2} {
		k := fmt.Sprintf("doc/%d", i)
		e, err := mem.Put(ctx, k, counter{n}, "")
		if err != nil {
			t.Fatal(err)
		}
		etags[k] = e
	}
	keys := []string{"doc/2", "gone/1", "doc/0", "doc/1", "gone/2"}
	found, missing, err := docstore.ReadAllVersioned[counter](ctx, mem, keys)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, f := range found {
		order = append(order, f.Key)
		if f.ETag != etags[f.Key] {
			t.Errorf("%s read with ETag %q, want %q", f.Key, f.ETag, etags[f.Key])
		}
	}
	if strings.Join(order, " ") != "doc/2 doc/0 doc/1" || strings.Join(missing, " ") != "gone/1 gone/2" {
		t.Errorf("found %q, missing %q", order, missing)
	}
	list, err := docstore.ReadAll(ctx, mem, keys, func(a, b counter) bool { return a.N < b.N })
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(list) != "[{1} {2} {3}]" {
		t.Errorf("ReadAll = %v, want sorted 1 2 3", list)
	}
}

// record is a document that keeps a summary of itself beside it.
type record struct {
	Name string
	Body string
}

type summary struct{ Name string }

func (r record) DocSummary() ([]byte, error) { return json.Marshal(summary{r.Name}) }

// TestSummaryPage: a page's summaries come from the listing; a document
// listed without one is read, summarized and written again (so the next
// page finds its summary), and one deleted since is left out.
func TestSummaryPage(t *testing.T) {
	ctx := context.Background()
	mem := inmem.NewDocs()
	for _, n := range []string{"a", "b", "c"} {
		if _, err := mem.Put(ctx, "rec/"+n, record{Name: n, Body: "x"}, ""); err != nil {
			t.Fatal(err)
		}
	}
	// written before summaries were kept: the same JSON, no summary
	if _, err := mem.Put(ctx, "rec/d", map[string]string{"Name": "d", "Body": "x"}, ""); err != nil {
		t.Fatal(err)
	}
	store := &counting{Documents: mem}
	summarize := func(r record) summary { return summary{r.Name} }
	page, next, err := docstore.SummaryPage(ctx, store, "rec/", "", 10, summarize)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(page) != "[{a} {b} {c} {d}]" || next != "" {
		t.Fatalf("page %v next %q", page, next)
	}
	if store.gets.Load() != 1 || store.puts.Load() != 1 {
		t.Errorf("%d reads and %d writes, want 1 and 1 (only rec/d lacks its summary)", store.gets.Load(), store.puts.Load())
	}
	items, _, err := mem.ListPage(ctx, "rec/", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if items[3].Key != "rec/d" || string(items[3].Summary) != `{"Name":"d"}` {
		t.Errorf("rec/d listed as %q %s after the page: its summary was not written back", items[3].Key, items[3].Summary)
	}
	store.gets.Store(0)
	store.puts.Store(0)
	if _, _, err := docstore.SummaryPage(ctx, store, "rec/", "", 10, summarize); err != nil {
		t.Fatal(err)
	}
	if store.gets.Load() != 0 || store.puts.Load() != 0 {
		t.Errorf("the second page read %d and wrote %d documents, want none", store.gets.Load(), store.puts.Load())
	}

	// a document listed without a summary and deleted before it is read
	gone := &vanishing{Documents: mem, key: "rec/e"}
	if _, err := mem.Put(ctx, "rec/e", map[string]string{"Name": "e"}, ""); err != nil {
		t.Fatal(err)
	}
	page, _, err = docstore.SummaryPage(ctx, gone, "rec/", "", 10, summarize)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(page) != "[{a} {b} {c} {d}]" {
		t.Errorf("page %v, want rec/e left out", page)
	}
}

// vanishing deletes key between the listing and the read.
type vanishing struct {
	goldenpipe.Documents
	key string
}

func (v *vanishing) Get(ctx context.Context, key string, out any) (string, error) {
	if key == v.key {
		if err := v.Documents.Delete(ctx, key, ""); err != nil {
			return "", err
		}
	}
	return v.Documents.Get(ctx, key, out)
}
