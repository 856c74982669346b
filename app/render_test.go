package app

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/internal/cli"
	"github.com/goldenpipe/goldenpipe/template"
)

// `goldenpipe render` on a deployment template with a parameters file
// prints the very body the function app records for the same two files
// (the source version written out, since only Azure resolves "latest"), and
// the deployment's evaluated outputs.
func TestRenderCommandPrintsTheBodyTheAppRecords(t *testing.T) {
	h := newHarness(t, "rendercmp")
	h.uploadCorpusScripts()
	tpl := bytes.ReplaceAll(h.corpusFile("arm-avd-win10-sig.json"), []byte(`"version": "latest"`), []byte(`"version": "19045.5131.241106"`))
	end := bytes.LastIndexByte(tpl, '}')
	tpl = append(append(append([]byte(nil), tpl[:end]...),
		[]byte(`, "outputs": {"group": {"type": "string", "value": "[concat('rg:', resourceGroup().name)]"}, "n": {"type": "int", "value": "[length(createArray(1, 2))]"}}}`)...), '\n')
	params := h.corpusFile("arm-avd-win10-sig.parameters.json")
	h.upload(h.s.TemplatesContainer, "avd10.parameters.json", params)
	h.upload(h.s.TemplatesContainer, "avd10.json", tpl)
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "avd10.json")
	var rec template.Record
	if code := h.get("/api/templates/avd10", &rec); code != 200 || !rec.Valid || rec.Rendered == nil {
		t.Fatalf("GET: %d valid=%v problems=%v", code, rec.Valid, rec.Problems)
	}

	dir := t.TempDir()
	file, pfile := filepath.Join(dir, "avd10.json"), filepath.Join(dir, "values.json") // not beside it: --parameters names it
	if err := os.WriteFile(file, tpl, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pfile, params, 0o644); err != nil {
		t.Fatal(err)
	}
	scripts, _ := filepath.Abs(filepath.Join(corpusDir, "scripts"))
	var out, errOut bytes.Buffer
	code := cli.Render(context.Background(), []string{"--parameters", pfile, "--scripts", scripts, "--scripts-url", h.scriptsURL(),
		"--subscription", "00000000-0000-0000-0000-000000000000", "--resource-group", h.s.ResourceGroup, "--location", h.s.Location, file},
		func(string) (string, bool) { return "", false }, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out.String(), errOut.String())
	}
	var res cli.RenderResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Templates) != 1 || res.Templates[0].Name != "avd10" || len(res.Templates[0].Problems) != 0 {
		t.Fatalf("%+v", res.Templates)
	}
	var app, cmd bytes.Buffer
	if err := json.Compact(&app, rec.Rendered.JSON); err != nil {
		t.Fatal(err)
	}
	if err := json.Compact(&cmd, res.Templates[0].Body); err != nil {
		t.Fatal(err)
	}
	if app.String() != cmd.String() {
		t.Errorf("render's body differs from the app's record\napp:    %s\nrender: %s", app.String(), cmd.String())
	}
	if !bytes.Contains(cmd.Bytes(), []byte(`"version":"19045.5131.241106"`)) || !bytes.Contains(cmd.Bytes(), []byte(`"sha256Checksum":"`)) {
		t.Errorf("the body lacks the version or a checksum: %s", cmd.String())
	}
	if res.Outputs["group"] != "rg:"+h.s.ResourceGroup || res.Outputs["n"] != 2.0 {
		t.Errorf("outputs = %v", res.Outputs)
	}
}

// A deployment template with a resource copy loop over images, a property
// loop building distribute and if(…, null()) properties (the shapes Bicep
// and the AVM module compile to) becomes one template per copy, each built
// end to end on the simulator.
func TestCopiesOfAnImageTemplateBuildEndToEnd(t *testing.T) {
	h := newHarnessWith(t, "armcopy", fastSimulator())
	h.uploadCorpusScripts()
	h.upload(h.s.TemplatesContainer, "jammy.parameters.json", h.corpusFile("arm-copy-loops.parameters.json"))
	h.upload(h.s.TemplatesContainer, "jammy.json", h.corpusFile("arm-copy-loops.json"))
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "jammy.json")
	for _, name := range []string{"jammy.jammy-vhd", "jammy.jammy-cis-vhd"} {
		var rec template.Record
		if code := h.get("/api/templates/"+name, &rec); code != 200 || !rec.Valid {
			t.Fatalf("%s: %d valid=%v %v", name, code, rec.Valid, rec.Problems)
		}
		if bytes.Contains(rec.Rendered.JSON, []byte(`"owner"`)) || bytes.Contains(rec.Rendered.JSON, []byte(`vnetConfig`)) {
			t.Errorf("%s: null properties reached the body: %s", name, rec.Rendered.JSON)
		}
		list := h.monitorUntilDone(name)
		if len(list) != 1 || list[0].State != builds.StateSucceeded {
			t.Fatalf("%s: builds %+v", name, list)
		}
	}
}
