package azure

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/internal/docstore"
)

// The builds' migrations: what earlier versions of the app kept, brought
// to the layout of this one, a batch at a time within a tick's budget,
// their progress recorded (migrations/…), so each runs to its end once
// across instances. Once a migration is seen done it is not read again by
// this process.

// buildMigration is the progress of listing the builds recorded before
// the lists existed (Done, Marker, Count: MigrateLists), and of filing the
// builds in flight recorded before the line (Line*: MigrateLine).
type buildMigration struct {
	Done   bool   `json:"done"`
	Marker string `json:"marker,omitempty"`
	Count  int    `json:"count"`

	LineDone   bool   `json:"lineDone,omitempty"`
	LineMarker string `json:"lineMarker,omitempty"`
	LineCount  int    `json:"lineCount,omitempty"`
}

// migrationBatch is how many records one step of a migration reads,
// migrationWorkers how many it files at once; lineBatch how many markers
// one step of the line's migration files.
const (
	migrationBatch   = 1000
	migrationWorkers = 8
	lineBatch        = 500
)

// loadMigration reads the migrations' record, unless both migrations were
// seen done (then it costs nothing) or fresh is false and it was read.
func (s *Builds[B, S]) loadMigration(ctx context.Context, fresh bool) (done bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.migDone || (s.migLoaded && !fresh) {
		return s.migDone, nil
	}
	var m buildMigration
	etag, err := s.docs.Get(ctx, buildKeyMigration, &m)
	if err != nil && goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
		return false, err
	}
	s.mig, s.migETag, s.migLoaded = m, etag, true
	s.migDone = m.Done && m.LineDone
	return s.migDone, nil
}

// saveMigration records the migrations' progress, conditioned on the
// version read; false when another instance recorded it first.
func (s *Builds[B, S]) saveMigration(ctx context.Context, m buildMigration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	etag, err := s.docs.Put(ctx, buildKeyMigration, m, s.migETag)
	if goldenpipe.ErrorCode(err) == goldenpipe.ECONFLICT {
		s.migLoaded = false
		return false, nil
	}
	if err != nil {
		return false, err
	}
	s.mig, s.migETag = m, etag
	s.migDone = m.Done && m.LineDone
	return true, nil
}

// pending returns the migrations' record (read again when fresh) and
// whether the migration done says is done is still to run.
func (s *Builds[B, S]) pending(ctx context.Context, fresh bool, done func(buildMigration) bool) (buildMigration, bool, error) {
	all, err := s.loadMigration(ctx, fresh)
	if err != nil || all {
		return buildMigration{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mig, !done(s.mig), nil
}

// MigrateLine files the builds in flight recorded before the line and the
// due list (their markers only): a waiting build into the line, a build in
// flight into the ledger (with its lane), a finished one into the due
// list, a batch at a time from a recorded marker until the deadline; it
// also brings a marker behind its record up to date. It reads the
// migrations' record again (the first call of a tick), unless both are
// done. The markers written since the line exists are filed by their
// request, so once it is done it is never needed again: this function and
// buildMigration.Line* can be deleted once every deployment's
// migrations/builds-index.json says lineDone.
func (s *Builds[B, S]) MigrateLine(ctx context.Context, deadline time.Time) (string, error) {
	m, run, err := s.pending(ctx, true, func(m buildMigration) bool { return m.LineDone })
	if err != nil || !run {
		return "", err
	}
	for time.Now().Before(deadline) {
		next, n, err := s.fileLine(ctx, m.LineMarker)
		if err != nil {
			return "", fmt.Errorf("filing the builds in flight in the line: %w", err)
		}
		m.LineMarker, m.LineCount, m.LineDone = next, m.LineCount+n, next == ""
		if ok, err := s.saveMigration(ctx, m); err != nil {
			return "", err
		} else if !ok {
			return "another instance files the builds in flight", nil
		}
		if m.LineDone {
			if m.LineCount == 0 {
				return "", nil
			}
			return fmt.Sprintf("filed the %d builds in flight recorded before the line", m.LineCount), nil
		}
	}
	return fmt.Sprintf("filing the builds in flight in the line: %d so far", m.LineCount), nil
}

// fileLine files one batch of markers from token; it returns the next
// batch's token and how many records it filed.
func (s *Builds[B, S]) fileLine(ctx context.Context, token string) (string, int, error) {
	items, next, err := s.docs.ListPage(ctx, BuildKeyActive, token, lineBatch)
	if err != nil {
		return "", 0, err
	}
	keys := make([]string, 0, len(items))
	marks := map[string]goldenpipe.BuildMarker[S]{}
	for _, it := range items {
		am := markerOf[S](it)
		marks[BuildRecordKey(am.ID)] = am
		keys = append(keys, BuildRecordKey(am.ID))
	}
	found, missing, err := docstore.ReadAllVersioned[B](ctx, s.docs, keys)
	if err != nil {
		return "", 0, err
	}
	for _, k := range missing {
		if am := marks[k]; s.clock().Sub(am.At) > BuildGrace {
			_ = s.docs.Delete(ctx, BuildMarkerKey(am.ID), "")
		}
	}
	var inFlight []goldenpipe.BuildHead
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(migrationWorkers)
	for _, f := range found {
		b, h := f.Value, f.Value.BuildHead()
		if h.Stage == goldenpipe.BuildInFlight {
			inFlight = append(inFlight, h)
		}
		g.Go(func() error {
			if marks[f.Key].ETag != f.ETag && h.Stage != goldenpipe.BuildFinished {
				if err := s.Publish(gctx, b, f.ETag, true); err != nil {
					return err
				}
			}
			switch h.Stage {
			case goldenpipe.BuildWaiting:
				return s.PutInLine(gctx, b, f.ETag)
			case goldenpipe.BuildFinished:
				return s.FileDue(gctx, h.ID, s.clock(), f.ETag)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return "", 0, err
	}
	if err := s.holdAll(ctx, inFlight); err != nil {
		return "", 0, err
	}
	return next, len(found), nil
}

// holdAll names builds in flight in the ledger, oldest first, with their
// lanes.
func (s *Builds[B, S]) holdAll(ctx context.Context, inFlight []goldenpipe.BuildHead) error {
	if len(inFlight) == 0 {
		return nil
	}
	sort.Slice(inFlight, func(i, j int) bool {
		if !inFlight[i].RequestedAt.Equal(inFlight[j].RequestedAt) {
			return inFlight[i].RequestedAt.Before(inFlight[j].RequestedAt)
		}
		return inFlight[i].ID < inFlight[j].ID
	})
	return s.UpdateLedger(ctx, func(l *goldenpipe.Ledger) error {
		changed := false
		for _, h := range inFlight {
			if !slices.Contains(l.Holders, h.ID) {
				l.Holders = append(l.Holders, h.ID)
				changed = true
			}
			if l.Lanes == nil {
				l.Lanes = map[string]string{}
			}
			if l.Lanes[h.ID] != h.Template {
				l.Lanes[h.ID], changed = h.Template, true
			}
		}
		if !changed {
			return docstore.ErrUnchanged
		}
		return nil
	})
}

// MigrateLists lists the builds recorded before the lists existed (their
// entries, with their summaries), a batch at a time from a recorded
// marker, until the deadline; once done it costs nothing. Idempotent: an
// entry written twice is the same entry. It uses the migrations' record
// MigrateLine read in the same tick (reading it when none was). Deletable
// (with buildMigration.Done, Marker, Count) once every deployment's
// migrations/builds-index.json says done.
func (s *Builds[B, S]) MigrateLists(ctx context.Context, deadline time.Time) (string, error) {
	m, run, err := s.pending(ctx, false, func(m buildMigration) bool { return m.Done })
	if err != nil || !run {
		return "", err
	}
	for time.Now().Before(deadline) {
		keys, next, err := s.docs.KeysPage(ctx, BuildKeyRecords, m.Marker, migrationBatch)
		if err != nil {
			return "", err
		}
		found, _, err := docstore.ReadAllVersioned[B](ctx, s.docs, keys)
		if err != nil {
			return "", err
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(migrationWorkers)
		for _, f := range found {
			if f.Value.BuildHead().ID == "" {
				continue
			}
			g.Go(func() error { return s.entries(gctx, f.Value, f.ETag, f.Value.BuildSummary()) })
		}
		if err := g.Wait(); err != nil {
			return "", err
		}
		m.Marker, m.Count, m.Done = next, m.Count+len(found), next == ""
		if ok, err := s.saveMigration(ctx, m); err != nil {
			return "", err
		} else if !ok {
			return "another instance indexes the old builds", nil
		}
		if m.Done {
			return fmt.Sprintf("indexed the %d builds recorded before the index", m.Count), nil
		}
	}
	return fmt.Sprintf("indexing old builds: %d so far", m.Count), nil
}

// rejectedMigration records that the rejections recorded before their
// list were listed.
type rejectedMigration struct {
	Done  bool `json:"done"`
	Count int  `json:"count"`
}

// migrateRejected lists the rejections recorded before their list, once
// (recorded in migrations/rejected-index.json; once seen done, not read
// again by this process). Deletable once every deployment's
// migrations/rejected-index.json says done.
func (s *Builds[B, S]) migrateRejected(ctx context.Context) error {
	s.mu.Lock()
	done := s.rejectedDone
	s.mu.Unlock()
	if done {
		return nil
	}
	var m rejectedMigration
	etag, err := s.docs.Get(ctx, buildKeyRejectedIndexed, &m)
	if err != nil && goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
		return err
	}
	if !m.Done {
		keys, err := s.docs.Keys(ctx, BuildKeyRejected)
		if err != nil {
			return err
		}
		found, _, err := docstore.ReadAllVersioned[goldenpipe.Rejection](ctx, s.docs, keys)
		if err != nil {
			return err
		}
		for _, f := range found {
			if err := s.indexRejection(ctx, f.Key, &f.Value); err != nil {
				return err
			}
		}
		m.Done, m.Count = true, len(found)
		if _, err := s.docs.Put(ctx, buildKeyRejectedIndexed, m, etag); err != nil && goldenpipe.ErrorCode(err) != goldenpipe.ECONFLICT {
			return err
		}
	}
	s.mu.Lock()
	s.rejectedDone = true
	s.mu.Unlock()
	return nil
}
