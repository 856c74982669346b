package template

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/internal/docstore"
)

// The build request a record's new plan asks for is an outbox: the record
// is written carrying it (Pending: "build requested for fingerprint X"),
// the request is sent, and only then is it cleared. A crash or a storage
// error anywhere between the record's write and the send leaves it in the
// record, and whoever comes next sends it: the redelivery of the same
// event (which finds the version already processed and the request still
// pending), the monitor's tick (which reads the pending index, one entry
// per pending request, never the whole catalog), the script walk that
// passes the template again. Sending twice is harmless: the message id
// comes from the template and the fingerprint (builds.MessageID), so
// Service Bus duplicate detection and the build's own id make one build.

// PendingBuild is a build request written with a record and not yet sent.
type PendingBuild struct {
	Fingerprint string    `json:"fingerprint"`
	Reason      string    `json:"reason"`
	Since       time.Time `json:"since"`
}

// pendingPrefix indexes the records that carry a pending request: the
// entry is written before its record, and removed after the request is
// sent and the record cleared.
const pendingPrefix = "template-pending/"

// PendingPrefix is where the pending index is kept (tools, tests).
const PendingPrefix = pendingPrefix

func pendingKey(name string) string { return pendingPrefix + keyOf(name) + ".json" }

// pendingEntry names a record with a pending request.
type pendingEntry struct {
	Name        string    `json:"name"`
	Fingerprint string    `json:"fingerprint"`
	At          time.Time `json:"at"`
}

// pendingGrace is how long an index entry whose record carries no pending
// request is kept: the entry is written before its record, so a young
// entry may be a write in progress.
const pendingGrace = 5 * time.Minute

// DefaultPendingLimit bounds the pending requests one monitor tick sends.
const DefaultPendingLimit = 200

// notify sends the build request a template's record carries, if any, and
// clears it once every listener took it.
func (s *Service) notify(ctx context.Context, name string) error {
	return s.notifyFrom(ctx, name, nil)
}

// notifyFrom is notify starting from the record as this process wrote it
// (known, with its ETag; nil: it is read): a burst of uploads costs no
// read of each record just written, and clearing the request is
// conditioned on that write (a record written since is read again).
func (s *Service) notifyFrom(ctx context.Context, name string, known *stored) error {
	if len(s.Listeners) == 0 {
		return nil
	}
	var rec Record
	if known != nil {
		rec = known.rec
	} else {
		var err error
		rec, err = s.Get(ctx, name)
		if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading template %q to send its build request: %w", name, err)
		}
	}
	p := rec.Pending
	if p == nil {
		return nil
	}
	if rec.Valid && rec.Rendered != nil && rec.Plan != nil && rec.Plan.Rebuild && rec.Rendered.Fingerprint == p.Fingerprint {
		for _, l := range s.Listeners {
			if err := l.Planned(ctx, rec); err != nil {
				return fmt.Errorf("requesting a build of %q: %w", name, err)
			}
		}
	} // else: nothing to build any more (built meanwhile); cleared unsent
	return s.clearPending(ctx, name, p.Fingerprint, known)
}

// clearPending clears a record's pending request for fingerprint fp, then
// its index entry (if it still names fp). A record known as written (nil:
// none) is cleared by a write conditioned on its ETag, without a read; a
// record written since is read and cleared as any other.
func (s *Service) clearPending(ctx context.Context, name, fp string, known *stored) error {
	cleared := false
	_, err := s.updateFrom(ctx, recordKey(name), known, func(r *Record) error {
		if r.Pending == nil || r.Pending.Fingerprint != fp {
			cleared = false              // an earlier attempt, whose write lost its race, may have set it
			return docstore.ErrUnchanged // a newer change asks for another build
		}
		r.Pending, cleared = nil, true
		return nil
	})
	switch goldenpipe.ErrorCode(err) {
	case "", goldenpipe.ENOTFOUND:
	default:
		return fmt.Errorf("recording the build request of %q as sent: %w", name, err)
	}
	if !cleared && err == nil {
		return nil
	}
	return s.dropPendingEntry(ctx, name, fp, time.Time{})
}

// dropPendingEntry deletes a pending index entry when it names fp ("":
// any) and, when olderThan is set, was written before it.
func (s *Service) dropPendingEntry(ctx context.Context, name, fp string, olderThan time.Time) error {
	var e pendingEntry
	etag, err := s.Docs.Get(ctx, pendingKey(name), &e)
	switch goldenpipe.ErrorCode(err) {
	case "":
	case goldenpipe.ENOTFOUND:
		return nil
	default:
		return err
	}
	if fp != "" && e.Fingerprint != fp || !olderThan.IsZero() && !e.At.Before(olderThan) {
		return nil
	}
	return ignoreConflict(s.Docs.Delete(ctx, pendingKey(name), etag))
}

// SendPending sends the build requests records carry and were not sent (a
// crash or a storage error after the record's write), at most limit of
// them (default DefaultPendingLimit): one page of the pending index and a
// read of each record it names, whatever the number of templates. Index entries whose record carries no
// request (sent, or the template deleted) are dropped once old enough.
func (s *Service) SendPending(ctx context.Context, limit int) (string, error) {
	if limit <= 0 {
		limit = DefaultPendingLimit
	}
	keys, next, err := s.Docs.KeysPage(ctx, pendingPrefix, "", limit)
	if err != nil || len(keys) == 0 {
		return "", err
	}
	sent := 0
	var errs []error
	for _, k := range keys {
		var e pendingEntry
		if _, err := s.Docs.Get(ctx, k, &e); err != nil {
			if goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
				errs = append(errs, err)
			}
			continue
		}
		rec, err := s.Get(ctx, e.Name)
		switch goldenpipe.ErrorCode(err) {
		case "":
		case goldenpipe.ENOTFOUND:
			rec = Record{}
		default:
			errs = append(errs, err)
			continue
		}
		if rec.Pending == nil {
			if err := s.dropPendingEntry(ctx, e.Name, "", s.now().Add(-pendingGrace)); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if err := s.notify(ctx, e.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		sent++
	}
	var out []string
	if sent > 0 {
		out = append(out, fmt.Sprintf("%d pending build request(s) sent", sent))
	}
	if next != "" {
		out = append(out, "more wait for the next tick")
	}
	return strings.Join(out, "; "), errors.Join(errs...)
}
