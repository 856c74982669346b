package template

import (
	"context"
	"strings"
	"sync/atomic"

	"github.com/goldenpipe/goldenpipe"
)

// countingDocs counts the reads and writes of documents under prefix.
type countingDocs struct {
	goldenpipe.Documents
	prefix        string
	reads, writes atomic.Int64 // a refresh reconciles templates at once
}

func (c *countingDocs) Get(ctx context.Context, key string, v any) (string, error) {
	if strings.HasPrefix(key, c.prefix) {
		c.reads.Add(1)
	}
	return c.Documents.Get(ctx, key, v)
}

func (c *countingDocs) Put(ctx context.Context, key string, v any, ifMatch string) (string, error) {
	if strings.HasPrefix(key, c.prefix) {
		c.writes.Add(1)
	}
	return c.Documents.Put(ctx, key, v, ifMatch)
}
