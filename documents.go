package goldenpipe

import "context"

// Documents is the app's durable state: JSON documents with ETags, so
// concurrent instances coordinate through conditional writes. A lost race
// answers ECONFLICT; a missing document ENOTFOUND. Algorithms over it
// (read-modify-write, bounded concurrent reads, pages of summaries) are in
// internal/docstore.
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

// Paging bounds of the list routes: the page size when none is asked for,
// and the largest.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)
