package goldenpipe

import (
	"context"
	"encoding/json"
	"errors"
	"sort"

	"golang.org/x/sync/errgroup"
)

// Documents is the app's durable state: JSON documents with ETags, so
// concurrent instances coordinate through conditional writes. A lost race
// answers ECONFLICT; a missing document ENOTFOUND.
type Documents interface {
	Get(ctx context.Context, key string, v any) (etag string, err error)
	// Put creates (ifMatch "") or replaces the version ifMatch names.
	Put(ctx context.Context, key string, v any, ifMatch string) (etag string, err error)
	// Overwrite writes whatever is there (append-only history).
	Overwrite(ctx context.Context, key string, v any) (etag string, err error)
	// Delete removes the version ifMatch names ("" any); gone is not an error.
	Delete(ctx context.Context, key, ifMatch string) error
	Keys(ctx context.Context, prefix string) ([]string, error)
	// KeysPage returns one page of at most max keys under prefix, in key
	// order, from where marker (opaque; "" for the first page) left off,
	// and the marker of the next page ("" after the last). Its cost is that
	// of the page, whatever lies beyond.
	KeysPage(ctx context.Context, prefix, marker string, max int) (keys []string, next string, err error)
	// ListPage is KeysPage with each document's summary (see Summarizer),
	// read from the listing itself: a page of summaries costs one call. A
	// store that keeps small documents whole in its listing (Table storage)
	// lists each with the document itself as its summary.
	ListPage(ctx context.Context, prefix, marker string, max int) (items []Listed, next string, err error)
}

// Summarizer is a document that carries a small summary of itself, kept
// beside it by the store (blob metadata) and answered by ListPage without
// reading the document. A summary over MaxSummaryBytes is not kept.
type Summarizer interface {
	DocSummary() ([]byte, error)
}

// MaxSummaryBytes bounds a summary (blob metadata holds 8 KiB, encoded).
const MaxSummaryBytes = 5 << 10

// Listed is one document of a listing: its key and its summary (nil when
// it has none: written before summaries, or too large).
type Listed struct {
	Key     string
	Summary []byte
}

// readWorkers bounds concurrent reads of ReadAll.
const readWorkers = 8

// Versioned is a document read with its ETag.
type Versioned[T any] struct {
	Key   string
	ETag  string
	Value T
}

// ReadAllVersioned reads the documents at keys, keeping each one's ETag,
// with bounded concurrency and in the order of keys; documents removed
// between listing and reading are left out (missing lists their keys).
func ReadAllVersioned[T any](ctx context.Context, docs Documents, keys []string) (found []Versioned[T], missing []string, err error) {
	out := make([]*Versioned[T], len(keys))
	gone := make([]bool, len(keys))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(readWorkers)
	for i, k := range keys {
		g.Go(func() error {
			var v T
			etag, err := docs.Get(gctx, k, &v)
			switch ErrorCode(err) {
			case "":
				out[i] = &Versioned[T]{Key: k, ETag: etag, Value: v}
			case ENOTFOUND:
				gone[i] = true
			default:
				return err
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	for i := range keys {
		switch {
		case out[i] != nil:
			found = append(found, *out[i])
		case gone[i]:
			missing = append(missing, keys[i])
		}
	}
	return found, missing, nil
}

// ReadAll reads the documents at keys with bounded concurrency and returns
// them sorted by less; documents removed between listing and reading are
// skipped.
func ReadAll[T any](ctx context.Context, docs Documents, keys []string, less func(a, b T) bool) ([]T, error) {
	found, _, err := ReadAllVersioned[T](ctx, docs, keys)
	if err != nil {
		return nil, err
	}
	list := make([]T, len(found))
	for i, f := range found {
		list[i] = f.Value
	}
	sort.Slice(list, func(i, j int) bool { return less(list[i], list[j]) })
	return list, nil
}

// updateAttempts bounds the read-modify-write rounds of Update.
const updateAttempts = 8

// ErrUnchanged, returned by an Update function, ends the update without a
// write: the document is as it should be.
var ErrUnchanged = errors.New("unchanged")

// Update is the one read-modify-write helper for documents: it reads key
// (a zero value when it does not exist), applies fn, and writes the result
// conditioned on the ETag read, reading again when another writer got
// there first, at most updateAttempts times (then ECONFLICT). fn returning
// ErrUnchanged writes nothing; any other error is returned as it is.
func Update[T any](ctx context.Context, docs Documents, key string, fn func(*T) error) (T, error) {
	for attempt := 0; attempt < updateAttempts; attempt++ {
		var v T
		etag, err := docs.Get(ctx, key, &v)
		if err != nil && ErrorCode(err) != ENOTFOUND {
			return v, err
		}
		if err := fn(&v); err != nil {
			if errors.Is(err, ErrUnchanged) {
				return v, nil
			}
			return v, err
		}
		if _, err := docs.Put(ctx, key, v, etag); err == nil {
			return v, nil
		} else if ErrorCode(err) != ECONFLICT {
			return v, err
		}
	}
	var zero T
	return zero, Errorf(ECONFLICT, "%s kept changing (%d attempts)", key, updateAttempts)
}

// Paging bounds of the list routes: the page size when none is asked for,
// and the largest.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// SummaryPage reads one page of summaries of the documents under prefix
// from the listing (one call), from token. A document listed without a
// summary (written before summaries were kept, or caught between a write
// and its summary's) is read, summarized, and written again so it carries
// its summary from then on (once: the store's migration); one deleted
// since the listing is left out. Those reads (and writes) run at once,
// at most readWorkers together, so a page's time is that of the slowest
// document, not their sum (a page listed during a burst of writes finds
// several of them).
func SummaryPage[D any, S any](ctx context.Context, docs Documents, prefix, token string, top int, summarize func(D) S) ([]S, string, error) {
	items, next, err := docs.ListPage(ctx, prefix, token, top)
	if err != nil {
		return nil, "", err
	}
	sums := make([]*S, len(items))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(readWorkers)
	for i, it := range items {
		var sum S
		if it.Summary != nil && json.Unmarshal(it.Summary, &sum) == nil {
			sums[i] = &sum
			continue
		}
		g.Go(func() error {
			var d D
			etag, err := docs.Get(gctx, it.Key, &d)
			switch ErrorCode(err) {
			case "":
			case ENOTFOUND:
				return nil
			default:
				return err
			}
			if sm, ok := any(d).(Summarizer); ok {
				if b, err := sm.DocSummary(); err == nil && len(b) <= MaxSummaryBytes {
					if _, err := docs.Put(gctx, it.Key, d, etag); err != nil && ErrorCode(err) != ECONFLICT {
						return err
					}
				}
			}
			s := summarize(d)
			sums[i] = &s
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, "", err
	}
	out := make([]S, 0, len(items))
	for _, s := range sums {
		if s != nil {
			out = append(out, *s)
		}
	}
	return out, next, nil
}
