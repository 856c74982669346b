package template

import (
	"context"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/inmem"
)

// The catalog's other ports as tests drive them.

// mutableChecksums is the checksum catalog, changed by tests.
type mutableChecksums struct {
	mu   sync.Mutex
	m    map[string]string
	err  error // a transient failure of every look-up
	asks int
}

func (c *mutableChecksums) Checksum(_ context.Context, name string) (goldenpipe.Checksum, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.asks++
	if c.err != nil {
		return goldenpipe.Checksum{}, c.err
	}
	sum, ok := c.m[name]
	if !ok {
		return goldenpipe.Checksum{}, goldenpipe.Errorf(goldenpipe.ENOTFOUND, "no script %q", name)
	}
	return goldenpipe.Checksum{Name: name, SHA256: sum}, nil
}

func (c *mutableChecksums) set(name, sum string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[name] = sum
}

// plannedListener records the build requests it hears; err fails them.
type plannedListener struct {
	mu    sync.Mutex
	names []string
	err   error
}

func (l *plannedListener) Planned(_ context.Context, rec Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	l.names = append(l.names, rec.Name)
	return nil
}

func (l *plannedListener) heard() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.names)
}

// changingBlobs uploads a new version of a blob just before its first
// read: the read, conditioned on the version observed, fails.
type changingBlobs struct {
	*inmem.Blobs
	blob    string
	content []byte
	done    bool
}

func (b *changingBlobs) OpenRange(ctx context.Context, name, etag string, off, count int64) (io.ReadCloser, error) {
	if name == b.blob && !b.done {
		b.done = true
		if _, err := b.Upload(ctx, name, b.content); err != nil {
			return nil, err
		}
	}
	return b.Blobs.OpenRange(ctx, name, etag, off, count)
}

// failingBlobs fails reads of blobs under prefix.
type failingBlobs struct {
	*inmem.Blobs
	prefix string
	op     string // "properties" or "read"
}

func (b failingBlobs) Properties(ctx context.Context, name string) (goldenpipe.BlobVersion, error) {
	if b.op == "properties" && strings.HasPrefix(name, b.prefix) {
		return goldenpipe.BlobVersion{}, errStore
	}
	return b.Blobs.Properties(ctx, name)
}

func (b failingBlobs) OpenRange(ctx context.Context, name, etag string, off, count int64) (io.ReadCloser, error) {
	if b.op == "read" && strings.HasPrefix(name, b.prefix) {
		return nil, errStore
	}
	return b.Blobs.OpenRange(ctx, name, etag, off, count)
}
