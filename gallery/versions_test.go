package gallery

import (
	"strings"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

const img = "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/avd"

func v(name string, opts ...string) goldenpipe.GalleryVersion {
	gv := goldenpipe.GalleryVersion{ID: img + "/versions/" + name, Name: name, ProvisioningState: "Succeeded"}
	for _, o := range opts {
		switch o {
		case "excluded":
			gv.ExcludeFromLatest = true
		case "inuse":
			gv.Tags = map[string]string{"goldenpipe.inUse": "hostpool-a"}
		case "deleting":
			gv.ProvisioningState = "Deleting"
		case "failed":
			gv.ProvisioningState = "Failed"
		case "protected": // deletion blocked until 2027-06-01
			gv.BlockDeletion, gv.EndOfLife = true, time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)
		case "protected-no-eol":
			gv.BlockDeletion = true
		case "regions": // replicated to westeurope and northeurope
			gv.Regions = []string{"westeurope", "northeurope"}
		case "excluded-northeurope":
			gv.ExcludedIn = append(gv.ExcludedIn, "northeurope")
		}
	}
	return gv
}

func namesOf(vs []goldenpipe.GalleryVersion) string {
	var n []string
	for _, x := range vs {
		n = append(n, x.Name)
	}
	return strings.Join(n, ",")
}

func TestParseVersionID(t *testing.T) {
	tests := []struct {
		id, image, version string
		ok                 bool
	}{
		{img + "/versions/1.0.0", img, "1.0.0", true},
		{strings.ToLower(img) + "/VERSIONS/0.24322.55884", strings.ToLower(img), "0.24322.55884", true},
		{img, "", "", false},
		{img + "/versions/", "", "", false},
		{"/subscriptions/0/resourceGroups/rg/providers/Microsoft.Compute/images/win11", "", "", false},
		{"https://x.blob.core.windows.net/vhds/a/versions/1.vhd", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			image, version, ok := ParseVersionID(tt.id)
			if image != tt.image || version != tt.version || ok != tt.ok {
				t.Errorf("got %q %q %v", image, version, ok)
			}
		})
	}
	if ImageID(img+"/versions/1.2.3") != img || ImageID(img) != img {
		t.Error("ImageID")
	}
}

func TestCompare(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1.10.0", "1.9.0", 1}, {"1.0.0", "1.0.0", 0}, {"0.24322.55884", "0.24321.86399", 1},
		{"2.0.0", "10.0.0", -1}, {"1.0", "1.0.0", -1}, {"99999999999999999999.0.0", "1.0.0", 1},
	}
	for _, tt := range tests {
		if got := Compare(tt.a, tt.b); got != tt.want {
			t.Errorf("Compare(%s, %s) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestLatest(t *testing.T) {
	tests := []struct {
		name string
		vs   []goldenpipe.GalleryVersion
		want string
	}{
		{"numeric, not text", []goldenpipe.GalleryVersion{v("1.9.0"), v("1.10.0"), v("1.2.0")}, "1.10.0"},
		{"an excluded version is skipped", []goldenpipe.GalleryVersion{v("1.0.0"), v("2.0.0", "excluded")}, "1.0.0"},
		{"a failed version is skipped", []goldenpipe.GalleryVersion{v("1.0.0"), v("2.0.0", "failed")}, "1.0.0"},
		{"every version excluded", []goldenpipe.GalleryVersion{v("1.0.0", "excluded")}, ""},
		{"none", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Latest(tt.vs)
			if got.Name != tt.want || ok != (tt.want != "") {
				t.Errorf("Latest = %q %v, want %q", got.Name, ok, tt.want)
			}
		})
	}
}

func TestRetain(t *testing.T) {
	tests := []struct {
		name string
		vs   []goldenpipe.GalleryVersion
		keep int
		own  string
		want string // deleted, oldest last
		prot string // protected, kept
	}{
		{"keep 0 keeps all", []goldenpipe.GalleryVersion{v("1.0.0"), v("1.0.1"), v("1.0.2")}, 0, "1.0.2", "", ""},
		{"the oldest beyond keep", []goldenpipe.GalleryVersion{v("1.0.0"), v("1.0.1"), v("1.0.2"), v("1.0.3"), v("1.0.4")}, 3, "1.0.4", "1.0.1,1.0.0", ""},
		{"numeric order", []goldenpipe.GalleryVersion{v("1.9.0"), v("1.10.0"), v("1.11.0")}, 2, "1.11.0", "1.9.0", ""},
		{"never the newest, even with keep 1", []goldenpipe.GalleryVersion{v("1.0.0"), v("1.0.1")}, 1, "1.0.1", "1.0.0", ""},
		{"never a version tagged in use", []goldenpipe.GalleryVersion{v("1.0.0", "inuse"), v("1.0.1"), v("1.0.2"), v("1.0.3")}, 2, "1.0.3", "1.0.1", ""},
		{"never the one latest resolves to", []goldenpipe.GalleryVersion{v("1.0.0"), v("1.0.1"), v("1.0.2", "excluded"), v("1.0.3", "excluded")}, 2, "1.0.3", "1.0.0", ""},
		{"never own or newer than own", []goldenpipe.GalleryVersion{v("1.0.0"), v("1.0.1"), v("1.0.2"), v("1.0.3")}, 1, "1.0.1", "1.0.0", ""},
		{"a version being deleted is not counted", []goldenpipe.GalleryVersion{v("1.0.0", "deleting"), v("1.0.1"), v("1.0.2"), v("1.0.3")}, 3, "1.0.3", "", ""},
		{"a failed version counts and goes", []goldenpipe.GalleryVersion{v("1.0.0", "failed"), v("1.0.1"), v("1.0.2")}, 2, "1.0.2", "1.0.0", ""},
		// safetyProfile.blockDeletionBeforeEndOfLife with endOfLifeDate
		// (armcompute v8 GalleryImageVersionSafetyProfile): Azure refuses
		// the delete before the end of life, so retention skips them
		{"protected versions are skipped and named", []goldenpipe.GalleryVersion{v("1.0.0", "protected"), v("1.0.1"), v("1.0.2", "protected"), v("1.0.3"), v("1.0.4")}, 2, "1.0.4", "1.0.1", "1.0.2,1.0.0"},
		{"blocked without an end of life stays protected", []goldenpipe.GalleryVersion{v("1.0.0", "protected-no-eol"), v("1.0.1"), v("1.0.2")}, 2, "1.0.2", "", "1.0.0"},
	}
	now := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			del, prot := Retain(tt.vs, tt.keep, tt.own, now)
			if got := namesOf(del); got != tt.want {
				t.Errorf("deleted %q, want %q", got, tt.want)
			}
			if got := namesOf(prot); got != tt.prot {
				t.Errorf("protected %q, want %q", got, tt.prot)
			}
		})
	}
	t.Run("after the end of life a protected version goes", func(t *testing.T) {
		del, prot := Retain([]goldenpipe.GalleryVersion{v("1.0.0", "protected"), v("1.0.1"), v("1.0.2")}, 2, "1.0.2", time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC))
		if namesOf(del) != "1.0.0" || len(prot) != 0 {
			t.Errorf("deleted %q, protected %q", namesOf(del), namesOf(prot))
		}
	})
}

// The gallery's rule for version names: "The allowed characters are digit
// and period. Digits must be within the range of a 32-bit integer. Format:
// <MajorVersion>.<MinorVersion>.<Patch>" (Compute REST API, Gallery Image
// Versions - Create Or Update, galleryImageVersionName).
func TestValidName(t *testing.T) {
	tests := []struct {
		name, err string
	}{
		{"1.0.0", ""},
		{"0.24105.52755", ""}, // the docs' runOutputs example
		{"2147483647.0.0", ""},
		{"2147483648.0.0", "beyond a 32-bit integer"},
		{"1.0", "three numbers"},
		{"1.0.0.0", "three numbers"},
		{"1.0.x", "not a number"},
		{"1.-1.0", "not a number"},
		{"v1.0.0", "not a number"},
		{"1..0", "not a number"},
		{"latest", "three numbers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidName(tt.name)
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("got %v, want %q", err, tt.err)
			}
		})
	}
}

// Image Builder's documented Latest scheme (MicrosoftDocs
// articles/virtual-machines/linux/image-builder-json.md, "versioning"):
// the docs' own example gallery and the three versions it says each major
// gives.
func TestNextInMajorAsDocumented(t *testing.T) {
	docs := []string{"0.1.1", "0.1.2", "1.0.0", "1.0.1", "1.1.0", "1.1.1", "1.2.0", "2.0.0", "2.0.1", "2.1.0"}
	tests := []struct {
		major int64
		want  string
	}{{-1, "2.1.1"}, {2, "2.1.1"}, {1, "1.2.1"}, {0, "0.1.3"}, {3, "3.0.0"}}
	for _, tt := range tests {
		if got := NextInMajor(docs, tt.major); got != tt.want {
			t.Errorf("major %d: %s, want %s", tt.major, got, tt.want)
		}
	}
}

// The version policy: no build is sent whose version exists ("The image
// version ID needs to be distinct or different from any image versions
// that are in the existing Azure Compute Gallery", image-builder-json.md).
func TestAssign(t *testing.T) {
	tests := []struct {
		name     string
		existing []string
		named    string
		policy   string
		major    int64
		want     string
		ok       bool
	}{
		{"named, not yet there: the named one", nil, "1.0.0", PolicyNextPatch, -1, "1.0.0", true},
		{"named and there: the next patch", []string{"1.0.0"}, "1.0.0", PolicyNextPatch, -1, "1.0.1", true},
		{"nightly rebuilds climb", []string{"1.0.0", "1.0.1", "1.0.2"}, "1.0.0", PolicyNextPatch, -1, "1.0.3", true},
		{"within the named major", []string{"1.0.0", "1.4.7", "2.0.0"}, "1.0.0", PolicyNextPatch, -1, "1.4.8", true},
		{"a floor above what exists", []string{"1.0.0", "1.0.5"}, "2.0.0", PolicyNextPatch, -1, "2.0.0", true},
		{"a floor below a newer one of its major", []string{"1.3.0"}, "1.0.0", PolicyNextPatch, -1, "1.3.1", true},
		{"no version named: Latest numbering", []string{"1.0.0", "1.0.1"}, "", PolicyNextPatch, -1, "1.0.2", true},
		{"no version named, major 3", []string{"1.0.0"}, "", PolicyNextPatch, 3, "3.0.0", true},
		{"an empty definition", nil, "", PolicyNextPatch, -1, "1.0.0", true},
		{"as written: Image Builder's choice", []string{"1.0.0"}, "1.0.0", PolicyAsWritten, -1, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why, ok := Assign(tt.existing, tt.named, tt.policy, tt.major)
			if got != tt.want || ok != tt.ok || ok && why == "" {
				t.Errorf("got %q %v (%s), want %q %v", got, ok, why, tt.want, tt.ok)
			}
			for _, e := range tt.existing {
				if ok && got == e {
					t.Errorf("assigned %s, which exists", got)
				}
			}
		})
	}
}

// targetRegions[].excludeFromLatest (armcompute v8 TargetRegion: "the
// flag setting to hide an image when users specify version='latest'")
// hides a version from latest in that region only.
func TestLatestPerRegion(t *testing.T) {
	vs := []goldenpipe.GalleryVersion{v("1.0.0", "regions"), v("1.0.1", "regions", "excluded-northeurope")}
	if l, _ := Latest(vs); l.Name != "1.0.1" {
		t.Errorf("latest %s, want 1.0.1 (still latest in westeurope)", l.Name)
	}
	if l, _ := LatestIn(vs, "northeurope"); l.Name != "1.0.0" {
		t.Errorf("latest in northeurope %s, want 1.0.0", l.Name)
	}
	if l, _ := LatestIn(vs, "westeurope"); l.Name != "1.0.1" {
		t.Errorf("latest in westeurope %s, want 1.0.1", l.Name)
	}
	r, err := RollbackTarget(vs, "1.0.0")
	if err != nil || namesOf(r.Exclude) != "1.0.1" {
		t.Errorf("rollback to 1.0.0 excludes %q (%v), want 1.0.1: it is latest in westeurope", namesOf(r.Exclude), err)
	}
	r, err = RollbackTarget([]goldenpipe.GalleryVersion{v("1.0.0", "regions", "excluded-northeurope"), v("1.0.1", "excluded")}, "1.0.0")
	if err != nil || !r.Include {
		t.Errorf("rollback to a version hidden in one region must include it again: %+v %v", r, err)
	}
}

func TestRollbackTarget(t *testing.T) {
	three := []goldenpipe.GalleryVersion{v("1.0.0"), v("1.0.1"), v("1.0.2")}
	tests := []struct {
		name     string
		vs       []goldenpipe.GalleryVersion
		want     string
		target   string
		exclude  string
		include  bool
		errMatch string
	}{
		{"the previous version by default", three, "", "1.0.1", "1.0.2", false, ""},
		{"a named version excludes every newer one", three, "1.0.0", "1.0.0", "1.0.2,1.0.1", false, ""},
		{"to what latest already is", three, "1.0.2", "1.0.2", "", false, ""},
		{"an excluded target is included again", []goldenpipe.GalleryVersion{v("1.0.0", "excluded"), v("1.0.1")}, "1.0.0", "1.0.0", "1.0.1", true, ""},
		{"already excluded newer versions are left", []goldenpipe.GalleryVersion{v("1.0.0"), v("1.0.1"), v("1.0.2", "excluded")}, "", "1.0.0", "1.0.1", false, ""},
		{"the default skips failed versions", []goldenpipe.GalleryVersion{v("1.0.0"), v("1.0.1", "failed"), v("1.0.2")}, "", "1.0.0", "1.0.2", false, ""},
		{"an unknown version", three, "9.9.9", "", "", false, "does not exist"},
		{"nothing older", []goldenpipe.GalleryVersion{v("1.0.0")}, "", "", "", false, "nothing older"},
		{"a failed target", []goldenpipe.GalleryVersion{v("1.0.0", "failed"), v("1.0.1")}, "1.0.0", "", "", false, "a VM cannot be made"},
		{"no versions", nil, "", "", "", false, "no versions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := RollbackTarget(tt.vs, tt.want)
			if tt.errMatch != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errMatch) || goldenpipe.ErrorCode(err) != goldenpipe.EINVALID {
					t.Fatalf("err = %v, want %q", err, tt.errMatch)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Target.Name != tt.target || namesOf(r.Exclude) != tt.exclude || r.Include != tt.include {
				t.Errorf("got target %s exclude %q include %v", r.Target.Name, namesOf(r.Exclude), r.Include)
			}
			// after the rollback, latest resolves to the target
			after := append([]goldenpipe.GalleryVersion(nil), tt.vs...)
			for i := range after {
				for _, x := range r.Exclude {
					if after[i].Name == x.Name {
						after[i].ExcludeFromLatest = true
					}
				}
				if after[i].Name == r.Target.Name {
					after[i].ExcludeFromLatest = false
				}
			}
			if l, _ := Latest(after); l.Name != tt.target {
				t.Errorf("latest after the rollback is %s, want %s", l.Name, tt.target)
			}
		})
	}
}
