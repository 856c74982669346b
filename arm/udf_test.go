package arm

import (
	"strings"
	"testing"
)

func TestUserDefinedFunctions(t *testing.T) {
	// Microsoft Learn's user-defined-functions page: contoso.uniqueName
	// lower-cases its prefix and appends uniqueString(resourceGroup().id).
	functions := `"functions": [
	  {"namespace": "contoso", "members": {
	    "uniqueName": {"parameters": [{"name": "namePrefix", "type": "string"}],
	      "output": {"type": "string", "value": "[concat(toLower(parameters('namePrefix')), uniqueString(resourceGroup().id))]"}},
	    "twice": {"parameters": [{"name": "n", "type": "int", "minValue": 0}], "output": {"type": "int", "value": "[mul(parameters('n'), 2)]"}},
	    "quad": {"parameters": [{"name": "n", "type": "int"}], "output": {"type": "int", "value": "[contoso.twice(contoso.twice(parameters('n')))]"}},
	    "tagged": {"parameters": [{"name": "t", "$ref": "#/definitions/tagsType"}], "output": {"type": "object", "value": "[union(parameters('t'), createObject('by', 'udf'))]"}},
	    "leaky": {"parameters": [], "output": {"type": "string", "value": "[variables('v')]"}},
	    "outside": {"parameters": [], "output": {"type": "string", "value": "[parameters('p')]"}},
	    "wrongOut": {"parameters": [], "output": {"type": "string", "value": 3}},
	    "forever": {"parameters": [{"name": "n", "type": "int"}], "output": {"type": "int", "value": "[contoso.forever(parameters('n'))]"}}}},
	  {"namespace": "bad.ns", "members": {}},
	  {"namespace": "x", "members": {"d": {"parameters": [{"name": "a", "type": "int", "defaultValue": 1}], "output": {"type": "int", "value": 1}}}}]`
	tpl := `{` + schema + `, "languageVersion": "2.0", "definitions": {"tagsType": {"type": "object", "additionalProperties": {"type": "string"}}},
	  "parameters": {"p": {"type": "string", "defaultValue": "Hub"}}, "variables": {"v": "x"}, ` + functions + `,
	  "resources": {},
	  "outputs": {
	    "name": {"type": "string", "value": "[contoso.uniqueName(parameters('p'))]"},
	    "quad": {"type": "int", "value": "[contoso.quad(3)]"},
	    "tags": {"type": "object", "value": "[contoso.tagged(createObject('env', 'dev'))]"},
	    "badTags": {"type": "object", "value": "[contoso.tagged(createObject('env', 1))]"},
	    "negative": {"type": "int", "value": "[contoso.twice(-1)]"},
	    "leaky": {"type": "string", "value": "[contoso.leaky()]"},
	    "outside": {"type": "string", "value": "[contoso.outside()]"},
	    "wrongOut": {"type": "string", "value": "[contoso.wrongOut()]"},
	    "arity": {"type": "int", "value": "[contoso.twice(1, 2)]"},
	    "unknown": {"type": "int", "value": "[contoso.nope()]"},
	    "forever": {"type": "int", "value": "[contoso.forever(1)]"}}}`
	d, err := Evaluate([]byte(tpl), nil, testScope)
	if err != nil {
		t.Fatal(err)
	}
	want := "hub" + uniqueString("/subscriptions/"+testScope.SubscriptionID+"/resourceGroups/rg-images")
	if d.Outputs["name"] != want {
		t.Errorf("name = %v, want %s", d.Outputs["name"], want)
	}
	if n, _ := d.Outputs["quad"].(interface{ String() string }); n == nil || n.String() != "12" {
		t.Errorf("quad = %v, want 12", d.Outputs["quad"])
	}
	if tags, _ := d.Outputs["tags"].(map[string]any); tags["env"] != "dev" || tags["by"] != "udf" {
		t.Errorf("tags = %v", d.Outputs["tags"])
	}
	var got []string
	for _, p := range d.Problems {
		got = append(got, p.String())
	}
	all := strings.Join(got, "\n")
	for _, w := range []string{
		"functions[1].namespace: must be a name (a string without dots)",
		"functions[2].members.d.parameters[0]: a user-defined function's parameter can't have a default value",
		"outputs.badTags.value: [contoso.tagged(createObject('env', 1))]: contoso.tagged: argument 1 (t) env: is declared string but its value is a number",
		"outputs.negative.value: [contoso.twice(-1)]: contoso.twice: argument 1 (n) -1 is below the minValue 0",
		`outputs.leaky.value: [contoso.leaky()]: through function contoso.leaky: function contoso.leaky reads variable "v": a user-defined function can't use variables`,
		`outputs.outside.value: [contoso.outside()]: through function contoso.outside: function contoso.outside declares no parameter "p"`,
		"outputs.wrongOut.value: [contoso.wrongOut()]: contoso.wrongOut: its output is declared string but its value is a number",
		"outputs.arity.value: [contoso.twice(1, 2)]: contoso.twice takes 1 argument(s), not 2",
		"outputs.unknown.value: [contoso.nope()]: contoso.nope is not a user-defined function of this template",
		"outputs.forever.value: [contoso.forever(1)]: ",
	} {
		if !strings.Contains(all, w) {
			t.Errorf("no problem %q among:\n%s", w, all)
		}
	}
	if len(got) != 10 {
		t.Errorf("%d problems, want 10:\n%s", len(got), all)
	}
}

func TestUserDefinedFunctionDeclarations(t *testing.T) {
	for fns, want := range map[string]string{
		`{}`:                                  "functions: must be an array of namespaces, not an object",
		`[1]`:                                 "functions[0]: must be an object with a namespace and members, not a number",
		`[{"namespace": "n", "members": []}]`: "functions[0].members: must be an object of functions",
		`[{"namespace": "n", "members": {"f": 1}}]`:                                                          "functions[0].members.f: must be an object with parameters and an output",
		`[{"namespace": "n", "members": {"f": {"parameters": []}}}]`:                                         "functions[0].members.f.output: must be an object with a type and a value",
		`[{"namespace": "n", "members": {"f": {"parameters": {}, "output": {"type": "int", "value": 1}}}}]`:  "functions[0].members.f.parameters: must be an array",
		`[{"namespace": "n", "members": {"f": {"parameters": [1], "output": {"type": "int", "value": 1}}}}]`: "functions[0].members.f.parameters[0]: must be an object with a name and a type",
		`[{"namespace": "", "members": {}}]`:                                                                 "functions[0].namespace: must be a name",
	} {
		d, err := Evaluate([]byte(`{`+schema+`, "functions": `+fns+`, "resources": []}`), nil, testScope)
		if err != nil {
			t.Fatal(err)
		}
		if got := findings(d); !strings.Contains(got, want) {
			t.Errorf("%s: findings\n%s\nwant %q", fns, got, want)
		}
	}
}
