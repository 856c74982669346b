package arm

import (
	"strings"
	"testing"
)

// Parameters are checked as ARM checks them before a deployment: declared,
// of their type, among the allowed values, within their bounds.
func TestParameterChecks(t *testing.T) {
	decls := `"parameters": {
	  "s": {"type": "string", "allowedValues": ["Small", "Large"]},
	  "n": {"type": "int", "minValue": 2, "maxValue": 4},
	  "l": {"type": "array", "minLength": 1, "maxLength": 2},
	  "name": {"type": "string", "minLength": 3, "maxLength": 5},
	  "b": {"type": "bool"},
	  "o": {"type": "secureObject"},
	  "odd": {"type": "float"},
	  "bad": 7,
	  "unused": {"type": "string"},
	  "kv": {"type": "securestring"}
	}`
	tests := []struct{ name, params, want string }{
		{"allowed values ignore case", `{"s": {"value": "small"}}`, ""},
		{"not an allowed value", `{"s": {"value": "Medium"}}`, `parameters.s: "Medium" is not one of the allowed values: Small, Large`},
		{"below minValue", `{"n": {"value": 1}}`, "parameters.n: 1 is below the minValue 2"},
		{"above maxValue", `{"n": {"value": 5}}`, "parameters.n: 5 is above the maxValue 4"},
		{"an array too short", `{"l": {"value": []}}`, "parameters.l: is 0 long, below the minLength 1"},
		{"an array too long", `{"l": {"value": [1, 2, 3]}}`, "parameters.l: is 3 long, above the maxLength 2"},
		{"a string too short", `{"name": {"value": "ab"}}`, "parameters.name: is 2 long, below the minLength 3"},
		{"a string too long", `{"name": {"value": "abcdef"}}`, "parameters.name: is 6 long, above the maxLength 5"},
		{"of another type", `{"b": {"value": "yes"}}`, "parameters.b: is declared bool but its value is a string"},
		{"an object", `{"o": {"value": {"a": 1}}}`, ""},
		{"undeclared", `{"zzz": {"value": 1}}`, "(parameters file).parameters.zzz: the template declares no such parameter"},
		{"a Key Vault reference", `{"kv": {"reference": {"keyVault": {"id": "x"}, "secretName": "s"}}}`, ""},
		{"neither value nor reference", `{"s": {"other": 1}}`, `(parameters file).parameters.s: has neither "value" nor "reference"`},
		{"a value that is no object", `{"s": "Small"}`, `(parameters file).parameters.s: must be an object with a "value"`},
		{"the standard shape", `{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#", "parameters": {"s": {"value": "Large"}}}`, ""},
		{"parameters that are no object", `{"$schema": "x", "parameters": [1]}`, "(parameters file).parameters: must be an object, not an array"},
		{"not JSON", `{`, "(parameters file): not valid JSON"},
		{"not an object", `[1]`, "(parameters file): must be a JSON object, not an array"},
		{"comments allowed", "// values\n{\"s\": {\"value\": \"Small\"}} /* end */", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Evaluate([]byte(`{`+schema+`, `+decls+`, "resources": []}`), []byte(tt.params), testScope)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range d.Problems {
				if p.Path == "parameters.odd.type" || p.Path == "parameters.bad" {
					continue // always there: checked below
				}
				got = append(got, p.String())
			}
			all := strings.Join(got, "\n")
			if tt.want == "" && all != "" || !strings.Contains(all, tt.want) {
				t.Errorf("problems:\n%s\nwant %q", all, tt.want)
			}
			var warn []string
			for _, w := range d.Warnings {
				warn = append(warn, w.String())
			}
			if !strings.Contains(strings.Join(warn, "\n"), "parameters.unused: has no value (parameters file or defaultValue); nothing uses it") {
				t.Errorf("warnings: %v", warn)
			}
			found := 0
			for _, p := range d.Problems {
				if p.Path == "parameters.odd.type" && strings.Contains(p.Message, "must be one of string") ||
					p.Path == "parameters.bad" && strings.Contains(p.Message, "must be an object declaring the parameter's type") {
					found++
				}
			}
			if found != 2 {
				t.Errorf("the bad declarations are not reported: %v", d.Problems)
			}
		})
	}
	d, _ := Evaluate([]byte(`{`+schema+`, "parameters": [1], "resources": []}`), nil, testScope)
	if len(d.Problems) != 1 || d.Problems[0].String() != "parameters: must be an object, not an array" {
		t.Errorf("parameters as an array: %v", d.Problems)
	}
}

// A nested deployment's inner template is its own deployment: kept as
// written here; a resource's scope element says where it is deployed.
func TestNestedDeploymentAndScope(t *testing.T) {
	tpl := `{` + schema + `, "parameters": {"p": {"type": "string", "defaultValue": "outer"}}, "resources": [
	  {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "[concat('inner-', parameters('p'))]",
	   "properties": {"mode": "Incremental", "parameters": {"x": {"value": "[parameters('p')]"}},
	     "template": {"parameters": {"x": {"type": "string"}}, "resources": [{"type": "A.B/c", "apiVersion": "1", "name": "[parameters('x')]"}]}}},
	  {"type": "Microsoft.Authorization/locks", "apiVersion": "2020-05-01", "name": "l", "scope": "[concat('/subscriptions/', subscription().subscriptionId)]"},
	  {"type": "Microsoft.Authorization/locks", "apiVersion": "2020-05-01", "name": "l2", "scope": "[format('Microsoft.VirtualMachineImages/imageTemplates/{0}', 'it')]"}],
	  "outputs": {"bad": {"type": "string"}, "wrong": 1, "hidden": {"condition": false, "type": "string", "value": "[nope()]"}}}`
	d, err := Evaluate([]byte(tpl), nil, testScope)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Resources) != 3 || len(d.Resources[0].Problems) != 0 {
		t.Fatalf("%+v", d.Resources)
	}
	body := string(d.Resources[0].Body)
	for _, want := range []string{`"name":"inner-outer"`, `"parameters":{"x":{"value":"outer"}}`, `"name":"[parameters('x')]"`} {
		if !strings.Contains(body, want) {
			t.Errorf("no %s in %s", want, body)
		}
	}
	if d.Resources[1].Scope != "/subscriptions/"+testScope.SubscriptionID {
		t.Errorf("scope %q", d.Resources[1].Scope)
	}
	// Bicep's `scope: imageTemplate`, compiled: a resource of the group
	if want := "/subscriptions/" + testScope.SubscriptionID + "/resourceGroups/rg-images/providers/Microsoft.VirtualMachineImages/imageTemplates/it"; d.Resources[2].Scope != want {
		t.Errorf("scope %q, want %q", d.Resources[2].Scope, want)
	}
	var problems []string
	for _, p := range d.Problems {
		problems = append(problems, p.String())
	}
	if got := strings.Join(problems, "\n"); got != "outputs.bad: has no value\noutputs.wrong: must be an object with a type and a value, not a number" {
		t.Errorf("problems:\n%s", got)
	}
}

func TestResourcesShapes(t *testing.T) {
	for tpl, want := range map[string]string{
		`{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"}`: "resources: is required in a deployment template",
		`{"resources": 1}`:                 "resources: must be an array, not a number",
		`{"resources": [], "outputs": []}`: "outputs: must be an object, not an array",
		`{"resources": [{"type": "A.B/c", "apiVersion": "1", "name": "n", "condition": "yes"}]}`:                                       "resources[0].condition: must be a boolean, not a string",
		`{"resources": [{"type": "A.B/c", "apiVersion": "1", "name": "n", "tags": {"[concat('a')]": 1, "[createArray(1)]": 2}}]}`:      "a property name must be a string, not an array",
		`{"resources": [{"type": "A.B/c", "apiVersion": "1", "name": "n", "copy": []}]}`:                                               "resources[0].copy: a resource's copy must be an object",
		`{"resources": [], "outputs": {"o": {"type": "array", "copy": 1}}}`:                                                            "outputs.o.copy: an output's copy must be an object",
		`{"resources": [], "outputs": {"o": {"type": "array", "copy": {"count": 1}}}}`:                                                 "outputs.o.copy.input: an output's copy needs an input",
		`{"resources": [{"type": "A.B/c", "apiVersion": "1", "name": "n", "properties": {"copy": [{"name": "p", "count": 1}]}}]}`:      "resources[0].properties.copy[0].input: a copy loop needs an input",
		`{"functions": [{"namespace": "ns", "members": {}}], "resources": [{"type": "A.B/c", "apiVersion": "1", "name": "[ns.f()]"}]}`: "ns.f is a user-defined function",
	} {
		d, err := Evaluate([]byte(tpl), nil, testScope)
		if err != nil {
			t.Fatal(err)
		}
		var all []string
		for _, p := range d.Problems {
			all = append(all, p.String())
		}
		for _, r := range d.Resources {
			for _, p := range r.Problems {
				all = append(all, p.String())
			}
		}
		for _, n := range d.Notes {
			all = append(all, n.String())
		}
		if got := strings.Join(all, "\n"); !strings.Contains(got, want) {
			t.Errorf("%s:\n%s\nwant %q", tpl, got, want)
		}
	}
}
