package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func render(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Render(context.Background(), args, func(string) (string, bool) { return "", false }, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestRenderUsage(t *testing.T) {
	if code, _, errOut := render(t, "-h"); code != 0 || !strings.Contains(errOut, "usage: goldenpipe render") {
		t.Errorf("-h: exit %d, %s", code, errOut)
	}
	if code, _, _ := render(t); code != 2 {
		t.Errorf("no file: exit %d, want 2", code)
	}
	if code, _, _ := render(t, "a.json", "b.json"); code != 2 {
		t.Errorf("two files: exit %d, want 2", code)
	}
	if code, _, _ := render(t, filepath.Join(t.TempDir(), "none.json")); code != 2 {
		t.Errorf("a missing file: exit %d, want 2", code)
	}
}

func TestRenderPrintsBodiesAndOutputs(t *testing.T) {
	dir := t.TempDir()
	tpl := `{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
	  "parameters": {"sku": {"type": "string"}},
	  "resources": [{"type": "Microsoft.VirtualMachineImages/imageTemplates", "apiVersion": "2024-02-01", "name": "img", "location": "[resourceGroup().location]",
	    "identity": {"type": "UserAssigned", "userAssignedIdentities": {"[resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', 'aib')]": {}}},
	    "tags": {"gone": "[if(false(), 'x', null())]"},
	    "properties": {"source": {"type": "PlatformImage", "publisher": "Canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "[parameters('sku')]", "version": "22.04.202411010"},
	      "distribute": [{"type": "VHD", "runOutputName": "vhd"}]}}],
	  "outputs": {"sku": {"type": "string", "value": "[parameters('sku')]"}, "live": {"type": "object", "value": "[reference('x')]"}}}`
	file := filepath.Join(dir, "jammy.json")
	if err := os.WriteFile(file, []byte(tpl), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "jammy.parameters.json"), []byte(`{"sku": {"value": "22_04-lts-gen2"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := render(t, "--subscription", "s1", "--resource-group", "g1", "--location", "northeurope", file)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	var res RenderResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Templates) != 1 || res.Templates[0].Name != "jammy" {
		t.Fatalf("%s", out)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, res.Templates[0].Body); err != nil {
		t.Fatal(err)
	}
	body := compact.String()
	for _, want := range []string{`"location":"northeurope"`, `"sku":"22_04-lts-gen2"`, `"/subscriptions/s1/resourceGroups/g1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/aib"`} {
		if !strings.Contains(body, want) {
			t.Errorf("no %s in the body: %s", want, body)
		}
	}
	if strings.Contains(body, "gone") || strings.Contains(body, `"name"`) {
		t.Errorf("the body holds what Image Builder does not get: %s", body)
	}
	if res.Outputs["sku"] != "22_04-lts-gen2" || len(res.OutputProblems) != 1 || res.OutputProblems[0].Path != "outputs.live.value" {
		t.Errorf("outputs %v, problems %v", res.Outputs, res.OutputProblems)
	}

	// another parameters file, named: its values are used
	other := filepath.Join(dir, "other.json")
	if err := os.WriteFile(other, []byte(`{"sku": {"value": "22_04-lts"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, out, _ := render(t, "--parameters", other, file); !strings.Contains(out, `"sku": "22_04-lts"`) {
		t.Errorf("--parameters not used: %s", out)
	}
}

func TestRenderAProblemIsExitOne(t *testing.T) {
	code, out, _ := render(t, filepath.Join(corpus, "arm-missing-parameter.json"))
	var res RenderResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if code != 1 || len(res.Templates) != 1 || string(res.Templates[0].Body) != "null" || len(res.Templates[0].Problems) == 0 {
		t.Errorf("exit %d: %s", code, out)
	}
}

// copyShape copies the linked shape (template, parameters file and the
// linked/ folder) into a fresh folder.
func copyShape(t *testing.T) string {
	t.Helper()
	src := filepath.Join("..", "..", "template", "testdata", "shapes")
	dir := t.TempDir()
	for _, f := range []string{"linked-image-template.json", "linked-image-template.parameters.json", "linked/aib-image.json"} {
		b, err := os.ReadFile(filepath.Join(src, filepath.FromSlash(f)))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// render on a template that links another by templateLink.relativePath
// reads the linked file from the linking file's folder on disk: what it
// prints changes when the linked file does; a missing linked file and a
// link by uri are problems naming them.
func TestRenderReadsLinkedTemplatesFromDisk(t *testing.T) {
	dir := copyShape(t)
	file := filepath.Join(dir, "linked-image-template.json")
	scope := []string{"--subscription", "s1", "--resource-group", "g1", "--location", "northeurope"}
	code, out, errOut := render(t, append(scope, file)...)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	var res RenderResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	if len(res.Templates) == 1 {
		_ = json.Compact(&body, res.Templates[0].Body)
	}
	if !strings.Contains(body.String(), `"runOutputName":"jammy-linked-out"`) ||
		!strings.Contains(body.String(), `"inline":["echo hello"]`) || res.Outputs["runOutputName"] != "jammy-linked-out" {
		t.Fatalf("%s", out)
	}

	linked := filepath.Join(dir, "linked", "aib-image.json")
	b, _ := os.ReadFile(linked)
	if err := os.WriteFile(linked, bytes.Replace(b, []byte(`echo hello`), []byte(`echo changed`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := render(t, append(scope, file)...); code != 0 || !strings.Contains(out, `echo changed`) {
		t.Errorf("after the linked file changed: exit %d %s", code, out)
	}

	if err := os.Remove(linked); err != nil {
		t.Fatal(err)
	}
	code, out, _ = render(t, append(scope, file)...)
	if code != 1 || !strings.Contains(out, `resources[0].properties.templateLink.relativePath`) || !strings.Contains(out, `no file linked/aib-image.json`) {
		t.Errorf("a missing linked file: exit %d %s", code, out)
	}

	tpl, _ := os.ReadFile(file)
	uri := bytes.Replace(tpl, []byte(`{"relativePath": "linked/aib-image.json"}`), []byte(`{"uri": "https://example.com/aib-image.json"}`), 1)
	if bytes.Equal(uri, tpl) {
		t.Fatal("the shape's templateLink was not found")
	}
	if err := os.WriteFile(file, uri, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ = render(t, append(scope, file)...)
	if code != 1 || !strings.Contains(out, `resources[0].properties.templateLink.uri`) || !strings.Contains(out, `a linked template by URI is not fetched offline`) {
		t.Errorf("a uri link: exit %d %s", code, out)
	}
}

// validate on a folder holding a linking template and the file it links
// evaluates the linking one with the linked file, and reports the linked
// file (whose parameters come from the linking deployment) as linked, with
// no problems, as the function app records it.
func TestValidateRecordsALinkedFileAsLinked(t *testing.T) {
	dir := copyShape(t)
	var out, errOut bytes.Buffer
	code := Validate(context.Background(), []string{"--json", "--subscription", "s1", "--resource-group", "g1", "--location", "northeurope", dir},
		func(string) (string, bool) { return "", false }, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out.String(), errOut.String())
	}
	var results []ValidateResult
	if err := json.Unmarshal(out.Bytes(), &results); err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 {
		t.Fatalf("%d results: %s", len(results), out.String())
	}
	for _, r := range results {
		switch filepath.Base(r.File) {
		case "linked-image-template.json":
			if !r.Valid || r.Kind != "deployment" || !strings.Contains(string(r.Rendered), "jammy-linked-out") {
				t.Errorf("linking: %+v", r)
			}
		case "aib-image.json":
			if r.Kind != "linked" || len(r.Problems) != 0 || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], `linked by "`) {
				t.Errorf("linked: %+v", r)
			}
		default:
			t.Errorf("unexpected %s", r.File)
		}
	}
}
