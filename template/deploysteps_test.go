package template

import (
	"encoding/json"
	"strings"
	"testing"
)

// withDeployment edits a deployment template made by inDeployment: extra
// resources appended, members (outputs, …) set.
func withDeployment(t *testing.T, dep []byte, resources []string, members map[string]string) []byte {
	t.Helper()
	var d map[string]json.RawMessage
	if err := json.Unmarshal(dep, &d); err != nil {
		t.Fatal(err)
	}
	var res []json.RawMessage
	if err := json.Unmarshal(d["resources"], &res); err != nil {
		t.Fatal(err)
	}
	for _, r := range resources {
		res = append(res, json.RawMessage(r))
	}
	d["resources"], _ = json.Marshal(res)
	for k, v := range members {
		d[k] = json.RawMessage(v)
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hasPath(list []Problem, path, text string) bool {
	for _, p := range list {
		if p.Path == path && strings.Contains(p.Message, text) {
			return true
		}
	}
	return false
}

// TestParseDeploymentSteps checks what each step of parseDeployment
// contributes to the templates of a deployment file: output problems kept
// apart, other resources listed, the file's warnings and notes, false
// conditions, secure parameters, the stand-in warning last.
func TestParseDeploymentSteps(t *testing.T) {
	opts := Options{ScriptsURL: testScriptsURL, Deployment: corpusDeployment}
	tests := []struct {
		name  string
		file  func(t *testing.T) []byte
		opts  Options
		check func(t *testing.T, out []*Parsed)
	}{
		{"an output's problem is the outputs', not the template's", func(t *testing.T) []byte {
			return withDeployment(t, inDeployment(t, linuxBase, `{}`, ""), nil,
				map[string]string{"outputs": `{"bad": {"type": "string", "value": "[nosuchfunction()]"}, "good": {"type": "string", "value": "ok"}}`})
		}, opts, func(t *testing.T, out []*Parsed) {
			p := out[0]
			if !hasPath(p.OutputProblems, "outputs.bad.value", "nosuchfunction") {
				t.Errorf("output problems %v, want one at outputs.bad.value", problemStrings(p.OutputProblems))
			}
			for _, pr := range p.Problems {
				if strings.HasPrefix(pr.Path, "outputs") {
					t.Errorf("an output's problem among the template's: %v", pr)
				}
			}
			if !p.Valid() {
				t.Errorf("problems %v", problemStrings(p.Problems))
			}
			if _, ok := p.Outputs["good"]; !ok {
				t.Errorf("outputs %v, want good", p.Outputs)
			}
		}},
		{"other resources are listed by type and name, sorted", func(t *testing.T) []byte {
			return withDeployment(t, inDeployment(t, linuxBase, `{}`, ""), []string{
				`{"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01", "name": "stimages", "location": "westeurope", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}`,
				`{"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2023-01-31", "name": "id-aib", "location": "westeurope"}`,
			}, nil)
		}, opts, func(t *testing.T, out []*Parsed) {
			want := "Microsoft.ManagedIdentity/userAssignedIdentities id-aib|Microsoft.Storage/storageAccounts stimages"
			if got := strings.Join(out[0].OtherResources, "|"); got != want {
				t.Errorf("other resources %q, want %q", got, want)
			}
		}},
		{"an unused parameter without a value is the file's warning", func(t *testing.T) []byte {
			return inDeployment(t, linuxBase, `{}`, `{"unused": {"type": "string"}}`)
		}, opts, func(t *testing.T, out []*Parsed) {
			if !hasPath(out[0].Warnings, "parameters.unused", "has no value") {
				t.Errorf("warnings %v, want one at parameters.unused", problemStrings(out[0].Warnings))
			}
		}},
		{"a secure parameter with a default value is warned of", func(t *testing.T) []byte {
			return inDeployment(t, linuxBase, `{"tags": {"pw": "[parameters('pw')]"}}`, `{"pw": {"type": "securestring", "defaultValue": "s3cret"}}`)
		}, opts, func(t *testing.T, out []*Parsed) {
			if !hasPath(out[0].Warnings, "parameters.pw", "secure parameter") {
				t.Errorf("warnings %v, want one at parameters.pw", problemStrings(out[0].Warnings))
			}
		}},
		{"a secure parameter without a value is not", func(t *testing.T) []byte {
			return inDeployment(t, linuxBase, `{}`, `{"pw": {"type": "securestring", "defaultValue": ""}, "other": {"type": "string", "defaultValue": "x"}}`)
		}, opts, func(t *testing.T, out []*Parsed) {
			if hasPath(out[0].Warnings, "parameters.other", "secure parameter") {
				t.Errorf("warnings %v: a plain parameter taken for a secure one", problemStrings(out[0].Warnings))
			}
		}},
		{"the only image template has a false condition", func(t *testing.T) []byte {
			return inDeployment(t, linuxBase, `{"condition": false}`, "")
		}, opts, func(t *testing.T, out []*Parsed) {
			if len(out) != 1 || !hasPath(out[0].Problems, "resources", "false condition") {
				t.Fatalf("%d templates, problems %v; want the false-condition problem", len(out), problemStrings(out[0].Problems))
			}
			found := false
			for _, n := range out[0].Notes {
				found = found || strings.Contains(n, "condition is false: this image template is not deployed")
			}
			if !found {
				t.Errorf("notes %q, want the image template's false condition", out[0].Notes)
			}
		}},
		{"no image template at all", func(t *testing.T) []byte {
			return []byte(`{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
			  "resources": [{"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2023-01-31", "name": "id-aib", "location": "westeurope"}]}`)
		}, opts, func(t *testing.T, out []*Parsed) {
			if len(out) != 1 || !hasPath(out[0].Problems, "resources", "holds no") {
				t.Fatalf("%d templates, problems %v; want \"holds no\"", len(out), problemStrings(out[0].Problems))
			}
			if got := strings.Join(out[0].OtherResources, "|"); got != "Microsoft.ManagedIdentity/userAssignedIdentities id-aib" {
				t.Errorf("other resources %q", got)
			}
		}},
		{"stand-in values are warned of last", func(t *testing.T) []byte {
			return inDeployment(t, linuxBase, `{"location": "[resourceGroup().location]"}`, `{"unused": {"type": "string"}}`)
		}, Options{ScriptsURL: testScriptsURL, Deployment: func() Deployment { d := corpusDeployment; d.StandIn = true; return d }()},
			func(t *testing.T, out []*Parsed) {
				w := out[0].Warnings
				if len(w) < 2 || w[len(w)-1].Path != "(template)" || !strings.Contains(w[len(w)-1].Message, "stand-in") {
					t.Errorf("warnings %v, want the stand-in warning last", problemStrings(w))
				}
			}},
		{"two image templates of one name", func(t *testing.T) []byte {
			return inDeployment(t, linuxBase, `{"copy": {"name": "c", "count": 2}}`, "")
		}, opts, func(t *testing.T, out []*Parsed) {
			if len(out) != 2 || !hasPath(out[1].Problems, "resources[0].name", "name of another image template") {
				var ps []string
				for _, p := range out {
					ps = append(ps, problemStrings(p.Problems)...)
				}
				t.Errorf("%d templates, problems %v; want the second named twice", len(out), ps)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := ParseFile("dep", tt.file(t), nil, tt.opts)
			if len(out) == 0 {
				t.Fatal("no template")
			}
			tt.check(t, out)
		})
	}
}
