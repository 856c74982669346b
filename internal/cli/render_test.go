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
