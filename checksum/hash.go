package checksum

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
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
// their bodies are read in order into ReadAhead bytes of buffers that a
// goroutine of the sum hashes, so the connection being read is drained while
// the bytes before it are hashed and the server is not held back by the
// hashing. The bodies not yet read wait in their connections (TCP flow
// control), so the handler's memory stays constant whatever the blob or
// chunk size. Every read is conditioned on the version's ETag, so the sum is
// never of mixed content.
type Hasher struct {
	ChunkSize int64         // bytes per ranged GET; default 32 MiB
	Parallel  int           // ranged GETs in flight; default 3
	Retries   int           // retries of a transiently failed read; default 3, <0 none
	Backoff   time.Duration // first retry delay, doubling; default 200 ms
	// ReadAhead is how many bytes may be read and not yet hashed, in
	// buffers of 256 KiB; default 2 MiB; below zero (or below one buffer)
	// none: each buffer is hashed by the reader before the next read.
	ReadAhead int
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
	if h.ReadAhead == 0 {
		h.ReadAhead = 2 << 20
	}
	return h
}

// bufSize is the size of the buffers the bodies are read into.
const bufSize = 256 << 10

// spareBufs keeps up to 32 buffers (8 MiB) that sums gave back, for the
// next sums: unlike a sync.Pool, which the GC empties, it makes no garbage
// sum after sum, so the heap (and the handler's RSS) stays flat.
var spareBufs = make(chan *[]byte, 32)

func getBuf() *[]byte {
	select {
	case b := <-spareBufs:
		return b
	default:
		b := make([]byte, bufSize)
		return &b
	}
}

func putBuf(b *[]byte) {
	select {
	case spareBufs <- b:
	default:
	}
}

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
	sink := newSink(to, h.ReadAhead/bufSize)
	for fut := range futures {
		o := <-fut
		if firstErr == nil && o.err != nil {
			firstErr = o.err
		}
		if firstErr == nil {
			firstErr = h.consume(ctx, r, name, ver.ETag, o, sink)
		}
		if o.body != nil {
			o.body.Close()
		}
		if firstErr != nil {
			cancel() // the producer stops; opened bodies are closed as drained
		}
		<-slots
	}
	if err := sink.close(); firstErr == nil && err != nil {
		firstErr = goldenpipe.Wrap(goldenpipe.EINTERNAL, err, "hashing blob %q failed", name)
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
func (h Hasher) consume(ctx context.Context, r RangeReader, name, etag string, o opened, sink *sink) error {
	body, off, left := o.body, o.off, o.count
	for attempt := 0; ; attempt++ {
		n, err := sink.readFrom(io.LimitReader(body, left))
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

// sink takes the bodies' bytes, in order, to the writer (the hash): with
// buffers to spare it reads into one of them and hands it to its goroutine,
// which writes it and gives it back; with none it writes each buffer before
// reading the next.
type sink struct {
	w    io.Writer
	free chan *[]byte // buffers to read into; nil without read-ahead
	full chan *[]byte // read, to be written (each sliced to what was read)
	done chan struct{}
	err  error // the writer's first error, read after done
	own  *[]byte
}

func newSink(w io.Writer, buffers int) *sink {
	if buffers <= 0 {
		return &sink{w: w, own: getBuf()}
	}
	s := &sink{w: w, free: make(chan *[]byte, buffers), full: make(chan *[]byte, buffers), done: make(chan struct{})}
	for range buffers {
		s.free <- getBuf()
	}
	go func() {
		defer close(s.done)
		for b := range s.full {
			if s.err == nil {
				_, s.err = s.w.Write(*b)
			}
			// hand the buffer back whole (free has room for every buffer)
			*b = (*b)[:cap(*b)]
			s.free <- b
		}
	}()
	return s
}

// readFrom reads r to its end into the sink and returns how many bytes it
// read; a failed read returns the bytes read before it, all of them taken.
func (s *sink) readFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		buf := s.own
		if s.free != nil {
			buf = <-s.free
		}
		n, err := io.ReadFull(r, *buf)
		total += int64(n)
		if s.free == nil {
			if n > 0 && s.err == nil {
				_, s.err = s.w.Write((*buf)[:n])
			}
			if s.err != nil {
				return total, s.err
			}
		} else if n > 0 {
			*buf = (*buf)[:n]
			s.full <- buf
		} else {
			s.free <- buf
		}
		switch err {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			return total, nil
		default:
			return total, err
		}
	}
}

// close waits until every byte read is written, gives the buffers back and
// returns the writer's first error.
func (s *sink) close() error {
	if s.free == nil {
		putBuf(s.own)
		return s.err
	}
	close(s.full)
	<-s.done
	for range cap(s.free) {
		putBuf(<-s.free)
	}
	return s.err
}

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
