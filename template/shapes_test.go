package template

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The deployment templates of testdata/shapes (each file's header names
// the public module whose shape it follows) become valid API 2024-02-01
// Image Builder bodies, compared with testdata/shapes/<name>.golden.json.
// `go test ./template -run TestShapes -update` rewrites the golden files;
// review the diff. arm's TestShapes checks every resource they evaluate to.
func TestShapes(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "shapes", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, file := range files {
		base := filepath.Base(file)
		if strings.HasSuffix(base, ".parameters.json") || strings.HasSuffix(base, ".golden.json") {
			continue
		}
		n++
		name := strings.TrimSuffix(base, ".json")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			params, err := os.ReadFile(filepath.Join("testdata", "shapes", name+".parameters.json"))
			if err != nil {
				t.Fatal(err)
			}
			dep := corpusDeployment
			dep.Load = func(rel string) ([]byte, error) {
				return os.ReadFile(filepath.Join("testdata", "shapes", filepath.FromSlash(rel)))
			}
			out := ParseFile(name, raw, params, Options{ScriptsURL: testScriptsURL, Deployment: dep})
			type entry struct {
				Name         string          `json:"name"`
				ResourceName string          `json:"resourceName"`
				At           string          `json:"at"`
				Warnings     []string        `json:"warnings,omitempty"`
				Notes        []string        `json:"notes,omitempty"`
				Template     json.RawMessage `json:"template"`
			}
			var got []entry
			r := &Renderer{ScriptsURL: testScriptsURL}
			for _, p := range out {
				if !p.Valid() {
					t.Fatalf("%s: problems:\n%s", p.Name, strings.Join(problemStrings(p.Problems), "\n"))
				}
				checked, err := r.Check(context.Background(), p)
				if err != nil || checked.Rendered == nil || len(checked.Problems) > 0 {
					t.Fatalf("%s: check: %v %v", p.Name, problemStrings(checked.Problems), err)
				}
				var body bytes.Buffer
				if err := json.Indent(&body, checked.Rendered.JSON, "", "  "); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(body.String(), `"distribute"`) || !strings.Contains(body.String(), `"userAssignedIdentities"`) {
					t.Errorf("%s: not a whole Image Builder body: %s", p.Name, body.String())
				}
				got = append(got, entry{Name: p.Name, ResourceName: p.ResourceName, At: p.PathPrefix, Warnings: problemStrings(checked.Warnings), Notes: p.Notes, Template: body.Bytes()})
			}
			b, err := json.MarshalIndent(got, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			b = append(b, '\n')
			golden := filepath.Join("testdata", "shapes", name+".golden.json")
			if *update {
				if err := os.WriteFile(golden, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(want, b) {
				t.Errorf("%s differs from %s:\n%s", file, golden, lineDiff(string(want), string(b)))
			}
		})
	}
	if n < 3 {
		t.Errorf("%d shapes, want the CARML, AVD and AVM ones at least", n)
	}
}

// A problem of the nested deployment that holds an image template (a
// parameter it needs) is the image template's; one of another nested
// deployment is not.
func TestNestedDeploymentProblemsReachTheirImage(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "shapes", "avd-custom-image.json"))
	if err != nil {
		t.Fatal(err)
	}
	// the nested image deployment is passed a parameter it does not declare; a second
	// nested deployment, holding no image, has a problem of its own
	tpl := strings.Replace(string(raw), `"galleryImageId": {"value": "[parameters('galleryImageId')]"},`, `"galleryImageId": {"value": "[parameters('galleryImageId')]"}, "undeclared": {"value": 1},`, 1)
	tpl = strings.Replace(tpl, `"resources": [
    {
      "condition": "[parameters('enableTelemetry')]",`, `"resources": [
    {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "other", "resourceGroup": "rg-x",
     "properties": {"expressionEvaluationOptions": {"scope": "inner"}, "parameters": {"nope": {"value": 1}}, "template": {"parameters": {"need": {"type": "int"}}, "resources": [{"type": "A.B/c", "apiVersion": "1", "name": "[string(parameters('need'))]"}]}}},
    {
      "condition": "[parameters('enableTelemetry')]",`, 1)
	params, err := os.ReadFile(filepath.Join("testdata", "shapes", "avd-custom-image.parameters.json"))
	if err != nil {
		t.Fatal(err)
	}
	out := ParseFile("avd", []byte(tpl), params, Options{ScriptsURL: testScriptsURL, Deployment: corpusDeployment})
	if len(out) != 1 {
		t.Fatalf("%d templates", len(out))
	}
	got := strings.Join(problemStrings(out[0].Problems), "\n")
	if !strings.Contains(got, `resources[3].properties.parameters.undeclared: the template declares no such parameter`) {
		t.Errorf("problems:\n%s", got)
	}
	if strings.Contains(got, "need") || strings.Contains(got, "nope") {
		t.Errorf("another deployment's problem reached the image template:\n%s", got)
	}
}
