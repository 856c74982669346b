package app

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	aib "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/virtualmachineimagebuilder/armvirtualmachineimagebuilder/v2"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/gallery"
	"github.com/goldenpipe/goldenpipe/internal/clock"
	"github.com/goldenpipe/goldenpipe/simulator"
)

// galleryRig is the app on the simulator (Image Builder and gallery on
// one fake clock) with the AVD gallery template uploaded, edited first.
type galleryRig struct {
	h   *harness
	c   *clock.Fake
	sim *simulator.ImageBuilder
	g   *simulator.Gallery
}

func newGalleryRig(t *testing.T, prefix string, edit func(string) string) *galleryRig {
	t.Helper()
	c := clock.NewFake(time.Date(2026, 12, 5, 2, 0, 0, 0, time.UTC))
	sim := simulator.NewImageBuilder()
	sim.CreateDuration, sim.PhaseDuration, sim.Now = time.Minute, time.Minute, c.Now
	g := simulator.NewGallery()
	g.Now = c.Now
	h := newHarnessTuned(t, prefix, sims{Builder: sim, Images: simulator.NewImages(), Gallery: g}, nil, func(tu *Tuning) {
		tu.Now, tu.GalleryNow = c.Now, c.Now
		tu.Builds.BackoffBase, tu.Builds.ReissueAfter = 0, 0
	})
	url := h.upload(h.s.ScriptsContainer, "avd/install-apps.ps1", []byte("winget install Microsoft.Teams\r\n"))
	raw, err := os.ReadFile(filepath.Join("testdata", "avd-gallery.json"))
	if err != nil {
		t.Fatal(err)
	}
	h.upload(h.s.TemplatesContainer, "avd.json", []byte(edit(string(bytes.ReplaceAll(raw, []byte("SCRIPT_URL"), []byte(url))))))
	return &galleryRig{h, c, sim, g}
}

// finished waits until n builds of the template ended and their
// after-steps ran.
func (r *galleryRig) finished(n int) []builds.Build {
	return r.h.tickUntil(r.c, time.Minute, func(list []builds.Build) bool {
		if len(list) < n {
			return false
		}
		for _, b := range list {
			if !builds.Terminal(b.State) {
				return false
			}
			var full builds.Build
			r.h.get("/api/builds/"+b.ID, &full)
			if !slices.Contains(full.Done, "released") || !slices.Contains(full.Done, "indexed") {
				return false
			}
		}
		return true
	})
}

func (r *galleryRig) night() {
	r.c.Advance(24 * time.Hour)
	r.h.invoke("NightlyRebuild", nightTimer(r.c.Now()))
}

func (r *galleryRig) build(id string) builds.Build {
	var b builds.Build
	r.h.get("/api/builds/"+id, &b)
	return b
}

func named100(s string) string {
	return strings.Replace(s, `images/avd-win11-pooled"`, `images/avd-win11-pooled/versions/1.0.0"`, 1)
}

// Must show (issue 23): two nightly rebuilds of a template naming
// …/versions/1.0.0 all succeed under the version policy, each with a
// version of its own (1.0.0, 1.0.1, 1.0.2), the plan told in the build's
// history; with the policy off (versionPolicy asWritten) the simulator
// fails the second build in Distributing as Azure does ("The image version
// ID needs to be distinct or different from any image versions that are
// in the existing Azure Compute Gallery", MicrosoftDocs
// articles/virtual-machines/linux/image-builder-json.md), and the version
// that existed is left as it was.
func TestNightlyRebuildsOfANamedVersion(t *testing.T) {
	t.Run("policy nextPatch", func(t *testing.T) {
		r := newGalleryRig(t, "gnamed", named100)
		r.h.blobEvent("TemplateUploaded", r.h.s.TemplatesContainer, "avd.json")
		r.finished(1)
		r.night()
		r.finished(2)
		r.night()
		list := r.finished(3)
		for _, b := range list {
			if b.State != builds.StateSucceeded {
				t.Errorf("build %s %s: %s", b.ID, b.State, b.Error)
			}
		}
		if got := r.g.Versions(avdImage); !slices.Equal(got, []string{"1.0.0", "1.0.1", "1.0.2"}) {
			t.Errorf("versions %v, want 1.0.0, 1.0.1, 1.0.2", got)
		}
		if l := r.g.Latest(avdImage); l != "1.0.2" {
			t.Errorf("latest %s", l)
		}
		b := r.build(list[0].ID) // newest first
		if len(b.GalleryVersions) != 1 || b.GalleryVersions[0].Version != "1.0.2" || !strings.Contains(historyText(b), "gallery version 1.0.2") ||
			!strings.Contains(string(b.Rendered), "/versions/1.0.2") {
			t.Errorf("the newest build's plan: %+v\n%s", b.GalleryVersions, historyText(b))
		}
	})
	t.Run("policy off", func(t *testing.T) {
		r := newGalleryRig(t, "gasw", func(s string) string {
			return strings.Replace(named100(s), `"keepVersions": 3`, `"keepVersions": 3, "versionPolicy": "asWritten"`, 1)
		})
		r.h.blobEvent("TemplateUploaded", r.h.s.TemplatesContainer, "avd.json")
		r.finished(1)
		r.night()
		list := r.finished(2)
		second := list[0]
		if second.State != builds.StateFailed || !strings.Contains(second.Error, "needs to be distinct or different from any image versions") {
			t.Fatalf("the second build %s: %q, want Failed with Azure's rule", second.State, second.Error)
		}
		if !strings.Contains(historyText(r.build(second.ID)), "Distributing") {
			t.Errorf("the second build did not fail in Distributing:\n%s", historyText(r.build(second.ID)))
		}
		if got := r.g.Versions(avdImage); !slices.Equal(got, []string{"1.0.0"}) || r.g.Excluded(avdImage, "1.0.0") || r.g.Latest(avdImage) != "1.0.0" {
			t.Errorf("versions %v, 1.0.0 excluded %v: the first build's version must be left alone", got, r.g.Excluded(avdImage, "1.0.0"))
		}
	})
}

func historyText(b builds.Build) string {
	var s []string
	for _, h := range b.History {
		s = append(s, string(h.State)+" "+h.SubState+" "+h.Note)
	}
	return strings.Join(s, "\n")
}

// Must show (issue 23): a build canceled during Distributing, and one
// failing there, leave an incomplete version ("If the distribution phase
// has started you can still cancel, but you need to clean up any images
// that may not be completed", image-builder-json.md); the app excludes it
// from latest, so GET /api/templates/{t}/gallery (and the gallery itself)
// still shows the previous latest, and the build's history says so.
func TestUnfinishedBuildsLeaveLatestAlone(t *testing.T) {
	for _, how := range []string{"canceled", "failed"} {
		t.Run(how, func(t *testing.T) {
			r := newGalleryRig(t, "gunf"+how[:1], func(s string) string { return s })
			r.h.blobEvent("TemplateUploaded", r.h.s.TemplatesContainer, "avd.json")
			r.finished(1)
			prev := r.g.Latest(avdImage)
			if prev != "1.0.0" {
				t.Fatalf("first version %q", prev)
			}
			if how == "failed" {
				r.sim.Outcome = func(string) simulator.Outcome {
					return simulator.Outcome{State: goldenpipe.RunFailed, Distribution: true,
						Message: "Distribution failed: replication of the image version to westeurope failed"}
				}
			}
			r.night()
			if how == "canceled" {
				// run the build into Distributing, then cancel it as an
				// operator would
				r.h.tickUntil(r.c, 20*time.Second, func(list []builds.Build) bool {
					return len(list) == 2 && list[0].SubState == "Distributing"
				})
				if r.g.State(avdImage, "1.0.1") != "Creating" {
					t.Fatalf("in Distributing: 1.0.1 is %q", r.g.State(avdImage, "1.0.1"))
				}
				var list []builds.Build
				r.h.getBuilds("/api/builds", &list)
				cl, err := aib.NewVirtualMachineImageTemplatesClient("00000000-0000-0000-0000-000000000000", simulator.TokenCredential(),
					&arm.ClientOptions{ClientOptions: policy.ClientOptions{Transport: r.sim.Transport()}})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := cl.BeginCancel(context.Background(), r.h.s.ResourceGroup, r.build(list[0].ID).AIBName, nil); err != nil {
					t.Fatal(err)
				}
			}
			list := r.finished(2)
			want := builds.StateCanceled
			if how == "failed" {
				want = builds.StateFailed
			}
			if list[0].State != want {
				t.Fatalf("build %s, want %s", list[0].State, want)
			}
			if !slices.Contains(r.g.Versions(avdImage), "1.0.1") {
				t.Fatalf("no partial version left: %v", r.g.Versions(avdImage))
			}
			var view gallery.View
			r.h.get("/api/templates/avd/gallery", &view)
			if len(view.Images) != 1 || view.Images[0].Latest != prev {
				t.Errorf("the gallery view's latest: %+v, want %s", view.Images, prev)
			}
			if l := r.g.Latest(avdImage); l != prev || !r.g.Excluded(avdImage, "1.0.1") {
				t.Errorf("the gallery's latest is %s (1.0.1 excluded %v), want %s", l, r.g.Excluded(avdImage, "1.0.1"), prev)
			}
			if h := historyText(r.build(list[0].ID)); !strings.Contains(h, "1.0.1 of goldenGallery/avd-win11-pooled excluded from latest: its build did not succeed") {
				t.Errorf("the history does not tell it:\n%s", h)
			}
		})
	}
}

// Must show (issue 23): with every old version protected
// (blockDeletionBeforeEndOfLife before their endOfLifeDate) and
// keepVersions 2, builds finish and release their slots, the protected
// versions are listed as protected, and once their end of life passes
// they are pruned after the next success.
func TestRetentionSkipsProtectedVersions(t *testing.T) {
	r := newGalleryRig(t, "gprot", func(s string) string {
		return strings.Replace(s, `"keepVersions": 3`, `"keepVersions": 2`, 1)
	})
	eol := r.c.Now().Add(30 * 24 * time.Hour)
	for _, v := range []string{"0.9.0", "0.9.1", "0.9.2"} {
		r.g.Publish(avdImage, v, false, nil)
		r.g.Protect(avdImage, v, eol)
	}
	r.h.blobEvent("TemplateUploaded", r.h.s.TemplatesContainer, "avd.json")
	r.finished(1)
	r.night()
	list := r.finished(2)
	for _, b := range list {
		full := r.build(b.ID)
		if b.State != builds.StateSucceeded || !slices.Contains(full.Done, "gallery") || !slices.Contains(full.Done, "released") {
			t.Errorf("build %s %s done %v", b.ID, b.State, full.Done)
		}
	}
	// the Latest numbering continues above the highest version: 0.9.3, 0.9.4
	if got := r.g.Versions(avdImage); !slices.Equal(got, []string{"0.9.0", "0.9.1", "0.9.2", "0.9.3", "0.9.4"}) {
		t.Errorf("versions %v: the protected ones must stay", got)
	}
	var view gallery.View
	r.h.get("/api/templates/avd/gallery", &view)
	var prot []string
	for _, p := range view.Images[0].Protected {
		prot = append(prot, p.Version)
		if !p.Until.Equal(eol) {
			t.Errorf("protected %s until %s, want %s", p.Version, p.Until, eol)
		}
	}
	if !slices.Equal(prot, []string{"0.9.2", "0.9.1", "0.9.0"}) || view.Policy.KeepVersions != 2 || view.Policy.VersionPolicy != gallery.PolicyNextPatch {
		t.Errorf("view protected %v policy %+v", prot, view.Policy)
	}
	if h := historyText(r.build(list[0].ID)); !strings.Contains(h, "kept the protected versions") {
		t.Errorf("history:\n%s", h)
	}
	if n := r.g.Calls("Delete"); n != 0 {
		t.Errorf("%d deletes of protected versions were tried", n)
	}

	// the end of life passes: the next success prunes them
	r.c.Advance(31 * 24 * time.Hour)
	r.night()
	r.finished(3)
	if got := r.g.Versions(avdImage); !slices.Equal(got, []string{"0.9.4", "0.9.5"}) {
		t.Errorf("after the end of life: versions %v, want the newest 2", got)
	}
}

// Issue 26: a rollback is recorded as applied only when Azure says so.
// The gallery's updates run for a minute (long-running operations): the
// rollback is recorded as applying, an immediate repeat asks nothing more
// of Azure and records nothing more, and once the updates ran the view
// records it applied, with one event. (Before: "included" was recorded at
// once and the repeat sent the updates again.)
func TestRollbackIsAppliedOnlyWhenAzureSaysSo(t *testing.T) {
	r := newGalleryRig(t, "grb", func(s string) string { return s })
	r.h.blobEvent("TemplateUploaded", r.h.s.TemplatesContainer, "avd.json")
	r.finished(1)
	r.night()
	r.finished(2)
	r.g.UpdateDuration = time.Minute
	// 1.0.0 excluded by hand earlier: the rollback must include it again
	r.g.Publish(avdImage, "0.9.0", true, nil)
	before := r.g.Calls("Update")
	status, body := postJSON(r.h, "/api/templates/avd/rollback", `{"version":"0.9.0","reason":"bad driver"}`)
	if status != http.StatusOK || !strings.Contains(body, `"state": "applying"`) {
		t.Fatalf("rollback: %d %s", status, body)
	}
	sent := r.g.Calls("Update") - before
	if r.g.State(avdImage, "0.9.0") != "Updating" {
		t.Fatalf("0.9.0 is %s, want Updating", r.g.State(avdImage, "0.9.0"))
	}
	var view gallery.View
	r.h.get("/api/templates/avd/gallery", &view)
	if len(view.Rollbacks) != 1 || view.Rollbacks[0].State != gallery.RollbackApplying {
		t.Fatalf("while Azure updates: %+v", view.Rollbacks)
	}
	// repeated at once: nothing more is asked or recorded
	status, body = postJSON(r.h, "/api/templates/avd/rollback", `{"version":"0.9.0","reason":"bad driver"}`)
	if status != http.StatusOK || r.g.Calls("Update")-before != sent {
		t.Errorf("repeat: %d %s; %d updates, want %d", status, body, r.g.Calls("Update")-before, sent)
	}
	view = gallery.View{}
	r.h.get("/api/templates/avd/gallery", &view)
	if len(view.Rollbacks) != 1 {
		t.Errorf("a repeat while applying recorded %d rollbacks", len(view.Rollbacks))
	}
	rolled := func() int {
		n := 0
		for _, m := range r.h.bus.Topic(r.h.s.EventsTopic) {
			if m.Subject == gallery.EventRolledBack {
				n++
			}
		}
		return n
	}
	if rolled() != 0 {
		t.Errorf("rolled_back published before Azure applied it")
	}
	r.c.Advance(time.Minute)
	view = gallery.View{}
	r.h.get("/api/templates/avd/gallery", &view)
	if len(view.Rollbacks) != 1 || view.Rollbacks[0].State != gallery.RollbackApplied || view.Images[0].Latest != "0.9.0" || r.g.Latest(avdImage) != "0.9.0" {
		t.Errorf("once applied: %+v latest %s", view.Rollbacks, r.g.Latest(avdImage))
	}
	r.h.get("/api/templates/avd/gallery", &gallery.View{})
	if rolled() != 1 {
		t.Errorf("%d rolled_back events, want 1", rolled())
	}
}
