package app

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/internal/cli"
	"github.com/goldenpipe/goldenpipe/template"
)

// A deployment template linking another by templateLink.relativePath is
// evaluated in the app with the linked blob read from the templates
// container: uploaded before the file it links, it is invalid with a
// problem naming the missing blob; the linked file's upload renders it
// again and it builds; a change to the linked blob alone re-plans and
// rebuilds it, and Image Builder receives the changed body. A link by uri
// is a problem naming it.
func TestLinkedTemplateChangeRebuildsTheLinkingTemplate(t *testing.T) {
	h, c := shapesHarness(t, "linked")
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(shapesDir, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	h.upload(h.s.TemplatesContainer, "jammy.parameters.json", read("linked-image-template.parameters.json"))
	h.upload(h.s.TemplatesContainer, "jammy.json", read("linked-image-template.json"))
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "jammy.json")
	var rec template.Record
	if code := h.get("/api/templates/jammy", &rec); code != 200 || rec.Valid {
		t.Fatalf("before the linked file: %d valid=%v", code, rec.Valid)
	}
	if len(rec.Problems) != 1 || rec.Problems[0].Path != "resources[0].properties.templateLink.relativePath" ||
		!strings.Contains(rec.Problems[0].Message, `no blob "linked/aib-image.json" in the templates container`) {
		t.Errorf("problems: %v", rec.Problems)
	}

	// the linked file, beside the linking one: its upload renders the linking template, which builds
	linked := read("linked/aib-image.json")
	h.upload(h.s.TemplatesContainer, "linked/aib-image.json", linked)
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "linked/aib-image.json")
	if code := h.get("/api/templates/jammy", &rec); code != 200 || !rec.Valid || !bytes.Contains(rec.Rendered.JSON, []byte(`"echo hello"`)) {
		t.Fatalf("after the linked file: %d valid=%v %v", code, rec.Valid, rec.Problems)
	}
	if len(rec.Linked) != 1 || rec.Linked[0].Blob != "linked/aib-image.json" || rec.Linked[0].ETag == "" {
		t.Errorf("linked: %+v", rec.Linked)
	}
	var lrec template.Record
	if code := h.get("/api/templates/linked%2Faib-image", &lrec); code != 200 || lrec.Kind != template.KindLinked ||
		len(lrec.Problems) != 0 || len(lrec.LinkedBy) != 1 || lrec.LinkedBy[0] != "jammy.json" {
		t.Errorf("the linked file's record: %d kind=%q by=%v problems=%v", code, lrec.Kind, lrec.LinkedBy, lrec.Problems)
	}
	succeeded := func(n int) func([]builds.Build) bool {
		return func(list []builds.Build) bool {
			done := 0
			for _, b := range list {
				if b.State == builds.StateSucceeded {
					done++
				} else if builds.Terminal(b.State) {
					t.Fatalf("build %s: %s %s", b.ID, b.State, b.Error)
				}
			}
			return done >= n
		}
	}
	list := h.tickUntil(c, 30*time.Second, succeeded(1))
	if len(list) != 1 || list[0].Template != "jammy" {
		t.Fatalf("builds: %+v", list)
	}

	// the linked blob changes alone: the linking template is re-planned and rebuilt with it
	h.upload(h.s.TemplatesContainer, "linked/aib-image.json", bytes.Replace(linked, []byte("echo hello"), []byte("echo changed"), 1))
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "linked/aib-image.json")
	h.get("/api/templates/jammy", &rec)
	if !rec.Valid || !bytes.Contains(rec.Rendered.JSON, []byte(`"echo changed"`)) {
		t.Fatalf("the linked blob's change was not rendered: valid=%v %s", rec.Valid, rec.Rendered.JSON)
	}
	list = h.tickUntil(c, 30*time.Second, succeeded(2))
	if len(list) != 2 {
		t.Fatalf("%d builds after the linked blob changed, want 2", len(list))
	}
	changed := 0
	for _, b := range list {
		body, ok := h.sim.Submitted(b.AIBName)
		if ok && len(body.Properties.Customize) == 1 && strings.Contains(string(mustJSON(t, body.Properties.Customize[0])), "echo changed") {
			changed++
		}
	}
	if changed != 1 {
		t.Errorf("%d of the bodies Image Builder received carry the change, want 1", changed)
	}
	// an event for the unchanged linked blob builds nothing more
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "linked/aib-image.json")
	h.drain()
	var after []builds.Build
	h.getBuilds("/api/builds?template=jammy", &after)
	if len(after) != 2 {
		t.Errorf("%d builds after a repeated event, want 2", len(after))
	}

	// the nightly refresh (every blob listed, the reverse index listed once) keeps both as they are
	h.invoke("NightlyRebuild", []byte(timerBody))
	h.get("/api/templates/linked%2Faib-image", &lrec)
	h.get("/api/templates/jammy", &rec)
	if lrec.Kind != template.KindLinked || len(lrec.Problems) != 0 || !rec.Valid || len(rec.Linked) != 1 {
		t.Errorf("after the nightly refresh: linked kind=%q %v; linking valid=%v %v", lrec.Kind, lrec.Problems, rec.Valid, rec.Problems)
	}

	// the linking template deleted: the linked file is linked no more, and shows what it is on its own
	if _, err := h.svc.NewContainerClient(h.s.TemplatesContainer).NewBlobClient("jammy.json").Delete(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "jammy.json")
	h.get("/api/templates/linked%2Faib-image", &lrec)
	if lrec.Kind == template.KindLinked || lrec.Valid || len(lrec.Problems) == 0 {
		t.Errorf("linked by nothing: kind=%q valid=%v %v", lrec.Kind, lrec.Valid, lrec.Problems)
	}

	// a link by uri is a problem naming it
	uri := bytes.Replace(read("linked-image-template.json"), []byte(`{"relativePath": "linked/aib-image.json"}`), []byte(`{"uri": "https://example.com/aib-image.json"}`), 1)
	h.upload(h.s.TemplatesContainer, "uri.json", uri)
	h.upload(h.s.TemplatesContainer, "uri.parameters.json", read("linked-image-template.parameters.json"))
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "uri.json")
	h.get("/api/templates/uri", &rec)
	if rec.Valid || len(rec.Problems) != 1 || rec.Problems[0].Path != "resources[0].properties.templateLink.uri" ||
		!strings.Contains(rec.Problems[0].Message, "a linked template by URI is not fetched offline") {
		t.Errorf("uri: valid=%v %v", rec.Valid, rec.Problems)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A linked file that is a whole template on its own (an image template,
// every parameter with a value) is a template as well: both it and the
// template that links it are built.
func TestALinkedFileThatIsATemplateOfItsOwnIsBuiltToo(t *testing.T) {
	h, c := shapesHarness(t, "linkwhole")
	b, err := os.ReadFile(filepath.Join(shapesDir, "linked", "aib-image.json"))
	if err != nil {
		t.Fatal(err)
	}
	whole := bytes.Replace(b, []byte(`"name": {"type": "string"},`), []byte(`"name": {"type": "string", "defaultValue": "base"},`), 1)
	whole = bytes.Replace(whole, []byte(`"identityId": {"type": "string"},`), []byte(`"identityId": {"type": "string", "defaultValue": "[resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', 'aib')]"},`), 1)
	whole = bytes.Replace(whole, []byte(`"galleryImageId": {"type": "string"},`), []byte(`"galleryImageId": {"type": "string", "defaultValue": "[resourceId('Microsoft.Compute/galleries/images', 'golden', 'base')]"},`), 1)
	if bytes.Equal(whole, b) {
		t.Fatal("the linked shape's parameters were not found")
	}
	linking, err := os.ReadFile(filepath.Join(shapesDir, "linked-image-template.json"))
	if err != nil {
		t.Fatal(err)
	}
	linking = bytes.Replace(linking, []byte(`"relativePath": "linked/aib-image.json"`), []byte(`"relativePath": "base.json"`), 1)
	params, err := os.ReadFile(filepath.Join(shapesDir, "linked-image-template.parameters.json"))
	if err != nil {
		t.Fatal(err)
	}
	h.upload(h.s.TemplatesContainer, "base.json", whole)
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "base.json")
	h.upload(h.s.TemplatesContainer, "jammy.parameters.json", params)
	h.upload(h.s.TemplatesContainer, "jammy.json", linking)
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "jammy.json")
	for _, name := range []string{"base", "jammy"} {
		var rec template.Record
		if code := h.get("/api/templates/"+name, &rec); code != 200 || !rec.Valid || rec.Kind != template.KindDeployment {
			t.Fatalf("%s: %d valid=%v kind=%q %v", name, code, rec.Valid, rec.Kind, rec.Problems)
		}
	}
	list := h.tickUntil(c, 30*time.Second, func(list []builds.Build) bool {
		done := 0
		for _, b := range list {
			if b.State == builds.StateSucceeded {
				done++
			}
		}
		return done == 2
	})
	if len(list) != 2 {
		t.Errorf("builds: %+v", list)
	}
}

// `goldenpipe render` on a template linking another by relativePath reads
// the linked file from the folder on disk and prints the very body the
// function app records from the templates container (the source version
// written out, since only Azure resolves "latest").
func TestRenderOfALinkingTemplateMatchesTheApp(t *testing.T) {
	h := newHarnessSettings(t, "linkrender", sims{}, shapesScope)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "linked"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"linked/aib-image.json", "linked-image-template.parameters.json", "linked-image-template.json"} {
		b, err := os.ReadFile(filepath.Join(shapesDir, filepath.FromSlash(f)))
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.ReplaceAll(b, []byte(`"version": "latest"`), []byte(`"version": "22.04.202411190"`))
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
		h.upload(h.s.TemplatesContainer, f, b)
	}
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "linked-image-template.json")
	var rec template.Record
	if code := h.get("/api/templates/linked-image-template", &rec); code != 200 || !rec.Valid {
		t.Fatalf("GET: %d valid=%v %v", code, rec.Valid, rec.Problems)
	}
	var out, errOut bytes.Buffer
	code := cli.Render(context.Background(), []string{"--subscription", shapesScope["AZURE_SUBSCRIPTION_ID"], "--resource-group", h.s.ResourceGroup,
		"--location", h.s.Location, filepath.Join(dir, "linked-image-template.json")}, func(string) (string, bool) { return "", false }, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out.String(), errOut.String())
	}
	var res cli.RenderResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Templates) != 1 {
		t.Fatalf("%s", out.String())
	}
	if app, cmd := canonical(t, rec.Rendered.JSON), canonical(t, res.Templates[0].Body); app != cmd {
		t.Errorf("render's body differs from the app's record\napp:    %s\nrender: %s", app, cmd)
	}
	if !bytes.Contains(rec.Rendered.JSON, []byte("jammy-linked-out")) {
		t.Errorf("the linked template was not evaluated: %s", rec.Rendered.JSON)
	}
}
