// Package gallery keeps an Azure Compute Gallery image definition's
// versions like snapshots, as the AVD golden-image guide asks: a retention
// policy per template (goldenpipe.keepVersions), a version whose build
// failed validation excluded from latest, and a rollback that makes
// latest resolve to a known-good version again. The decisions are pure
// functions (this file); service.go carries them out.
package gallery

import (
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/goldenpipe/goldenpipe"
)

// ParseVersionID splits a gallery image version's resource id
// (.../galleries/<g>/images/<def>/versions/<x.y.z>) into the image
// definition's id and the version; ok is false for any other id (a
// managed image, a VHD).
func ParseVersionID(id string) (imageID, version string, ok bool) {
	lower := strings.ToLower(id)
	i := strings.LastIndex(lower, "/versions/")
	if i < 0 || !strings.Contains(lower[:i], "/providers/microsoft.compute/galleries/") || !strings.Contains(lower[:i], "/images/") {
		return "", "", false
	}
	version = id[i+len("/versions/"):]
	if version == "" || strings.Contains(version, "/") {
		return "", "", false
	}
	return id[:i], version, true
}

// ImageID returns the image definition id of a SharedImage distributor's
// galleryImageId, which may name a version or not.
func ImageID(galleryImageID string) string {
	if img, _, ok := ParseVersionID(galleryImageID); ok {
		return img
	}
	return strings.TrimRight(galleryImageID, "/")
}

// Compare orders gallery version names (Major.Minor.Patch) by number, part
// by part: 1.10.0 is newer than 1.9.0. Names that are not numbers sort
// before those that are, as text.
func Compare(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) || i < len(pb); i++ {
		var x, y string
		if i < len(pa) {
			x = pa[i]
		}
		if i < len(pb) {
			y = pb[i]
		}
		nx, okx := new(big.Int).SetString(x, 10)
		ny, oky := new(big.Int).SetString(y, 10)
		switch {
		case okx && oky:
			if c := nx.Cmp(ny); c != 0 {
				return c
			}
		case okx != oky:
			if okx {
				return 1
			}
			return -1
		default:
			if c := strings.Compare(x, y); c != 0 {
				return c
			}
		}
	}
	return 0
}

// Sorted returns the versions newest first.
func Sorted(vs []goldenpipe.GalleryVersion) []goldenpipe.GalleryVersion {
	out := slices.Clone(vs)
	slices.SortStableFunc(out, func(a, b goldenpipe.GalleryVersion) int { return Compare(b.Name, a.Name) })
	return out
}

// usable reports a version VMs can be made from: not failed, not going.
func usable(v goldenpipe.GalleryVersion) bool {
	switch strings.ToLower(v.ProvisioningState) {
	case "failed", "deleting":
		return false
	}
	return true
}

// Latest is the version `latest` resolves to, as Azure Compute Gallery
// resolves it: the highest version number not excluded from latest. ok is
// false when every version is excluded (or there is none).
func Latest(vs []goldenpipe.GalleryVersion) (goldenpipe.GalleryVersion, bool) {
	for _, v := range Sorted(vs) {
		if !v.ExcludeFromLatest && usable(v) {
			return v, true
		}
	}
	return goldenpipe.GalleryVersion{}, false
}

// Retain returns the versions a retention policy of keep versions deletes
// after the build that published own succeeded: the oldest beyond keep,
// counting every version still there, and never the newest, never own or
// one newer than own (the last good), never the one latest resolves to,
// never one tagged GalleryInUseTag, never one already being deleted. keep
// 0 keeps everything.
func Retain(vs []goldenpipe.GalleryVersion, keep int, own string) []goldenpipe.GalleryVersion {
	if keep <= 0 {
		return nil
	}
	live := make([]goldenpipe.GalleryVersion, 0, len(vs))
	for _, v := range Sorted(vs) {
		if !strings.EqualFold(v.ProvisioningState, "deleting") {
			live = append(live, v)
		}
	}
	latest, hasLatest := Latest(live)
	var out []goldenpipe.GalleryVersion
	for i, v := range live {
		switch {
		case i < keep, i == 0:
		case own != "" && Compare(v.Name, own) >= 0:
		case hasLatest && v.Name == latest.Name:
		case inUse(v):
		default:
			out = append(out, v)
		}
	}
	return out
}

func inUse(v goldenpipe.GalleryVersion) bool {
	for k := range v.Tags {
		if strings.EqualFold(k, goldenpipe.GalleryInUseTag) {
			return true
		}
	}
	return false
}

// Rollback is what rolling an image definition back to a version does:
// Target becomes what latest resolves to once every version in Exclude is
// excluded from latest (and Target itself is included again, when it was
// excluded).
type Rollback struct {
	Target  goldenpipe.GalleryVersion
	From    string // what latest resolved to before ("" when nothing)
	Exclude []goldenpipe.GalleryVersion
	Include bool // Target was excluded and is included again
}

// RollbackTarget chooses a rollback: to want when given (it must exist and
// be usable), else to the newest usable version older than what latest
// resolves to now. Every newer version not yet excluded is excluded. An
// EINVALID error says why no rollback is possible.
func RollbackTarget(vs []goldenpipe.GalleryVersion, want string) (Rollback, error) {
	sorted := Sorted(vs)
	cur, hasCur := Latest(sorted)
	var r Rollback
	if hasCur {
		r.From = cur.Name
	}
	found := false
	for _, v := range sorted {
		switch {
		case want != "" && v.Name == want:
			found = true
		case want == "" && hasCur && Compare(v.Name, cur.Name) < 0 && usable(v):
			found = true
		default:
			continue
		}
		r.Target = v
		break
	}
	switch {
	case len(sorted) == 0:
		return r, goldenpipe.Errorf(goldenpipe.EINVALID, "the image definition has no versions to roll back to")
	case !found && want != "":
		return r, goldenpipe.Errorf(goldenpipe.EINVALID, "version %s does not exist (versions: %s)", want, names(sorted))
	case !found && !hasCur:
		return r, goldenpipe.Errorf(goldenpipe.EINVALID, "every version is excluded from latest: name the version to roll back to")
	case !found:
		return r, goldenpipe.Errorf(goldenpipe.EINVALID, "latest is %s, the oldest usable version: there is nothing older to roll back to", cur.Name)
	case !usable(r.Target):
		return r, goldenpipe.Errorf(goldenpipe.EINVALID, "version %s is %s: a VM cannot be made from it", r.Target.Name, r.Target.ProvisioningState)
	}
	r.Include = r.Target.ExcludeFromLatest
	for _, v := range sorted {
		if Compare(v.Name, r.Target.Name) > 0 && !v.ExcludeFromLatest && usable(v) {
			r.Exclude = append(r.Exclude, v)
		}
	}
	return r, nil
}

func names(vs []goldenpipe.GalleryVersion) string {
	n := make([]string, 0, len(vs))
	for _, v := range vs {
		n = append(n, v.Name)
	}
	if len(n) > 20 {
		return strings.Join(n[:20], ", ") + fmt.Sprintf(" and %d more", len(n)-20)
	}
	return strings.Join(n, ", ")
}
