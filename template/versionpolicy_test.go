package template

import (
	"strings"
	"testing"
)

// Gallery version names in a SharedImage distributor's galleryImageId are
// checked against the gallery's rule ("The allowed characters are digit
// and period. Digits must be within the range of a 32-bit integer. Format:
// <MajorVersion>.<MinorVersion>.<Patch>", Compute REST API, Gallery Image
// Versions - Create Or Update) before a build, not at distribution; the
// version policy's values are checked too.
func TestGalleryVersionNamesAndPolicy(t *testing.T) {
	img := "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/avd"
	sig := func(id string) []any {
		return []any{map[string]any{"type": "SharedImage", "runOutputName": "sig", "galleryImageId": id,
			"targetRegions": []any{map[string]any{"name": "westeurope"}}}}
	}
	tests := []struct {
		name    string
		raw     []byte
		problem string
	}{
		{"no version", edit(t, windowsBase, "properties.distribute", sig(img)), ""},
		{"1.0.0", edit(t, windowsBase, "properties.distribute", sig(img+"/versions/1.0.0")), ""},
		{"the largest", edit(t, windowsBase, "properties.distribute", sig(img+"/versions/2147483647.0.1")), ""},
		{"two parts", edit(t, windowsBase, "properties.distribute", sig(img+"/versions/1.0")), "must be three numbers"},
		{"a letter", edit(t, windowsBase, "properties.distribute", sig(img+"/versions/1.0.0-beta")), "only digits and periods"},
		{"latest", edit(t, windowsBase, "properties.distribute", sig(img+"/versions/latest")), "must be three numbers"},
		{"beyond 32 bits", edit(t, windowsBase, "properties.distribute", sig(img+"/versions/1.4294967296.0")), "beyond a 32-bit integer"},
		{"policy nextPatch", edit(t, windowsBase, "goldenpipe", map[string]any{"versionPolicy": "nextPatch", "unfinishedVersions": "delete"}), ""},
		{"policy unknown", edit(t, windowsBase, "goldenpipe", map[string]any{"versionPolicy": "overwrite"}), `goldenpipe.versionPolicy: "overwrite" must be "nextPatch"`},
		{"unfinished unknown", edit(t, windowsBase, "goldenpipe", map[string]any{"unfinishedVersions": "keep"}), `goldenpipe.unfinishedVersions: "keep" must be "exclude"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Parse("t", tt.raw, Options{})
			var got []string
			for _, x := range p.Problems {
				if strings.Contains(x.Path, "galleryImageId") || strings.HasPrefix(x.Path, "goldenpipe") {
					got = append(got, x.String())
				}
			}
			all := strings.Join(got, "\n")
			if tt.problem == "" && len(got) > 0 || tt.problem != "" && !strings.Contains(all, tt.problem) {
				t.Errorf("problems %q, want %q", got, tt.problem)
			}
		})
	}
}

// autoRun Enabled: "the image build process runs once upon template
// creation" (image-builder-json.md): the warning says it runs once, not
// twice.
func TestAutoRunWarningSaysOnce(t *testing.T) {
	p := Parse("t", edit(t, windowsBase, "properties.autoRun", map[string]any{"state": "Enabled"}), Options{})
	for _, w := range p.Warnings {
		if w.Path == "properties.autoRun.state" {
			if !strings.Contains(w.String(), "runs once") || strings.Contains(w.String(), "twice") {
				t.Errorf("autoRun warning: %s", w)
			}
			return
		}
	}
	t.Errorf("no autoRun warning: %v", p.Warnings)
}

// The plan says which gallery version the next build publishes, by the
// version policy.
func TestVersionPlan(t *testing.T) {
	img := "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/avd"
	body := func(id, versioning string) []byte {
		return []byte(`{"properties":{"distribute":[{"type":"VHD","runOutputName":"v"},{"type":"SharedImage","runOutputName":"s","galleryImageId":"` + id + `"` + versioning + `}]}}`)
	}
	tests := []struct {
		name   string
		raw    []byte
		policy Policy
		want   string
	}{
		{"named", body(img+"/versions/1.0.0", ""), Policy{}, "avd: 1.0.0 if it is not in the gallery yet, else the next patch above the highest 1.x.x version"},
		{"named, as written", body(img+"/versions/1.0.0", ""), Policy{VersionPolicy: "asWritten"}, "a rebuild fails at distribution once it exists"},
		{"unnamed", body(img, ""), Policy{}, "avd: the next patch above the highest version"},
		{"major 2", body(img, `,"versioning":{"scheme":"Latest","major":2}`), Policy{}, "highest 2.x.x version"},
		{"source", body(img, `,"versioning":{"scheme":"Source"}`), Policy{}, "the source image's version"},
		{"no gallery", []byte(`{"properties":{"distribute":[{"type":"VHD","runOutputName":"v"}]}}`), Policy{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := VersionPlan(tt.raw, tt.policy)
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("%q, want %q", got, tt.want)
			}
		})
	}
}
