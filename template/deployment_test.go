package template

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// inDeployment wraps a bare image template (linuxBase, windowsBase) as a
// resource of a deployment template, with extra members for the resource
// (name, tags, copy …) given as JSON text, and the deployment's parameters.
func inDeployment(t *testing.T, base, extra, parameters string) []byte {
	t.Helper()
	var res map[string]json.RawMessage
	if err := json.Unmarshal([]byte(base), &res); err != nil {
		t.Fatal(err)
	}
	var more map[string]json.RawMessage
	if err := json.Unmarshal([]byte(extra), &more); err != nil {
		t.Fatal(err)
	}
	for k, v := range more {
		res[k] = v
	}
	if _, ok := res["name"]; !ok {
		res["name"] = json.RawMessage(`"img"`)
	}
	b, _ := json.Marshal(res)
	if parameters == "" {
		parameters = "{}"
	}
	return []byte(`{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
	  "parameters": ` + parameters + `, "resources": [` + string(b) + `]}`)
}

// ARM drops null-valued properties (template-expressions, "Null values"):
// Bicep's and the AVM modules' `if(cond, value, null())` tags work.
func TestNullPropertiesLeaveTheImageTemplate(t *testing.T) {
	tpl := inDeployment(t, linuxBase, `{"tags": {"owner": "[if(false(), 'x', null())]", "team": "[if(true(), 'images', null())]"},
	  "properties": {"source": {"type": "PlatformImage", "publisher": "Canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts-gen2", "version": "latest"},
	    "stagingResourceGroup": "[if(false(), 'x', null())]",
	    "distribute": [{"type": "SharedImage", "galleryImageId": "/subscriptions/0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11/resourceGroups/rg-images/providers/Microsoft.Compute/galleries/golden/images/jammy",
	      "runOutputName": "jammy", "targetRegions": [{"name": "westeurope", "replicaCount": 1}]}]}}`, "")
	out := ParseFile("nulls", tpl, nil, Options{ScriptsURL: testScriptsURL, Deployment: corpusDeployment})
	if len(out) != 1 || !out[0].Valid() {
		t.Fatalf("%d templates; problems %v", len(out), problemStrings(out[0].Problems))
	}
	p := out[0]
	if _, ok := p.Template.Tags["owner"]; ok {
		t.Errorf("the null tag is kept: %v", p.Template.Tags)
	}
	if v := p.Template.Tags["team"]; v == nil || *v != "images" {
		t.Errorf("tags = %v", p.Template.Tags)
	}
	if p.Template.Properties.StagingResourceGroup != nil {
		t.Errorf("stagingResourceGroup = %q, want absent", *p.Template.Properties.StagingResourceGroup)
	}
	if !strings.Contains(string(p.upgradedTo), `"tags":{"team":"images"}`) {
		t.Errorf("body: %s", p.upgradedTo)
	}
}

// The 2024-02-01 spec: an empty stagingResourceGroup means Image Builder
// creates one with a random name. Anything else must be a group's id.
func TestEmptyStagingResourceGroupIsImageBuilders(t *testing.T) {
	tests := []struct {
		value   any
		valid   bool
		finding string
	}{
		{"", true, "properties.stagingResourceGroup: empty: Image Builder creates a staging resource group"},
		{"/subscriptions/0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11/resourceGroups/rg-staging", true, ""},
		{"rg-staging", false, `properties.stagingResourceGroup: "rg-staging" is not a resource group id`},
	}
	for _, tt := range tests {
		t.Run(tt.value.(string), func(t *testing.T) {
			p := Parse("staging", edit(t, linuxBase, "properties.stagingResourceGroup", tt.value), Options{ScriptsURL: testScriptsURL})
			if p.Valid() != tt.valid {
				t.Fatalf("valid = %v: %v", p.Valid(), problemStrings(p.Problems))
			}
			all := strings.Join(append(problemStrings(p.Problems), p.Notes...), "\n")
			if tt.finding != "" && !strings.Contains(all, tt.finding) {
				t.Errorf("no %q in:\n%s", tt.finding, all)
			}
			if tt.finding == "" && strings.Contains(all, "stagingResourceGroup") {
				t.Errorf("a finding about the group:\n%s", all)
			}
		})
	}
}

// Each copy of an image template in a resource copy loop is a template of
// its own, named as a file's several templates are (file.resourceName);
// property loops build its steps.
func TestCopiesOfAnImageTemplate(t *testing.T) {
	tpl := inDeployment(t, linuxBase, `{"name": "[format('jammy-{0}', parameters('stages')[copyIndex()])]",
	  "copy": {"name": "stages", "count": "[length(parameters('stages'))]", "mode": "serial", "batchSize": 1},
	  "tags": {"stage": "[parameters('stages')[copyIndex()]]"},
	  "properties": {"source": {"type": "PlatformImage", "publisher": "Canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts-gen2", "version": "latest"},
	    "copy": [{"name": "customize", "count": "[length(parameters('steps'))]",
	      "input": {"type": "Shell", "name": "[format('step{0}', copyIndex('customize', 1))]", "inline": ["[parameters('steps')[copyIndex('customize')]]"]}}],
	    "distribute": [{"type": "VHD", "runOutputName": "[format('vhd-{0}', copyIndex())]"}]}}`,
		`{"stages": {"type": "array", "defaultValue": ["test", "prod"]}, "steps": {"type": "array", "defaultValue": ["echo one", "echo two"]}}`)
	out := ParseFile("jammy", tpl, nil, Options{ScriptsURL: testScriptsURL, Deployment: corpusDeployment})
	if len(out) != 2 {
		t.Fatalf("%d templates, want 2", len(out))
	}
	for i, stage := range []string{"test", "prod"} {
		p := out[i]
		if !p.Valid() {
			t.Fatalf("%s: %v", p.Name, problemStrings(p.Problems))
		}
		if p.Name != "jammy.jammy-"+stage || p.ResourceName != "jammy-"+stage || p.PathPrefix != "resources[0]" {
			t.Errorf("template %d: name %q resource %q at %q", i, p.Name, p.ResourceName, p.PathPrefix)
		}
		body := string(p.upgradedTo)
		for _, want := range []string{`"stage":"` + stage + `"`, `"runOutputName":"vhd-` + fmt.Sprint(i) + `"`,
			`"customize":[{"type":"Shell","name":"step1","inline":["echo one"]},{"type":"Shell","name":"step2","inline":["echo two"]}]`} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: no %s in %s", p.Name, want, body)
			}
		}
	}

	// copies that share a name are refused: ARM would deploy one resource twice
	same := inDeployment(t, linuxBase, `{"name": "jammy", "copy": {"name": "c", "count": 2}}`, "")
	out = ParseFile("same", same, nil, Options{ScriptsURL: testScriptsURL, Deployment: corpusDeployment})
	if len(out) != 2 || out[0].Valid() == false || out[1].Valid() ||
		!strings.Contains(strings.Join(problemStrings(out[1].Problems), "\n"), `resources[0].name: "jammy" is the name of another image template of this file`) {
		t.Errorf("same names: %d templates; %v / %v", len(out), problemStrings(out[0].Problems), problemStrings(out[len(out)-1].Problems))
	}
}
