package gallery

import (
	"strings"
	"testing"

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
	}{
		{"keep 0 keeps all", []goldenpipe.GalleryVersion{v("1.0.0"), v("1.0.1"), v("1.0.2")}, 0, "1.0.2", ""},
		{"the oldest beyond keep", []goldenpipe.GalleryVersion{v("1.0.0"), v("1.0.1"), v("1.0.2"), v("1.0.3"), v("1.0.4")}, 3, "1.0.4", "1.0.1,1.0.0"},
		{"numeric order", []goldenpipe.GalleryVersion{v("1.9.0"), v("1.10.0"), v("1.11.0")}, 2, "1.11.0", "1.9.0"},
		{"never the newest, even with keep 1", []goldenpipe.GalleryVersion{v("1.0.0"), v("1.0.1")}, 1, "1.0.1", "1.0.0"},
		{"never a version tagged in use", []goldenpipe.GalleryVersion{v("1.0.0", "inuse"), v("1.0.1"), v("1.0.2"), v("1.0.3")}, 2, "1.0.3", "1.0.1"},
		{"never the one latest resolves to", []goldenpipe.GalleryVersion{v("1.0.0"), v("1.0.1"), v("1.0.2", "excluded"), v("1.0.3", "excluded")}, 2, "1.0.3", "1.0.0"},
		{"never own or newer than own", []goldenpipe.GalleryVersion{v("1.0.0"), v("1.0.1"), v("1.0.2"), v("1.0.3")}, 1, "1.0.1", "1.0.0"},
		{"a version being deleted is not counted", []goldenpipe.GalleryVersion{v("1.0.0", "deleting"), v("1.0.1"), v("1.0.2"), v("1.0.3")}, 3, "1.0.3", ""},
		{"a failed version counts and goes", []goldenpipe.GalleryVersion{v("1.0.0", "failed"), v("1.0.1"), v("1.0.2")}, 2, "1.0.2", "1.0.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := namesOf(Retain(tt.vs, tt.keep, tt.own)); got != tt.want {
				t.Errorf("deleted %q, want %q", got, tt.want)
			}
		})
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
