package arm

import (
	"bytes"
	"strings"
	"testing"
)

// exprTemplate declares what the expressions of TestExpressions read.
const exprTemplate = `{
  "parameters": {
    "a": {"type": "string", "defaultValue": "A"},
    "n": {"type": "int", "defaultValue": 7},
    "when": {"type": "string", "defaultValue": "[utcNow('yyyy-MM-dd')]"},
    "list": {"type": "array", "defaultValue": [1, 2, 3]},
    "obj": {"type": "object", "defaultValue": {"k": "v", "Inner": {"x": 1}}},
    "self": {"type": "string", "defaultValue": "[parameters('self')]"},
    "kv": {"type": "securestring"}
  },
  "variables": {"v": "V", "loop": "[variables('loop')]", "literal": "[[not an expression]"}
}`

// evalExpr evaluates one expression string in exprTemplate's scope.
func evalExpr(t *testing.T, s string, scope Scope) (string, error) {
	t.Helper()
	root, err := parseJSON([]byte(exprTemplate))
	if err != nil {
		t.Fatal(err)
	}
	ev := newEvaluator(root, scope)
	ev.given = map[string]*node{"kv": nil} // a Key Vault reference
	v, err := ev.deep(strNode(s), 0)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	v.Encode(&b)
	return b.String(), nil
}

// The functions moved from template/ with the evaluator, each with what
// it gives (JSON) or the error it says.
func TestExpressions(t *testing.T) {
	tests := []struct{ expr, want, err string }{
		{expr: "plain", want: `"plain"`},
		{expr: "[[literal]", want: `"[literal]"`},
		{expr: "[parameters('a')]", want: `"A"`},
		{expr: "[PARAMETERS('A')]", want: `"A"`},
		{expr: "[parameters('n')]", want: `7`},
		{expr: "[parameters('when')]", want: `"2024-12-10"`},
		{expr: "[parameters('obj').inner.x]", want: `1`},
		{expr: "[parameters('obj')['k']]", want: `"v"`},
		{expr: "[parameters('list')[1]]", want: `2`},
		{expr: "[parameters('list')[3]]", err: "index 3 is outside the array of 3 items"},
		{expr: "[parameters('obj').missing]", err: `the object has no property "missing"`},
		{expr: "[parameters('a').x]", err: `cannot read property "x" of a string`},
		{expr: "[parameters('a')[0]]", err: "cannot index a string with a number"},
		{expr: "[parameters('nope')]", err: `the template declares no parameter "nope"`},
		{expr: "[parameters('self')]", err: `refers to itself`},
		{expr: "[parameters('kv')]", err: "Key Vault reference"},
		{expr: "[variables('v')]", want: `"V"`},
		{expr: "[variables('literal')]", want: `"[not an expression]"`},
		{expr: "[variables('loop')]", err: `variable "loop" refers to itself`},
		{expr: "[variables('copy')]", err: `declares no variable "copy"`},
		{expr: "[concat('a', 1, null())]", want: `"a1"`},
		{expr: "[concat(createArray(1), createArray(2, 3))]", want: `[1,2,3]`},
		{expr: "[concat(createArray(1), 'x')]", err: "argument 2 must be an array like the first"},
		{expr: "[concat('x', createArray(1))]", err: "argument 2 is an array"},
		{expr: "[format('{0}-{1:D3} {{x}}', 'a', 7)]", want: `"a-007 {x}"`},
		{expr: "[format('{1}', 'a')]", err: "{1} names no argument"},
		{expr: "[format('{0', 'a')]", err: `has a "{" without "}"`},
		{expr: "[format('}', 'a')]", err: `has a "}" without "{"`},
		{expr: "[toLower('AbC')]", want: `"abc"`},
		{expr: "[toUpper('AbC')]", want: `"ABC"`},
		{expr: "[trim('  x ')]", want: `"x"`},
		{expr: "[toLower(1)]", err: "argument 1 must be a string, not a number"},
		{expr: "[uri('https://a.b/c/d', 'e')]", want: `"https://a.b/c/e"`},
		{expr: "[uri('https://a.b/c/', 'e')]", want: `"https://a.b/c/e"`},
		{expr: "[uri('https://a.b/c/d', '/e')]", want: `"https://a.b/e"`},
		{expr: "[base64('one, two, three')]", want: `"b25lLCB0d28sIHRocmVl"`},
		{expr: "[replace('123-123', '-', '')]", want: `"123123"`},
		{expr: "[replace('abc', '', 'x')]", want: `"abc"`},
		{expr: "[string(createObject('a', 1))]", want: `"{\"a\":1}"`},
		{expr: "[int('4')]", want: `4`},
		{expr: "[int(4)]", want: `4`},
		{expr: "[int('x')]", err: `"x" is not a whole number`},
		{expr: "[bool('true')]", want: `true`},
		{expr: "[bool('FALSE')]", want: `false`},
		{expr: "[bool(1)]", want: `true`},
		{expr: "[bool(false())]", want: `false`},
		{expr: "[bool('x')]", err: "x is not a boolean"},
		{expr: "[equals(createArray(1, 'a'), createArray(1, 'a'))]", want: `true`},
		{expr: "[equals(createObject('a', 1), createObject('a', 2))]", want: `false`},
		{expr: "[not(true())]", want: `false`},
		{expr: "[not(1)]", err: "argument 1 must be a boolean"},
		{expr: "[and(true(), false())]", want: `false`},
		{expr: "[or(false(), true())]", want: `true`},
		{expr: "[and(true(), 1)]", err: "argument 2 must be a boolean"},
		{expr: "[if(true(), 'y', parameters('nope'))]", want: `"y"`},
		{expr: "[if(false(), parameters('nope'), 'n')]", want: `"n"`},
		{expr: "[if(1, 'y', 'n')]", err: "the condition of if must be a boolean"},
		{expr: "[if(true(), 'y')]", err: "if takes 3 arguments"},
		{expr: "[empty('')]", want: `true`},
		{expr: "[empty(createArray())]", want: `true`},
		{expr: "[empty(createObject('a', 1))]", want: `false`},
		{expr: "[length('héllo')]", want: `5`},
		{expr: "[length(parameters('obj'))]", want: `2`},
		{expr: "[length(1)]", err: "argument 1 must be a string, array or object"},
		{expr: "[contains('OneTwo', 'Two')]", want: `true`},
		{expr: "[contains(parameters('list'), 2)]", want: `true`},
		{expr: "[contains(parameters('list'), 4)]", want: `false`},
		{expr: "[contains(parameters('obj'), 'k')]", want: `true`},
		{expr: "[contains(1, 1)]", err: "argument 1 must be a string, array or object"},
		{expr: "[startsWith('abcdef', 'AB')]", want: `true`},
		{expr: "[endsWith('abcdef', 'EF')]", want: `true`},
		{expr: "[substring('hello', 1, 3)]", want: `"ell"`},
		{expr: "[substring('hello', 2)]", want: `"llo"`},
		{expr: "[substring('hello', 4, 3)]", err: "fall outside the 5 characters"},
		{expr: "[split('a,b;c', createArray(',', ';'))]", want: `["a","b","c"]`},
		{expr: "[split('a:b', ':')[1]]", want: `"b"`},
		{expr: "[split('a', 1)]", err: "argument 2 must be a string or an array of strings"},
		{expr: "[first('abc')]", want: `"a"`},
		{expr: "[last(parameters('list'))]", want: `3`},
		{expr: "[first(createArray())]", want: `null`},
		{expr: "[last('')]", want: `""`},
		{expr: "[first(1)]", err: "argument 1 must be a string or an array"},
		{expr: "[take(parameters('list'), 2)]", want: `[1,2]`},
		{expr: "[skip(parameters('list'), 2)]", want: `[3]`},
		{expr: "[take('abc', 5)]", want: `"abc"`},
		{expr: "[skip('abc', -1)]", want: `"abc"`},
		{expr: "[take(1, 1)]", err: "argument 1 must be a string or an array"},
		{expr: "[coalesce(null(), null(), 'x')]", want: `"x"`},
		{expr: "[coalesce(null())]", want: `null`},
		{expr: "[array('x')]", want: `["x"]`},
		{expr: "[array(parameters('list'))]", want: `[1,2,3]`},
		{expr: "[createObject('a')]", err: "takes pairs of key and value"},
		{expr: "[json('{\"a\": [1, null]}').a]", want: `[1,null]`},
		{expr: "[json('{')]", err: "not valid JSON"},
		{expr: "[union(createObject('a', 1), createObject('b', 2, 'a', 3))]", want: `{"a":3,"b":2}`},
		{expr: "[union(createArray(1, 2), createArray(2, 3))]", want: `[1,2,3]`},
		{expr: "[union(createArray(1), 'x')]", err: "argument 2 must be an array like the first"},
		{expr: "[union(createObject('a', 1), 'x')]", err: "argument 2 must be an object like the first"},
		{expr: "[union('x', 'y')]", err: "argument 1 must be an object or an array"},
		{expr: "[add(1, 2)]", want: `3`},
		{expr: "[sub(1, 2)]", want: `-1`},
		{expr: "[mul(3, 2)]", want: `6`},
		{expr: "[div(7, 2)]", want: `3`},
		{expr: "[mod(7, 2)]", want: `1`},
		{expr: "[div(1, 0)]", err: "division by zero"},
		{expr: "[mod(1, 0)]", err: "division by zero"},
		{expr: "[add('1', 2)]", err: "argument 1 must be a whole number"},
		{expr: "[greater(2, 1)]", want: `true`},
		{expr: "[less(2, 1)]", want: `false`},
		{expr: "[greaterOrEquals(1, 1)]", want: `true`},
		{expr: "[lessOrEquals('a', 'b')]", want: `true`},
		{expr: "[greater(1, 'a')]", err: "argument 2 must be a whole number"},
		{expr: "[greater(true(), 1)]", err: "argument 1 must be a string"},
		{expr: "[uniqueString('test')]", want: `"rbgf3xv4ufgzg"`},
		{expr: "[guid('a', 'b', 'c')]", want: `"a98fa280-e03f-5afa-8d8e-92d0a9c201e8"`},
		{expr: "[uniqueString(1)]", err: "argument 1 must be a string"},
		{expr: "[resourceId('Microsoft.Network/virtualNetworks/subnets', 'v', 's')]", want: `"/subscriptions/0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11/resourceGroups/rg-images/providers/Microsoft.Network/virtualNetworks/v/subnets/s"`},
		{expr: "[resourceId('other', 'Microsoft.Compute/galleries', 'g')]", want: `"/subscriptions/0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11/resourceGroups/other/providers/Microsoft.Compute/galleries/g"`},
		{expr: "[resourceId('s2', 'other', 'Microsoft.Compute/galleries', 'g')]", want: `"/subscriptions/s2/resourceGroups/other/providers/Microsoft.Compute/galleries/g"`},
		{expr: "[resourceId('Microsoft.Compute/galleries/images', 'g/i')]", want: `"/subscriptions/0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11/resourceGroups/rg-images/providers/Microsoft.Compute/galleries/g/images/i"`},
		{expr: "[resourceId('Microsoft.Compute/galleries/images', 'g')]", err: "needs 2 name(s), not 1"},
		{expr: "[resourceId('a', 'b')]", err: "no resource type"},
		{expr: "[subscriptionResourceId('Microsoft.Resources/resourceGroups', 'rg')]", want: `"/subscriptions/0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11/resourceGroups/rg"`},
		{expr: "[subscriptionResourceId('s2', 'Microsoft.Authorization/roleDefinitions', 'r')]", want: `"/subscriptions/s2/providers/Microsoft.Authorization/roleDefinitions/r"`},
		{expr: "[subscriptionResourceId('a', 'b')]", err: "no resource type"},
		{expr: "[tenantResourceId('Microsoft.Management/managementGroups', 'mg')]", want: `"/providers/Microsoft.Management/managementGroups/mg"`},
		{expr: "[tenantResourceId('nope', 'mg')]", err: "is not a resource type"},
		{expr: "[subscription().subscriptionId]", want: `"0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11"`},
		{expr: "[resourceGroup().location]", want: `"westeurope"`},
		{expr: "[resourceGroup().id]", want: `"/subscriptions/0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11/resourceGroups/rg-images"`},
		{expr: "[deployment().name]", want: `"goldenpipe"`},
		{expr: "[utcNow()]", err: "utcNow() can be used only in a parameter's defaultValue"},
		{expr: "[newGuid()]", err: "newGuid() is not supported offline: its value changes on every deployment"},
		{expr: "[reference('x').id]", err: "reference() is not supported offline: it reads resources that exist in Azure"},
		{expr: "[ns.fn()]", err: "ns.fn is not a user-defined function of this template: its functions section declares no such namespace and member"},
		{expr: "[nope()]", err: "nope is not an ARM template function"},
		{expr: "[concat()]", err: "concat takes at least 1 argument(s), not 0"},
		{expr: "[not(true(), true())]", err: "not takes 1 argument, not 2"},
		{expr: "[substring('a')]", err: "substring takes 2 to 3 arguments, not 1"},
		{expr: "[true(1)]", err: "true takes 0 arguments, not 1"},
		{expr: "[concat('a'", want: `"[concat('a'"`}, // no closing bracket: a string
		{expr: "[concat('a']", err: "the arguments of concat are not closed"},
		{expr: "[concat('a' 'b')]", err: `expected "," or ")" in the arguments of concat`},
		{expr: "[concat('a)]", err: "a string literal is not closed"},
		{expr: "[concat]", err: `"concat" must be followed by "("`},
		{expr: "[parameters('list').]", err: `a property name must follow "."`},
		{expr: "[parameters('list')[0]", err: `expected "]" after an index`},
		{expr: "[parameters('list')[0 1]]", err: `expected "]" after an index`},
		{expr: "[]", err: "the expression ends too early"},
		{expr: "[)]", err: `unexpected ")"`},
		{expr: "[concat('a') x]", err: `unexpected "x" at column`},
		{expr: "[99999999999999999999]", err: "is not a whole number"},
		{expr: "['it''s']", want: `"it's"`},
		{expr: "[ -3 ]", want: `-3`},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := evalExpr(t, tt.expr, testScope)
			switch {
			case tt.err != "" && err == nil:
				t.Errorf("= %s, want an error %q", got, tt.err)
			case tt.err != "" && !strings.Contains(err.Error(), tt.err):
				t.Errorf("error %q, want %q", err, tt.err)
			case tt.err == "" && err != nil:
				t.Errorf("error %v, want %s", err, tt.want)
			case tt.err == "" && got != tt.want:
				t.Errorf("= %s, want %s", got, tt.want)
			}
		})
	}
}

// What is not known offline names where to give it.
func TestScopeValuesMissing(t *testing.T) {
	for _, expr := range []string{"[subscription().id]", "[resourceGroup().name]", "[resourceId('A.B/c', 'x')]", "[subscriptionResourceId('A.B/c', 'x')]"} {
		_, err := evalExpr(t, expr, Scope{Where: "--subscription"})
		if err == nil || !strings.Contains(err.Error(), "is not known offline: set it (--subscription)") {
			t.Errorf("%s: %v", expr, err)
		}
	}
	s := testScope
	s.Location = ""
	if _, err := evalExpr(t, "[resourceGroup().location]", s); err == nil || !strings.Contains(err.Error(), "the resource group's location is not known offline") {
		t.Errorf("location: %v", err)
	}
	s = testScope
	s.Now = s.Now.AddDate(0, 0, 0)
	s.DeploymentName = "dep1"
	if got, err := evalExpr(t, "[deployment().name]", s); err != nil || got != `"dep1"` {
		t.Errorf("deployment name: %s %v", got, err)
	}
	if _, err := evalExpr(t, "[parameters('when')]", Scope{}); err == nil || !strings.Contains(err.Error(), "utcNow() is not supported offline") {
		t.Errorf("utcNow without Now: %v", err)
	}
}

func TestLooksLikeExpression(t *testing.T) {
	for s, want := range map[string]bool{
		"[concat('a')]": true, "[parameters('x').y]": true, "[[escaped]": false, "plain": false,
		"[Net.ServicePointManager]::SecurityProtocol": false, "[Net.ServicePointManager]": false,
	} {
		if got := LooksLikeExpression(s); got != want {
			t.Errorf("LooksLikeExpression(%q) = %v", s, got)
		}
	}
}
