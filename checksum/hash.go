package checksum

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

// RangeReader reads byte ranges of one version of a blob: it answers
// ECONFLICT when the blob changed, ENOTFOUND when it is gone and
// EUNAVAILABLE for transient failures.
type RangeReader interface {
	ReadRange(ctx context.Context, name, etag string, off int64, dst []byte) error
}

// Hasher computes the sha256 of a blob with parallel ranged reads that
// overlap download with hashing. Memory is Parallel+1 chunks, whatever the
// blob's size; every read is conditioned on the version's ETag, so the sum is
// never of mixed content.
type Hasher struct {
	ChunkSize int           // bytes per ranged read; default 4 MiB
	Parallel  int           // reads in flight; default 4
	Retries   int           // retries of a transiently failed read; default 3
	Backoff   time.Duration // first retry delay, doubling; default 200 ms
}

func (h Hasher) withDefaults() Hasher {
	if h.ChunkSize <= 0 {
		h.ChunkSize = 4 << 20
	}
	if h.Parallel <= 0 {
		h.Parallel = 4
	}
	if h.Retries < 0 {
		h.Retries = 0
	} else if h.Retries == 0 {
		h.Retries = 3
	}
	if h.Backoff <= 0 {
		h.Backoff = 200 * time.Millisecond
	}
	return h
}

type chunk struct {
	buf []byte
	err error
}

// Sum returns the lowercase hex sha256 of the version ver of the blob name.
func (h Hasher) Sum(ctx context.Context, r RangeReader, name string, ver goldenpipe.BlobVersion) (string, error) {
	h = h.withDefaults()
	sum := sha256.New()
	if ver.Size == 0 {
		return hex.EncodeToString(sum.Sum(nil)), nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	size := int64(h.ChunkSize)
	n := int((ver.Size + size - 1) / size)
	buffers := make(chan []byte, h.Parallel+1)
	for i := 0; i < h.Parallel+1 && i < n; i++ {
		buffers <- make([]byte, h.ChunkSize)
	}
	// futures, in blob order; the producer starts a read whenever a buffer
	// is free, the consumer hashes them in order and frees the buffers.
	futures := make(chan chan chunk, h.Parallel+1)
	go func() {
		defer close(futures)
		for i := 0; i < n; i++ {
			var buf []byte
			select {
			case buf = <-buffers:
			case <-ctx.Done():
				return
			}
			off := int64(i) * size
			buf = buf[:min(size, ver.Size-off)]
			fut := make(chan chunk, 1)
			futures <- fut
			go func() { fut <- chunk{buf: buf, err: h.read(ctx, r, name, ver.ETag, off, buf)} }()
		}
	}()
	var firstErr error
	for fut := range futures {
		c := <-fut
		if firstErr == nil && c.err != nil {
			firstErr = c.err
			cancel()
		}
		if firstErr == nil {
			sum.Write(c.buf)
		}
		buffers <- c.buf[:cap(c.buf)]
	}
	if firstErr != nil {
		return "", firstErr
	}
	if err := ctx.Err(); err != nil {
		return "", goldenpipe.Wrap(goldenpipe.EUNAVAILABLE, err, "hashing blob %q was interrupted", name)
	}
	return hex.EncodeToString(sum.Sum(nil)), nil
}

// read reads one range, retrying transient failures with backoff.
func (h Hasher) read(ctx context.Context, r RangeReader, name, etag string, off int64, dst []byte) error {
	delay := h.Backoff
	for attempt := 0; ; attempt++ {
		err := r.ReadRange(ctx, name, etag, off, dst)
		if err == nil || goldenpipe.ErrorCode(err) != goldenpipe.EUNAVAILABLE || attempt >= h.Retries || ctx.Err() != nil {
			return err
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return err
		}
		delay *= 2
	}
}
