package checksum

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/goldenpipe/goldenpipe"
)

// memRanges serves ranges of one version of a blob from memory; the body of
// every breakEvery-th open fails after breakAfter bytes.
type memRanges struct {
	data       []byte
	etag       string
	opens      atomic.Int64
	breakEvery int64
	breakAfter int
}

func (m *memRanges) OpenRange(_ context.Context, _, etag string, off, count int64) (io.ReadCloser, error) {
	if etag != m.etag {
		return nil, goldenpipe.Errorf(goldenpipe.ECONFLICT, "changed")
	}
	n := m.opens.Add(1)
	var r io.Reader = bytes.NewReader(m.data[off : off+count])
	if m.breakEvery > 0 && n%m.breakEvery == 0 {
		r = io.MultiReader(io.LimitReader(r, int64(m.breakAfter)), errReader{})
	}
	return io.NopCloser(r), nil
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// TestHasherSumsInOrder: whatever the chunk, parallelism and read-ahead, and
// with bodies that break mid-way, the sum and the head are those of the
// bytes in order.
func TestHasherSumsInOrder(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	sizes := []int{1, bufSize - 1, bufSize, bufSize + 1, 3*bufSize + 17, 5 << 20}
	for _, size := range sizes {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rnd.Uint32())
		}
		want := sha256.Sum256(data)
		for _, h := range []Hasher{
			{ChunkSize: 64 << 10, Parallel: 1, ReadAhead: -1},
			{ChunkSize: 64 << 10, Parallel: 3},
			{ChunkSize: 1 << 20, Parallel: 2, ReadAhead: bufSize},
			{ChunkSize: 3<<20 + 5, Parallel: 4, ReadAhead: 2 << 20},
			{},
		} {
			for _, broken := range []bool{false, true} {
				t.Run(fmt.Sprintf("size %d chunk %d parallel %d readahead %d broken %v", size, h.ChunkSize, h.Parallel, h.ReadAhead, broken), func(t *testing.T) {
					r := &memRanges{data: data, etag: "v1"}
					if broken {
						r.breakEvery, r.breakAfter = 2, 1000
					}
					h.Retries, h.Backoff = 1000, 1
					head := &Head{Limit: 1 << 20}
					got, err := h.SumWithHead(context.Background(), r, "b", goldenpipe.BlobVersion{ETag: "v1", Size: int64(size)}, head)
					if err != nil {
						t.Fatal(err)
					}
					if got != hex.EncodeToString(want[:]) {
						t.Errorf("sum %s, want %x", got, want)
					}
					if !bytes.Equal(head.Bytes(), data[:min(size, 1<<20)]) {
						t.Errorf("head of %d bytes is not the blob's first bytes", len(head.Bytes()))
					}
				})
			}
		}
	}
}

// TestHasherFailsOnChangeAndBrokenReads: a version that changed is a
// conflict, and a body that keeps breaking fails after the retries.
func TestHasherFailsOnChangeAndBrokenReads(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 3<<20)
	for _, ra := range []int{-1, 0} {
		r := &memRanges{data: data, etag: "v2"}
		_, err := Hasher{ReadAhead: ra, ChunkSize: 1 << 20}.Sum(context.Background(), r, "b", goldenpipe.BlobVersion{ETag: "v1", Size: int64(len(data))})
		if goldenpipe.ErrorCode(err) != goldenpipe.ECONFLICT {
			t.Errorf("read-ahead %d: changed blob: %v, want ECONFLICT", ra, err)
		}
		r = &memRanges{data: data, etag: "v1", breakEvery: 1, breakAfter: 10}
		_, err = Hasher{ReadAhead: ra, ChunkSize: 1 << 20, Parallel: 1, Retries: 2, Backoff: 1}.Sum(context.Background(), r, "b", goldenpipe.BlobVersion{ETag: "v1", Size: int64(len(data))})
		if goldenpipe.ErrorCode(err) != goldenpipe.EUNAVAILABLE {
			t.Errorf("read-ahead %d: always broken: %v, want EUNAVAILABLE", ra, err)
		}
		if got := r.opens.Load(); got != 3 {
			t.Errorf("read-ahead %d: %d opens, want 3 (one and two retries)", ra, got)
		}
	}
}
