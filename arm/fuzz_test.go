package arm

import (
	"bytes"
	"testing"
	"time"
)

// testScope is the scope the package's tests evaluate in.
var testScope = Scope{SubscriptionID: "0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11", ResourceGroup: "rg-images",
	Location: "westeurope", Now: time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC)}

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
		ev := newEvaluator(root, testScope)
		v, err := ev.deep(strNode(s), 0)
		if err == nil && v == nil {
			t.Fatal("no value and no error")
		}
		if ev.steps > maxExprSteps+1 || ev.charged > maxExprCharge+maxExprString {
			t.Fatalf("bounds exceeded: %d steps, %d bytes", ev.steps, ev.charged)
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
		ev := newEvaluator(&node{Kind: '{'}, testScope)
		got := ev.readParameters(b)
		if got == nil && len(ev.out.Problems) == 0 && len(bytes.TrimSpace(b)) > 0 {
			// a readable empty object gives an empty map, not nil
			t.Fatalf("nil without a problem for %q", b)
		}
	})
}

// FuzzCopyLoops: any deployment template with copy loops (resources,
// properties, variables, outputs) evaluates to resources and problems,
// never a panic, within the step and size bounds; a loop never makes more
// than 800 copies.
func FuzzCopyLoops(f *testing.F) {
	for _, s := range []string{
		`{"variables": {"copy": [{"name": "v", "count": 3, "input": "[copyIndex('v', 1)]"}]}, "resources": [{"type": "A.B/c", "apiVersion": "1", "name": "[string(variables('v'))]"}]}`,
		`{"resources": [{"type": "A.B/c", "apiVersion": "1", "name": "[concat('n', copyIndex())]", "copy": {"name": "r", "count": 4, "mode": "serial", "batchSize": 2},
		  "properties": {"copy": [{"name": "p", "count": "[add(copyIndex(), 1)]", "input": {"i": "[copyIndex('p')]", "r": "[copyIndex()]"}}]}}]}`,
		`{"variables": {"o": {"copy": [{"name": "d", "count": 2, "input": {"copy": [{"name": "e", "count": 2, "input": "[copyIndex('e')]"}]}}]}},
		  "resources": [], "outputs": {"x": {"type": "array", "copy": {"count": 2, "input": "[variables('o')]"}}}}`,
		`{"resources": {"s": {"type": "A.B/c", "apiVersion": "1", "name": "[copyIndex()]", "copy": {"name": "r", "count": 800}}}}`,
		// nested loops past the step bound: TestCopyLoopLimits ("nested loops stay bounded")
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		root, err := parseJSON(StripComments(b))
		if err != nil || root.Kind != '{' {
			return
		}
		ev := newEvaluator(root, testScope)
		ev.run()
		if ev.steps > maxExprSteps+1 || ev.walked > maxWalk+1 || ev.charged > maxExprCharge+maxExprString {
			t.Fatalf("bounds exceeded: %d steps, %d values walked, %d bytes", ev.steps, ev.walked, ev.charged)
		}
		raw := 0
		if r := root.GetFold("resources"); r != nil {
			raw = len(r.Items) + len(r.Members)
		}
		if len(ev.out.Resources) > raw*maxCopyCount {
			t.Fatalf("%d resources from %d as written", len(ev.out.Resources), raw)
		}
		if ev.frame != nil {
			t.Fatal("a frame was left pushed")
		}
	})
}
