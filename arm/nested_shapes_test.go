package arm

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The deployment templates of ../template/testdata/shapes, written in the
// shapes Microsoft's module libraries compile to (each file's header
// names the module), evaluate to the resources and outputs expected here.
// template/'s TestShapes checks the Image Builder bodies they become.
func TestShapes(t *testing.T) {
	const sub = "0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11"
	rg := "/subscriptions/" + sub + "/resourceGroups/rg-images"
	avdRG := "/subscriptions/" + sub + "/resourceGroups/rg-avd-avd1-weu-shared-services"
	cases := []struct {
		file      string
		resources []string // "path|type|name|scope"; "*" matches any name
		notes     []string
		outputs   map[string]any
		check     func(t *testing.T, d *Deployment)
	}{
		{
			file: "carml-image-template",
			resources: []string{
				"resources.imageTemplate|Microsoft.VirtualMachineImages/imageTemplates|golden-jammy-it|" + rg,
				"resources.imageTemplate_lock|Microsoft.Authorization/locks|golden-jammy-it-lock|" + rg + "/providers/Microsoft.VirtualMachineImages/imageTemplates/golden-jammy-it",
			},
			outputs: map[string]any{
				"name":           "golden-jammy-it",
				"resourceId":     rg + "/providers/Microsoft.VirtualMachineImages/imageTemplates/golden-jammy-it",
				"runThisCommand": "Invoke-AzResourceAction -ResourceName golden-jammy-it -ResourceGroupName rg-images -ResourceType Microsoft.VirtualMachineImages/imageTemplates -Action Run -Force",
			},
			check: func(t *testing.T, d *Deployment) {
				b := body(t, d.Resources[0])
				props := b["properties"].(map[string]any)
				if _, ok := props["stagingResourceGroup"]; ok {
					t.Errorf("a null stagingResourceGroup is kept: %s", d.Resources[0].Body)
				}
				if vp := props["vmProfile"].(map[string]any); vp["vnetConfig"] != nil {
					t.Errorf("vnetConfig of a null subnet is kept: %v", vp)
				}
				if tags := b["tags"].(map[string]any); !reflect.DeepEqual(tags, map[string]any{"os": "jammy"}) {
					t.Errorf("tags = %v (the null owner dropped)", tags)
				}
				at := props["distribute"].([]any)[0].(map[string]any)["artifactTags"]
				if !reflect.DeepEqual(at, map[string]any{"sourceType": "PlatformImage", "lock": "yes"}) {
					t.Errorf("artifactTags = %v", at)
				}
			},
		},
		{
			file: "avd-custom-image",
			resources: []string{
				"resources[1]|Microsoft.Resources/resourceGroups|rg-avd-avd1-weu-shared-services|/subscriptions/" + sub,
				"resources[2]|Microsoft.Resources/deployments|AVD-Image-Builder-*|/subscriptions/" + sub,
				"resources[2].properties.template.resources[0]|Microsoft.ManagedIdentity/userAssignedIdentities|id-avd-imagebuilder-weu|" + avdRG,
				"resources[2].properties.template.resources[1]|Microsoft.VirtualMachineImages/imageTemplates|it-avd-win11_23h2|" + avdRG,
			},
			notes: []string{"resources[0]: " + MsgConditionFalse},
			outputs: map[string]any{
				"resourceGroupName": "rg-avd-avd1-weu-shared-services",
				"imageTemplateName": "it-avd-win11_23h2",
				"identityId":        avdRG + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-avd-imagebuilder-weu",
			},
			check: func(t *testing.T, d *Deployment) {
				id := body(t, d.Resources[2])
				if id["location"] != "westeurope" { // the group's, created by the parent
					t.Errorf("identity location = %v", id["location"])
				}
				img := body(t, d.Resources[3])
				src := img["properties"].(map[string]any)["source"]
				want := map[string]any{"publisher": "MicrosoftWindowsDesktop", "offer": "windows-11", "sku": "win11-23h2-avd", "type": "PlatformImage", "version": "latest"}
				if !reflect.DeepEqual(src, want) {
					t.Errorf("source = %v", src)
				}
				if _, ok := img["identity"].(map[string]any)["userAssignedIdentities"].(map[string]any)[avdRG+"/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-avd-imagebuilder-weu"]; !ok {
					t.Errorf("identity = %v", img["identity"])
				}
			},
		},
		{
			file: "linked-image-template",
			resources: []string{
				"resources[0]|Microsoft.Resources/deployments|image|" + rg,
				"resources[0].properties.templateLink.resources[0]|Microsoft.VirtualMachineImages/imageTemplates|jammy-linked|" + rg,
			},
			outputs: map[string]any{"runOutputName": "jammy-linked-out"},
		},
		{
			file: "avm-image-template",
			resources: []string{
				"resources.avmTelemetry|Microsoft.Resources/deployments|46d3xbcp.res.vmimages-imagetemplate.*|" + rg,
				"resources.imageTemplate|Microsoft.VirtualMachineImages/imageTemplates|vmimgmax-2024-12-10-02-00-00|" + rg,
				"*|Microsoft.Authorization/roleAssignments|*|" + rg + "/providers/Microsoft.VirtualMachineImages/imageTemplates/vmimgmax-2024-12-10-02-00-00",
				"*|Microsoft.Authorization/roleAssignments|*|" + rg + "/providers/Microsoft.VirtualMachineImages/imageTemplates/vmimgmax-2024-12-10-02-00-00",
			},
			outputs: map[string]any{
				"name":       "vmimgmax-2024-12-10-02-00-00",
				"resourceId": rg + "/providers/Microsoft.VirtualMachineImages/imageTemplates/vmimgmax-2024-12-10-02-00-00",
				"telemetry":  "For more information, see https://aka.ms/avm/TelemetryInfo",
				"identities": []any{rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/aib"},
			},
			check: func(t *testing.T, d *Deployment) {
				img := body(t, d.Resources[1])
				props := img["properties"].(map[string]any)
				dist := props["distribute"].([]any)
				if len(dist) != 2 || dist[0].(map[string]any)["runOutputName"] != "jammy-SharedImage" || dist[1].(map[string]any)["runOutputName"] != "jammy-vhd-VHD" {
					t.Errorf("distribute = %v", dist)
				}
				if props["optimize"] == nil || props["vmProfile"].(map[string]any)["vmSize"] != "Standard_D2s_v3" {
					t.Errorf("properties = %v", props)
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			dir := filepath.Join("..", "template", "testdata", "shapes")
			tpl, err := os.ReadFile(filepath.Join(dir, c.file+".json"))
			if err != nil {
				t.Fatal(err)
			}
			params, err := os.ReadFile(filepath.Join(dir, c.file+".parameters.json"))
			if err != nil {
				t.Fatal(err)
			}
			scope := testScope
			scope.Load = func(rel string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel))) }
			d, err := Evaluate(tpl, params, scope)
			if err != nil {
				t.Fatal(err)
			}
			res, probs := summary(d)
			if len(probs) > 0 {
				t.Errorf("findings:\n%s", strings.Join(probs, "\n"))
			}
			if len(d.Resources) != len(c.resources) {
				t.Fatalf("resources:\n%s\nwant:\n%s", strings.Join(res, "\n"), strings.Join(c.resources, "\n"))
			}
			for i, want := range c.resources {
				r := d.Resources[i]
				got := []string{r.Path, r.Type, r.Name, r.Scope}
				for j, w := range strings.Split(want, "|") {
					if w == "*" || strings.HasSuffix(w, "*") && strings.HasPrefix(got[j], strings.TrimSuffix(w, "*")) {
						continue
					}
					if got[j] != w {
						t.Errorf("resource %d: %q, want %q", i, strings.Join(got, "|"), want)
						break
					}
				}
			}
			var notes []string
			for _, n := range d.Notes {
				notes = append(notes, n.String())
			}
			if !reflect.DeepEqual(notes, c.notes) {
				t.Errorf("notes = %q, want %q", notes, c.notes)
			}
			if !reflect.DeepEqual(jsonish(d.Outputs), jsonish(c.outputs)) {
				t.Errorf("outputs = %v, want %v", d.Outputs, c.outputs)
			}
			if c.check != nil {
				c.check(t, d)
			}
		})
	}
}

// jsonish compares outputs as JSON values (numbers as text).
func jsonish(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
