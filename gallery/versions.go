// Package gallery keeps an Azure Compute Gallery image definition's
// versions like snapshots, as the AVD golden-image guide asks: a retention
// policy per template (goldenpipe.keepVersions), a version whose build
// failed validation excluded from latest, and a rollback that makes
// latest resolve to a known-good version again. The decisions are pure
// functions (this file); service.go carries them out.
package gallery

import (
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

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

// busy reports a version with an operation of Azure's still running on it
// (created or updated, not yet Succeeded): a change asked now would race it.
func busy(v goldenpipe.GalleryVersion) bool {
	switch strings.ToLower(v.ProvisioningState) {
	case "creating", "updating", "migrating":
		return true
	}
	return false
}

// ExcludedIn reports whether a version is hidden from `latest` in a
// region: by that region's own targetRegions[].excludeFromLatest when it
// has one, else by publishingProfile.excludeFromLatest (armcompute v8
// TargetRegion and GalleryImageVersionPublishingProfile). region "" asks
// about the version as a whole: hidden everywhere it is replicated.
func ExcludedIn(v goldenpipe.GalleryVersion, region string) bool {
	if region == "" {
		if len(v.Regions) == 0 {
			return v.ExcludeFromLatest
		}
		for _, r := range v.Regions {
			if !ExcludedIn(v, r) {
				return false
			}
		}
		return true
	}
	if slices.ContainsFunc(v.Regions, func(r string) bool { return sameRegion(r, region) }) {
		return slices.ContainsFunc(v.ExcludedIn, func(r string) bool { return sameRegion(r, region) })
	}
	return v.ExcludeFromLatest
}

// excludedAnywhere reports a version hidden from latest in at least one
// of its regions (or as a whole).
func excludedAnywhere(v goldenpipe.GalleryVersion) bool {
	return v.ExcludeFromLatest || len(v.ExcludedIn) > 0
}

func sameRegion(a, b string) bool {
	norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, " ", "")) }
	return norm(a) == norm(b)
}

// Latest is the version `latest` resolves to, as Azure Compute Gallery
// resolves it: the highest version number not excluded from latest (in
// every region it is replicated to; LatestIn answers per region). ok is
// false when every version is excluded (or there is none).
func Latest(vs []goldenpipe.GalleryVersion) (goldenpipe.GalleryVersion, bool) {
	return LatestIn(vs, "")
}

// LatestIn is what `latest` resolves to in one region: the highest
// version not excluded from latest there ("" : not excluded everywhere).
func LatestIn(vs []goldenpipe.GalleryVersion, region string) (goldenpipe.GalleryVersion, bool) {
	for _, v := range Sorted(vs) {
		if !ExcludedIn(v, region) && usable(v) {
			return v, true
		}
	}
	return goldenpipe.GalleryVersion{}, false
}

// Regions returns every region any of the versions is replicated to, in
// the order first seen.
func Regions(vs []goldenpipe.GalleryVersion) []string {
	var out []string
	for _, v := range vs {
		for _, r := range v.Regions {
			if !slices.ContainsFunc(out, func(x string) bool { return sameRegion(x, r) }) {
				out = append(out, r)
			}
		}
	}
	return out
}

// ValidName checks a gallery image version name against the gallery's
// rule: "The allowed characters are digit and period. Digits must be
// within the range of a 32-bit integer. Format: <MajorVersion>.<MinorVersion>.<Patch>"
// (Compute REST API, Gallery Image Versions - Create Or Update,
// galleryImageVersionName). The error says what is wrong.
func ValidName(name string) error {
	parts := strings.Split(name, ".")
	if len(parts) != 3 {
		return fmt.Errorf("%q is not a gallery image version name: it must be three numbers, Major.Minor.Patch (for example 1.0.0)", name)
	}
	for i, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return fmt.Errorf("%q is not a gallery image version name: part %d (%q) is not a number; only digits and periods are allowed", name, i+1, p)
		}
		if n, err := strconv.ParseUint(p, 10, 64); err != nil || n > math.MaxInt32 {
			return fmt.Errorf("%q is not a gallery image version name: part %d (%s) is beyond a 32-bit integer (%d)", name, i+1, p, math.MaxInt32)
		}
	}
	return nil
}

// parse reads a valid x.y.z name.
func parse(name string) (p [3]int64, ok bool) {
	if ValidName(name) != nil {
		return p, false
	}
	for i, s := range strings.Split(name, ".") {
		p[i], _ = strconv.ParseInt(s, 10, 64)
	}
	return p, true
}

// NextInMajor is the number Image Builder's documented `Latest` scheme
// gives: "Specifies the major version under which to generate the latest
// version ... in a gallery with the following versions published: 0.1.1,
// 0.1.2, 1.0.0, 1.0.1, 1.1.0, 1.1.1, 1.2.0, 2.0.0, 2.0.1, 2.1.0 - With
// major not set or major set to 2, The Latest scheme generates version
// 2.1.1 - With major set to 1 ... 1.2.1 - With major set to 0 ... 0.1.3"
// (MicrosoftDocs articles/virtual-machines/linux/image-builder-json.md,
// "versioning"): one patch above the highest version (within major, when
// major >= 0). An empty definition gives 1.0.0 (major.0.0 with a major,
// 0.0.1 for major 0): not documented, the docs show no empty gallery.
func NextInMajor(existing []string, major int64) string {
	var best [3]int64
	found := false
	for _, n := range existing {
		p, ok := parse(n)
		if !ok || major >= 0 && p[0] != major {
			continue
		}
		if !found || compare3(p, best) > 0 {
			best, found = p, true
		}
	}
	if !found {
		return firstVersion(major)
	}
	return fmt.Sprintf("%d.%d.%d", best[0], best[1], best[2]+1)
}

// firstVersion is the version given to an empty definition.
func firstVersion(major int64) string {
	switch {
	case major < 0:
		return "1.0.0"
	case major == 0:
		return "0.0.1"
	}
	return fmt.Sprintf("%d.0.0", major)
}

func compare3(a, b [3]int64) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// Policies of the versions a build publishes (goldenpipe.versionPolicy).
const (
	// PolicyNextPatch (the default): no build is sent whose version
	// exists. A version named in galleryImageId is the floor: the first
	// build publishes it, each rebuild the next patch above the highest
	// version of that major (1.0.0, 1.0.1, 1.0.2 …); a galleryImageId
	// without a version gets the documented Latest numbering, decided when
	// the build starts, so the build knows its version before Azure does.
	PolicyNextPatch = "nextPatch"
	// PolicyAsWritten sends galleryImageId as the template writes it; a
	// rebuild of a named version fails in distribution as Azure fails it.
	PolicyAsWritten = "asWritten"
)

// Assigned is the version a build publishes to one image definition, and
// why.
type Assigned struct {
	Image   string `json:"image"`   // the image definition's id
	Version string `json:"version"` // x.y.z
	Why     string `json:"why"`
}

// Assign is the version policy for one SharedImage distributor: the
// version a build publishes given the definition's existing versions.
// named is the version galleryImageId names ("" for none). ok is false
// when the policy leaves the choice to Image Builder (asWritten, or a
// Source scheme: its number is the source image's, which the app cannot
// know for a `latest` source).
func Assign(existing []string, named string, policy string, major int64) (version, why string, ok bool) {
	if policy == PolicyAsWritten {
		return "", "", false
	}
	if named == "" {
		v := NextInMajor(existing, major)
		return v, "the next patch above the highest version (Image Builder's Latest numbering)", true
	}
	floor, okf := parse(named)
	if !okf {
		return "", "", false
	}
	if !slices.Contains(existing, named) {
		higher := false
		for _, n := range existing {
			if p, ok := parse(n); ok && p[0] == floor[0] && compare3(p, floor) > 0 {
				higher = true
			}
		}
		if !higher {
			return named, "the version the template names (not yet in the gallery)", true
		}
	}
	v := NextInMajor(existing, floor[0])
	return v, named + " is taken: the next patch above the highest " + strconv.FormatInt(floor[0], 10) + ".x.x version (the named version is the floor)", true
}

// Retain returns the versions a retention policy of keep versions deletes
// after the build that published own succeeded: the oldest beyond keep,
// counting every version still there, and never the newest, never own or
// one newer than own (the last good), never the one latest resolves to,
// never one tagged GalleryInUseTag, never one already being deleted. keep
// 0 keeps everything. Versions it would delete that Azure refuses to
// delete at now (ProtectedAt: blockDeletionBeforeEndOfLife before their
// endOfLifeDate) are returned apart, as protected: skipped until their
// end of life.
func Retain(vs []goldenpipe.GalleryVersion, keep int, own string, now time.Time) (del, protected []goldenpipe.GalleryVersion) {
	if keep <= 0 {
		return nil, nil
	}
	live := make([]goldenpipe.GalleryVersion, 0, len(vs))
	for _, v := range Sorted(vs) {
		if !strings.EqualFold(v.ProvisioningState, "deleting") {
			live = append(live, v)
		}
	}
	latest, hasLatest := Latest(live)
	for i, v := range live {
		switch {
		case i < keep, i == 0:
		case own != "" && Compare(v.Name, own) >= 0:
		case hasLatest && v.Name == latest.Name:
		case inUse(v):
		case v.ProtectedAt(now):
			protected = append(protected, v)
		default:
			del = append(del, v)
		}
	}
	return del, protected
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
		case want == "" && hasCur && Compare(v.Name, cur.Name) < 0 && usable(v) && !busy(v):
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
	// the target is included again when any of its regions hides it
	// (targetRegions[].excludeFromLatest); every newer version still
	// served as latest in some region is excluded
	r.Include = excludedAnywhere(r.Target)
	for _, v := range sorted {
		if Compare(v.Name, r.Target.Name) > 0 && !ExcludedIn(v, "") && usable(v) {
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
