package app

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/gallery"
	"github.com/goldenpipe/goldenpipe/internal/clock"
	"github.com/goldenpipe/goldenpipe/simulator"
	"github.com/goldenpipe/goldenpipe/template"
)

const shapesDir = "../template/testdata/shapes"

// shapesScope is the scope template's TestShapes evaluates the shapes in
// (template/corpus_test.go's corpusDeployment), as app settings.
var shapesScope = map[string]string{"AZURE_SUBSCRIPTION_ID": "0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11",
	"AIB_RESOURCE_GROUP": "rg-images", "AIB_LOCATION": "westeurope"}

// shapesGoldenTime is the time template's TestShapes gives utcNow() in a
// parameter's default; the app gives the blob's Last-Modified.
var shapesGoldenTime = time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC)

// shapeEntry is one image template of a shape's golden file.
type shapeEntry struct {
	Name     string          `json:"name"`
	Template json.RawMessage `json:"template"`
}

// shapesHarness runs the app with the shapes' scope, the builds and the
// simulator on one fake clock.
func shapesHarness(t *testing.T, prefix string) (*harness, *clock.Fake) {
	t.Helper()
	c := clock.NewFake(time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC))
	sim := simulator.NewImageBuilder()
	sim.CreateDuration, sim.PhaseDuration, sim.Now = time.Minute, time.Minute, c.Now
	h := newHarnessTuned(t, prefix, sims{Builder: sim, Images: simulator.NewImages()}, shapesScope, func(tu *Tuning) {
		tu.Now = c.Now
		tu.Builds.BackoffBase, tu.Builds.ReissueAfter = 0, 0
	})
	return h, c
}

// uploadShape puts a shape's template, its parameters file and the files
// it links (shapes/linked/…, at the same relative place) in the templates
// container; the template's upload event is sent last.
func (h *harness) uploadShape(name string) {
	h.t.Helper()
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			h.t.Fatal(err)
		}
		return b
	}
	err := filepath.WalkDir(filepath.Join(shapesDir, "linked"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(shapesDir, p)
		h.upload(h.s.TemplatesContainer, filepath.ToSlash(rel), read(p))
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	h.upload(h.s.TemplatesContainer, name+".parameters.json", read(filepath.Join(shapesDir, name+".parameters.json")))
	h.upload(h.s.TemplatesContainer, name+".json", read(filepath.Join(shapesDir, name+".json")))
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, name+".json")
}

// shapeGolden reads a shape's golden bodies with the utcNow() values the
// app fills in from the blob's Last-Modified.
func shapeGolden(t *testing.T, name string, lastModified time.Time) []shapeEntry {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(shapesDir, name+".golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, layout := range []string{"20060102T150405Z", "2006-01-02-15-04-05"} { // utcNow() and utcNow('yyyy-MM-dd-HH-mm-ss')
		b = bytes.ReplaceAll(b, []byte(shapesGoldenTime.Format(layout)), []byte(lastModified.UTC().Format(layout)))
	}
	var out []shapeEntry
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// filledIn is a golden body with the values the app fills in when it
// renders: the exact platform image version for "latest" (the version
// the app resolved; only Azure resolves "latest", and the app records
// what it built). Checksums would be here too; the shapes name no script.
// When the build is sent, the version policy makes each SharedImage
// distributor's version explicit: assigned are the versions the build
// records it was given (gallery.PlanVersions), set as the golden
// distributor's galleryImageId/versions/X with its versioning removed, as
// the app does; a distributor of an image with none assigned is left as
// it is.
func filledIn(t *testing.T, golden json.RawMessage, version string, assigned []gallery.Assigned) string {
	t.Helper()
	var body map[string]any
	if err := json.Unmarshal(golden, &body); err != nil {
		t.Fatal(err)
	}
	if props, ok := body["properties"].(map[string]any); ok {
		if src, ok := props["source"].(map[string]any); ok && src["version"] == "latest" && version != "" {
			src["version"] = version
		}
		dists, _ := props["distribute"].([]any)
		for _, d := range dists {
			dist, _ := d.(map[string]any)
			gid, _ := dist["galleryImageId"].(string)
			if dist == nil || dist["type"] != "SharedImage" || gid == "" {
				continue
			}
			image := gallery.ImageID(gid)
			for _, a := range assigned {
				if strings.EqualFold(a.Image, image) {
					dist["galleryImageId"] = image + "/versions/" + a.Version
					delete(dist, "versioning")
				}
			}
		}
	}
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return canonical(t, b)
}

// canonical is JSON with its keys sorted and no spacing.
func canonical(t *testing.T, b []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// The deployment templates of template/testdata/shapes, written in the
// shapes of the AVM image-template module, the CARML module
// (languageVersion 2.0), the AVD accelerator (an image template in a
// nested deployment at subscription scope) and a template linking another
// by relativePath, uploaded with their parameters files (and the linked
// file), build end to end on the simulator; the body Image Builder
// received for each is the shape's golden body (template's TestShapes),
// with the utcNow() values the app takes from the blob's Last-Modified
// and the gallery version the version policy gave the build. Three shapes
// publish to the same image definition and are admitted together: each is
// given a version of its own (none fails at distribution for a version
// that exists).
func TestShapesBuildEndToEnd(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(shapesDir, "*.golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("%d shapes, want the AVM, CARML, AVD and linked ones", len(files))
	}
	h, c := shapesHarness(t, "shapes")
	want := map[string]json.RawMessage{} // template name → golden body
	for _, f := range files {
		shape := strings.TrimSuffix(filepath.Base(f), ".golden.json")
		h.uploadShape(shape)
		var rec template.Record
		if code := h.get("/api/templates/"+shape, &rec); code != 200 {
			t.Fatalf("%s: GET %d", shape, code)
		}
		if !rec.Valid || rec.Rendered == nil {
			t.Fatalf("%s: valid=%v problems=%v", shape, rec.Valid, rec.Problems)
		}
		for _, e := range shapeGolden(t, shape, rec.LastModified) {
			var got template.Record
			if code := h.get("/api/templates/"+e.Name, &got); code != 200 || !got.Valid {
				t.Fatalf("%s: GET %d valid=%v %v", e.Name, code, got.Valid, got.Problems)
			}
			want[e.Name] = e.Template
			if g, w := canonical(t, got.Rendered.JSON), filledIn(t, e.Template, got.Rendered.SourceVersion, nil); g != w {
				t.Errorf("%s: the app recorded\n%s\nwant (golden)\n%s", e.Name, g, w)
			}
		}
	}
	// the file the linked shape links is no template of its own: recorded as linked, no problems
	var linked template.Record
	if code := h.get("/api/templates/linked%2Faib-image", &linked); code != 200 || linked.Kind != template.KindLinked ||
		len(linked.Problems) != 0 || len(linked.LinkedBy) != 1 || linked.LinkedBy[0] != "linked-image-template.json" {
		t.Errorf("linked/aib-image: %d kind=%q linkedBy=%v problems=%v", code, linked.Kind, linked.LinkedBy, linked.Problems)
	}
	var linking template.Record
	h.get("/api/templates/linked-image-template", &linking)
	if len(linking.Linked) != 1 || linking.Linked[0].Blob != "linked/aib-image.json" || linking.Linked[0].ETag == "" {
		t.Errorf("the linking template's record lists %+v", linking.Linked)
	}
	list := h.tickUntil(c, 30*time.Second, func(list []builds.Build) bool {
		done := 0
		for _, b := range list {
			if builds.Terminal(b.State) {
				done++
			}
		}
		return done >= len(want)
	})
	if len(list) != len(want) {
		t.Fatalf("%d builds for %d templates: %+v", len(list), len(want), list)
	}
	published := map[string]string{} // image/versions/x → the template given it
	for _, b := range list {
		if b.State != builds.StateSucceeded {
			t.Errorf("%s: %s: %s", b.Template, b.State, b.Error)
			continue
		}
		body, ok := h.sim.Submitted(b.AIBName)
		if !ok {
			t.Errorf("%s: Image Builder received no template %s", b.Template, b.AIBName)
			continue
		}
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		if b.SourceVersion == "" || b.SourceVersion == "latest" {
			t.Errorf("%s: the build records no exact source version: %q", b.Template, b.SourceVersion)
		}
		if got, w := canonical(t, raw), filledIn(t, want[b.Template], b.SourceVersion, b.GalleryVersions); got != w {
			t.Errorf("%s: Image Builder received\n%s\nwant (golden)\n%s", b.Template, got, w)
		}
		if len(b.GalleryVersions) == 0 {
			t.Errorf("%s: the build records no gallery version assigned by the version policy", b.Template)
		}
		for _, a := range b.GalleryVersions {
			k := strings.ToLower(a.Image) + "/versions/" + a.Version
			if other, ok := published[k]; ok {
				t.Errorf("%s and %s were both given %s", other, b.Template, k)
			}
			published[k] = b.Template
		}
	}
}
