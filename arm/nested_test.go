package arm

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

const subSchema = `"$schema": "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#", "contentVersion": "1.0.0.0"`

// summary is what a test compares of a deployment: each resource as
// "path type name @ scope", and every problem, warning and note.
func summary(d *Deployment) (res []string, probs []string) {
	for _, r := range d.Resources {
		res = append(res, fmt.Sprintf("%s %s %s @ %s", r.Path, r.Type, r.Name, r.Scope))
		for _, p := range r.Problems {
			probs = append(probs, "problem "+p.String())
		}
	}
	for _, p := range d.Problems {
		probs = append(probs, "problem "+p.String())
	}
	for _, p := range d.Warnings {
		probs = append(probs, "warning "+p.String())
	}
	return res, probs
}

func body(t *testing.T, r Resource) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("%s: body %s: %v", r.Path, r.Body, err)
	}
	return m
}

func TestNestedDeployments(t *testing.T) {
	sub := testScope.SubscriptionID
	rgScope := "/subscriptions/" + sub + "/resourceGroups/rg-images"
	cases := []struct {
		name      string
		tpl       string
		params    string
		scope     Scope
		resources []string
		problems  []string // substrings, each found in one problem; none other allowed
		outputs   map[string]any
		check     func(t *testing.T, d *Deployment)
	}{
		{
			name: "inner scope: parameters passed in, outputs read back by name and by resource id, in any order of the file",
			tpl: `{` + schema + `, "parameters": {"prefix": {"type": "string"}},
			  "resources": [
			    {"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01", "name": "[reference('inner').outputs.made.value]", "location": "westeurope",
			     "properties": {"id": "[reference(resourceId('Microsoft.Resources/deployments', 'inner'), '2022-09-01').outputs.n.value]"}},
			    {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "inner",
			     "properties": {"mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"},
			       "parameters": {"name": {"value": "[concat(parameters('prefix'), 'disk')]"}},
			       "template": {` + schema + `, "parameters": {"name": {"type": "string"}}, "variables": {"v": "[toUpper(parameters('name'))]"},
			         "resources": [{"type": "Microsoft.Compute/disks", "apiVersion": "2023-04-02", "name": "[variables('v')]", "location": "[resourceGroup().location]"}],
			         "outputs": {"made": {"type": "string", "value": "[variables('v')]"}, "n": {"type": "int", "value": 3}}}}}],
			  "outputs": {"fromNested": {"type": "string", "value": "[reference('inner').outputs.made.value]"}}}`,
			params: `{"prefix": {"value": "hub"}}`,
			scope:  testScope,
			resources: []string{
				"resources[0] Microsoft.Storage/storageAccounts HUBDISK @ " + rgScope,
				"resources[1] Microsoft.Resources/deployments inner @ " + rgScope,
				"resources[1].properties.template.resources[0] Microsoft.Compute/disks HUBDISK @ " + rgScope,
			},
			outputs: map[string]any{"fromNested": "HUBDISK"},
			check: func(t *testing.T, d *Deployment) {
				if b := body(t, d.Resources[0]); !reflect.DeepEqual(b["properties"], map[string]any{"id": float64(3)}) {
					t.Errorf("storage properties = %v", b["properties"])
				}
				if b := body(t, d.Resources[2]); b["location"] != "westeurope" {
					t.Errorf("disk location = %v", b["location"])
				}
				if b := body(t, d.Resources[1]); b["properties"].(map[string]any)["template"] == nil {
					t.Errorf("the deployments resource lost its template: %s", d.Resources[1].Body)
				}
			},
		},
		{
			// Microsoft Learn's linked-templates example: with outer scope
			// the nested template reads the parent's variable; with inner,
			// its own.
			name: "outer and inner scope read different variables of the same name",
			tpl: `{` + schema + `, "variables": {"exampleVar": "from parent template"},
			  "resources": [
			    {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "outerDep",
			     "properties": {"mode": "Incremental", "expressionEvaluationOptions": {"scope": "outer"},
			       "template": {` + schema + `, "variables": {"exampleVar": "from nested template"}, "resources": [],
			         "outputs": {"testVar": {"type": "string", "value": "[variables('exampleVar')]"}}}}},
			    {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "innerDep",
			     "properties": {"mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"},
			       "template": {` + schema + `, "variables": {"exampleVar": "from nested template"}, "resources": [],
			         "outputs": {"testVar": {"type": "string", "value": "[variables('exampleVar')]"}}}}},
			    {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "defaultDep",
			     "properties": {"mode": "Incremental",
			       "template": {` + schema + `, "variables": {"exampleVar": "from nested template"}, "resources": [],
			         "outputs": {"testVar": {"type": "string", "value": "[variables('exampleVar')]"}}}}}],
			  "outputs": {"outer": {"type": "string", "value": "[reference('outerDep').outputs.testVar.value]"},
			    "inner": {"type": "string", "value": "[reference('innerDep').outputs.testVar.value]"},
			    "default": {"type": "string", "value": "[reference('defaultDep').outputs.testVar.value]"}}}`,
			scope: testScope,
			resources: []string{
				"resources[0] Microsoft.Resources/deployments outerDep @ " + rgScope,
				"resources[1] Microsoft.Resources/deployments innerDep @ " + rgScope,
				"resources[2] Microsoft.Resources/deployments defaultDep @ " + rgScope,
			},
			outputs: map[string]any{"outer": "from parent template", "inner": "from nested template", "default": "from parent template"},
		},
		{
			name: "another resource group and subscription: the resources' scope; inner resourceGroup() is the target",
			tpl: `{` + schema + `,
			  "resources": [{"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "x", "resourceGroup": "rg-other", "subscriptionId": "1111",
			     "properties": {"mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"},
			       "template": {` + schema + `, "resources": [{"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2023-05-01", "name": "[resourceGroup().name]"}],
			         "outputs": {"id": {"type": "string", "value": "[resourceGroup().id]"}}}}}],
			  "outputs": {"id": {"type": "string", "value": "[reference('x').outputs.id.value]"}}}`,
			scope: testScope,
			resources: []string{
				"resources[0] Microsoft.Resources/deployments x @ " + rgScope,
				"resources[0].properties.template.resources[0] Microsoft.Network/virtualNetworks rg-other @ /subscriptions/1111/resourceGroups/rg-other",
			},
			outputs: map[string]any{"id": "/subscriptions/1111/resourceGroups/rg-other"},
		},
		{
			name: "outer scope to another group: expressions read the parent's group, resources go to the target",
			tpl: `{` + schema + `,
			  "resources": [{"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "x", "resourceGroup": "rg-other",
			     "properties": {"mode": "Incremental", "template": {` + schema + `, "resources": [{"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2023-05-01", "name": "[resourceGroup().name]"}]}}}]}`,
			scope: testScope,
			resources: []string{
				"resources[0] Microsoft.Resources/deployments x @ " + rgScope,
				"resources[0].properties.template.resources[0] Microsoft.Network/virtualNetworks rg-images @ /subscriptions/" + sub + "/resourceGroups/rg-other",
			},
		},
		{
			name: "subscription scope: a resource group created, a deployment into it reads its location; resourceGroup() at the top is refused",
			tpl: `{` + subSchema + `, "parameters": {"rgName": {"type": "string", "defaultValue": "rg-aib"}},
			  "resources": [
			    {"type": "Microsoft.Resources/resourceGroups", "apiVersion": "2022-09-01", "name": "[parameters('rgName')]", "location": "eastus2"},
			    {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "img", "resourceGroup": "[parameters('rgName')]",
			     "properties": {"mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"},
			       "template": {` + schema + `, "resources": [{"type": "Microsoft.Compute/galleries", "apiVersion": "2022-03-03", "name": "gal", "location": "[resourceGroup().location]",
			         "properties": {"rid": "[resourceId('Microsoft.Compute/galleries', 'gal')]"}}]}}},
			    {"type": "Microsoft.Authorization/roleDefinitions", "apiVersion": "2022-04-01", "name": "[guid(subscription().id)]",
			     "properties": {"assignableScopes": ["[subscription().id]"], "self": "[resourceId('Microsoft.Authorization/roleDefinitions', 'r')]"}},
			    {"type": "Microsoft.Resources/tags", "apiVersion": "2022-09-01", "name": "default", "properties": {"tags": {"rg": "[resourceGroup().name]"}}}]}`,
			scope: Scope{SubscriptionID: sub, ResourceGroup: "ignored-at-subscription-scope", Location: "westeurope"},
			resources: []string{
				"resources[0] Microsoft.Resources/resourceGroups rg-aib @ /subscriptions/" + sub,
				"resources[1] Microsoft.Resources/deployments img @ /subscriptions/" + sub,
				"resources[1].properties.template.resources[0] Microsoft.Compute/galleries gal @ /subscriptions/" + sub + "/resourceGroups/rg-aib",
				"resources[2] Microsoft.Authorization/roleDefinitions " + "@@guid" + " @ /subscriptions/" + sub,
				"resources[3] Microsoft.Resources/tags default @ /subscriptions/" + sub,
			},
			problems: []string{"resources[3].properties.tags.rg: [resourceGroup().name]: resourceGroup() is not available in a subscription-scope deployment"},
			check: func(t *testing.T, d *Deployment) {
				g := body(t, d.Resources[2])
				if g["location"] != "eastus2" || g["properties"].(map[string]any)["rid"] != "/subscriptions/"+sub+"/resourceGroups/rg-aib/providers/Microsoft.Compute/galleries/gal" {
					t.Errorf("gallery = %s", d.Resources[2].Body)
				}
				r := body(t, d.Resources[3])
				if got := r["properties"].(map[string]any)["self"]; got != "/subscriptions/"+sub+"/providers/Microsoft.Authorization/roleDefinitions/r" {
					t.Errorf("resourceId at subscription scope = %v", got)
				}
			},
		},
		{
			name: "problems inside a nested template carry the nested path; reference() to an unknown deployment stays not offline",
			tpl: `{` + schema + `,
			  "resources": [{"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "n",
			     "properties": {"mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"}, "parameters": {"undeclared": {"value": 1}},
			       "template": {` + schema + `, "parameters": {"need": {"type": "int"}}, "resources": [{"type": "A.B/c", "apiVersion": "1", "name": "[string(parameters('need'))]", "properties": {"r": "[reference('elsewhere').x]"}}]}}}]}`,
			scope: testScope,
			resources: []string{
				"resources[0] Microsoft.Resources/deployments n @ " + rgScope,
				"resources[0].properties.template.resources[0] A.B/c  @ " + rgScope,
			},
			problems: []string{
				"resources[0].properties.parameters.undeclared: the template declares no such parameter",
				`resources[0].properties.template.resources[0].name: [string(parameters('need'))]: parameter "need" has no value`,
				"resources[0].properties.template.resources[0].properties.r: [reference('elsewhere').x]: reference() is not supported offline",
			},
		},
		{
			name: "languageVersion 2.0: symbolic names, a module's outputs through reference(symbolic), existing resources not deployed",
			tpl: `{` + schema + `, "languageVersion": "2.0",
			  "resources": {
			    "vnet": {"existing": true, "type": "Microsoft.Network/virtualNetworks", "apiVersion": "2023-05-01", "name": "hub"},
			    "user": {"type": "Microsoft.Compute/disks", "apiVersion": "2023-04-02", "name": "[reference('mod').outputs.diskName.value]", "dependsOn": ["mod", "vnet"]},
			    "mod": {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "[format('mod-{0}', 'a')]",
			      "properties": {"mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"},
			        "template": {` + schema + `, "languageVersion": "2.0", "resources": {}, "outputs": {"diskName": {"type": "string", "value": "d1"}}}}}}}`,
			scope: testScope,
			resources: []string{
				"resources.user Microsoft.Compute/disks d1 @ " + rgScope,
				"resources.mod Microsoft.Resources/deployments mod-a @ " + rgScope,
			},
		},
		{
			name: "templateLink: a relativePath read through Scope.Load, relative to the linking template; uri and template specs refused",
			tpl: `{` + schema + `,
			  "resources": [
			    {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "linked",
			     "properties": {"mode": "Incremental", "templateLink": {"relativePath": "nested/image.json"}, "parameters": {"n": {"value": "img"}}}},
			    {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "byUri",
			     "properties": {"mode": "Incremental", "templateLink": {"uri": "https://example.com/t.json"}}},
			    {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "spec",
			     "properties": {"mode": "Incremental", "templateLink": {"id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Resources/templateSpecs/t/versions/1"}}},
			    {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "escape",
			     "properties": {"mode": "Incremental", "templateLink": {"relativePath": "../../secret.json"}}},
			    {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "missing",
			     "properties": {"mode": "Incremental", "templateLink": {"relativePath": "nope.json"}}}],
			  "outputs": {"x": {"type": "string", "value": "[reference('linked').outputs.x.value]"}}}`,
			scope: withLoad(testScope, map[string]string{
				"nested/image.json": `{` + schema + `, "parameters": {"n": {"type": "string"}}, "resources": [{"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "deeper",
				  "properties": {"mode": "Incremental", "templateLink": {"relativePath": "../common/tags.json"}}}],
				  "outputs": {"x": {"type": "string", "value": "[concat(parameters('n'), '-', reference('deeper').outputs.t.value)]"}}}`,
				"common/tags.json": `{` + schema + `, "resources": [], "outputs": {"t": {"type": "string", "value": "tagged"}}}`,
			}),
			resources: []string{
				"resources[0] Microsoft.Resources/deployments linked @ " + rgScope,
				"resources[0].properties.templateLink.resources[0] Microsoft.Resources/deployments deeper @ " + rgScope,
				"resources[1] Microsoft.Resources/deployments byUri @ " + rgScope,
				"resources[2] Microsoft.Resources/deployments spec @ " + rgScope,
				"resources[3] Microsoft.Resources/deployments escape @ " + rgScope,
				"resources[4] Microsoft.Resources/deployments missing @ " + rgScope,
			},
			problems: []string{
				"resources[1].properties.templateLink.uri: a linked template by URI is not fetched offline",
				"resources[2].properties.templateLink.id: a template spec is not read offline",
				`resources[3].properties.templateLink.relativePath: "../../secret.json" is outside the templates' folder`,
				`resources[4].properties.templateLink.relativePath: cannot read "nope.json": file does not exist`,
			},
			outputs: map[string]any{"x": "img-tagged"},
		},
		{
			name:  "templateLink without a loader: a clear problem",
			tpl:   `{` + schema + `, "resources": [{"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "l", "properties": {"templateLink": {"relativePath": "a.json"}}}]}`,
			scope: testScope,
			resources: []string{
				"resources[0] Microsoft.Resources/deployments l @ " + rgScope,
			},
			problems: []string{`resources[0].properties.templateLink.relativePath: linked templates are not read here: no place to load "a.json" from`},
		},
		{
			name: "a template linking itself ends at the nesting bound",
			tpl:  `{` + schema + `, "resources": [{"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "l", "properties": {"templateLink": {"relativePath": "self.json"}}}]}`,
			scope: withLoad(testScope, map[string]string{
				"self.json": `{` + schema + `, "resources": [{"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "l", "properties": {"templateLink": {"relativePath": "self.json"}}}]}`,
			}),
			problems: []string{"deployments nested more than 10 deep"},
			check: func(t *testing.T, d *Deployment) {
				if len(d.Resources) != maxNestDepth+1 {
					t.Errorf("%d resources, want one deployment per level and the one refused (%d)", len(d.Resources), maxNestDepth+1)
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var params []byte
			if c.params != "" {
				params = []byte(c.params)
			}
			d, err := Evaluate([]byte(c.tpl), params, c.scope)
			if err != nil {
				t.Fatal(err)
			}
			res, probs := summary(d)
			if c.resources != nil {
				if len(res) != len(c.resources) {
					t.Fatalf("resources:\n%s\nwant:\n%s\nproblems: %v", strings.Join(res, "\n"), strings.Join(c.resources, "\n"), probs)
				}
				for i, want := range c.resources {
					if strings.Contains(want, "@@guid") { // a guid's value is the guid function's
						before, after, _ := strings.Cut(want, "@@guid")
						if !strings.HasPrefix(res[i], before) || !strings.HasSuffix(res[i], after) {
							t.Errorf("resource %d = %q, want %q", i, res[i], want)
						}
						continue
					}
					if res[i] != want {
						t.Errorf("resource %d = %q, want %q", i, res[i], want)
					}
				}
			}
			left := append([]string(nil), probs...)
			for _, want := range c.problems {
				found := -1
				for i, p := range left {
					if strings.Contains(p, want) {
						found = i
						break
					}
				}
				if found < 0 {
					t.Errorf("no problem %q among:\n%s", want, strings.Join(probs, "\n"))
					continue
				}
				left = append(left[:found], left[found+1:]...)
			}
			if len(left) > 0 {
				t.Errorf("unexpected findings:\n%s", strings.Join(left, "\n"))
			}
			if c.outputs != nil && !reflect.DeepEqual(d.Outputs, c.outputs) {
				t.Errorf("outputs = %#v, want %#v", d.Outputs, c.outputs)
			}
			if c.check != nil {
				c.check(t, d)
			}
		})
	}
}

// withLoad is a scope whose linked templates are the given files.
func withLoad(s Scope, files map[string]string) Scope {
	s.Load = func(p string) ([]byte, error) {
		b, ok := files[p]
		if !ok {
			return nil, fs.ErrNotExist
		}
		return []byte(b), nil
	}
	return s
}

func TestNestedLoaderErrorsAndCounts(t *testing.T) {
	loads := 0
	s := testScope
	s.Load = func(p string) ([]byte, error) {
		loads++
		if p == "bad.json" {
			return []byte(`{"resources": [`), nil
		}
		if p == "fail.json" {
			return nil, errors.New("blob not found")
		}
		return []byte(`{` + schema + `, "resources": [], "outputs": {"o": {"type": "int", "value": 1}}}`), nil
	}
	tpl := `{` + schema + `, "resources": [
	  {"copy-free": 1, "type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "a", "properties": {"templateLink": {"relativePath": "ok.json"}}},
	  {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "b", "properties": {"templateLink": {"relativePath": "./ok.json"}}},
	  {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "c", "properties": {"templateLink": {"relativePath": "bad.json"}}},
	  {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "d", "properties": {"templateLink": {"relativePath": "fail.json"}}},
	  {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "e", "properties": {"template": {"resources": []}, "parametersLink": {"uri": "https://x"}}},
	  {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "f", "properties": {"template": {"resources": []}, "expressionEvaluationOptions": {"scope": "sideways"}}},
	  {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "g", "properties": {"mode": "Incremental"}},
	  {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "h", "properties": {"template": 7}}]}`
	d, err := Evaluate([]byte(tpl), nil, s)
	if err != nil {
		t.Fatal(err)
	}
	if loads != 3 {
		t.Errorf("%d loads, want 3 (ok.json read once for two links)", loads)
	}
	_, probs := summary(d)
	all := strings.Join(probs, "\n")
	for _, want := range []string{
		`resources[2].properties.templateLink.relativePath: "bad.json" is not valid JSON`,
		`resources[3].properties.templateLink.relativePath: cannot read "fail.json": blob not found`,
		"resources[4].properties.parametersLink: a parameters file by link is not read offline",
		`resources[5].properties.expressionEvaluationOptions.scope: must be inner or outer, not "sideways"`,
		"resources[6].properties: a deployment needs a template or a templateLink",
		"resources[7].properties.template: must be an object, not a number",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no problem %q among:\n%s", want, all)
		}
	}
}

// FuzzNested: any template holding nested deployments (inline and linked,
// the linked ones being the fuzzed text too) evaluates to a deployment or
// problems, never a panic, within the nesting, step and size bounds.
func FuzzNested(f *testing.F) {
	f.Add(`{"resources":[{"type":"Microsoft.Resources/deployments","name":"a","properties":{"expressionEvaluationOptions":{"scope":"inner"},"parameters":{"p":{"value":1}},"template":{"parameters":{"p":{"type":"int"}},"resources":[],"outputs":{"o":{"type":"int","value":"[parameters('p')]"}}}}}],"outputs":{"x":{"type":"int","value":"[reference('a').outputs.o.value]"}}}`)
	f.Add(`{"resources":[{"type":"Microsoft.Resources/deployments","name":"l","properties":{"templateLink":{"relativePath":"t.json"}}}]}`)
	f.Add(`{"$schema":"subscriptionDeploymentTemplate.json","resources":[{"type":"Microsoft.Resources/deployments","name":"x","resourceGroup":"g","properties":{"template":{"resources":[{"type":"Microsoft.Resources/deployments","name":"y","properties":{"template":{"resources":[]}}}]}}}]}`)
	f.Add(`{"languageVersion":"2.0","resources":{"a":{"type":"Microsoft.Resources/deployments","name":"[reference('b').outputs.n.value]","properties":{"template":{"resources":{}}}},"b":{"type":"Microsoft.Resources/deployments","name":"[reference('a').outputs.n.value]","properties":{"template":{"resources":{}}}}}}`)
	f.Add(`{"languageVersion":"2.0","definitions":{"t":{"type":"object","discriminator":{"propertyName":"k","mapping":{"a":{"$ref":"#/definitions/u"}}}},"u":{"type":"object","sealed":true,"properties":{"k":{"type":"string"},"n":{"type":"int","nullable":true}}}},"parameters":{"p":{"$ref":"#/definitions/t","defaultValue":{"k":"a","n":1}}},"functions":[{"namespace":"f","members":{"g":{"parameters":[{"name":"x","$ref":"#/definitions/u"}],"output":{"type":"int","value":"[f.g(parameters('x'))]"}}}}],"resources":{"d":{"type":"Microsoft.Resources/deployments","name":"d","properties":{"expressionEvaluationOptions":{"scope":"inner"},"parameters":{"q":{"value":"[parameters('p')]"}},"template":{"parameters":{"q":{"type":"object"}},"resources":[],"outputs":{"o":{"type":"int","value":"[parameters('q').n]"}}}}}},"outputs":{"x":{"type":"int","value":"[f.g(parameters('p'))]"}}}`)
	f.Add(`{"resources":[{"copy":{"name":"c","count":3},"type":"Microsoft.Resources/deployments","name":"[format('d{0}',copyIndex())]","properties":{"templateLink":{"relativePath":"t.json"}}}]}`)
	f.Fuzz(func(t *testing.T, tpl string) {
		s := testScope
		loads := 0
		s.Load = func(string) ([]byte, error) { loads++; return []byte(tpl), nil }
		d, err := Evaluate([]byte(tpl), nil, s)
		if err != nil {
			return
		}
		if d == nil {
			t.Fatal("no deployment and no error")
		}
		if loads > maxNestedCount {
			t.Fatalf("%d loads, over the bound %d", loads, maxNestedCount)
		}
		for _, r := range d.Resources {
			if strings.Count(r.Path, ".properties.template") > maxNestDepth {
				t.Fatalf("nested deeper than %d: %s", maxNestDepth, r.Path)
			}
		}
	})
}

// findings lists every problem, warning and note of a deployment, with
// the resources' own problems.
func findings(d *Deployment) string {
	_, probs := summary(d)
	for _, n := range d.Notes {
		probs = append(probs, "note "+n.String())
	}
	return strings.Join(probs, "\n")
}

func TestNestedEdges(t *testing.T) {
	sub := testScope.SubscriptionID
	cases := []struct {
		name  string
		tpl   string
		scope Scope
		want  []string // substrings of findings
		check func(t *testing.T, d *Deployment)
	}{
		{
			name: "deployment() at subscription scope has the deployment's location",
			tpl: `{` + subSchema + `, "resources": [], "outputs": {"loc": {"type": "string", "value": "[deployment().location]"},
			  "name": {"type": "string", "value": "[deployment().name]"}}}`,
			scope: Scope{SubscriptionID: sub, Location: "northeurope", DeploymentName: "d1"},
			check: func(t *testing.T, d *Deployment) {
				if d.Outputs["loc"] != "northeurope" || d.Outputs["name"] != "d1" {
					t.Errorf("outputs = %v", d.Outputs)
				}
			},
		},
		{
			name:  "deployment().location not known offline",
			tpl:   `{` + subSchema + `, "resources": [], "outputs": {"loc": {"type": "string", "value": "[deployment().location]"}}}`,
			scope: Scope{SubscriptionID: sub},
			want:  []string{"outputs.loc.value: [deployment().location]: the deployment's location (deployment().location at subscription scope) is not known offline"},
		},
		{
			name: "management-group and tenant templates do not run nested deployments",
			tpl: `{"$schema": "https://schema.management.azure.com/schemas/2019-08-01/managementGroupDeploymentTemplate.json#",
			  "resources": [{"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "m", "subscriptionId": "s1", "properties": {"template": {"resources": []}}},
			    {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "n", "properties": {"template": {"resources": []}}}]}`,
			scope: testScope,
			want:  []string{"resources[1]: deployments from a managementGroup-scope template are not evaluated offline"},
			check: func(t *testing.T, d *Deployment) {
				if d.Resources[0].Scope != "" {
					t.Errorf("a management group's resource scope = %q, want unknown", d.Resources[0].Scope)
				}
			},
		},
		{
			name: "a scope property on a deployment is not evaluated",
			tpl: `{` + schema + `, "resources": [{"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "m",
			  "scope": "/providers/Microsoft.Management/managementGroups/mg", "properties": {"template": {"resources": []}}}]}`,
			scope: testScope,
			want:  []string{"resources[0].scope: a deployment with a scope property (management group, tenant) is not evaluated offline"},
		},
		{
			name: "a subscription-level deployment from a group-scope template, and its parameters read in every form",
			tpl: `{` + schema + `, "resources": [
			  {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "s", "subscriptionId": "2222", "location": "eastus",
			   "properties": {"expressionEvaluationOptions": {"scope": "inner"}, "parameters": {"a": {"value": 1}, "k": {"reference": {"keyVault": {"id": "x"}, "secretName": "s"}}, "bad": 3, "none": {}},
			     "template": {` + subSchema + `, "parameters": {"a": {"type": "int"}, "k": {"type": "securestring"}, "bad": {"type": "int", "defaultValue": 0}, "none": {"type": "int", "defaultValue": 0}},
			       "resources": [{"type": "Microsoft.Resources/resourceGroups", "apiVersion": "2022-09-01", "name": "g", "location": "[deployment().location]"}],
			       "outputs": {"k": {"type": "string", "value": "[parameters('k')]"}}}}},
			  {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "p",
			   "properties": {"expressionEvaluationOptions": {"scope": "inner"}, "parameters": [1], "template": {"resources": []}}}]}`,
			scope: testScope,
			want: []string{
				`resources[0].properties.parameters.bad: must be an object with a "value", not a number`,
				`resources[0].properties.parameters.none: has neither "value" nor "reference"`,
				`note resources[0].properties.template.outputs.k.value: not known offline: [parameters('k')]: parameter "k" is a Key Vault reference`,
				"resources[1].properties.parameters: must be an object, not an array",
			},
			check: func(t *testing.T, d *Deployment) {
				if r := d.Resources[1]; r.Scope != "/subscriptions/2222" || !strings.Contains(string(r.Body), `"location":"eastus"`) {
					t.Errorf("resource group %s at %q: %s", r.Name, r.Scope, r.Body)
				}
			},
		},
		{
			name: "copies of a nested deployment, each read back by its name",
			tpl: `{` + schema + `, "resources": [{"copy": {"name": "deps", "count": 2}, "type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01",
			  "name": "[format('dep-{0}', copyIndex())]",
			  "properties": {"expressionEvaluationOptions": {"scope": "inner"}, "parameters": {"i": {"value": "[copyIndex()]"}},
			    "template": {` + schema + `, "parameters": {"i": {"type": "int"}}, "resources": [{"type": "A.B/c", "apiVersion": "1", "name": "[format('c{0}', parameters('i'))]"}],
			      "outputs": {"sq": {"type": "int", "value": "[mul(parameters('i'), 10)]"}}}}}],
			  "outputs": {"second": {"type": "int", "value": "[reference('dep-1').outputs.sq.value]"}}}`,
			scope: testScope,
			check: func(t *testing.T, d *Deployment) {
				var names []string
				for _, r := range d.Resources {
					names = append(names, r.Name)
				}
				if strings.Join(names, ",") != "dep-0,c0,dep-1,c1" {
					t.Errorf("resources %v", names)
				}
				if jsonish(d.Outputs["second"]) != "10" {
					t.Errorf("outputs = %v", d.Outputs)
				}
			},
		},
		{
			name: "reference('x', api, 'Full') puts outputs under properties",
			tpl: `{` + schema + `, "resources": [{"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "x",
			  "properties": {"template": {"resources": [], "outputs": {"o": {"type": "string", "value": "v"}}}}}],
			  "outputs": {"o": {"type": "string", "value": "[reference('x', '2022-09-01', 'Full').properties.outputs.o.value]"},
			    "state": {"type": "string", "value": "[reference('x').provisioningState]"}}}`,
			scope: testScope,
			check: func(t *testing.T, d *Deployment) {
				if d.Outputs["o"] != "v" || d.Outputs["state"] != "Succeeded" {
					t.Errorf("outputs = %v", d.Outputs)
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := Evaluate([]byte(c.tpl), nil, c.scope)
			if err != nil {
				t.Fatal(err)
			}
			all := findings(d)
			for _, w := range c.want {
				if !strings.Contains(all, w) {
					t.Errorf("no %q among:\n%s", w, all)
				}
			}
			if c.want == nil {
				if _, probs := summary(d); len(probs) > 0 {
					t.Errorf("findings:\n%s", strings.Join(probs, "\n"))
				}
			}
			if c.check != nil {
				c.check(t, d)
			}
		})
	}
}

func TestNestedScopeElement(t *testing.T) {
	tpl := `{` + schema + `, "resources": [
	  {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "g", "scope": "/subscriptions/3333/resourceGroups/rg-x",
	   "properties": {"expressionEvaluationOptions": {"scope": "inner"}, "template": {"resources": [{"type": "A.B/c", "apiVersion": "1", "name": "[resourceGroup().name]"}]}}},
	  {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "s", "scope": "/subscriptions/4444",
	   "properties": {"expressionEvaluationOptions": {"scope": "inner"}, "template": {"resources": [{"type": "A.B/c", "apiVersion": "1", "name": "[subscription().subscriptionId]"}]}}}]}`
	d, err := Evaluate([]byte(tpl), nil, testScope)
	if err != nil {
		t.Fatal(err)
	}
	res, probs := summary(d)
	want := []string{
		"resources[0] Microsoft.Resources/deployments g @ /subscriptions/3333/resourceGroups/rg-x",
		"resources[0].properties.template.resources[0] A.B/c rg-x @ /subscriptions/3333/resourceGroups/rg-x",
		"resources[1] Microsoft.Resources/deployments s @ /subscriptions/4444",
		"resources[1].properties.template.resources[0] A.B/c 4444 @ /subscriptions/4444",
	}
	if !reflect.DeepEqual(res, want) || len(probs) > 0 {
		t.Errorf("resources:\n%s\nwant:\n%s\nfindings: %v", strings.Join(res, "\n"), strings.Join(want, "\n"), probs)
	}
}

// Copies of a deployment whose template is large are bounded as a whole.
func TestNestedOutputBounded(t *testing.T) {
	defer func(n int) { maxNestedOutput = n }(maxNestedOutput)
	maxNestedOutput = 2 << 20
	big := strings.Repeat("x", 100_000)
	tpl := `{` + schema + `, "resources": [{"copy": {"name": "c", "count": 30}, "type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01",
	  "name": "[format('d{0}', copyIndex())]", "properties": {"expressionEvaluationOptions": {"scope": "inner"},
	  "template": {"resources": [{"type": "A.B/c", "apiVersion": "1", "name": "n", "properties": {"big": "` + big + `"}}]}}}]}`
	d, err := Evaluate([]byte(tpl), nil, testScope)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, r := range d.Resources {
		total += len(r.Body)
	}
	if total > maxNestedOutput+2*MaxBytes {
		t.Errorf("%d bytes of bodies, over the bound %d", total, maxNestedOutput)
	}
	if !strings.Contains(findings(d), "the nested deployments are over") {
		t.Errorf("no problem says the bound was reached:\n%.2000s", findings(d))
	}
}

// A parameter passed as null reaches the nested template as null, as
// ARM passes it (a nullable parameter takes it; its default does not
// apply).
func TestNestedNullParameter(t *testing.T) {
	tpl := `{` + schema + `, "resources": [{"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "n",
	  "properties": {"expressionEvaluationOptions": {"scope": "inner"}, "parameters": {"a": {"value": "[null()]"}, "b": {"value": null}},
	    "template": {"languageVersion": "2.0", "parameters": {"a": {"type": "string", "nullable": true}, "b": {"type": "string"}}, "resources": {},
	      "outputs": {"a": {"type": "bool", "value": "[equals(parameters('a'), null())]"}}}}}],
	  "outputs": {"a": {"type": "bool", "value": "[reference('n').outputs.a.value]"}}}`
	d, err := Evaluate([]byte(tpl), nil, testScope)
	if err != nil {
		t.Fatal(err)
	}
	if d.Outputs["a"] != true {
		t.Errorf("outputs = %v", d.Outputs)
	}
	if got := findings(d); got != "problem resources[0].properties.parameters.b.value: is null, and its type is not nullable" {
		t.Errorf("findings:\n%s", got)
	}
}

// A deployment evaluated ahead for reference() from inside a copy loop is
// evaluated as at the top of the file, not with the loop's index.
func TestNestedAheadOutsideTheCallersLoop(t *testing.T) {
	tpl := `{` + schema + `, "resources": [
	  {"copy": {"name": "c", "count": 2}, "type": "A.B/c", "apiVersion": "1", "name": "[format('{0}-{1}', reference('d').outputs.n.value, copyIndex())]"},
	  {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "d",
	   "properties": {"expressionEvaluationOptions": {"scope": "inner"}, "parameters": {"i": {"value": "[copyIndex()]"}},
	     "template": {"parameters": {"i": {"type": "int", "nullable": true}}, "resources": [], "outputs": {"n": {"type": "string", "value": "x"}}}}}]}`
	d, err := Evaluate([]byte(tpl), nil, testScope)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range d.Resources {
		names = append(names, r.Name)
	}
	if strings.Join(names, ",") != "x-0,x-1,d" {
		t.Errorf("resources %q", names)
	}
	if got := findings(d); !strings.Contains(got, "resources[1].properties.parameters.i.value: [copyIndex()]: copyIndex() can be used only inside a copy loop") {
		t.Errorf("findings:\n%s", got)
	}
}

// A template that links itself in a copy loop of 800 stops at the nesting
// bound instead of refusing deployment after deployment: what it
// allocates stays small (a regression once allocated 370 MiB).
func TestNestedHostileBounded(t *testing.T) {
	self := `{"resources":[{"copy":{"name":"c","count":800},"type":"Microsoft.Resources/deployments","name":"[format('d{0}',copyIndex())]",
	  "properties":{"expressionEvaluationOptions":{"scope":"inner"},"templateLink":{"relativePath":"t.json"}}}],
	  "outputs":{"x":{"type":"string","value":"` + strings.Repeat("y", 50000) + `"}}}`
	s := testScope
	s.Load = func(string) ([]byte, error) { return []byte(self), nil }
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	d, err := Evaluate([]byte(self), nil, s)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<20 {
		t.Errorf("allocated %d MiB", got>>20)
	}
	if len(d.Resources) > maxNestDepth+1 {
		t.Errorf("%d resources after the bound", len(d.Resources))
	}
	if !strings.Contains(findings(d), "deployments nested more than 10 deep") {
		t.Errorf("findings:\n%s", findings(d))
	}
}
