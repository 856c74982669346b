package inmem

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/goldenpipe/goldenpipe"
)

// maxListResults is the most names one listing answers, whatever max asks:
// "If the maximum number of results is not specified in the request or if
// it's greater than 5,000, the server returns up to the maximum of 5,000
// items" (Microsoft Learn, Listing Blob storage resources,
// https://learn.microsoft.com/rest/api/storageservices/enumerating-blob-resources).
const maxListResults = 5000

// maxKeyLen bounds a key as Azure bounds a blob name: "must be at least
// one character long and cannot be more than 1,024 characters long"
// (Microsoft Learn, Naming and referencing containers, blobs, and metadata,
// https://learn.microsoft.com/rest/api/storageservices/naming-and-referencing-containers--blobs--and-metadata).
const maxKeyLen = 1024

// Docs is an in-process goldenpipe.Documents with the conditional-write
// semantics of azure.DocStore (documents as blobs of one container), for
// tests and local runs that need no Azurite:
//
//   - Put with ifMatch "" creates only (If-None-Match: *): a document
//     already there answers ECONFLICT, as Azure's 409 BlobAlreadyExists;
//   - Put with an ETag replaces only that version (If-Match): another
//     version, or no document, answers ECONFLICT, as Azure's 412
//     ConditionNotMet;
//   - Overwrite writes whatever is there; Delete with "" removes whatever
//     is there, and a document already gone is not an error; Delete with
//     an ETag removes only that version, and answers ECONFLICT for another
//     version or none: Azure answers a Delete Blob whose If-Match names a
//     blob that is gone 412 ConditionNotMet, as the HTTP/1.1 rule it
//     follows says (RFC 9110 13.1.1: If-Match is false when there is no
//     current representation; "The Blob service follows the HTTP/1.1
//     protocol specification for conditional headers", Microsoft Learn,
//     Specifying conditional headers for Blob service operations), and
//     azure.Store's table kinds answer ECONFLICT alike;
//   - every write gives the document a new ETag, never one it or any other
//     key had before, so an ETag read before a delete and re-create is stale;
//   - keys list in byte order (Azure lists "in alphabetical order"), at
//     most max (1 to 5,000: max <= 0 is EINVALID, as Azure's 400) a page;
//   - a Summarizer's summary is kept beside the document when it is at most
//     goldenpipe.MaxSummaryBytes (as blob metadata) and ListPage answers it;
//     a write replaces it (a document without one lists with nil).
//
// Documents are kept as their JSON encoding, so a caller's value is never
// shared with the store. It is safe for concurrent use; it holds what is
// stored and nothing more (a deleted key costs nothing).
type Docs struct {
	mu   sync.RWMutex
	docs map[string]storedDoc
	keys []string // the keys of docs, sorted
	seq  uint64   // the last ETag given
}

type storedDoc struct {
	body    []byte
	etag    string
	summary []byte // nil: none
}

var _ goldenpipe.Documents = (*Docs)(nil)

// NewDocs returns an empty store.
func NewDocs() *Docs { return &Docs{docs: map[string]storedDoc{}} }

// check answers what Azure would before touching anything: a context
// already done (the SDK's request fails, EUNAVAILABLE as azure.StorageError
// classifies it) or a key that cannot name a blob.
func check(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return goldenpipe.Wrap(goldenpipe.EUNAVAILABLE, err, "record %s: the request was not sent", key)
	}
	if key == "" || len(key) > maxKeyLen {
		return goldenpipe.Errorf(goldenpipe.EINVALID, "record key %.40q: a key is 1 to %d characters", key, maxKeyLen)
	}
	return nil
}

// Get reads the document at key into v and returns its ETag; ENOTFOUND
// when there is none.
func (d *Docs) Get(ctx context.Context, key string, v any) (string, error) {
	if err := check(ctx, key); err != nil {
		return "", err
	}
	d.mu.RLock()
	doc, ok := d.docs[key]
	d.mu.RUnlock()
	if !ok {
		return "", goldenpipe.Errorf(goldenpipe.ENOTFOUND, "reading record %s failed: there is none", key)
	}
	// body is never changed once stored: decoding outside the lock is safe
	if err := json.Unmarshal(doc.body, v); err != nil {
		return "", goldenpipe.Wrap(goldenpipe.EINTERNAL, err, "record %s is not valid JSON", key)
	}
	return doc.etag, nil
}

// Put creates (ifMatch "") or replaces the version ifMatch names and
// returns the new ETag; a lost race answers ECONFLICT.
func (d *Docs) Put(ctx context.Context, key string, v any, ifMatch string) (string, error) {
	return d.put(ctx, key, v, ifMatch, false)
}

// Overwrite writes v at key whatever is there.
func (d *Docs) Overwrite(ctx context.Context, key string, v any) (string, error) {
	return d.put(ctx, key, v, "", true)
}

func (d *Docs) put(ctx context.Context, key string, v any, ifMatch string, overwrite bool) (string, error) {
	if err := check(ctx, key); err != nil {
		return "", err
	}
	body, err := json.Marshal(v)
	if err != nil {
		return "", goldenpipe.Wrap(goldenpipe.EINTERNAL, err, "encoding record %s failed", key)
	}
	var summary []byte
	if sm, ok := v.(goldenpipe.Summarizer); ok {
		if s, err := sm.DocSummary(); err == nil && len(s) <= goldenpipe.MaxSummaryBytes {
			summary = append([]byte{}, s...) // never nil: an empty summary is one
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	old, exists := d.docs[key]
	switch {
	case overwrite:
	case ifMatch == "" && exists:
		return "", goldenpipe.Errorf(goldenpipe.ECONFLICT, "writing record %s failed: it exists (BlobAlreadyExists)", key)
	case ifMatch != "" && !exists:
		return "", goldenpipe.Errorf(goldenpipe.ECONFLICT, "writing record %s failed: it is gone (ConditionNotMet)", key)
	case ifMatch != "" && ifMatch != "*" && ifMatch != old.etag:
		return "", goldenpipe.Errorf(goldenpipe.ECONFLICT, "writing record %s failed: another version was written (ConditionNotMet)", key)
	}
	d.seq++
	etag := fmt.Sprintf("\"0x%016X\"", d.seq)
	if !exists {
		i, _ := slices.BinarySearch(d.keys, key)
		d.keys = slices.Insert(d.keys, i, key)
	}
	d.docs[key] = storedDoc{body: body, etag: etag, summary: summary}
	return etag, nil
}

// Delete removes the document at key if its ETag is ifMatch ("" any). A
// document already gone is not an error for ifMatch ""; for an ETag it is
// a lost race (ECONFLICT), as Azure answers.
func (d *Docs) Delete(ctx context.Context, key, ifMatch string) error {
	if err := check(ctx, key); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	old, exists := d.docs[key]
	switch {
	case !exists && ifMatch == "":
		return nil
	case !exists:
		return goldenpipe.Errorf(goldenpipe.ECONFLICT, "deleting record %s failed: it is gone (ConditionNotMet)", key)
	case ifMatch != "" && ifMatch != "*" && ifMatch != old.etag:
		return goldenpipe.Errorf(goldenpipe.ECONFLICT, "deleting record %s failed: another version was written (ConditionNotMet)", key)
	}
	delete(d.docs, key)
	if i, ok := slices.BinarySearch(d.keys, key); ok {
		d.keys = slices.Delete(d.keys, i, i+1)
	}
	if len(d.docs) == 0 {
		d.keys = nil // give back the array
	}
	return nil
}

// Keys lists the keys under prefix, in order.
func (d *Docs) Keys(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, goldenpipe.Wrap(goldenpipe.EUNAVAILABLE, err, "listing records under %s failed", prefix)
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	var keys []string
	for i := sort.SearchStrings(d.keys, prefix); i < len(d.keys) && strings.HasPrefix(d.keys[i], prefix); i++ {
		keys = append(keys, d.keys[i])
	}
	return keys, nil
}

// KeysPage lists one page of at most max keys under prefix after marker:
// a binary search and the page, whatever else is stored.
func (d *Docs) KeysPage(ctx context.Context, prefix, marker string, max int) ([]string, string, error) {
	items, next, err := d.ListPage(ctx, prefix, marker, max)
	if err != nil {
		return nil, "", err
	}
	keys := make([]string, len(items))
	for i, it := range items {
		keys[i] = it.Key
	}
	return keys, next, nil
}

// ListPage is KeysPage with each document's summary (nil when it has
// none). The marker is the last key of the page, "" after the last page.
func (d *Docs) ListPage(ctx context.Context, prefix, marker string, max int) ([]goldenpipe.Listed, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", goldenpipe.Wrap(goldenpipe.EUNAVAILABLE, err, "listing records under %s failed", prefix)
	}
	if max <= 0 {
		// Azure: "If you specify a maximum number of results of less than or
		// equal to zero, the service returns status code 400 (Bad Request)."
		return nil, "", goldenpipe.Errorf(goldenpipe.EINVALID, "listing records under %s failed: a page holds at least one key (asked %d)", prefix, max)
	}
	max = min(max, maxListResults)
	d.mu.RLock()
	defer d.mu.RUnlock()
	from := prefix
	if marker > from {
		from = marker + "\x00" // the first key after marker
	}
	i := sort.SearchStrings(d.keys, from)
	out := make([]goldenpipe.Listed, 0, min(max, len(d.keys)-i))
	for ; i < len(d.keys) && len(out) < max && strings.HasPrefix(d.keys[i], prefix); i++ {
		k := d.keys[i]
		out = append(out, goldenpipe.Listed{Key: k, Summary: slices.Clone(d.docs[k].summary)})
	}
	next := ""
	if len(out) == max && i < len(d.keys) && strings.HasPrefix(d.keys[i], prefix) {
		next = out[len(out)-1].Key
	}
	return out, next, nil
}

// Len is how many documents the store holds.
func (d *Docs) Len() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.docs)
}

// String describes the store for logs.
func (d *Docs) String() string { return "records in memory" }
