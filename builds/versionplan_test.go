package builds

import (
	"strings"
	"testing"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/gallery"
)

// The version policy's plan is recorded when a build is admitted, before
// its template is first sent (issue 23: no build is sent whose gallery
// version exists): the body sent publishes the version recorded; a gallery
// that cannot be read now holds the build; one Azure refuses to let us
// read (no role) lets it go as written, saying so.
func TestAdmissionAppliesTheVersionPlan(t *testing.T) {
	img := "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/avd"
	admitted := func() Build {
		b := waiting("b1", "avd", t0, StateQueued)
		b.Done = []string{"event:requested"}
		b.AIBName, b.Rendered = "gp-b1", []byte(`{"properties":{"distribute":[{"type":"SharedImage","galleryImageId":"`+img+`/versions/1.0.0"}]}}`)
		return b
	}
	t.Run("planned", func(t *testing.T) {
		plan := &VersionPlan{Rendered: []byte(`{"properties":{"distribute":[{"type":"SharedImage","galleryImageId":"` + img + `/versions/1.0.3"}]}}`),
			Assigned: []gallery.Assigned{{Image: img, Version: "1.0.3", Why: "1.0.0 is taken: the next patch"}}}
		d := Decide(admitted(), Observation{Admission: Verdict{Kind: VerdictAdmit}, Versions: plan}, t0, testCfg)
		b := d.Build
		if b.State != StateCreating || len(d.Effects) != 1 || d.Effects[0].Kind != ActCreate || !b.VersionsPlanned ||
			!strings.Contains(string(b.Rendered), "/versions/1.0.3") || len(b.GalleryVersions) != 1 || b.GalleryVersions[0].Version != "1.0.3" {
			t.Fatalf("%+v %s", d.Effects, b.Rendered)
		}
		if h := b.History[len(b.History)-2].Note; !strings.Contains(h, "gallery version 1.0.3 of avd") {
			t.Errorf("history %q", h)
		}
		// planned once: a later admission (a re-sent create) keeps it
		again := Decide(b, Observation{Admission: Verdict{Kind: VerdictAdmit}, Versions: &VersionPlan{Rendered: []byte(`{}`)}}, t0, testCfg)
		if !strings.Contains(string(again.Build.Rendered), "/versions/1.0.3") {
			t.Errorf("the plan was made again: %s", again.Build.Rendered)
		}
	})
	t.Run("gallery unavailable: held", func(t *testing.T) {
		d := Decide(admitted(), Observation{Admission: Verdict{Kind: VerdictAdmit}, VersionsFailed: &Outcome{Code: goldenpipe.EUNAVAILABLE, Message: "503"}}, t0, testCfg)
		if d.Build.State != StateQueued || len(d.Effects) != 0 || !strings.Contains(d.Outcome, "not sent") {
			t.Errorf("%s %+v %s", d.Build.State, d.Effects, d.Outcome)
		}
	})
	t.Run("gallery refused: as written", func(t *testing.T) {
		d := Decide(admitted(), Observation{Admission: Verdict{Kind: VerdictAdmit}, Versions: &VersionPlan{Note: "the version policy could not read the gallery (403); the template is sent as written"}}, t0, testCfg)
		if d.Build.State != StateCreating || len(d.Effects) != 1 || !strings.Contains(string(d.Build.Rendered), "/versions/1.0.0") ||
			!strings.Contains(d.Build.History[0].Note, "sent as written") {
			t.Errorf("%s %+v %s %+v", d.Build.State, d.Effects, d.Build.Rendered, d.Build.History)
		}
	})
}
