package azure

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/goldenpipe/goldenpipe"
)

// docTimeout bounds one document operation.
const docTimeout = 30 * time.Second

// maxDocBytes bounds a document read back (records are small).
const maxDocBytes = 16 << 20

// DocStore keeps JSON documents as blobs of one container, with ETags for
// optimistic concurrency: concurrent writers coordinate through conditional
// writes, and a lost race answers ECONFLICT.
type DocStore struct {
	c *container.Client
}

// NewDocStore returns a document store on the named container.
func NewDocStore(svcClient interface {
	NewContainerClient(string) *container.Client
}, name string) *DocStore {
	return &DocStore{c: svcClient.NewContainerClient(name)}
}

// Get reads the document at key into v and returns its ETag; ENOTFOUND
// when there is none.
func (d *DocStore) Get(ctx context.Context, key string, v any) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, docTimeout)
	defer cancel()
	resp, err := d.c.NewBlobClient(key).DownloadStream(ctx, nil)
	if err != nil {
		return "", StorageError(err, "reading record %s failed", key)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocBytes))
	if err != nil {
		return "", goldenpipe.Wrap(goldenpipe.EUNAVAILABLE, err, "reading record %s failed", key)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return "", goldenpipe.Wrap(goldenpipe.EINTERNAL, err, "record %s is not valid JSON", key)
	}
	etag := ""
	if resp.ETag != nil {
		etag = string(*resp.ETag)
	}
	return etag, nil
}

// Put writes v at key. With ifMatch "" it only creates (fails if the key
// exists); otherwise it replaces only the version ifMatch names. A lost race
// answers ECONFLICT. It returns the new ETag.
func (d *DocStore) Put(ctx context.Context, key string, v any, ifMatch string) (string, error) {
	var cond blob.ModifiedAccessConditions
	if ifMatch == "" {
		cond.IfNoneMatch = to.Ptr(azcore.ETagAny)
	} else {
		cond.IfMatch = to.Ptr(azcore.ETag(ifMatch))
	}
	return d.put(ctx, key, v, &cond)
}

// Overwrite writes v at key whatever is there (for append-only history).
func (d *DocStore) Overwrite(ctx context.Context, key string, v any) (string, error) {
	return d.put(ctx, key, v, nil)
}

func (d *DocStore) put(ctx context.Context, key string, v any, cond *blob.ModifiedAccessConditions) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, docTimeout)
	defer cancel()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return "", goldenpipe.Wrap(goldenpipe.EINTERNAL, err, "encoding record %s failed", key)
	}
	opts := &blockblob.UploadOptions{HTTPHeaders: &blob.HTTPHeaders{BlobContentType: to.Ptr("application/json")}}
	if sm, ok := v.(goldenpipe.Summarizer); ok {
		if sum, err := sm.DocSummary(); err == nil && len(sum) <= goldenpipe.MaxSummaryBytes {
			opts.Metadata = map[string]*string{summaryKey: to.Ptr(base64.RawURLEncoding.EncodeToString(sum))}
		}
	}
	if cond != nil {
		opts.AccessConditions = &blob.AccessConditions{ModifiedAccessConditions: cond}
	}
	resp, err := d.c.NewBlockBlobClient(key).Upload(ctx, readSeekNopCloser{bytes.NewReader(b)}, opts)
	if err != nil {
		return "", StorageError(err, "writing record %s failed", key)
	}
	return string(*resp.ETag), nil
}

// Delete removes the document at key if its ETag is ifMatch ("" for any).
// A document already gone is not an error.
func (d *DocStore) Delete(ctx context.Context, key, ifMatch string) error {
	ctx, cancel := context.WithTimeout(ctx, docTimeout)
	defer cancel()
	var opts *blob.DeleteOptions
	if ifMatch != "" {
		opts = &blob.DeleteOptions{AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: to.Ptr(azcore.ETag(ifMatch))}}}
	}
	_, err := d.c.NewBlobClient(key).Delete(ctx, opts)
	if err = StorageError(err, "deleting record %s failed", key); err != nil && goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
		return err
	}
	return nil
}

// Keys lists the keys under prefix, in order.
func (d *DocStore) Keys(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	pager := d.c.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, StorageError(err, "listing records under %s failed", prefix)
		}
		for _, item := range page.Segment.BlobItems {
			if item.Name != nil {
				keys = append(keys, *item.Name)
			}
		}
	}
	return keys, nil
}

// String describes the store for logs.
// summaryKey is the blob metadata that holds a document's summary.
const summaryKey = "summary"

// ListPage lists one page of keys with their summaries: one listing call
// with the blobs' metadata.
func (d *DocStore) ListPage(ctx context.Context, prefix, marker string, max int) ([]goldenpipe.Listed, string, error) {
	ctx, cancel := context.WithTimeout(ctx, docTimeout)
	defer cancel()
	opts := &container.ListBlobsFlatOptions{Prefix: &prefix, MaxResults: to.Ptr(int32(max)), Include: container.ListBlobsInclude{Metadata: true}}
	if marker != "" {
		opts.Marker = &marker
	}
	page, err := d.c.NewListBlobsFlatPager(opts).NextPage(ctx)
	if err != nil {
		return nil, "", StorageError(err, "listing records under %s failed", prefix)
	}
	out := make([]goldenpipe.Listed, 0, len(page.Segment.BlobItems))
	for _, item := range page.Segment.BlobItems {
		if item.Name == nil {
			continue
		}
		l := goldenpipe.Listed{Key: *item.Name}
		for k, v := range item.Metadata {
			if strings.EqualFold(k, summaryKey) && v != nil {
				if b, err := base64.RawURLEncoding.DecodeString(*v); err == nil {
					l.Summary = b
				}
			}
		}
		out = append(out, l)
	}
	next := ""
	if page.NextMarker != nil {
		next = *page.NextMarker
	}
	return out, next, nil
}

// KeysPage lists one page of keys with the blob service's own marker: one
// listing call of at most max names.
func (d *DocStore) KeysPage(ctx context.Context, prefix, marker string, max int) ([]string, string, error) {
	ctx, cancel := context.WithTimeout(ctx, docTimeout)
	defer cancel()
	opts := &container.ListBlobsFlatOptions{Prefix: &prefix, MaxResults: to.Ptr(int32(max))}
	if marker != "" {
		opts.Marker = &marker
	}
	page, err := d.c.NewListBlobsFlatPager(opts).NextPage(ctx)
	if err != nil {
		return nil, "", StorageError(err, "listing records under %s failed", prefix)
	}
	keys := make([]string, 0, len(page.Segment.BlobItems))
	for _, item := range page.Segment.BlobItems {
		if item.Name != nil {
			keys = append(keys, *item.Name)
		}
	}
	next := ""
	if page.NextMarker != nil {
		next = *page.NextMarker
	}
	return keys, next, nil
}

func (d *DocStore) String() string { return fmt.Sprintf("records in %s", d.c.URL()) }

type readSeekNopCloser struct{ *bytes.Reader }

func (readSeekNopCloser) Close() error { return nil }
