package app

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/internal/cli"
	"github.com/goldenpipe/goldenpipe/template"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const (
	corpusDir        = "../template/testdata/corpus"
	corpusScriptsURL = "https://goldenscripts.blob.core.windows.net/scripts" // what the corpus's files name
)

// corpusFile reads a corpus file with its scripts container's URL replaced
// by this harness's.
func (h *harness) corpusFile(name string) []byte {
	h.t.Helper()
	b, err := os.ReadFile(filepath.Join(corpusDir, name))
	if err != nil {
		h.t.Fatal(err)
	}
	return bytes.ReplaceAll(b, []byte(corpusScriptsURL), []byte(h.scriptsURL()))
}

func (h *harness) scriptsURL() string { return h.svc.NewContainerClient(h.s.ScriptsContainer).URL() }

// uploadCorpusScripts puts the corpus's scripts in the scripts container,
// each with its upload event.
func (h *harness) uploadCorpusScripts() {
	h.t.Helper()
	root := filepath.Join(corpusDir, "scripts")
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		h.upload(h.s.ScriptsContainer, filepath.ToSlash(rel), b)
		h.blobEvent("ScriptUploaded", h.s.ScriptsContainer, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

// A deployment template and its parameters file, uploaded with their events,
// become one valid template whose evaluated values are those `az deployment
// group create` would deploy (golden file), built end to end; a change to
// the parameters file alone renders it again and builds once more.
func TestDeploymentTemplateWithParametersEndToEnd(t *testing.T) {
	h := newHarnessWith(t, "armdep", fastSimulator())
	h.uploadCorpusScripts()
	// the parameters file first: alone it is nothing to build
	h.upload(h.s.TemplatesContainer, "avd10.parameters.json", h.corpusFile("arm-avd-win10-sig.parameters.json"))
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "avd10.parameters.json")
	if code := h.get("/api/templates/avd10", nil); code != 404 {
		t.Fatalf("a parameters file without its template made a record: %d", code)
	}
	if code := h.get("/api/templates/avd10.parameters", nil); code != 404 {
		t.Fatalf("a parameters file was taken for a template: %d", code)
	}
	h.upload(h.s.TemplatesContainer, "avd10.json", h.corpusFile("arm-avd-win10-sig.json"))
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "avd10.json")

	var rec template.Record
	if code := h.get("/api/templates/avd10", &rec); code != 200 {
		t.Fatalf("GET: %d", code)
	}
	if !rec.Valid || rec.Kind != template.KindDeployment || rec.ResourceName != "wvd10ImageTemplate01" || rec.ParametersBlob != "avd10.parameters.json" {
		t.Fatalf("record: valid=%v kind=%q resource=%q params=%q problems=%v", rec.Valid, rec.Kind, rec.ResourceName, rec.ParametersBlob, rec.Problems)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, rec.Rendered.JSON, "", "  "); err != nil {
		t.Fatal(err)
	}
	got := strings.ReplaceAll(pretty.String(), h.scriptsURL(), "{scripts container}") + "\n"
	golden := filepath.Join("testdata", "deployment-template.rendered.json")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("rendered template differs from %s:\n%s", golden, got)
	}

	list := h.monitorUntilDone("avd10")
	if len(list) != 1 || list[0].State != builds.StateSucceeded || list[0].SourceVersion != "19045.5131.241106" {
		t.Fatalf("builds: %+v", list)
	}

	// a new gallery image definition in the parameters file: rendered again, one more build
	params := bytes.ReplaceAll(h.corpusFile("arm-avd-win10-sig.parameters.json"), []byte("images/win10avd"), []byte("images/win10avd-v2"))
	h.upload(h.s.TemplatesContainer, "avd10.parameters.json", params)
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "avd10.parameters.json")
	h.get("/api/templates/avd10", &rec)
	if !strings.Contains(string(rec.Rendered.JSON), "images/win10avd-v2") {
		t.Fatalf("the parameters file's change was not rendered: %s", rec.Rendered.JSON)
	}
	list = h.monitorUntilDone("avd10")
	if len(list) != 2 || list[0].State != builds.StateSucceeded {
		t.Fatalf("after the parameters changed: %d builds %+v", len(list), list)
	}
	if h.sim.Calls("Create") != 2 {
		t.Errorf("%d creates, want 2", h.sim.Calls("Create"))
	}

	// deleting the template removes its record; the parameters file alone does nothing
	if _, err := h.svc.NewContainerClient(h.s.TemplatesContainer).NewBlobClient("avd10.json").Delete(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "avd10.json") // an event is a hint: the blob is read as it is
	if code := h.get("/api/templates/avd10", nil); code != 404 {
		t.Errorf("after delete: %d", code)
	}
}

// `goldenpipe validate` prints, for every corpus file, exactly the problems
// and warnings the function app records for it.
func TestValidateCommandMatchesTheAppsRecords(t *testing.T) {
	h := newHarness(t, "valcmp")
	h.uploadCorpusScripts()
	dir := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(corpusDir, "*.json"))
	for _, f := range files {
		name := filepath.Base(f)
		b := h.corpusFile(name)
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		h.upload(h.s.TemplatesContainer, name, b)
	}
	for _, f := range files {
		h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, filepath.Base(f))
	}

	var out, errOut bytes.Buffer
	scripts, _ := filepath.Abs(filepath.Join(corpusDir, "scripts"))
	env := map[string]string{}
	code := cli.Validate(context.Background(), []string{"--json", "--scripts", scripts, "--scripts-url", h.scriptsURL(),
		"--subscription", "00000000-0000-0000-0000-000000000000", "--resource-group", h.s.ResourceGroup, "--location", h.s.Location, dir},
		func(k string) (string, bool) { v, ok := env[k]; return v, ok }, &out, &errOut)
	if code != 1 {
		t.Fatalf("exit %d (the corpus has invalid templates, so 1): %s", code, errOut.String())
	}
	var results []cli.ValidateResult
	if err := json.Unmarshal(out.Bytes(), &results); err != nil {
		t.Fatal(err)
	}
	if len(results) < 30 {
		t.Fatalf("%d results", len(results))
	}
	invalid := 0
	for _, res := range results {
		var rec template.Record
		if code := h.get("/api/templates/"+res.Template, &rec); code != 200 {
			t.Errorf("%s: no record for template %q (%d)", res.File, res.Template, code)
			continue
		}
		if rec.Valid != res.Valid {
			t.Errorf("%s: valid %v in the app, %v in validate", res.Template, rec.Valid, res.Valid)
		}
		if !res.Valid {
			invalid++
		}
		compare := func(what string, app, cmd []template.Problem) {
			a, c := problemLines(app), problemLines(cmd)
			if strings.Join(a, "\n") != strings.Join(c, "\n") {
				t.Errorf("%s: %s differ\napp:\n  %s\nvalidate:\n  %s", res.Template, what, strings.Join(a, "\n  "), strings.Join(c, "\n  "))
			}
		}
		compare("problems", rec.Problems, res.Problems)
		compare("warnings", rec.Warnings, res.Warnings)
	}
	if invalid < 10 {
		t.Errorf("only %d invalid templates compared", invalid)
	}
}

func problemLines(ps []template.Problem) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.String())
	}
	sort.Strings(out)
	return out
}

// A user's template with an image beyond the examples builds on the
// simulator; an image the marketplace does not have is a problem naming it.
func TestAnyMarketplaceImageBuildsLocally(t *testing.T) {
	h := newHarnessWith(t, "mkt", fastSimulator())
	h.uploadCorpusScripts()
	rhel := h.corpusFile("bare-2021-rhel-sig.json") // RedHat:RHEL:9-lvm-gen2, version latest
	h.upload(h.s.TemplatesContainer, "rhel9.json", rhel)
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "rhel9.json")
	list := h.monitorUntilDone("rhel9")
	if len(list) != 1 || list[0].State != builds.StateSucceeded || list[0].SourceVersion != "9.5.2024111422" {
		t.Fatalf("RHEL 9 from latest: %+v", list)
	}

	unknown := bytes.ReplaceAll(rhel, []byte(`"sku": "9-lvm-gen2"`), []byte(`"sku": "9-lvm-gen3"`))
	h.upload(h.s.TemplatesContainer, "rhel-typo.json", unknown)
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "rhel-typo.json")
	var rec template.Record
	h.get("/api/templates/rhel-typo", &rec)
	if rec.Valid || len(rec.Problems) != 1 || rec.Problems[0].Path != "properties.source" ||
		!strings.Contains(rec.Problems[0].Message, "RedHat:RHEL:9-lvm-gen3 is not in the marketplace of westeurope") {
		t.Errorf("unknown image: valid=%v %v", rec.Valid, rec.Problems)
	}
}
