package checksum

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/internal/docstore"
)

const (
	currentPrefix = "checksums/"
	historyPrefix = "checksums-history/"
)

// HistoryEntry is a record that was replaced or removed.
type HistoryEntry struct {
	goldenpipe.Checksum
	EndedAt time.Time `json:"endedAt"`
	Reason  string    `json:"reason"` // "replaced" or "deleted"
}

// Catalog is the checksum catalog: one current record per script and the
// history of the records it replaced or removed.
type Catalog struct {
	docs goldenpipe.Documents
}

// NewCatalog returns a catalog kept in docs.
func NewCatalog(docs goldenpipe.Documents) *Catalog { return &Catalog{docs: docs} }

// nameKey is a fixed-length key for any blob name: no escaping, no path
// traversal, no name length limit to meet.
func nameKey(name string) string {
	h := sha256.Sum256([]byte(name))
	return hex.EncodeToString(h[:20])
}

func currentKey(name string) string { return currentPrefix + nameKey(name) + ".json" }

// RecordKey is the document key of a script's current checksum (for tools
// that seed or migrate the store).
func RecordKey(name string) string { return currentKey(name) }

func historyKey(c goldenpipe.Checksum) string {
	return historyPrefix + nameKey(c.Name) + "/" + c.ComputedAt.UTC().Format("20060102T150405.000000000Z") + "-" + c.ETag + ".json"
}

// Get returns the current record of the script name; ENOTFOUND if none.
func (c *Catalog) Get(ctx context.Context, name string) (goldenpipe.Checksum, error) {
	rec, _, err := c.get(ctx, name)
	if err != nil {
		return goldenpipe.Checksum{}, err
	}
	if rec == nil {
		return goldenpipe.Checksum{}, goldenpipe.Errorf(goldenpipe.ENOTFOUND, "no checksum for script %q", name)
	}
	return *rec, nil
}

// get returns the current record and its ETag, or nil when there is none.
func (c *Catalog) get(ctx context.Context, name string) (*goldenpipe.Checksum, string, error) {
	var rec goldenpipe.Checksum
	etag, err := c.docs.Get(ctx, currentKey(name), &rec)
	if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading the checksum of %q: %w", name, err)
	}
	return &rec, etag, nil
}

// replace writes rec as the current record if the current one is still the
// version etag ("" = none). The replaced record goes to history first, so
// it is never lost. A lost race answers ECONFLICT.
func (c *Catalog) replace(ctx context.Context, old *goldenpipe.Checksum, etag string, rec goldenpipe.Checksum, now time.Time) error {
	if old != nil {
		if _, err := c.docs.Overwrite(ctx, historyKey(*old), HistoryEntry{Checksum: *old, EndedAt: now, Reason: "replaced"}); err != nil {
			return fmt.Errorf("keeping the old checksum of %q in history: %w", old.Name, err)
		}
	}
	if _, err := c.docs.Put(ctx, currentKey(rec.Name), rec, etag); err != nil {
		return fmt.Errorf("writing the checksum of %q: %w", rec.Name, err)
	}
	return nil
}

// remove deletes the current record if it is still the version etag,
// keeping it in history.
func (c *Catalog) remove(ctx context.Context, old goldenpipe.Checksum, etag string, now time.Time) error {
	if _, err := c.docs.Overwrite(ctx, historyKey(old), HistoryEntry{Checksum: old, EndedAt: now, Reason: "deleted"}); err != nil {
		return fmt.Errorf("keeping the checksum of %q in history: %w", old.Name, err)
	}
	if err := c.docs.Delete(ctx, currentKey(old.Name), etag); err != nil {
		return fmt.Errorf("removing the checksum of %q: %w", old.Name, err)
	}
	return nil
}

// Page returns one page of the current records in a stable order (of their keys), from token.
// The page is read from the listing's summaries (one call); each record's
// findings are its first ten.
func (c *Catalog) Page(ctx context.Context, token string, top int) ([]goldenpipe.Checksum, string, error) {
	return docstore.SummaryPage(ctx, c.docs, currentPrefix, token, top, goldenpipe.Checksum.Summary)
}

// List returns every current record, sorted by name.
func (c *Catalog) List(ctx context.Context) ([]goldenpipe.Checksum, error) {
	keys, err := c.docs.Keys(ctx, currentPrefix)
	if err != nil {
		return nil, fmt.Errorf("listing checksums: %w", err)
	}
	return docstore.ReadAll[goldenpipe.Checksum](ctx, c.docs, keys, func(a, b goldenpipe.Checksum) bool { return a.Name < b.Name })
}

// History returns the replaced and removed records of a script, oldest first.
func (c *Catalog) History(ctx context.Context, name string) ([]HistoryEntry, error) {
	keys, err := c.docs.Keys(ctx, historyPrefix+nameKey(name)+"/")
	if err != nil {
		return nil, fmt.Errorf("listing the history of %q: %w", name, err)
	}
	return docstore.ReadAll[HistoryEntry](ctx, c.docs, keys, func(a, b HistoryEntry) bool { return a.EndedAt.Before(b.EndedAt) })
}

// WriteSHA256SUMS writes the catalog in the format `sha256sum -c` reads:
// "<hex>  <name>" per line. Names are checked on the way in (no newlines,
// no backslashes), so no escaping is needed.
func (c *Catalog) WriteSHA256SUMS(ctx context.Context, w io.Writer) error {
	list, err := c.List(ctx)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, rec := range list {
		b.WriteString(rec.SHA256 + "  " + rec.Name + "\n")
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// CurrentPrefix is where the current checksums are kept (the store keeps
// their summaries in a table).
const CurrentPrefix = currentPrefix
