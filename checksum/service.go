package checksum

import (
	"golang.org/x/sync/singleflight"

	"github.com/goldenpipe/goldenpipe/practice"

	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/blobevent"
	"github.com/goldenpipe/goldenpipe/internal/defaults"
)

// Blobs is the scripts container as the service reads it.
type Blobs interface {
	RangeReader
	Properties(ctx context.Context, name string) (goldenpipe.BlobVersion, error)
	URL(name string) string
	ContainerURL() string
}

// Change is a script's checksum that appeared, changed or went away (New is
// nil when the script was deleted, Old nil when it is new).
type Change struct {
	Name     string
	Old, New *goldenpipe.Checksum
}

// ChangeListener hears of every checksum change, after the catalog holds it.
// It is a hint, not the truth: consumers (the template plan) compare against
// the catalog, so a notification lost in a crash delays work, never loses it.
type ChangeListener interface {
	ScriptChanged(ctx context.Context, c Change) error
}

// scanBytes is how much of a script the practice checks read (its start).
const scanBytes = 1 << 20

// maxAttempts bounds the reconcile loop when writers race or the blob keeps
// changing; past it the event fails and Event Grid redelivers it later.
const maxAttempts = 6

// Service keeps the catalog in step with the scripts container.
type Service struct {
	Blobs     Blobs
	Catalog   *Catalog
	Hasher    Hasher
	Container string // the scripts container; events of others are ignored
	Listeners []ChangeListener
	Log       *slog.Logger
	Now       func() time.Time

	flight singleflight.Group // one claim, hash and record per (name, version) at a time in this process

	ownerOnce sync.Once // this instance's id in claims (claim.go)
	ownerID   string
	claimMu   [claimLocks]sync.Mutex
}

// HandleBlobEvent checks a blob event and reconciles the catalog entry of the
// blob it names. Events of other types or containers are acknowledged and
// ignored; malformed ones answer EINVALID and change nothing.
func (s *Service) HandleBlobEvent(ctx context.Context, ev goldenpipe.BlobEvent) (string, error) {
	name, ignored, err := blobevent.Target(ev, s.Container, s.Blobs.ContainerURL())
	if err != nil || ignored != "" {
		return ignored, err
	}
	return s.Reconcile(ctx, name)
}

// Reconcile makes the catalog entry of the script name match the blob as it
// is now: hashes a version not hashed yet, removes the entry of a deleted
// blob, and does nothing (no download) when the entry is current.
func (s *Service) Reconcile(ctx context.Context, name string) (string, error) {
	outcome, _, err := s.reconcile(ctx, name)
	return outcome, err
}

// reconcile is Reconcile, also returning the entry when it found it
// current (nil: read the catalog for it).
func (s *Service) reconcile(ctx context.Context, name string) (string, *goldenpipe.Checksum, error) {
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		outcome, current, retry, err := s.reconcileOnce(ctx, name)
		if !retry {
			return outcome, current, err
		}
		s.log().Debug("reconcile raced; reading again", "script", name, "attempt", attempt, "reason", outcome)
		if ctx.Err() != nil {
			break
		}
	}
	return "", nil, goldenpipe.Errorf(goldenpipe.ECONFLICT, "script %q kept changing during %d attempts; the event will be redelivered", name, maxAttempts)
}

// reconcileOnce observes the entry and the blob and acts once; current is
// the entry when it was found current (a version already hashed).
func (s *Service) reconcileOnce(ctx context.Context, name string) (outcome string, current *goldenpipe.Checksum, retry bool, err error) {
	old, oldETag, err := s.Catalog.get(ctx, name)
	if err != nil {
		return "", nil, false, err
	}
	ver, err := s.Blobs.Properties(ctx, name)
	if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
		if old == nil {
			return "blob does not exist and has no checksum; nothing to do", nil, false, nil
		}
		if err := s.Catalog.remove(ctx, *old, oldETag, s.now()); err != nil {
			if goldenpipe.ErrorCode(err) == goldenpipe.ECONFLICT {
				return "the entry changed while removing it", nil, true, nil
			}
			return "", nil, false, err
		}
		if err := s.notify(ctx, Change{Name: name, Old: old}); err != nil {
			return "", nil, false, err
		}
		return "blob is gone; checksum removed (kept in history)", nil, false, nil
	}
	if err != nil {
		return "", nil, false, err
	}
	if old != nil && old.ETag == ver.ETag {
		return fmt.Sprintf("version %s already hashed (sha256 %s); no download", ver.ETag, old.SHA256), old, false, nil
	}

	// one download of a version: this instance's concurrent events share
	// one flight (the claim, the hash and the record's write), and other
	// instances are kept off by the claim
	type flown struct {
		text  string
		retry bool
	}
	v, err, _ := s.flight.Do(name+"@"+ver.ETag, func() (any, error) {
		text, retry, err := s.hashVersion(ctx, name, ver, old, oldETag)
		return flown{text, retry}, err
	})
	o, _ := v.(flown)
	return o.text, nil, o.retry, err
}

// hashVersion claims a script version, hashes it (unless another instance
// did meanwhile), records its checksum and tells the listeners.
func (s *Service) hashVersion(ctx context.Context, name string, ver goldenpipe.BlobVersion, old *goldenpipe.Checksum, oldETag string) (string, bool, error) {
	// claimed before the download, and the catalog read again under the
	// claim (another instance may have finished since it was read)
	tag, err := s.claimVersion(ctx, name, ver.ETag)
	if err != nil {
		return "", false, err
	}
	defer s.releaseClaim(ctx, name, tag)
	if cur, curETag, err := s.Catalog.get(ctx, name); err != nil {
		return "", false, err
	} else if cur != nil && cur.ETag == ver.ETag {
		return fmt.Sprintf("version %s already hashed (sha256 %s); no download", ver.ETag, cur.SHA256), false, nil
	} else if curETag != oldETag {
		return "the entry changed before the download", true, nil
	}

	head := &Head{Limit: scanBytes} // the practice checks read the start of the script from the same download
	sum, err := s.Hasher.SumWithHead(ctx, s.Blobs, name, ver, head)
	switch goldenpipe.ErrorCode(err) {
	case "":
	case goldenpipe.ECONFLICT, goldenpipe.ENOTFOUND:
		return "the blob changed or went away while being hashed", true, nil
	default:
		return "", false, fmt.Errorf("hashing script %q: %w", name, err)
	}
	// the version hashed must still be the current one before it is recorded
	now, err := s.Blobs.Properties(ctx, name)
	if err != nil && goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
		return "", false, err
	}
	if err != nil || now.ETag != ver.ETag {
		return "a newer version appeared while hashing", true, nil
	}
	rec := goldenpipe.Checksum{Name: name, URL: s.Blobs.URL(name), SHA256: sum, Size: ver.Size,
		ETag: ver.ETag, LastModified: ver.LastModified, ComputedAt: s.now(), Findings: practice.ScanFile(head.Bytes()), Scanned: min(ver.Size, scanBytes)}
	if err := s.Catalog.replace(ctx, old, oldETag, rec, rec.ComputedAt); err != nil {
		if goldenpipe.ErrorCode(err) == goldenpipe.ECONFLICT {
			return "another writer updated the entry first", true, nil
		}
		return "", false, err
	}
	if old == nil || old.SHA256 != rec.SHA256 {
		if err := s.notify(ctx, Change{Name: name, Old: old, New: &rec}); err != nil {
			return "", false, err
		}
	}
	return fmt.Sprintf("hashed version %s: sha256 %s, %d bytes", ver.ETag, sum, ver.Size), false, nil
}

// notify tells the listeners of a change recorded in the catalog. A
// listener that fails fails the invocation: the event is delivered again.
// The catalog already holds the new checksum then, so a redelivery sees
// no change; the nightly refresh renders every template with the catalog's
// checksums, which bounds what a lost notice can delay.
func (s *Service) notify(ctx context.Context, c Change) error {
	for _, l := range s.Listeners {
		if err := l.ScriptChanged(ctx, c); err != nil {
			return fmt.Errorf("telling of the change of %q: %w", c.Name, err)
		}
	}
	return nil
}

func (s *Service) now() time.Time { return defaults.NowUTC(s.Now) }

func (s *Service) log() *slog.Logger { return defaults.LoggerOr(s.Log) }

// Checksum returns the current checksum of a script, bringing the catalog up
// to date first (so a lost event never leaves a template with a stale sum):
// a version already hashed costs two small reads, a new one is hashed now.
// ENOTFOUND when the script does not exist.
func (s *Service) Checksum(ctx context.Context, name string) (goldenpipe.Checksum, error) {
	if err := blobevent.CheckName(name); err != nil {
		return goldenpipe.Checksum{}, goldenpipe.Errorf(goldenpipe.ENOTFOUND, "no script %q: %s", name, goldenpipe.ErrorMessage(err))
	}
	_, current, err := s.reconcile(ctx, name)
	switch {
	case err != nil:
		return goldenpipe.Checksum{}, err
	case current != nil: // already hashed: the entry as read (every template a burst renders asks this)
		return *current, nil
	}
	return s.Catalog.Get(ctx, name)
}
