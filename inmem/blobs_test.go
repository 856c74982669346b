package inmem

import (
	"context"
	"testing"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/internal/storetest"
)

func TestBlobsContract(t *testing.T) {
	storetest.RunBlobs(t, func(t *testing.T) storetest.BlobFixture {
		b := NewBlobs("http://127.0.0.1:10000/devstoreaccount1/scripts", nil)
		return storetest.BlobFixture{
			Blobs: b,
			Upload: func(t *testing.T, name string, content []byte) {
				if _, err := b.Upload(context.Background(), name, content); err != nil {
					t.Fatal(err)
				}
			},
			Delete: func(t *testing.T, name string) {
				if err := b.Delete(context.Background(), name); err != nil {
					t.Fatal(err)
				}
			},
		}
	})
}

// A range that starts past the end is refused, as Azure's 416.
func TestBlobsRangePastTheEnd(t *testing.T) {
	ctx := context.Background()
	b := NewBlobs("http://x/c", nil)
	v, err := b.Upload(ctx, "a", []byte("abc"))
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{3, 10, -1} {
		if _, err := b.OpenRange(ctx, "a", v.ETag, off, 1); goldenpipe.ErrorCode(err) != goldenpipe.EUNAVAILABLE {
			t.Errorf("range at %d of 3 bytes: %v, want EUNAVAILABLE (InvalidRange)", off, err)
		}
	}
}
