package azure

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/goldenpipe/goldenpipe"
)

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

// URL returns the blob's URL (no SAS: the client is key- or token-based),
// with its folders' slashes as slashes, as Azure shows a blob's URL and as
// Event Grid's events and Image Builder's scriptUri carry it (the SDK's
// client escapes them as %2F, which names the same blob).
func (b *Blobs) URL(name string) string {
	return strings.ReplaceAll(b.c.NewBlobClient(name).URL(), "%2F", "/")
}

// ContainerURL returns the container's URL.
func (b *Blobs) ContainerURL() string { return b.c.URL() }

// Properties returns the current version's properties; ENOTFOUND when the
// blob does not exist.
func (b *Blobs) Properties(ctx context.Context, name string) (goldenpipe.BlobVersion, error) {
	p, err := b.c.NewBlobClient(name).GetProperties(ctx, nil)
	if err != nil {
		return goldenpipe.BlobVersion{}, StorageError(err, "reading the properties of blob %q failed", name)
	}
	return versionOf(p), nil
}

// versionOf reads the version a GetProperties answer describes.
func versionOf(p blob.GetPropertiesResponse) goldenpipe.BlobVersion {
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
	return out
}

// OpenRange opens count bytes at off of the version etag of the blob. A
// changed blob answers ECONFLICT, a deleted one ENOTFOUND. The caller reads
// and closes the body; a failure while reading it is transient.
func (b *Blobs) OpenRange(ctx context.Context, name, etag string, off, count int64) (io.ReadCloser, error) {
	match := azcore.ETag(`"` + etag + `"`)
	resp, err := b.c.NewBlobClient(name).DownloadStream(ctx, &blob.DownloadStreamOptions{
		Range:            blob.HTTPRange{Offset: off, Count: count},
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: &match}},
	})
	if err != nil {
		return nil, StorageError(err, "reading bytes %d-%d of blob %q failed", off, off+count-1, name)
	}
	if resp.ETag == nil || NormalizeETag(string(*resp.ETag)) != etag {
		resp.Body.Close()
		return nil, goldenpipe.Errorf(goldenpipe.ECONFLICT, "blob %q changed while being read", name)
	}
	return resp.Body, nil
}

// NormalizeETag strips the quotes (and a weak prefix) an ETag may carry, so
// ETags from events, headers and records compare equal.
func NormalizeETag(e string) string {
	e = strings.TrimPrefix(strings.TrimSpace(e), "W/")
	return strings.Trim(e, `"`)
}

// String describes the reader for logs.
func (b *Blobs) String() string { return fmt.Sprintf("blobs in %s", b.c.URL()) }

// List returns the names of every blob in the container, in order.
func (b *Blobs) List(ctx context.Context) ([]string, error) {
	versions, err := b.Versions(ctx)
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(versions)), nil
}

// Versions returns every blob of the container with its version, from the
// listing (one call a page of 5,000 blobs; no read of each).
func (b *Blobs) Versions(ctx context.Context) (map[string]goldenpipe.BlobVersion, error) {
	out := map[string]goldenpipe.BlobVersion{}
	pager := b.c.NewListBlobsFlatPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, StorageError(err, "listing %s failed", b.c.URL())
		}
		for _, item := range page.Segment.BlobItems {
			if item.Name == nil || item.Properties == nil {
				continue
			}
			v := goldenpipe.BlobVersion{}
			if p := item.Properties; p.ETag != nil {
				v.ETag = NormalizeETag(string(*p.ETag))
			}
			if p := item.Properties; p.ContentLength != nil {
				v.Size = *p.ContentLength
			}
			if p := item.Properties; p.LastModified != nil {
				v.LastModified = p.LastModified.UTC()
			}
			out[*item.Name] = v
		}
	}
	return out, nil
}

// maxFetchBytes bounds Fetch.
const maxFetchBytes = 256 << 20

// Fetch reads a whole blob of this container given its URL; ENOTFOUND for a
// URL outside the container or a blob that does not exist.
func (b *Blobs) Fetch(ctx context.Context, blobURL string) ([]byte, error) {
	prefix := strings.TrimSuffix(b.c.URL(), "/") + "/"
	rest, ok := strings.CutPrefix(blobURL, prefix)
	if !ok {
		return nil, goldenpipe.Errorf(goldenpipe.ENOTFOUND, "%s is not in %s", goldenpipe.RedactSAS(blobURL), b.c.URL())
	}
	name, err := url.PathUnescape(strings.SplitN(rest, "?", 2)[0])
	if err != nil {
		return nil, goldenpipe.Errorf(goldenpipe.ENOTFOUND, "%s is not a blob URL", goldenpipe.RedactSAS(blobURL))
	}
	ver, err := b.Properties(ctx, name)
	if err != nil {
		return nil, err
	}
	if ver.Size > maxFetchBytes {
		return nil, goldenpipe.Errorf(goldenpipe.EINVALID, "blob %q is over %d bytes", name, maxFetchBytes)
	}
	if ver.Size == 0 {
		return nil, nil
	}
	body, err := b.OpenRange(ctx, name, ver.ETag, 0, ver.Size)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	return io.ReadAll(body)
}
