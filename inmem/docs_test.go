package inmem

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/internal/storetest"
)

func TestDocsContract(t *testing.T) {
	storetest.Run(t, func(*testing.T) goldenpipe.Documents { return NewDocs() })
}

// The in-memory store answers full pages: a page short of max is the last
// one, and its marker is "" (Azure may answer fewer with a marker; the
// contract allows it, this store never does).
func TestDocsPagesAreFull(t *testing.T) {
	ctx := context.Background()
	d := NewDocs()
	for i := 0; i < 23; i++ {
		if _, err := d.Put(ctx, fmt.Sprintf("k/%02d", i), i, ""); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		max   int
		sizes []int
	}{
		{10, []int{10, 10, 3}},
		{23, []int{23}},
		{1, slices.Repeat([]int{1}, 23)},
		{6000, []int{23}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.max), func(t *testing.T) {
			var sizes []int
			marker := ""
			for {
				keys, next, err := d.KeysPage(ctx, "k/", marker, c.max)
				if err != nil {
					t.Fatal(err)
				}
				sizes = append(sizes, len(keys))
				if next == "" {
					break
				}
				marker = next
			}
			if !slices.Equal(sizes, c.sizes) {
				t.Fatalf("pages by %d: %v, want %v", c.max, sizes, c.sizes)
			}
		})
	}
}

// Keys that cannot name a blob are refused and change nothing.
func TestDocsRefusesKeysAzureRefuses(t *testing.T) {
	ctx := context.Background()
	d := NewDocs()
	long := string(slices.Repeat([]byte("a"), maxKeyLen+1))
	for _, key := range []string{"", long} {
		if _, err := d.Put(ctx, key, 1, ""); goldenpipe.ErrorCode(err) != goldenpipe.EINVALID {
			t.Errorf("Put(%.10q…): %v, want EINVALID", key, err)
		}
		if _, err := d.Overwrite(ctx, key, 1); goldenpipe.ErrorCode(err) != goldenpipe.EINVALID {
			t.Errorf("Overwrite(%.10q…): %v, want EINVALID", key, err)
		}
	}
	if _, err := d.Put(ctx, long[:maxKeyLen], 1, ""); err != nil {
		t.Errorf("a key of %d characters: %v", maxKeyLen, err)
	}
	if d.Len() != 1 {
		t.Fatalf("the store holds %d documents, want 1", d.Len())
	}
}

// Memory is bounded by what is stored: deleting every key leaves nothing.
func TestDocsDeleteGivesBackMemory(t *testing.T) {
	ctx := context.Background()
	d := NewDocs()
	for i := 0; i < 1000; i++ {
		if _, err := d.Overwrite(ctx, fmt.Sprintf("k/%04d", i), i); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := d.Keys(ctx, "")
	if err != nil || len(keys) != 1000 {
		t.Fatalf("Keys: %d %v", len(keys), err)
	}
	for _, k := range keys {
		if err := d.Delete(ctx, k, ""); err != nil {
			t.Fatal(err)
		}
	}
	if d.Len() != 0 || len(d.docs) != 0 || d.keys != nil {
		t.Fatalf("after deleting all: %d docs, %d keys kept", len(d.docs), len(d.keys))
	}
}
