package builds

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/internal/docstore"
)

// The builds are listed newest first, a page at a time, from two indexes
// of small entries whose keys sort by the time of the request, newest
// first: every build, and the builds of each template. An entry is
// written before its build's record (as the in-flight marker is), so a
// record never lacks one; an entry whose record does not exist, or whose
// record was requested at another time (a request that lost its race), is
// skipped when read. Builds recorded before the indexes existed are
// indexed once by the monitor (indexOld), a batch a tick.
const (
	keyByTime     = "builds-by-time/"
	keyByTemplate = "builds-by-template/"
	keyMigration  = "migrations/builds-index.json"
)

// timeKey orders times newest first as text.
func timeKey(t time.Time) string {
	return fmt.Sprintf("%016x", uint64(math.MaxInt64-t.UTC().UnixNano()))
}

func byTimeKey(b *Build) string { return keyByTime + timeKey(b.RequestedAt) + "-" + b.ID }

func byTemplatePrefix(template string) string { return keyByTemplate + template + "/" }

func byTemplateKey(b *Build) string {
	return byTemplatePrefix(b.Template) + timeKey(b.RequestedAt) + "-" + b.ID
}

// indexEntry is an index's document: the build it names, and the
// summary of the version of its record named by ETag ("" before the
// record is written, and in entries written before summaries were kept).
// A rejection's entry holds the rejection itself.
type indexEntry struct {
	ID        string     `json:"id"`
	ETag      string     `json:"etag,omitempty"`
	Build     *Summary   `json:"build,omitempty"`
	Rejection *Rejection `json:"rejection,omitempty"`
}

// indexBuild writes a build's index entries with the summary of the
// record version etag names (idempotent).
func (s *Service) indexBuild(ctx context.Context, b *Build, etag string) error {
	return s.writeEntries(ctx, b, etag, b.Summarize())
}

func (s *Service) writeEntries(ctx context.Context, b *Build, etag string, sum Summary) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, k := range []string{byTimeKey(b), byTemplateKey(b)} {
		g.Go(func() error {
			if _, err := s.Docs.Overwrite(gctx, k, indexEntry{ID: b.ID, ETag: etag, Build: &sum}); err != nil {
				return fmt.Errorf("indexing build %s: %w", b.ID, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// refresh refreshes the summaries of a build just written (its record's
// new ETag): its index entries and, while it is marked in flight, its
// marker. A crash before it leaves a summary behind its record: the
// monitor refreshes the markers whose ETag is not their record's, and the
// last step of a finished build publishes it before its marker goes.
func (s *Service) refresh(ctx context.Context, b *Build, etag string, marked bool) error {
	sum := b.Summarize()
	if !marked {
		return s.writeEntries(ctx, b, etag, sum)
	}
	// the entries and the marker at once: each is the same summary
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.writeEntries(gctx, b, etag, sum) })
	g.Go(func() error { return s.writeMarker(gctx, b.ID, marker{At: b.RequestedAt, ETag: etag, Build: &sum}) })
	return g.Wait()
}

// writeMarker writes a build's in-flight marker (idempotent).
func (s *Service) writeMarker(ctx context.Context, id string, m marker) error {
	if _, err := s.Docs.Overwrite(ctx, activeKey(id), m); err != nil {
		return fmt.Errorf("marking build %s in flight: %w", id, err)
	}
	return nil
}

// parseEntry reads a build id and request time from an index key.
func parseEntry(key, prefix string) (id string, at int64, ok bool) {
	rest := strings.TrimPrefix(key, prefix)
	if len(rest) < 18 || rest[16] != '-' {
		return "", 0, false
	}
	inv, err := strconv.ParseUint(rest[:16], 16, 64)
	if err != nil {
		return "", 0, false
	}
	return rest[17:], math.MaxInt64 - int64(inv), true
}

// Page returns one page of builds' summaries, newest first: of one
// template, or of all ("" template), from token ("" for the first page),
// with the next page's token ("" after the last). It is one listing of
// the page's entries, whatever the history holds; an entry not confirmed
// by a write of its record (written before it, or before summaries were
// kept) has its record read and is written again with its summary.
func (s *Service) Page(ctx context.Context, template, token string, top int) ([]Summary, string, error) {
	prefix := keyByTime
	if template != "" {
		prefix = byTemplatePrefix(template)
	}
	items, next, err := s.Docs.ListPage(ctx, prefix, token, top)
	if err != nil {
		return nil, "", err
	}
	out := make([]Summary, 0, len(items))
	var missing []int // entries without a summary
	var ids, entries []string
	var ats []int64
	for _, it := range items {
		id, at, ok := parseEntry(it.Key, prefix)
		if !ok {
			continue
		}
		var e indexEntry
		// an entry written after its record's write (an ETag) is trusted;
		// one written before it is checked against the record
		if it.Summary != nil && json.Unmarshal(it.Summary, &e) == nil && e.Build != nil && e.ETag != "" {
			if e.Build.RequestedAt.UTC().UnixNano() == at {
				out = append(out, *e.Build)
				continue
			}
			_ = s.Docs.Delete(ctx, it.Key, "") // a request that lost its race
			continue
		}
		missing = append(missing, len(out))
		out = append(out, Summary{})
		ids, ats, entries = append(ids, buildKey(id)), append(ats, at), append(entries, it.Key)
	}
	if len(missing) == 0 {
		return out, next, nil
	}
	found, _, err := docstore.ReadAllVersioned[Build](ctx, s.Docs, ids)
	if err != nil {
		return nil, "", err
	}
	byKey := make(map[string]docstore.Versioned[Build], len(found))
	for _, f := range found {
		byKey[f.Key] = f
	}
	drop := map[int]bool{}
	for i, k := range ids {
		f, ok := byKey[k]
		switch {
		case ok && f.Value.RequestedAt.UTC().UnixNano() == ats[i]:
			out[missing[i]] = f.Value.Summarize()
			if err := s.indexBuild(ctx, &f.Value, f.ETag); err != nil {
				return nil, "", err
			}
			continue
		case ok || s.now().Sub(time.Unix(0, ats[i])) > markerGrace:
			// a request that lost its race, or one whose record was never
			// written (a crash between the entry and the record): dropped
			_ = s.Docs.Delete(ctx, entries[i], "")
		}
		drop[missing[i]] = true
	}
	return without(out, drop), next, nil
}

// without returns list without the items at the indexes drop holds.
func without[T any](list []T, drop map[int]bool) []T {
	kept := list[:0]
	for i, v := range list {
		if !drop[i] {
			kept = append(kept, v)
		}
	}
	return kept
}

// migration is the progress of indexing the builds recorded before the
// indexes existed (Done, Marker, Count), and of filing the builds in
// flight recorded before the line (Line*: see fileOld).
type migration struct {
	Done   bool   `json:"done"`
	Marker string `json:"marker,omitempty"`
	Count  int    `json:"count"`

	LineDone   bool   `json:"lineDone,omitempty"`
	LineMarker string `json:"lineMarker,omitempty"`
	LineCount  int    `json:"lineCount,omitempty"`
}

// indexBatch is how many old builds one step of the migration indexes,
// indexWorkers how many it indexes at once.
const (
	indexBatch   = 1000
	indexWorkers = 8
)

// IndexOld is indexOld for tools: the migration run to its end or the
// deadline.
func (s *Service) IndexOld(ctx context.Context, deadline time.Time) (string, error) {
	var m migration
	etag, err := s.Docs.Get(ctx, keyMigration, &m)
	if err != nil && goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
		return "", err
	}
	return s.indexOldFrom(ctx, &m, etag, deadline)
}

// indexOldFrom indexes the builds recorded before the indexes existed, a
// batch at a time from a recorded marker, until the deadline, from the
// migration's record m (read at etag); once done it costs nothing.
// Idempotent: an entry written twice is the same entry.
func (s *Service) indexOldFrom(ctx context.Context, m *migration, etag string, deadline time.Time) (string, error) {
	if m.Done {
		return "", nil
	}
	for time.Now().Before(deadline) {
		keys, next, err := s.Docs.KeysPage(ctx, keyBuilds, m.Marker, indexBatch)
		if err != nil {
			return "", err
		}
		found, _, err := docstore.ReadAllVersioned[Build](ctx, s.Docs, keys)
		if err != nil {
			return "", err
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(indexWorkers)
		for _, f := range found {
			if f.Value.ID == "" {
				continue
			}
			g.Go(func() error { return s.indexBuild(gctx, &f.Value, f.ETag) })
		}
		if err := g.Wait(); err != nil {
			return "", err
		}
		m.Marker, m.Count, m.Done = next, m.Count+len(found), next == ""
		if etag, err = s.Docs.Put(ctx, keyMigration, *m, etag); err != nil {
			if goldenpipe.ErrorCode(err) == goldenpipe.ECONFLICT {
				return "another instance indexes the old builds", nil
			}
			return "", err
		}
		if m.Done {
			return fmt.Sprintf("indexed the %d builds recorded before the index", m.Count), nil
		}
	}
	return fmt.Sprintf("indexing old builds: %d so far", m.Count), nil
}
