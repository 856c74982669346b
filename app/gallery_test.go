package app

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/gallery"
	"github.com/goldenpipe/goldenpipe/internal/clock"
	"github.com/goldenpipe/goldenpipe/simulator"
)

const avdImage = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-images/providers/Microsoft.Compute/galleries/goldenGallery/images/avd-win11-pooled"

// nightTimer is the NightlyRebuild payload the host sends at 02:00 of the
// fake clock's day.
func nightTimer(at time.Time) []byte {
	return []byte(`{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{"sys":{"UtcNow":"` + at.UTC().Format(time.RFC3339) + `"}}}`)
}

// TestGalleryVersionsAsSnapshots: gallery versions kept like the AVD
// guide's snapshots, on the simulator behind armcompute's client. Eleven
// successful builds (the upload's and ten nights) with keepVersions 3 leave
// exactly the newest 3; a build whose validation fails still publishes
// (continueDistributeOnFailure) and its version is excluded from latest; a
// rollback makes latest resolve to the chosen version, recorded and
// evented, and changes nothing when repeated; the next success is latest
// again.
func TestGalleryVersionsAsSnapshots(t *testing.T) {
	c := clock.NewFake(time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC))
	sim := simulator.NewImageBuilder()
	sim.CreateDuration, sim.PhaseDuration, sim.Now = time.Minute, time.Minute, c.Now
	g := simulator.NewGallery()
	h := newHarnessTuned(t, "gallery", sims{Builder: sim, Images: simulator.NewImages(), Gallery: g}, nil, func(tu *Tuning) {
		tu.Now, tu.GalleryNow = c.Now, c.Now
		tu.Builds.BackoffBase, tu.Builds.ReissueAfter = 0, 0
	})

	url := h.upload(h.s.ScriptsContainer, "avd/install-apps.ps1", []byte("winget install Microsoft.Teams\r\n"))
	raw, err := os.ReadFile(filepath.Join("testdata", "avd-gallery.json"))
	if err != nil {
		t.Fatal(err)
	}
	h.upload(h.s.TemplatesContainer, "avd.json", bytes.ReplaceAll(raw, []byte("SCRIPT_URL"), []byte(url)))
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "avd.json")

	// done once n builds of the template finished and the gallery step of
	// each that published a version was carried out
	allDone := func(n int) func([]builds.Build) bool {
		return func(list []builds.Build) bool {
			if len(list) < n {
				return false
			}
			for _, b := range list {
				if !builds.Terminal(b.State) || len(b.Outputs) > 0 && !slices.Contains(b.Done, "gallery") {
					return false
				}
			}
			return true
		}
	}
	h.tickUntil(c, time.Minute, allDone(1))
	for night := 1; night <= 10; night++ {
		c.Advance(24 * time.Hour)
		h.invoke("NightlyRebuild", nightTimer(c.Now()))
		h.tickUntil(c, time.Minute, allDone(night+1))
	}
	var list []builds.Build
	h.getBuilds("/api/builds?template=avd", &list)
	succeeded := 0
	for _, b := range list {
		if b.State == builds.StateSucceeded {
			succeeded++
		}
	}
	versions := g.Versions(avdImage)
	if succeeded != 11 || len(versions) != 3 {
		t.Fatalf("%d successful builds left %d versions (%v), want 11 and 3", succeeded, len(versions), versions)
	}
	newest := versions[2]
	if l := g.Latest(avdImage); l != newest {
		t.Errorf("latest is %s, want the newest %s", l, newest)
	}
	if got := g.Calls("Delete"); got != 8 {
		t.Errorf("%d deletes, want 8", got)
	}

	// a build whose validation fails still publishes; its version is excluded
	sim.Outcome = func(string) simulator.Outcome {
		return simulator.Outcome{State: goldenpipe.RunFailed, Validation: true,
			Message: "Validation failed: PowerShell script 'apps-installed' exited with code 1"}
	}
	c.Advance(24 * time.Hour)
	h.invoke("NightlyRebuild", nightTimer(c.Now()))
	h.tickUntil(c, time.Minute, allDone(12))
	versions = g.Versions(avdImage)
	failedVersion := versions[len(versions)-1]
	if len(versions) != 4 || !g.Excluded(avdImage, failedVersion) {
		t.Fatalf("after a failed validation: versions %v, %s excluded %v", versions, failedVersion, g.Excluded(avdImage, failedVersion))
	}
	if l := g.Latest(avdImage); l != newest {
		t.Errorf("latest moved to %s after a failed validation, want %s", l, newest)
	}

	// rollback to the oldest version kept
	target := versions[0]
	status, body := postJSON(h, "/api/templates/avd/rollback", `{"version":"`+target+`","reason":"Teams crashes on sign-in"}`)
	if status != http.StatusOK || !strings.Contains(body, `"to": "`+target+`"`) {
		t.Fatalf("rollback: %d %s", status, body)
	}
	if l := g.Latest(avdImage); l != target {
		t.Errorf("latest after the rollback is %s, want %s", l, target)
	}
	var view gallery.View
	h.get("/api/templates/avd/gallery", &view)
	if len(view.Images) != 1 || view.Images[0].Latest != target || len(view.Rollbacks) != 1 ||
		view.Rollbacks[0].Reason != "Teams crashes on sign-in" || view.Rollbacks[0].From != newest {
		t.Errorf("gallery view: %+v", view)
	}
	rolled := 0
	for _, m := range h.bus.Topic(h.s.EventsTopic) {
		if m.Subject == gallery.EventRolledBack {
			rolled++
		}
	}
	if rolled != 1 {
		t.Errorf("%d rolled_back events, want 1", rolled)
	}
	// repeated: nothing changes
	updates := g.Calls("Update")
	if status, body := postJSON(h, "/api/templates/avd/rollback", `{"version":"`+target+`"}`); status != http.StatusOK || !strings.Contains(body, `"rolledBack": []`) {
		t.Errorf("repeated rollback: %d %s", status, body)
	}
	if g.Calls("Update") != updates {
		t.Errorf("a repeated rollback wrote to the gallery")
	}
	if status, body := postJSON(h, "/api/templates/avd/rollback", `{"version":"9.9.9"}`); status != http.StatusBadRequest || !strings.Contains(body, "does not exist") {
		t.Errorf("rollback to an unknown version: %d %s", status, body)
	}

	// the next successful build is latest again
	sim.Outcome = nil
	c.Advance(24 * time.Hour)
	h.invoke("NightlyRebuild", nightTimer(c.Now()))
	h.tickUntil(c, time.Minute, allDone(13))
	versions = g.Versions(avdImage)
	if l := g.Latest(avdImage); l != versions[len(versions)-1] || l == newest || l == failedVersion {
		t.Errorf("latest after the next success is %s, want the new version (versions %v)", l, versions)
	}
}
