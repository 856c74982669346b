package inmem

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

// Blobs is an in-process blob container with the read semantics of
// azure.Blobs, the port the checksum and template services read scripts
// and templates through (checksum.Blobs, template.Blobs): Properties,
// OpenRange conditioned on the version's ETag (ECONFLICT once the blob
// changed, ENOTFOUND once it is gone), List, Versions and Fetch. Upload
// and Delete stand for what a user does to the container. ETags are
// answered without quotes, as azure.NormalizeETag leaves them. It is safe
// for concurrent use and holds what is uploaded and nothing more.
type Blobs struct {
	url string
	now func() time.Time

	mu    sync.RWMutex
	blobs map[string]memBlob
	seq   uint64
}

type memBlob struct {
	content []byte // never changed once stored
	ver     goldenpipe.BlobVersion
}

// NewBlobs returns an empty container whose URL is containerURL
// (http://127.0.0.1:10000/devstoreaccount1/scripts, say); now stamps
// LastModified (nil: time.Now).
func NewBlobs(containerURL string, now func() time.Time) *Blobs {
	if now == nil {
		now = time.Now
	}
	return &Blobs{url: strings.TrimSuffix(containerURL, "/"), now: now, blobs: map[string]memBlob{}}
}

// Upload writes content as the blob name (a new version, whatever was
// there) and returns its version.
func (b *Blobs) Upload(ctx context.Context, name string, content []byte) (goldenpipe.BlobVersion, error) {
	if err := check(ctx, name); err != nil {
		return goldenpipe.BlobVersion{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	// Last-Modified is an RFC 1123 date: whole seconds
	v := goldenpipe.BlobVersion{ETag: fmt.Sprintf("0x%016X", b.seq), Size: int64(len(content)), LastModified: b.now().UTC().Truncate(time.Second)}
	b.blobs[name] = memBlob{content: bytes.Clone(content), ver: v}
	return v, nil
}

// Delete removes the blob name; a blob already gone is not an error.
func (b *Blobs) Delete(ctx context.Context, name string) error {
	if err := check(ctx, name); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.blobs, name)
	return nil
}

// URL returns the blob's URL: the container's and the name, each segment
// escaped.
func (b *Blobs) URL(name string) string {
	segs := strings.Split(name, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return b.url + "/" + strings.Join(segs, "/")
}

// ContainerURL returns the container's URL.
func (b *Blobs) ContainerURL() string { return b.url }

func (b *Blobs) get(ctx context.Context, name string) (memBlob, error) {
	if err := ctx.Err(); err != nil {
		return memBlob{}, goldenpipe.Wrap(goldenpipe.EUNAVAILABLE, err, "reading blob %q failed", name)
	}
	b.mu.RLock()
	m, ok := b.blobs[name]
	b.mu.RUnlock()
	if !ok {
		return memBlob{}, goldenpipe.Errorf(goldenpipe.ENOTFOUND, "reading blob %q failed: BlobNotFound", name)
	}
	return m, nil
}

// Properties returns the current version; ENOTFOUND when there is none.
func (b *Blobs) Properties(ctx context.Context, name string) (goldenpipe.BlobVersion, error) {
	m, err := b.get(ctx, name)
	return m.ver, err
}

// OpenRange opens count bytes at off (to the end when count is 0, as the
// SDK's HTTPRange) of the version etag of the blob: ECONFLICT when the
// blob changed (Azure's 412 ConditionNotMet), ENOTFOUND when it is gone.
// A range past the end is refused as Azure's 416 InvalidRange (which
// azure.StorageError classifies EUNAVAILABLE); one that runs past the end
// is cut there.
func (b *Blobs) OpenRange(ctx context.Context, name, etag string, off, count int64) (io.ReadCloser, error) {
	m, err := b.get(ctx, name)
	if err != nil {
		return nil, err
	}
	if m.ver.ETag != etag {
		return nil, goldenpipe.Errorf(goldenpipe.ECONFLICT, "reading blob %q failed: it changed (ConditionNotMet)", name)
	}
	size := int64(len(m.content))
	if off < 0 || count < 0 || (off >= size && !(off == 0 && size == 0)) {
		return nil, goldenpipe.Errorf(goldenpipe.EUNAVAILABLE, "reading bytes %d-%d of blob %q failed: InvalidRange (HTTP 416)", off, off+count-1, name)
	}
	end := size
	if count > 0 && off+count < size {
		end = off + count
	}
	return io.NopCloser(bytes.NewReader(m.content[off:end])), nil
}

// List returns the names of every blob, in order.
func (b *Blobs) List(ctx context.Context) ([]string, error) {
	vs, err := b.Versions(ctx)
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(vs)), nil
}

// Versions returns every blob with its version.
func (b *Blobs) Versions(ctx context.Context) (map[string]goldenpipe.BlobVersion, error) {
	if err := ctx.Err(); err != nil {
		return nil, goldenpipe.Wrap(goldenpipe.EUNAVAILABLE, err, "listing %s failed", b.url)
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make(map[string]goldenpipe.BlobVersion, len(b.blobs))
	for n, m := range b.blobs {
		out[n] = m.ver
	}
	return out, nil
}

// Fetch reads a whole blob of this container given its URL; ENOTFOUND for
// a URL outside the container or a blob that does not exist.
func (b *Blobs) Fetch(ctx context.Context, blobURL string) ([]byte, error) {
	rest, ok := strings.CutPrefix(blobURL, b.url+"/")
	if !ok {
		return nil, goldenpipe.Errorf(goldenpipe.ENOTFOUND, "%s is not in %s", goldenpipe.RedactSAS(blobURL), b.url)
	}
	name, err := url.PathUnescape(strings.SplitN(rest, "?", 2)[0])
	if err != nil {
		return nil, goldenpipe.Errorf(goldenpipe.ENOTFOUND, "%s is not a blob URL", goldenpipe.RedactSAS(blobURL))
	}
	m, err := b.get(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(m.content) == 0 {
		return nil, nil
	}
	return bytes.Clone(m.content), nil
}

// String describes the container for logs.
func (b *Blobs) String() string { return "blobs in memory at " + b.url }
