package arm

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

const schema = `"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0"`

func TestEvaluateResourcesAndOutputs(t *testing.T) {
	tpl := `{` + schema + `,
	  // comments as ARM allows them
	  "parameters": {"prefix": {"type": "string"}, "make": {"type": "bool", "defaultValue": false}},
	  "variables": {"name": "[concat(parameters('prefix'), '-vnet')]"},
	  "resources": [
	    {"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2023-05-01", "name": "[variables('name')]", "location": "[resourceGroup().location]",
	     "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}},
	    {"condition": "[parameters('make')]", "type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01", "name": "st"},
	    {"type": "Microsoft.Authorization/locks", "apiVersion": "2020-05-01", "name": "lock", "scope": "[resourceId('Microsoft.Network/virtualNetworks', variables('name'))]", "properties": {"level": "CanNotDelete"}}
	  ],
	  "outputs": {"vnet": {"type": "string", "value": "[variables('name')]"}, "n": {"type": "int", "value": "[add(1, 2)]"},
	    "o": {"type": "object", "value": {"a": ["[parameters('make')]", null]}},
	    "hidden": {"condition": "[parameters('make')]", "type": "string", "value": "x"}}
	}`
	params := `{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#", "contentVersion": "1.0.0.0",
	  "parameters": {"prefix": {"value": "hub"}}}`
	d, err := Evaluate([]byte(tpl), []byte(params), testScope)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Problems) != 0 {
		t.Fatalf("problems: %v", d.Problems)
	}
	if len(d.Resources) != 2 {
		t.Fatalf("%d resources, want 2 (the storage account's condition is false)", len(d.Resources))
	}
	vnet, lock := d.Resources[0], d.Resources[1]
	if vnet.Path != "resources[0]" || vnet.Name != "hub-vnet" || vnet.Type != "Microsoft.Network/virtualNetworks" || vnet.APIVersion != "2023-05-01" ||
		vnet.Scope != "/subscriptions/"+testScope.SubscriptionID+"/resourceGroups/rg-images" {
		t.Errorf("vnet = %+v", vnet)
	}
	var body map[string]any
	if err := json.Unmarshal(vnet.Body, &body); err != nil || body["location"] != "westeurope" || body["name"] != "hub-vnet" {
		t.Errorf("vnet body = %s (%v)", vnet.Body, err)
	}
	if want := "/subscriptions/" + testScope.SubscriptionID + "/resourceGroups/rg-images/providers/Microsoft.Network/virtualNetworks/hub-vnet"; lock.Scope != want || lock.Path != "resources[2]" {
		t.Errorf("lock scope = %q at %s, want %q", lock.Scope, lock.Path, want)
	}
	if strings.Contains(string(lock.Body), `"scope"`) {
		t.Errorf("the body keeps the template-only scope: %s", lock.Body)
	}
	if len(d.Notes) != 1 || d.Notes[0] != (Problem{"resources[1]", MsgConditionFalse}) {
		t.Errorf("notes = %v", d.Notes)
	}
	want := map[string]any{"vnet": "hub-vnet", "n": json.Number("3"), "o": map[string]any{"a": []any{false, nil}}}
	if !reflect.DeepEqual(d.Outputs, want) {
		t.Errorf("outputs = %#v, want %#v", d.Outputs, want)
	}
}

func TestEvaluateProblemsHavePaths(t *testing.T) {
	tpl := `{` + schema + `, "parameters": {"a": {"type": "string"}, "unused": {"type": "int"}},
	  "resources": [{"type": "Microsoft.Compute/disks", "apiVersion": "2023-04-02", "name": "[parameters('a')]", "properties": {"x": "[reference('y').z]"}}, 7],
	  "outputs": {"bad": {"type": "string", "value": "[nope()]"}}}`
	d, err := Evaluate([]byte(tpl), []byte(`{"b": {"value": 1}}`), Scope{})
	if err != nil {
		t.Fatal(err)
	}
	got := func(list []Problem) string {
		var s []string
		for _, p := range list {
			s = append(s, p.String())
		}
		return strings.Join(s, "\n")
	}
	for _, want := range []string{
		"(parameters file).parameters.b: the template declares no such parameter",
		"resources[1]: must be an object, not a number",
		`outputs.bad.value: [nope()]: nope is not an ARM template function`,
	} {
		if !strings.Contains(got(d.Problems), want) {
			t.Errorf("no %q in problems:\n%s", want, got(d.Problems))
		}
	}
	if !strings.Contains(got(d.Warnings), "parameters.unused: has no value") {
		t.Errorf("warnings: %s", got(d.Warnings))
	}
	if len(d.Resources) != 1 {
		t.Fatalf("resources: %+v", d.Resources)
	}
	r := got(d.Resources[0].Problems)
	for _, want := range []string{`resources[0].name: [parameters('a')]: parameter "a" has no value`, "resources[0].properties.x: [reference('y').z]: reference() is not supported offline"} {
		if !strings.Contains(r, want) {
			t.Errorf("no %q in the resource's problems:\n%s", want, r)
		}
	}
	if d.Resources[0].Name != "" || d.Resources[0].Scope != "" {
		t.Errorf("name %q, scope %q: want both empty (not known)", d.Resources[0].Name, d.Resources[0].Scope)
	}
}

func TestEvaluateRefusesWhatIsNoTemplate(t *testing.T) {
	for _, in := range []string{`{`, `[1]`, strings.Repeat(" ", MaxBytes+1)} {
		if _, err := Evaluate([]byte(in), nil, testScope); !errors.Is(err, ErrNotTemplate) {
			t.Errorf("%.10q: err = %v", in, err)
		}
	}
}

func TestEvaluateStandIn(t *testing.T) {
	tpl := `{` + schema + `, "resources": [{"type": "A.B/c", "apiVersion": "1", "name": "[resourceGroup().name]"}]}`
	s := testScope
	s.StandIn = true
	d, _ := Evaluate([]byte(tpl), nil, s)
	if len(d.Warnings) != 1 || !strings.Contains(d.Warnings[0].Message, "stand-in values") {
		t.Errorf("warnings = %v", d.Warnings)
	}
}

// ARM drops properties whose value is null (template-expressions, "Null
// values"), so if(cond, value, null()) leaves a property out.
func TestNullPropertiesDropped(t *testing.T) {
	tpl := `{` + schema + `, "parameters": {"on": {"type": "bool", "defaultValue": false}},
	  "resources": [{"type": "A.B/c", "apiVersion": "1", "name": "n",
	    "tags": {"gone": "[if(false(), 'x', null())]", "kept": "[if(true(), 'x', null())]", "json": "[json('null')]", "literal": null},
	    "properties": {"deep": {"off": "[if(parameters('on'), createObject('a', 1), null())]", "list": [null, "[null()]", 1]}, "empty": {"n": null}}}]}`
	d, err := Evaluate([]byte(tpl), nil, testScope)
	if err != nil || len(d.Resources) != 1 || len(d.Resources[0].Problems) > 0 {
		t.Fatalf("%v %+v", err, d)
	}
	want := `{"type":"A.B/c","apiVersion":"1","name":"n","tags":{"kept":"x"},"properties":{"deep":{"list":[null,null,1]},"empty":{}}}`
	if got := string(d.Resources[0].Body); got != want {
		t.Errorf("body\n got %s\nwant %s", got, want)
	}
}
