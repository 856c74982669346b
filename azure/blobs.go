package azure

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/goldenpipe/goldenpipe"
)

// rangeTimeout bounds one ranged read (the SDK's per-try timeout applies
// inside it too).
const rangeTimeout = 2 * time.Minute

// Blobs reads the blobs of one container.
type Blobs struct {
	c *container.Client
}

// NewBlobs returns a reader of the named container of a service.
func NewBlobs(svcClient interface {
	NewContainerClient(string) *container.Client
}, name string) *Blobs {
	return &Blobs{c: svcClient.NewContainerClient(name)}
}

// URL returns the blob's URL (no SAS: the client is key- or token-based).
func (b *Blobs) URL(name string) string { return b.c.NewBlobClient(name).URL() }

// ContainerURL returns the container's URL.
func (b *Blobs) ContainerURL() string { return b.c.URL() }

// Properties returns the current version's properties; ENOTFOUND when the
// blob does not exist.
func (b *Blobs) Properties(ctx context.Context, name string) (goldenpipe.BlobVersion, error) {
	p, err := b.c.NewBlobClient(name).GetProperties(ctx, nil)
	if err != nil {
		return goldenpipe.BlobVersion{}, StorageError(err, "reading the properties of blob %q failed", name)
	}
	out := goldenpipe.BlobVersion{}
	if p.ETag != nil {
		out.ETag = NormalizeETag(string(*p.ETag))
	}
	if p.ContentLength != nil {
		out.Size = *p.ContentLength
	}
	if p.LastModified != nil {
		out.LastModified = p.LastModified.UTC()
	}
	return out, nil
}

// ReadRange reads dst's length of bytes at off from the version etag of the
// blob. A changed blob answers ECONFLICT, a deleted one ENOTFOUND.
func (b *Blobs) ReadRange(ctx context.Context, name, etag string, off int64, dst []byte) error {
	ctx, cancel := context.WithTimeout(ctx, rangeTimeout)
	defer cancel()
	match := azcore.ETag(`"` + etag + `"`)
	resp, err := b.c.NewBlobClient(name).DownloadStream(ctx, &blob.DownloadStreamOptions{
		Range:            blob.HTTPRange{Offset: off, Count: int64(len(dst))},
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: &match}},
	})
	if err != nil {
		return StorageError(err, "reading bytes %d-%d of blob %q failed", off, off+int64(len(dst))-1, name)
	}
	defer resp.Body.Close()
	if resp.ETag != nil && NormalizeETag(string(*resp.ETag)) != etag {
		return goldenpipe.Errorf(goldenpipe.ECONFLICT, "blob %q changed while being read", name)
	}
	if _, err := io.ReadFull(resp.Body, dst); err != nil {
		return goldenpipe.Wrap(goldenpipe.EUNAVAILABLE, redactedError{err}, "reading bytes %d-%d of blob %q failed mid-body", off, off+int64(len(dst))-1, name)
	}
	return nil
}

// NormalizeETag strips the quotes (and a weak prefix) an ETag may carry, so
// ETags from events, headers and records compare equal.
func NormalizeETag(e string) string {
	e = strings.TrimPrefix(strings.TrimSpace(e), "W/")
	return strings.Trim(e, `"`)
}

// String describes the reader for logs.
func (b *Blobs) String() string { return fmt.Sprintf("blobs in %s", b.c.URL()) }
