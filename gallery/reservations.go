package gallery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"github.com/goldenpipe/goldenpipe/internal/defaults"
	"github.com/goldenpipe/goldenpipe/internal/docstore"
)

// ReservationTTL bounds how long a version stays reserved for a build that
// has not published it. A build runs at most buildTimeoutInMinutes, whose
// maximum is 960 minutes (16 h: azure-rest-api-specs, specification/
// imagebuilder/resource-manager/Microsoft.VirtualMachineImages/stable/
// 2024-02-01/imagebuilder.json, ImageTemplateProperties.
// buildTimeoutInMinutes, "maximum": 960); 48 h leaves more than a day for
// the build to be queued (admission, backoff) before it runs. A reservation
// older than that belongs to a build that is over.
const ReservationTTL = 48 * time.Hour

// Reservation is a version of an image definition held for a build that
// will publish it, from when the version policy chose it until the gallery
// shows it (or ReservationTTL passes).
type Reservation struct {
	Build      string    `json:"build"`
	ReservedAt time.Time `json:"reservedAt"`
	Why        string    `json:"why,omitempty"` // Assign's reason, given again to a repeat
}

// Reservations are the versions of one image definition held for builds
// in flight: the version policy assigns against the gallery's versions
// and these, so two builds planned together never get the same version
// ("The image version ID needs to be distinct", Azure answers the second
// at distribution). The document is kept small: a reservation whose
// version the gallery shows, or older than ReservationTTL, is dropped
// whenever the document is written.
type Reservations struct {
	Image    string                 `json:"image"`
	Versions map[string]Reservation `json:"versions"` // version → who holds it
}

// reservationsPrefix is where the reservation documents are kept.
const reservationsPrefix = "gallery-reservations/"

// reservationsKey is the key of an image definition's reservations: its id
// is case-insensitive (an Azure resource id), so it is lowercased, and
// hashed to keep the key short and free of '/'.
func reservationsKey(imageID string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(imageID)))
	return reservationsPrefix + hex.EncodeToString(sum[:]) + ".json"
}

// Prune drops the reservations whose version the gallery shows (existing:
// the definition's version names), and those reserved more than
// ReservationTTL before now. It reports whether any was dropped.
func (r *Reservations) Prune(existing []string, now time.Time) bool {
	dropped := false
	for v, res := range r.Versions {
		if slices.Contains(existing, v) || now.Sub(res.ReservedAt) > ReservationTTL {
			delete(r.Versions, v)
			dropped = true
		}
	}
	return dropped
}

// Held returns the version build holds (the lowest, should it hold more).
func (r *Reservations) Held(build string) (string, Reservation, bool) {
	var version string
	var held Reservation
	for v, res := range r.Versions {
		if res.Build == build && (version == "" || Compare(v, version) < 0) {
			version, held = v, res
		}
	}
	return version, held, version != ""
}

// reserve chooses a distributor's version for build with Assign against
// the definition's versions (existing) and those reserved for other builds,
// and reserves it, with one read and one conditional write of the
// definition's reservations (read again when another instance wrote
// between). A build that holds a reservation there already gets it again,
// with no write unless stale reservations are dropped: a retried or
// redelivered admission plans the same version.
func (s *Service) reserve(ctx context.Context, build, imageID string, existing []string, named, policy string, major int64) (version, why string, ok bool, err error) {
	now := defaults.NowUTC(s.Now)
	_, err = docstore.Update(ctx, s.Docs, reservationsKey(imageID), func(r *Reservations) error {
		version, why, ok = "", "", false
		changed := r.Prune(existing, now)
		if r.Image == "" {
			r.Image = imageID
		}
		if v, res, held := r.Held(build); held {
			version, why, ok = v, res.Why, true
			if !changed {
				return docstore.ErrUnchanged
			}
			return nil
		}
		taken := slices.Clone(existing)
		for v := range r.Versions {
			taken = append(taken, v)
		}
		version, why, ok = Assign(taken, named, policy, major)
		if alone, _, _ := Assign(existing, named, policy, major); ok && alone != version {
			why += "; " + alone + " is reserved for a build in flight"
		}
		if !ok {
			if !changed {
				return docstore.ErrUnchanged
			}
			return nil
		}
		if r.Versions == nil {
			r.Versions = map[string]Reservation{}
		}
		r.Versions[version] = Reservation{Build: build, ReservedAt: now, Why: why}
		return nil
	})
	if err != nil {
		return "", "", false, err
	}
	return version, why, ok, nil
}
