package checksum

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"sync"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

// RangeReader opens byte ranges of one version of a blob: it answers
// ECONFLICT when the blob changed, ENOTFOUND when it is gone and
// EUNAVAILABLE for transient failures. The body may fail mid-way; the hasher
// then opens the rest of the range again.
type RangeReader interface {
	OpenRange(ctx context.Context, name, etag string, off, count int64) (io.ReadCloser, error)
}

// Hasher computes the sha256 of a blob with parallel ranged reads that
// overlap download with hashing. Up to Parallel ranged GETs are in flight;
// their bodies are hashed as they stream, in order, and the ones not yet
// read wait in the connection (TCP flow control), so the handler's memory
// stays constant whatever the blob or chunk size. Every read is conditioned
// on the version's ETag, so the sum is never of mixed content.
type Hasher struct {
	ChunkSize int64         // bytes per ranged GET; default 32 MiB
	Parallel  int           // ranged GETs in flight; default 3
	Retries   int           // retries of a transiently failed read; default 3, <0 none
	Backoff   time.Duration // first retry delay, doubling; default 200 ms
	// NewHash makes the hash the bytes go through; default sha256.New
	// (the benchmarks' raw-download peer passes one that does nothing).
	NewHash func() hash.Hash
}

func (h Hasher) withDefaults() Hasher {
	if h.ChunkSize <= 0 {
		h.ChunkSize = 32 << 20
	}
	if h.Parallel <= 0 {
		h.Parallel = 3
	}
	switch {
	case h.Retries < 0:
		h.Retries = 0
	case h.Retries == 0:
		h.Retries = 3
	}
	if h.Backoff <= 0 {
		h.Backoff = 200 * time.Millisecond
	}
	if h.NewHash == nil {
		h.NewHash = sha256.New
	}
	return h
}

// copyBufs are the buffers the bodies are hashed through.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

type opened struct {
	off, count int64
	body       io.ReadCloser
	err        error
}

// Sum returns the lowercase hex sha256 of the version ver of the blob name.
func (h Hasher) Sum(ctx context.Context, r RangeReader, name string, ver goldenpipe.BlobVersion) (string, error) {
	return h.SumWithHead(ctx, r, name, ver, nil)
}

// SumWithHead is Sum that also writes the bytes it hashes, in order, to
// head (a capped writer: the practice checks read a script's start from
// the one download that hashes it).
func (h Hasher) SumWithHead(ctx context.Context, r RangeReader, name string, ver goldenpipe.BlobVersion, head io.Writer) (string, error) {
	h = h.withDefaults()
	sum := h.NewHash()
	var to io.Writer = sum
	if head != nil {
		to = io.MultiWriter(sum, head)
	}
	if ver.Size == 0 {
		return hex.EncodeToString(sum.Sum(nil)), nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// The producer opens ranges in order, at most Parallel ahead of the
	// consumer; slots bounds that.
	slots := make(chan struct{}, h.Parallel)
	futures := make(chan chan opened, h.Parallel)
	go func() {
		defer close(futures)
		for off := int64(0); off < ver.Size; off += h.ChunkSize {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			fut := make(chan opened, 1)
			futures <- fut
			count := min(h.ChunkSize, ver.Size-off)
			go func() {
				body, err := h.open(ctx, r, name, ver.ETag, off, count)
				fut <- opened{off: off, count: count, body: body, err: err}
			}()
		}
	}()

	var firstErr error
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	for fut := range futures {
		o := <-fut
		if firstErr == nil && o.err != nil {
			firstErr = o.err
		}
		if firstErr == nil {
			firstErr = h.consume(ctx, r, name, ver.ETag, o, to, *buf)
		}
		if o.body != nil {
			o.body.Close()
		}
		if firstErr != nil {
			cancel() // the producer stops; opened bodies are closed as drained
		}
		<-slots
	}
	if firstErr != nil {
		return "", firstErr
	}
	if err := ctx.Err(); err != nil {
		return "", goldenpipe.Wrap(goldenpipe.EUNAVAILABLE, err, "hashing blob %q was interrupted", name)
	}
	return hex.EncodeToString(sum.Sum(nil)), nil
}

// consume hashes one opened range; when its body fails mid-way it opens the
// rest of the range again (same ETag) and goes on from the exact offset.
func (h Hasher) consume(ctx context.Context, r RangeReader, name, etag string, o opened, sum io.Writer, buf []byte) error {
	body, off, left := o.body, o.off, o.count
	for attempt := 0; ; attempt++ {
		n, err := io.CopyBuffer(sum, io.LimitReader(onlyReader{body}, left), buf)
		off, left = off+n, left-n
		if err == nil && left == 0 {
			return nil
		}
		if err == nil {
			err = goldenpipe.Errorf(goldenpipe.EUNAVAILABLE, "range of blob %q ended %d bytes early", name, left)
		} else if goldenpipe.ErrorCode(err) == goldenpipe.EINTERNAL {
			err = goldenpipe.Wrap(goldenpipe.EUNAVAILABLE, err, "reading blob %q failed at byte %d", name, off)
		}
		if attempt >= h.Retries || ctx.Err() != nil {
			return err
		}
		if body != o.body {
			body.Close()
		}
		if body, err = h.open(ctx, r, name, etag, off, left); err != nil {
			return err
		}
		defer body.Close()
	}
}

// open opens a range, retrying transient failures with backoff.
func (h Hasher) open(ctx context.Context, r RangeReader, name, etag string, off, count int64) (io.ReadCloser, error) {
	delay := h.Backoff
	for attempt := 0; ; attempt++ {
		body, err := r.OpenRange(ctx, name, etag, off, count)
		if err == nil {
			return body, nil
		}
		if goldenpipe.ErrorCode(err) != goldenpipe.EUNAVAILABLE || attempt >= h.Retries || ctx.Err() != nil {
			return nil, err
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, err
		}
		delay *= 2
	}
}

// onlyReader hides WriterTo/ReaderFrom so CopyBuffer uses the given buffer.
type onlyReader struct{ io.Reader }

// Head keeps the first Limit bytes written to it and drops the rest.
type Head struct {
	Limit int
	buf   []byte
}

// Write implements io.Writer; it never fails.
func (h *Head) Write(p []byte) (int, error) {
	if room := h.Limit - len(h.buf); room > 0 {
		h.buf = append(h.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// Bytes returns what was kept.
func (h *Head) Bytes() []byte { return h.buf }
