package inmem

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

// pageSize is the unit of a page blob: "Page blobs are a collection of
// 512-byte pages"; a page blob's size and every Put Page range are
// multiples of it (Microsoft Learn, Put Page, "The page range ... must be
// aligned to a 512-byte boundary"; Put Blob, x-ms-blob-content-length:
// "must be aligned to a 512-byte boundary").
const pageSize = 512

// accountsMu guards every Account: a copy reads one account and writes
// another, and one lock cannot be taken in two orders.
var accountsMu sync.Mutex

// sasVersion is the service version the SAS of SignRead names (sv).
const sasVersion = "2022-11-02"

// Account is an in-memory storage account's page blobs, as the VHD rescue
// uses two of them: Image Builder's staging account, where a run's VHD is
// left (VHDSource: Properties, SignRead), and the account VHDs are copied
// into (Container: the builds' VHDDestination), with Copy Blob's
// semantics (Microsoft Learn, Copy Blob,
// https://learn.microsoft.com/rest/api/storageservices/copy-blob):
//
//   - a copy from another account reads its source through a SAS only
//     ("If the source blob is in another account, the source blob must
//     either be public or be authorized via a shared access signature"):
//     a SAS this account's key did not sign, or that has expired, or does
//     not grant read, is refused (403 CannotVerifyCopySource, EFORBIDDEN);
//     a source that does not exist is 404 CannotVerifyCopySource
//     (ENOTFOUND);
//   - the copy is asynchronous: the destination reports x-ms-copy-status
//     pending and x-ms-copy-progress "copied/total" until it is done, at
//     CopyRate bytes a second of the account's clock (0: done at once);
//     then success, with the source's length and pages (sparse pages stay
//     sparse: unwritten pages are not copied);
//   - "If the source blob is modified while the copy is pending, the copy
//     fails": the copy ends failed when the source's ETag changed or it is
//     gone when it would have finished;
//   - the destination gets the metadata of the request and a new copy id;
//     one pending copy per destination (a second is 409
//     PendingCopyOperation, ECONFLICT);
//   - Abort Copy Blob "leaves a destination blob with zero length and full
//     metadata" and status aborted (Microsoft Learn, Abort Copy Blob); as
//     azure.VHDDestination does, aborting a copy that is not pending or a
//     blob that is gone is not an error.
//
// SAS tokens appear in no error and no description. Safe for concurrent
// use; memory is the pages written, whatever a blob's size.
type Account struct {
	url string
	key []byte
	now func() time.Time
	// CopyRate is how many bytes a second a copy into this account moves,
	// on the clock; 0 finishes a copy when it starts.
	CopyRate int64

	blobs map[string]*pageBlob // container/name; under accountsMu
	seq   uint64
	// sources are the accounts copies into this one may read from.
	sources []*Account
}

type pageBlob struct {
	size     int64
	pages    map[int64][]byte // offset → one 512-byte page; never changed once stored
	etag     string
	modified time.Time
	metadata map[string]string
	copy     *pendingCopy
}

// pendingCopy is the last copy into a blob.
type pendingCopy struct {
	id, status, description string
	total                   int64
	started                 time.Time
	from                    *Account
	fromName, fromETag      string
	pages                   map[int64][]byte
	size                    int64
}

// NewAccount returns an empty account named name (its blobs are at
// https://<name>.blob.core.windows.net/<container>/<blob>, never reached
// over the network) with a key of its own; now is its clock (nil:
// time.Now).
func NewAccount(name string, now func() time.Time) *Account {
	if now == nil {
		now = time.Now
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	a := &Account{url: "https://" + name + ".blob.core.windows.net", key: key, now: now, blobs: map[string]*pageBlob{}}
	a.sources = []*Account{a}
	return a
}

// URL is the account's blob endpoint.
func (a *Account) URL() string { return a.url }

// ReadsFrom lets copies into this account read blobs of src (with a SAS
// src signed).
func (a *Account) ReadsFrom(src ...*Account) {
	accountsMu.Lock()
	defer accountsMu.Unlock()
	a.sources = append(a.sources, src...)
}

// path returns container/name of a blob URL of this account; a URL of
// another account, or that names no blob, is EINVALID.
func (a *Account) path(blobURL string) (string, error) {
	rest, ok := strings.CutPrefix(strings.SplitN(blobURL, "?", 2)[0], a.url+"/")
	if ok {
		if p, err := url.PathUnescape(rest); err == nil && strings.Contains(p, "/") && !strings.HasPrefix(p, "/") && !strings.HasSuffix(p, "/") {
			return p, nil
		}
	}
	return "", goldenpipe.Errorf(goldenpipe.EINVALID, "%s is not a blob URL of %s", goldenpipe.RedactSAS(blobURL), a.url)
}

func (a *Account) blobURL(path string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return a.url + "/" + strings.Join(segs, "/")
}

// etag is a new ETag; called with accountsMu held.
func (a *Account) etag() string {
	a.seq++
	return fmt.Sprintf("0x%016X", a.seq)
}

// PutPageBlob creates (or replaces) the page blob container/name of size
// bytes and writes pages (offset → data) into it, as Put Blob
// (x-ms-blob-type: PageBlob) then Put Page do, and returns its URL (no
// SAS). Sizes, offsets and lengths must be multiples of 512 within the
// blob (EINVALID otherwise, nothing written).
func (a *Account) PutPageBlob(ctx context.Context, container, name string, size int64, pages map[int64][]byte) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", goldenpipe.Wrap(goldenpipe.EUNAVAILABLE, err, "writing page blob %s/%s: the request was not sent", container, name)
	}
	if container == "" || name == "" || size < 0 || size%pageSize != 0 {
		return "", goldenpipe.Errorf(goldenpipe.EINVALID, "page blob %s/%s of %d bytes: a page blob is named and a multiple of 512 bytes", container, name, size)
	}
	stored := map[int64][]byte{}
	for off, data := range pages {
		if off < 0 || off%pageSize != 0 || len(data)%pageSize != 0 || off+int64(len(data)) > size {
			return "", goldenpipe.Errorf(goldenpipe.EINVALID, "page range %d+%d of %s/%s: ranges are 512-byte aligned and within the blob's %d bytes", off, len(data), container, name, size)
		}
		for i := 0; i < len(data); i += pageSize {
			stored[off+int64(i)] = append(make([]byte, 0, pageSize), data[i:i+pageSize]...)
		}
	}
	accountsMu.Lock()
	defer accountsMu.Unlock()
	path := container + "/" + name
	a.blobs[path] = &pageBlob{size: size, pages: stored, etag: a.etag(), modified: a.now().UTC().Truncate(time.Second), metadata: map[string]string{}}
	return a.blobURL(path), nil
}

// Read returns the whole content of a blob of this account (unwritten
// pages read as zeros), as Get Blob does.
func (a *Account) Read(ctx context.Context, blobURL string) ([]byte, error) {
	path, err := a.path(blobURL)
	if err != nil {
		return nil, err
	}
	accountsMu.Lock()
	defer accountsMu.Unlock()
	b, err := a.get(ctx, path)
	if err != nil {
		return nil, err
	}
	out := make([]byte, b.size)
	for off, p := range b.pages {
		copy(out[off:], p)
	}
	return out, nil
}

// Delete removes a blob of this account; one already gone is not an error.
func (a *Account) Delete(ctx context.Context, blobURL string) error {
	path, err := a.path(blobURL)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return goldenpipe.Wrap(goldenpipe.EUNAVAILABLE, err, "deleting %s: the request was not sent", path)
	}
	accountsMu.Lock()
	defer accountsMu.Unlock()
	delete(a.blobs, path)
	return nil
}

// get returns the blob at path with its copy brought up to date; called
// with accountsMu held.
func (a *Account) get(ctx context.Context, path string) (*pageBlob, error) {
	if err := ctx.Err(); err != nil {
		return nil, goldenpipe.Wrap(goldenpipe.EUNAVAILABLE, err, "reading %s: the request was not sent", path)
	}
	b, ok := a.blobs[path]
	if !ok {
		return nil, goldenpipe.Errorf(goldenpipe.ENOTFOUND, "reading %s failed: BlobNotFound", path)
	}
	a.progress(b)
	return b, nil
}

// Properties returns the version of a blob of this account (a staging
// VHD, for the VHD rescue); ENOTFOUND when there is none.
func (a *Account) Properties(ctx context.Context, blobURL string) (goldenpipe.BlobVersion, error) {
	path, err := a.path(blobURL)
	if err != nil {
		return goldenpipe.BlobVersion{}, err
	}
	accountsMu.Lock()
	defer accountsMu.Unlock()
	b, err := a.get(ctx, path)
	if err != nil {
		return goldenpipe.BlobVersion{}, err
	}
	return goldenpipe.BlobVersion{ETag: b.etag, Size: b.size, LastModified: b.modified}, nil
}

// SignRead returns the blob URL with a read-only service SAS (sr=b, sp=r)
// valid from 5 minutes ago (clock skew, as azure.VHDSource signs) to ttl
// from now, signed with the account's key: HMAC-SHA256 over the signed
// fields (Microsoft Learn, Create a service SAS: "the signature is an
// HMAC computed over the string-to-sign and key by using the SHA256
// algorithm, and then encoded by using Base64 encoding"). The
// string-to-sign here holds the fields this store checks; it is not
// Azure's field list, which no one outside the account verifies.
func (a *Account) SignRead(ctx context.Context, blobURL string, ttl time.Duration) (string, time.Time, error) {
	path, err := a.path(blobURL)
	if err != nil {
		return "", time.Time{}, err
	}
	if err := ctx.Err(); err != nil {
		return "", time.Time{}, goldenpipe.Wrap(goldenpipe.EUNAVAILABLE, err, "signing a SAS for %s: the request was not sent", path)
	}
	now := a.now().UTC()
	start, expiry := now.Add(-5*time.Minute).Truncate(time.Second), now.Add(ttl).Truncate(time.Second)
	q := url.Values{"sv": {sasVersion}, "sr": {"b"}, "sp": {"r"}, "spr": {"https"},
		"st": {start.Format(time.RFC3339)}, "se": {expiry.Format(time.RFC3339)}}
	q.Set("sig", a.sign(path, q))
	return strings.SplitN(blobURL, "?", 2)[0] + "?" + q.Encode(), expiry, nil
}

func (a *Account) sign(path string, q url.Values) string {
	m := hmac.New(sha256.New, a.key)
	fmt.Fprintf(m, "%s\n%s\n%s\n/blob%s/%s\n%s\n%s\n%s", q.Get("sp"), q.Get("st"), q.Get("se"),
		strings.TrimPrefix(a.url, "https://"), path, q.Get("spr"), q.Get("sv"), q.Get("sr"))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// authorize checks the SAS of a copy source URL against this account
// (the source's): EFORBIDDEN as Azure's 403 when it is missing, not
// signed by this account's key, outside its time window, or not for
// reading this blob. Called with accountsMu held.
func (a *Account) authorize(path string, q url.Values) error {
	now := a.now().UTC()
	st, err1 := time.Parse(time.RFC3339, q.Get("st"))
	se, err2 := time.Parse(time.RFC3339, q.Get("se"))
	switch {
	case q.Get("sig") == "":
		return goldenpipe.Errorf(goldenpipe.EFORBIDDEN, "copying from %s failed: CannotVerifyCopySource (403): a source in another account needs a SAS", a.url)
	case !hmac.Equal([]byte(q.Get("sig")), []byte(a.sign(path, q))):
		return goldenpipe.Errorf(goldenpipe.EFORBIDDEN, "copying from %s failed: CannotVerifyCopySource (403): the SAS signature does not match", a.url)
	case err1 != nil || err2 != nil || now.Before(st) || !now.Before(se):
		return goldenpipe.Errorf(goldenpipe.EFORBIDDEN, "copying from %s failed: CannotVerifyCopySource (403): the SAS is not valid at %s", a.url, now.Format(time.RFC3339))
	case !strings.Contains(q.Get("sp"), "r") || q.Get("sr") != "b":
		return goldenpipe.Errorf(goldenpipe.EFORBIDDEN, "copying from %s failed: CannotVerifyCopySource (403): the SAS does not grant reading the blob", a.url)
	}
	return nil
}

// Container returns the container name of this account as the builds'
// VHDDestination.
func (a *Account) Container(name string) *Container { return &Container{a: a, name: name} }

// Container is a container of an Account: the destination of VHD copies
// (builds.VHDDestination), answering as azure.VHDDestination does.
type Container struct {
	a    *Account
	name string
}

// URL returns a blob's URL in the container (no SAS), its slashes kept.
func (c *Container) URL(name string) string { return c.a.blobURL(c.name + "/" + name) }

// Properties returns a blob's state and its last copy; a blob that does
// not exist is CopyState{} (Exists false), no error.
func (c *Container) Properties(ctx context.Context, name string) (goldenpipe.CopyState, error) {
	accountsMu.Lock()
	defer accountsMu.Unlock()
	b, err := c.a.get(ctx, c.name+"/"+name)
	if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
		return goldenpipe.CopyState{}, nil
	}
	if err != nil {
		return goldenpipe.CopyState{}, err
	}
	st := goldenpipe.CopyState{Exists: true, Length: b.size, Metadata: cloneMetadata(b.metadata)}
	if cp := b.copy; cp != nil {
		st.Status, st.ID, st.Description, st.Total = cp.status, cp.id, cp.description, cp.total
		st.Copied = c.a.copied(cp)
	}
	return st, nil
}

// copied is how far a copy got: all of it once it ended well, else what
// CopyRate moved since it started, in whole pages. Called with accountsMu held.
func (a *Account) copied(cp *pendingCopy) int64 {
	switch {
	case cp.status == goldenpipe.CopySuccess:
		return cp.total
	case cp.status != goldenpipe.CopyPending:
		return 0
	case a.CopyRate <= 0:
		return cp.total
	}
	n := int64(a.now().Sub(cp.started).Seconds() * float64(a.CopyRate))
	return min(max(n, 0), cp.total) &^ (pageSize - 1)
}

// progress ends a pending copy whose time has come: success with the
// source's pages, or failed when the source changed or went since the
// copy started. Called with accountsMu held.
func (a *Account) progress(b *pageBlob) {
	cp := b.copy
	if cp == nil || cp.status != goldenpipe.CopyPending || a.copied(cp) < cp.total && cp.total > 0 {
		return
	}
	if sb, ok := cp.from.blobs[cp.fromName]; !ok || sb.etag != cp.fromETag {
		cp.status, cp.description = goldenpipe.CopyFailed, "the source blob was modified or deleted while the copy was pending"
		cp.pages = nil
		return
	}
	cp.status = goldenpipe.CopySuccess
	b.pages, b.size, cp.pages = cp.pages, cp.size, nil
	b.etag, b.modified = a.etag(), a.now().UTC().Truncate(time.Second)
}

// source resolves a copy source URL to its account and blob and checks
// its SAS; it returns the blob's pages (shared: pages never change), size
// and ETag. Called with accountsMu held.
func (a *Account) source(ctx context.Context, sourceURL string) (*Account, string, *pageBlob, error) {
	u, err := url.Parse(sourceURL)
	if err != nil {
		return nil, "", nil, goldenpipe.Errorf(goldenpipe.EINVALID, "the copy source is not a URL")
	}
	for _, src := range a.sources {
		path, err := src.path(sourceURL)
		if err != nil {
			continue
		}
		if src != a {
			if err := src.authorize(path, u.Query()); err != nil {
				return nil, "", nil, err
			}
		}
		b, err := src.get(ctx, path)
		if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
			return nil, "", nil, goldenpipe.Errorf(goldenpipe.ENOTFOUND, "copying from %s failed: CannotVerifyCopySource (404): the source blob does not exist", src.url)
		}
		if err != nil {
			return nil, "", nil, err
		}
		if b.copy != nil && b.copy.status == goldenpipe.CopyPending {
			return nil, "", nil, goldenpipe.Errorf(goldenpipe.ECONFLICT, "copying from %s failed: the source has a copy pending", src.url)
		}
		return src, path, &pageBlob{pages: b.pages, size: b.size, etag: b.etag}, nil
	}
	return nil, "", nil, goldenpipe.Errorf(goldenpipe.EFORBIDDEN, "copying into %s failed: CannotVerifyCopySource (403): the source account cannot be reached", a.url)
}

// StartCopy starts the asynchronous copy of source (a URL with a SAS,
// never kept in an error) into the blob name, with metadata, and returns
// the copy id.
func (c *Container) StartCopy(ctx context.Context, name, source string, metadata map[string]string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", goldenpipe.Wrap(goldenpipe.EUNAVAILABLE, err, "starting the copy into %s: the request was not sent", name)
	}
	a := c.a
	accountsMu.Lock()
	defer accountsMu.Unlock()
	src, srcPath, sb, err := a.source(ctx, source)
	if err != nil {
		return "", goldenpipe.Wrap(goldenpipe.ErrorCode(err), err, "starting the copy into %s failed", name)
	}
	path := c.name + "/" + name
	if old, ok := a.blobs[path]; ok {
		a.progress(old)
		if old.copy != nil && old.copy.status == goldenpipe.CopyPending {
			return "", goldenpipe.Errorf(goldenpipe.ECONFLICT, "starting the copy into %s failed: PendingCopyOperation (409)", name)
		}
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	cp := &pendingCopy{id: hex.EncodeToString(id[:]), status: goldenpipe.CopyPending, total: sb.size, started: a.now(),
		from: src, fromName: srcPath, fromETag: sb.etag, pages: sb.pages, size: sb.size}
	b := &pageBlob{pages: map[int64][]byte{}, etag: a.etag(), modified: a.now().UTC().Truncate(time.Second),
		metadata: cloneMetadata(metadata), copy: cp}
	a.blobs[path] = b
	a.progress(b)
	return cp.id, nil
}

// Abort stops the pending copy copyID into name: the blob is left with
// zero length, its metadata and status aborted. A blob that is gone, a
// copy no longer pending or another copy's id change nothing and are not
// errors, as azure.VHDDestination answers (Azure: 404, 409
// NoPendingCopyOperation, 409 CopyIdMismatch).
func (c *Container) Abort(ctx context.Context, name, copyID string) error {
	a := c.a
	accountsMu.Lock()
	defer accountsMu.Unlock()
	b, err := a.get(ctx, c.name+"/"+name)
	if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
		return nil
	}
	if err != nil {
		return err
	}
	if b.copy == nil || b.copy.status != goldenpipe.CopyPending || b.copy.id != copyID {
		return nil
	}
	b.copy.status, b.copy.pages = goldenpipe.CopyAborted, nil
	b.pages, b.size = map[int64][]byte{}, 0
	return nil
}

// cloneMetadata copies a blob's metadata (never nil).
func cloneMetadata(md map[string]string) map[string]string {
	out := make(map[string]string, len(md))
	for k, v := range md {
		out[k] = v
	}
	return out
}

// String describes the account for logs.
func (a *Account) String() string { return "page blobs in memory at " + a.url }
