// Package docstore holds the generic algorithms over the goldenpipe.Documents
// port: the one read-modify-write (Update), bounded concurrent reads
// (ReadAll, ReadAllVersioned) and a page of summaries (SummaryPage). They
// know nothing of what the documents are.
package docstore

import (
	"context"
	"encoding/json"
	"errors"
	"sort"

	"github.com/goldenpipe/goldenpipe"
	"golang.org/x/sync/errgroup"
)

// readWorkers bounds concurrent reads of ReadAll and SummaryPage.
const readWorkers = 8

// Versioned is a document read with its ETag.
type Versioned[T any] struct {
	Key   string
	ETag  string
	Value T
}

// get reads the document at key; found is false, and err nil, when there
// is none.
func get[T any](ctx context.Context, docs goldenpipe.Documents, key string) (v T, etag string, found bool, err error) {
	etag, err = docs.Get(ctx, key, &v)
	if err == nil {
		return v, etag, true, nil
	}
	if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
		err = nil
	}
	return v, "", false, err
}

// ReadAllVersioned reads the documents at keys, keeping each one's ETag,
// with bounded concurrency and in the order of keys; documents removed
// between listing and reading are left out (missing lists their keys).
func ReadAllVersioned[T any](ctx context.Context, docs goldenpipe.Documents, keys []string) (found []Versioned[T], missing []string, err error) {
	out := make([]*Versioned[T], len(keys))
	gone := make([]bool, len(keys))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(readWorkers)
	for i, k := range keys {
		g.Go(func() error {
			v, etag, ok, err := get[T](gctx, docs, k)
			if ok {
				out[i] = &Versioned[T]{Key: k, ETag: etag, Value: v}
			}
			gone[i] = !ok
			return err
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
func ReadAll[T any](ctx context.Context, docs goldenpipe.Documents, keys []string, less func(a, b T) bool) ([]T, error) {
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
func Update[T any](ctx context.Context, docs goldenpipe.Documents, key string, fn func(*T) error) (T, error) {
	return UpdateFrom(ctx, docs, key, nil, fn)
}

// Known is a document as its caller last read or wrote it, with its ETag.
type Known[T any] struct {
	V    T
	ETag string
}

// UpdateFrom is Update starting from the version known (nil: read it):
// fn first sees that version (its ErrUnchanged is taken as it is), the
// write is conditioned on known's ETag without a read, and a document
// changed (or deleted) since is read as Update reads it.
func UpdateFrom[T any](ctx context.Context, docs goldenpipe.Documents, key string, known *Known[T], fn func(*T) error) (T, error) {
	for attempt := 0; attempt < updateAttempts; attempt++ {
		var (
			v    T
			etag string
			err  error
		)
		if attempt == 0 && known != nil {
			v, etag = known.V, known.ETag
		} else if v, etag, _, err = get[T](ctx, docs, key); err != nil {
			return v, err
		}
		if err := fn(&v); err != nil {
			if errors.Is(err, ErrUnchanged) {
				return v, nil
			}
			return v, err
		}
		_, err = docs.Put(ctx, key, v, etag)
		switch code := goldenpipe.ErrorCode(err); {
		case err == nil:
			return v, nil
		case code == goldenpipe.ENOTFOUND && attempt == 0 && known != nil: // deleted since it was known
		case code != goldenpipe.ECONFLICT:
			return v, err
		}
	}
	var zero T
	return zero, goldenpipe.Errorf(goldenpipe.ECONFLICT, "%s kept changing (%d attempts)", key, updateAttempts)
}

// SummaryPage reads one page of summaries of the documents under prefix
// from the listing (one call), from token. A document listed without a
// summary (written before summaries were kept, or caught between a write
// and its summary's) is read, summarized, and written again so it carries
// its summary from then on (once: the store's migration); one deleted
// since the listing is left out. Those reads (and writes) run at once,
// at most readWorkers together, so a page's time is that of the slowest
// document, not their sum (a page listed during a burst of writes finds
// several of them).
func SummaryPage[D any, S any](ctx context.Context, docs goldenpipe.Documents, prefix, token string, top int, summarize func(D) S) ([]S, string, error) {
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
			d, etag, ok, err := get[D](gctx, docs, it.Key)
			if !ok {
				return err // nil when deleted since the listing
			}
			if sm, ok := any(d).(goldenpipe.Summarizer); ok {
				if b, err := sm.DocSummary(); err == nil && len(b) <= goldenpipe.MaxSummaryBytes {
					if _, err := docs.Put(gctx, it.Key, d, etag); err != nil && goldenpipe.ErrorCode(err) != goldenpipe.ECONFLICT {
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
