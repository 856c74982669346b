package template

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: any upload gets problems or a template, never a panic; a valid
// result always renders into a template that parses again as valid.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "seed", "*.json"))
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte(`{"properties":{"customize":{"type":"shell"}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := Parse("fuzz", b, Options{ScriptsURL: testScriptsURL})
		if !p.Valid() {
			if len(p.Problems) == 0 {
				t.Fatal("invalid without a problem")
			}
			return
		}
		if p.Template == nil {
			t.Fatal("valid without a template")
		}
	})
}

// FuzzExpression: any expression string parses and evaluates to a value or
// an error, never a panic, within the step, depth and size bounds.
func FuzzExpression(f *testing.F) {
	for _, s := range []string{
		"[parameters('a')]", "[concat('x', variables('v'), string(1))]", "[format('{0}-{1:D3}', 'a', 7)]",
		"[resourceId('rg', 'Microsoft.Compute/galleries/images', 'g', 'i')]", "[uniqueString(resourceGroup().id)]",
		"[if(equals(1, 1), createArray(1, 2), json('{\"a\":1}'))]", "[split('a:b:c', ':')[2]]", "[union(createObject('a', 1), createObject('b', 2)).b]",
		"[replace(replace(replace('aaaa', 'a', 'aa'), 'a', 'aa'), 'a', 'aa')]", "[concat('", "[[literal]", "[a.b.c()]",
		"[substring('abc', 1, 5)]", "[variables('loop')]", "[guid('x')]", "[utcNow('yyyy')]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		root, err := parseJSON([]byte(`{"parameters":{"a":{"type":"string","defaultValue":"A"}},"variables":{"v":"V","loop":"[variables('loop')]","big":"[concat(variables('v'), variables('v'))]"}}`))
		if err != nil {
			t.Fatal(err)
		}
		ev := &armEval{dep: corpusDeployment, decls: root.get("parameters"), vars: root.get("variables"), given: map[string]*node{},
			params: map[string]*node{}, paramBusy: map[string]bool{}, varCache: map[string]*node{}, varBusy: map[string]bool{}, secrets: map[string]bool{}}
		v, err := ev.deep(strNode(s), 0)
		if err == nil && v == nil {
			t.Fatal("no value and no error")
		}
		if ev.steps > maxExprSteps+1 || ev.charged > maxExprCharge+maxExprString {
			t.Fatalf("bounds exceeded: %d steps, %d bytes", ev.steps, ev.charged)
		}
	})
}

// FuzzDeploymentFile: any deployment template and parameters file give
// templates with problems or a valid template, never a panic.
func FuzzDeploymentFile(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "corpus", "arm-*.json"))
	for _, p := range files {
		if IsParametersBlob(p) {
			continue
		}
		b, _ := os.ReadFile(p)
		params, _ := os.ReadFile(ParametersBlobOf(p))
		f.Add(b, params)
	}
	f.Fuzz(func(t *testing.T, tpl, params []byte) {
		out := ParseFile("fuzz", tpl, params, Options{ScriptsURL: testScriptsURL, Deployment: corpusDeployment})
		if len(out) == 0 {
			t.Fatal("no template")
		}
		for _, p := range out {
			if !p.Valid() && len(p.Problems) == 0 {
				t.Fatal("invalid without a problem")
			}
			if p.Valid() && p.Template == nil {
				t.Fatal("valid without a template")
			}
		}
	})
}

// FuzzParameters: any parameters file is read or refused with a problem.
func FuzzParameters(f *testing.F) {
	f.Add([]byte(`{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#","contentVersion":"1.0.0.0","parameters":{"a":{"value":1},"k":{"reference":{"keyVault":{"id":"x"},"secretName":"s"}}}}`))
	f.Add([]byte(`{"a":{"value":"x"}}`))
	f.Add([]byte(`// comment
{"parameters":{"a":{"value":[1,2,{"b":null}]}}} /* end */`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := &report{}
		got := readParameters(b, r)
		if got == nil && len(r.problems) == 0 && len(bytes.TrimSpace(b)) > 0 {
			// a readable empty object gives an empty map, not nil
			t.Fatalf("nil without a problem for %q", b)
		}
	})
}
