package template

import (
	"encoding/json"
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
