package goldenpipe

import (
	"context"
	"sort"
	"sync"
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
}

// readWorkers bounds concurrent reads of ReadAll.
const readWorkers = 8

// ReadAll reads the documents at keys with bounded concurrency and returns
// them sorted by less; documents removed between listing and reading are
// skipped.
func ReadAll[T any](ctx context.Context, docs Documents, keys []string, less func(a, b T) bool) ([]T, error) {
	out := make([]*T, len(keys))
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	sem := make(chan struct{}, readWorkers)
	for i, k := range keys {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			var v T
			_, err := docs.Get(ctx, k, &v)
			switch ErrorCode(err) {
			case "":
				out[i] = &v
			case ENOTFOUND:
			default:
				errs[i] = err
			}
		}()
	}
	wg.Wait()
	list := make([]T, 0, len(keys))
	for i := range keys {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if out[i] != nil {
			list = append(list, *out[i])
		}
	}
	sort.Slice(list, func(i, j int) bool { return less(list[i], list[j]) })
	return list, nil
}
