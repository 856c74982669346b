package checksum

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

// A script version is hashed by one instance at a time: before it
// downloads, an instance claims the version with a conditional write of
// the script's claim document (create if none, or replace a claim of
// another version, or one whose lease ran out, by its ETag). Another
// instance that finds the claim fresh does not download: its event fails
// as a conflict and is delivered again, by when the catalog holds the
// checksum ("already hashed; no download"). Within one instance,
// concurrent events share one hash (singleflight) under the instance's
// claim. A claimant that dies leaves its claim until the lease runs out;
// the redelivery of its event then takes it over.

const claimPrefix = "checksum-claims/"

func claimKey(name string) string { return claimPrefix + nameKey(name) + ".json" }

// ClaimLease is how long a claim holds: the longest an invocation runs
// (Azure Functions' maximum timeout on the Consumption plan, 10 minutes:
// https://learn.microsoft.com/azure/azure-functions/functions-scale#timeout).
const ClaimLease = 10 * time.Minute

// claim is one instance's claim on a script version.
type claim struct {
	Name  string    `json:"name"`
	ETag  string    `json:"etag"`
	Owner string    `json:"owner"`
	Until time.Time `json:"until"`
}

// errClaimed is another instance hashing the version now.
func errClaimed(name, etag string, c claim) error {
	return goldenpipe.Errorf(goldenpipe.ECONFLICT, "script %q version %s is being hashed by another instance (its claim holds until %s); the event will be delivered again",
		name, etag, c.Until.UTC().Format(time.RFC3339))
}

// owner is this service's instance id in claims.
func (s *Service) owner() string {
	s.ownerOnce.Do(func() {
		var b [8]byte
		_, _ = rand.Read(b[:])
		s.ownerID = hex.EncodeToString(b[:])
	})
	return s.ownerID
}

// claimVersion claims a script version for this instance and returns the
// claim's ETag; errClaimed when another instance holds a fresh one.
func (s *Service) claimVersion(ctx context.Context, name, etag string) (string, error) {
	// this instance's own events of a script claim and release one at a
	// time: a conflict on the claim is then always another instance's
	mu := s.claimLock(name)
	mu.Lock()
	defer mu.Unlock()
	docs := s.Catalog.docs
	for attempt := 0; attempt < 3; attempt++ {
		var c claim
		cur, err := docs.Get(ctx, claimKey(name), &c)
		switch goldenpipe.ErrorCode(err) {
		case "":
			if c.ETag == etag && c.Owner == s.owner() {
				return cur, nil // this instance's: an event of it is hashing
			}
			if c.ETag == etag && s.now().Before(c.Until) {
				return "", errClaimed(name, etag, c)
			}
		case goldenpipe.ENOTFOUND:
			cur = ""
		default:
			return "", fmt.Errorf("reading the claim on %q: %w", name, err)
		}
		mine := claim{Name: name, ETag: etag, Owner: s.owner(), Until: s.now().Add(ClaimLease)}
		tag, err := docs.Put(ctx, claimKey(name), mine, cur)
		if err == nil {
			return tag, nil
		}
		if goldenpipe.ErrorCode(err) != goldenpipe.ECONFLICT {
			return "", fmt.Errorf("claiming %q: %w", name, err)
		}
		// another writer was first: read what it wrote
	}
	return "", goldenpipe.Errorf(goldenpipe.ECONFLICT, "script %q: the claim kept changing; the event will be delivered again", name)
}

// releaseClaim removes this instance's claim once the version is in the
// catalog (or could not be hashed); a claim replaced since is left alone.
func (s *Service) releaseClaim(ctx context.Context, name, tag string) {
	mu := s.claimLock(name)
	mu.Lock()
	defer mu.Unlock()
	if err := s.Catalog.docs.Delete(context.WithoutCancel(ctx), claimKey(name), tag); err != nil && goldenpipe.ErrorCode(err) != goldenpipe.ECONFLICT {
		s.log().Warn("releasing the claim on a script failed; it runs out by itself", "script", name, "err", err.Error())
	}
}

// claimLocks stripes the in-process lock of claims by script name.
const claimLocks = 64

func (s *Service) claimLock(name string) *sync.Mutex {
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return &s.claimMu[h.Sum32()%claimLocks]
}
