package arm

import (
	"testing"
)

// FuzzLambda: any expression with lambdas (nested, over ranges, with wrong
// arities, names and results) evaluates to a value or an error, never a
// panic, within the step, depth and size bounds.
func FuzzLambda(f *testing.F) {
	for _, s := range []string{
		"[map(range(0, 10), lambda('i', mul(lambdaVariables('i'), 2)))]",
		"[filter(variables('dogs'), lambda('d', 'i', greater(lambdaVariables('d').age, lambdaVariables('i'))))]",
		"[reduce(range(0, 100), '', lambda('a', 'n', concat(lambdaVariables('a'), string(lambdaVariables('n')))))]",
		"[sort(variables('words'), lambda('a', 'b', less(lambdaVariables('a'), lambdaVariables('b'))))]",
		"[toObject(variables('dogs'), lambda('d', lambdaVariables('d').name), lambda('d', lambdaVariables('d').age))]",
		"[groupBy(variables('words'), lambda('w', substring(lambdaVariables('w'), 0, 1)))]",
		"[mapValues(variables('obj'), lambda('v', string(lambdaVariables('v'))))]",
		"[map(range(0, 10000), lambda('i', map(range(0, 10000), lambda('j', lambdaVariables('i')))))]",
		"[map(range(0, 3), lambda('x', lambdaVariables('y')))]", "[lambda('x', 1)]", "[map(1, lambda(1, 2))]",
		"[map(range(0, 3), lambda('x', map(range(0, 3), lambda('x', lambdaVariables('x')))))]",
		"[cidrSubnet('10.0.0.0/8', 24, 65535)]", "[format('{0:N2}', 1234)]", "[dateTimeAdd('2020-01-01', 'P1Y', 'D')]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		root, err := parseJSON([]byte(fnTemplate))
		if err != nil {
			t.Fatal(err)
		}
		ev := newEvaluator(root, testScope)
		v, err := ev.deep(strNode(s), 0)
		if err == nil && v == nil {
			t.Fatal("no value and no error")
		}
		if ev.frame != nil {
			t.Fatal("a lambda's frame was left on the stack")
		}
		if ev.steps > maxExprSteps+1 || ev.charged > maxExprCharge+maxExprString {
			t.Fatalf("bounds exceeded: %d steps, %d bytes", ev.steps, ev.charged)
		}
	})
}
