package arm

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// fnCase is one expression and what it evaluates to: JSON, or an error
// containing err.
type fnCase struct {
	expr, want, err string
}

// fnTemplate gives the cases variables and parameters to work on.
const fnTemplate = `{"parameters":{"p":{"type":"string","defaultValue":"P"}},
 "variables":{"dogs":[{"name":"Evie","age":5},{"name":"Casper","age":3},{"name":"Indy","age":2},{"name":"Kira","age":8}],
  "obj":{"b":1,"A":{"x":1,"y":[1,2]},"c":"s"},"leak":"[lambdaVariables('i')]","nums":[3,1,2],"words":["foo","Bar","baz"]}}`

// runFnCases evaluates each case in scope and compares.
func runFnCases(t *testing.T, scope Scope, cases []fnCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			root, err := parseJSON([]byte(fnTemplate))
			if err != nil {
				t.Fatal(err)
			}
			ev := newEvaluator(root, scope)
			v, err := ev.deep(strNode(c.expr), 0)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q (value %s)", err, c.err, fnJSON(v))
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v, want %s", err, c.want)
			}
			want, err := parseJSON([]byte(c.want))
			if err != nil {
				t.Fatalf("bad want %s: %v", c.want, err)
			}
			if got := fnJSON(v); got != fnJSON(want) {
				t.Errorf("got %s, want %s", got, fnJSON(want))
			}
		})
	}
}

func fnJSON(n *node) string {
	if n == nil {
		return "<nil>"
	}
	var b bytes.Buffer
	n.Encode(&b)
	return b.String()
}

func TestLambdaFunctions(t *testing.T) {
	runFnCases(t, testScope, []fnCase{
		{"[map(range(0, 3), lambda('i', mul(lambdaVariables('i'), 2)))]", `[0,2,4]`, ""},
		{"[map(variables('dogs'), lambda('d', 'i', concat(string(lambdaVariables('i')), lambdaVariables('d').name)))]", `["0Evie","1Casper","2Indy","3Kira"]`, ""},
		{"[filter(variables('nums'), lambda('n', greater(lambdaVariables('n'), 1)))]", `[3,2]`, ""},
		{"[filter(variables('nums'), lambda('n', 'i', equals(lambdaVariables('i'), 1)))]", `[1]`, ""},
		{"[reduce(variables('nums'), 10, lambda('acc', 'n', add(lambdaVariables('acc'), lambdaVariables('n'))))]", `16`, ""},
		{"[reduce(createArray(), 'x', lambda('acc', 'n', 'y'))]", `"x"`, ""},
		{"[sort(variables('nums'), lambda('a', 'b', less(lambdaVariables('a'), lambdaVariables('b'))))]", `[1,2,3]`, ""},
		{"[sort(variables('words'), lambda('a', 'b', less(lambdaVariables('a'), lambdaVariables('b'))))]", `["Bar","baz","foo"]`, ""},
		{"[map(sort(variables('dogs'), lambda('a', 'b', greater(lambdaVariables('a').age, lambdaVariables('b').age))), lambda('d', lambdaVariables('d').name))]", `["Kira","Evie","Casper","Indy"]`, ""},
		{"[toObject(variables('words'), lambda('w', toUpper(lambdaVariables('w'))))]", `{"FOO":"foo","BAR":"Bar","BAZ":"baz"}`, ""},
		{"[toObject(createArray('a', 'A'), lambda('w', lambdaVariables('w')), lambda('w', 1))]", `{"a":1}`, ""},
		{"[groupBy(variables('words'), lambda('w', toLower(substring(lambdaVariables('w'), 0, 1))))]", `{"f":["foo"],"b":["Bar","baz"]}`, ""},
		{"[mapValues(variables('obj'), lambda('v', empty(lambdaVariables('v'))))]", `{"b":false,"A":false,"c":false}`, ""},
		{"[map(range(1, 2), lambda('i', map(range(0, lambdaVariables('i')), lambda('j', add(lambdaVariables('i'), lambdaVariables('j'))))))]", `[[1],[2,3]]`, ""},
		{"[map(range(0, 2), lambda('x', map(range(0, 1), lambda('x', lambdaVariables('x')))))]", `[[0],[0]]`, ""},
		// errors: where lambdas may stand, what they take and return
		{"[lambda('x', 1)]", "", "can only be an argument of"},
		{"[lambdaVariables('x')]", "", `no lambda variable "x"`},
		{"[map(variables('nums'), 1)]", "", "must be a lambda"},
		{"[map(variables('nums'), lambda('x'))]", "", "at least one variable name"},
		{"[map(variables('nums'), lambda(1, 2))]", "", "string literals"},
		{"[map(variables('nums'), lambda('x', 'X', 2))]", "", "twice"},
		{"[map(variables('nums'), lambda('x', 'y', 'z', 2))]", "", "takes 1 to 2 variables, not 3"},
		{"[sort(variables('nums'), lambda('x', true()))]", "", "takes 2 variable(s), not 1"},
		{"[map(variables('obj'), lambda('x', 1))]", "", "must be an array, not an object"},
		{"[mapValues(variables('nums'), lambda('x', 1))]", "", "must be an object, not an array"},
		{"[map(parameters('nope'), lambda('x', 1))]", "", "no parameter"},
		{"[map(variables('nums'), lambda('x', div(1, 0)))]", "", "division by zero"},
		{"[filter(variables('nums'), lambda('x', 1))]", "", "must return a boolean"},
		{"[filter(variables('nums'), lambda('x', div(1, 0)))]", "", "division by zero"},
		{"[sort(variables('nums'), lambda('a', 'b', 1))]", "", "must return a boolean"},
		{"[sort(variables('nums'), lambda('a', 'b', div(1, 0)))]", "", "division by zero"},
		{"[toObject(variables('nums'), lambda('x', lambdaVariables('x')))]", "", "must return a string"},
		{"[toObject(variables('words'), lambda('x', lambdaVariables('x')), lambda('x', div(1, 0)))]", "", "division by zero"},
		{"[toObject(variables('words'), lambda('x', div(1, 0)))]", "", "division by zero"},
		{"[toObject(variables('words'), lambda('x', 'y', 1))]", "", "takes 1 variable(s)"},
		{"[toObject(variables('words'), lambda('x', 'k'), lambda('x', 'y', 1))]", "", "takes 1 variable(s)"},
		{"[groupBy(variables('nums'), lambda('x', lambdaVariables('x')))]", "", "must return a string"},
		{"[groupBy(variables('nums'), lambda('x', div(1, 0)))]", "", "division by zero"},
		{"[mapValues(variables('obj'), lambda('x', div(1, 0)))]", "", "division by zero"},
		{"[reduce(variables('nums'), 0, lambda('x', 1))]", "", "takes 2 to 3 variables"},
		{"[reduce(variables('nums'), div(1, 0), lambda('a', 'b', 1))]", "", "division by zero"},
		{"[reduce(variables('nums'), 0, lambda('a', 'b', div(1, 0)))]", "", "division by zero"},
		{"[filter(variables('nums'))]", "", "takes 2 arguments, not 1"},
		// a variable is the template's: a lambda's variables do not reach into it
		{"[map(range(0, 2), lambda('i', variables('leak')))]", "", `no lambda variable "i"`},
	})
}

// TestLambdaBounds: a lambda over a large range counts steps and charge, so
// nested maps end in a problem instead of a hang or an exhausted memory.
func TestLambdaBounds(t *testing.T) {
	for _, expr := range []string{
		"[map(range(0, 10000), lambda('i', map(range(0, 10000), lambda('j', lambdaVariables('j')))))]",
		"[reduce(range(0, 10000), '', lambda('acc', 'i', concat(lambdaVariables('acc'), 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')))]",
		"[sort(range(0, 10000), lambda('a', 'b', not(less(lambdaVariables('a'), lambdaVariables('b')))))]",
	} {
		root, _ := parseJSON([]byte(`{}`))
		ev := newEvaluator(root, testScope)
		start := time.Now()
		_, err := ev.deep(strNode(expr), 0)
		t.Logf("%s: %v, %d steps, %d charged: %v", expr, time.Since(start), ev.steps, ev.charged, err)
		if err == nil {
			t.Errorf("%s: no error; the bounds should stop it", expr)
			continue
		}
		if !strings.Contains(err.Error(), "steps") && !strings.Contains(err.Error(), "bytes of values") {
			t.Errorf("%s: error %v, want the step or size bound", expr, err)
		}
		if ev.steps > maxExprSteps+1 || ev.charged > maxExprCharge+maxExprString {
			t.Errorf("%s: bounds exceeded: %d steps, %d charged", expr, ev.steps, ev.charged)
		}
	}
}

func TestArrayObjectFunctions(t *testing.T) {
	runFnCases(t, testScope, []fnCase{
		{"[range(-2, 3)]", `[-2,-1,0]`, ""},
		{"[range(0, 0)]", `[]`, ""},
		{"[range(0, 10001)]", "", "from 0 to 10000"},
		{"[range(2147483647, 1)]", "", "no greater than 2147483647"},
		{"[range('a', 1)]", "", "whole number"},
		{"[range(1, 'a')]", "", "whole number"},
		{"[min(variables('nums'))]", `1`, ""},
		{"[max(3, -7, 9)]", `9`, ""},
		{"[min(createArray())]", "", "empty"},
		{"[max(1, 'a')]", "", "whole number"},
		{"[indexOf('Hello wörld wörld', 'WÖRLD')]", `6`, ""},
		{"[lastIndexOf('Hello wörld wörld', 'wörld')]", `12`, ""},
		{"[lastIndexOf('abc', 'z')]", `-1`, ""},
		{"[indexOf('abc', 1)]", "", "must be a string"},
		{"[indexOf(createArray(createObject('a', 1)), createObject('a', 1))]", `0`, ""},
		{"[indexOf(variables('obj'), 1)]", "", "string or an array"},
		{"[indexFromEnd(variables('nums'), 1)]", `2`, ""},
		{"[indexFromEnd(variables('nums'), 4)]", "", "outside the array of 3 items"},
		{"[indexFromEnd(variables('nums'), 'a')]", "", "whole number"},
		{"[indexFromEnd('abc', 1)]", "", "must be an array"},
		{"[tryIndexFromEnd(variables('nums'), 0)]", `null`, ""},
		{"[tryIndexFromEnd(null(), 1)]", `null`, ""},
		{"[tryGet(variables('obj'), 'a', 'y', 1)]", `2`, ""},
		{"[tryGet(variables('obj'), 'a', 'z', 1)]", `null`, ""},
		{"[tryGet(variables('nums'), 5)]", `null`, ""},
		{"[tryGet(variables('nums'), 'x')]", `null`, ""},
		{"[tryGet('text', 0)]", "", "object or an array"},
		{"[flatten(createArray(createArray(1, 2), createArray(), createArray(createArray(3))))]", `[1,2,[3]]`, ""},
		{"[flatten(createArray(1))]", "", "item 1 must be an array"},
		{"[flatten('a')]", "", "must be an array"},
		{"[intersection(createArray(1, 2, 2, 3), createArray(2, 3, 4), createArray(3, 2))]", `[2,3]`, ""},
		{"[intersection(createObject('a', 1, 'b', 2), createObject('A', 1, 'b', 3))]", `{"a":1}`, ""},
		{"[intersection(createArray(1), createObject())]", "", "argument 2 must be an array"},
		{"[intersection('a', 'b')]", "", "array or an object"},
		{"[items(variables('obj'))]", `[{"key":"A","value":{"x":1,"y":[1,2]}},{"key":"b","value":1},{"key":"c","value":"s"}]`, ""},
		{"[items(variables('nums'))]", "", "must be an object"},
		{"[objectKeys(variables('obj'))]", `["b","A","c"]`, ""},
		{"[objectKeys(1)]", "", "must be an object"},
		{"[shallowMerge(createArray(variables('obj'), createObject('A', 2, 'd', 4)))]", `{"b":1,"A":2,"c":"s","d":4}`, ""},
		{"[shallowMerge(createArray(1))]", "", "item 1 must be an object"},
		{"[shallowMerge(variables('obj'))]", "", "array of objects"},
		{"[union(variables('obj'), createObject('a', createObject('y', 3, 'z', 4)), createObject('c', 't'))]", `{"b":1,"A":{"x":1,"y":3,"z":4},"c":"t"}`, ""},
		{"[union(createArray(1, '1', createObject('a', 1)), createArray(createObject('a', 1), 2))]", `[1,"1",{"a":1},2]`, ""},
		{"[union(createObject(), createArray())]", "", "argument 2 must be an object"},
		{"[union(createArray(), createObject())]", "", "argument 2 must be an array"},
		{"[union('a')]", "", "object or an array"},
	})
}

func TestComparisonFunctions(t *testing.T) {
	runFnCases(t, testScope, []fnCase{
		{"[greater('A', 'a')]", `true`, ""},
		{"[less('a', 'B')]", `true`, ""},
		{"[less('B', 'a')]", `false`, ""},
		{"[greater('b', 'A')]", `true`, ""},
		{"[less('_', '-')]", `true`, ""},
		{"[less('-', '1')]", `true`, ""},
		{"[less('9', 'a')]", `true`, ""},
		{"[less('ab', 'abc')]", `true`, ""},
		{"[lessOrEquals('abc', 'abc')]", `true`, ""},
		{"[greaterOrEquals('abc', 'abd')]", `false`, ""},
		{"[less('é', 'f')]", `true`, ""},
		{"[less('e', 'é')]", `true`, ""},
		{"[less('éa', 'eb')]", `true`, ""},
		{"[less('é', 'E')]", `false`, ""},
		{"[less('é', 'è')]", `true`, ""},
		{"[less('ê', 'ë')]", `true`, ""},
		{"[less('Ée', 'ée')]", `false`, ""},
		{"[less('z', 'ж')]", `true`, ""},
		{"[less('a\u0001', 'a b')]", `false`, ""},
		{"[greater(2, 1)]", `true`, ""},
		{"[greater(2, 'a')]", "", "whole number"},
		{"[greater('a', 2)]", "", "must be a string"},
		{"[greater(true(), 2)]", "", "argument 1 must be a string or a whole number, not a boolean"},
	})
}

func TestStringFunctions(t *testing.T) {
	runFnCases(t, testScope, []fnCase{
		{"[base64ToString('b25lLCB0d28sIHRocmVl')]", `"one, two, three"`, ""},
		{"[base64ToString('***')]", "", "not base64"},
		{"[base64ToString(1)]", "", "must be a string"},
		{"[base64ToJson(base64('{\"a\": [1, \"x\"]}'))]", `{"a":[1,"x"]}`, ""},
		{"[base64ToJson(base64('{''a'': ''it\"s''}'))]", `{"a":"it\"s"}`, ""},
		{"[base64ToJson(base64('{''a'': ''\\n''}'))]", `{"a":"\n"}`, ""},
		{"[base64ToJson(base64('{'))]", "", "not valid JSON"},
		{"[base64ToJson('%')]", "", "not base64"},
		{"[base64ToJson(1)]", "", "must be a string"},
		{"[dataUri('Hello, World!')]", `"data:text/plain;charset=utf8;base64,SGVsbG8sIFdvcmxkIQ=="`, ""},
		{"[dataUri(1)]", "", "must be a string"},
		{"[dataUriToString('data:,A%20brief%20note')]", `"A brief note"`, ""},
		{"[dataUriToString('data:text/plain;base64,SGk=')]", `"Hi"`, ""},
		{"[dataUriToString('data:;base64,!!')]", "", "not base64"},
		{"[dataUriToString('data:,%zz%4')]", `"%zz%4"`, ""},
		{"[dataUriToString('hello')]", "", "not a data URI"},
		{"[dataUriToString(1)]", "", "must be a string"},
		{"[join(createArray('a', 1, true()), '-')]", `"a-1-true"`, ""},
		{"[join(createArray(), '-')]", `""`, ""},
		{"[join(createArray(createArray()), '-')]", "", "item 1 is an array"},
		{"[join('a', '-')]", "", "must be an array"},
		{"[join(createArray('a'), 1)]", "", "must be a string"},
		{"[padLeft(123, 5)]", `"  123"`, ""},
		{"[padLeft('abcdef', 3, 'x')]", `"abcdef"`, ""},
		{"[padLeft('ab', 4, 'é')]", `"ééab"`, ""},
		{"[padLeft('ab', 4, 'xy')]", "", "one character"},
		{"[padLeft('ab', 4, 1)]", "", "must be a string"},
		{"[padLeft('ab', -1)]", "", "totalLength"},
		{"[padLeft('ab', 'x')]", "", "whole number"},
		{"[padLeft(createArray(), 3)]", "", "string or a whole number"},
		{"[uriComponent('a b/ü~*')]", `"a%20b%2F%C3%BC~%2A"`, ""},
		{"[uriComponentToString('a%20b%2F%C3%BC')]", `"a b/ü"`, ""},
		{"[uriComponentToString('%zz+%41%')]", `"%zz+A%"`, ""},
		{"[uriComponentToString('%e2%82%ac')]", `"€"`, ""},
		{"[uriComponentToString(1)]", "", "must be a string"},
		{"[uri('http://contoso.com', 'a.json')]", `"http://contoso.com/a.json"`, ""},
		{"[uri('http://contoso.com/a/b', '/c')]", `"http://contoso.com/c"`, ""},
		{"[uri('http://contoso.com/a/b', 'https://other.example/x')]", `"https://other.example/x"`, ""},
		{"[uri(1, 'a')]", "", "must be a string"},
		{"[uri('a', 1)]", "", "must be a string"},
	})
}

func TestFormatFunction(t *testing.T) {
	runFnCases(t, testScope, []fnCase{
		{"[format('{0:N0}', 8175133)]", `"8,175,133"`, ""},
		{"[format('{0:N}', -1234)]", `"-1,234.00"`, ""},
		{"[format('{0:N1}', json('1234.55'))]", `"1,234.6"`, ""},
		{"[format('{0:F3}', 5)]", `"5.000"`, ""},
		{"[format('{0:D5}|{0:d}', -42)]", `"-00042|-42"`, ""},
		{"[format('{0:X}|{0:x4}', 255)]", `"FF|00ff"`, ""},
		{"[format('{0:C}', 1234)]", `"¤1,234.00"`, ""},
		{"[format('{0:C0}', -5)]", `"(¤5)"`, ""},
		{"[format('{0:P}', json('0.125'))]", `"12.50 %"`, ""},
		{"[format('{0:P0}', 1)]", `"100 %"`, ""},
		{"[format('{0:E}', 1234)]", `"1.234000E+003"`, ""},
		{"[format('{0:e2}', json('0.00012'))]", `"1.20e-004"`, ""},
		{"[format('{0:G}|{0:R}', 17)]", `"17|17"`, ""},
		{"[format('{0:G}', json('1.5'))]", `"1.5"`, ""},
		{"[format('{0:G3}', json('3.14159'))]", `"3.14"`, ""},
		{"[format('{0:000.00}', json('3.14159'))]", `"003.14"`, ""},
		{"[format('{0:#,##0}', 1234567)]", `"1,234,567"`, ""},
		{"[format('{0:#.##}', json('2.5'))]", `"2.5"`, ""},
		{"[format('{0:0%}', json('0.25'))]", `"25%"`, ""},
		{"[format('{0:''#''0}', 7)]", `"#7"`, ""},
		{"[format('{0:\\#0;(0)}', -7)]", `"#-7"`, ""},
		{"[format('{0,5}|{1,-4}|', 'ab', 'c')]", `"   ab|c   |"`, ""},
		{"[format('{0:N2}', 'text')]", `"text"`, ""},
		{"[format('{{{0}}}', 1)]", `"{1}"`, ""},
		{"[format('{0:D}', json('1.5'))]", "", "whole numbers only"},
		{"[format('{0:X}', json('1.5'))]", "", "whole numbers only"},
		{"[format('{0,x}', 1)]", "", "alignment"},
		{"[format('{1}', 1)]", "", "names no argument"},
		{"[format('{0', 1)]", "", "without"},
		{"[format('}', 1)]", "", "without"},
		{"[format(1)]", "", "must be a string"},
	})
}

func TestDateFunctions(t *testing.T) {
	runFnCases(t, testScope, []fnCase{
		{"[dateTimeAdd('2020-04-07T14:53:14Z', 'PT1H30M15.5S', 'o')]", `"2020-04-07T16:23:29.5000000Z"`, ""},
		{"[dateTimeAdd('20200407T145314Z', 'P1W', 'yyyy-MM-ddTHH:mm:ssK')]", `"2020-04-14T14:53:14Z"`, ""},
		{"[dateTimeAdd('2020-04-07', '-P1D', 'D')]", `"Monday, 06 April 2020"`, ""},
		{"[dateTimeAdd('4/7/2020 2:53:14 PM', 'PT0S', 'r')]", `"Tue, 07 Apr 2020 14:53:14 GMT"`, ""},
		{"[dateTimeAdd('2020-04-07T00:05:09Z', 'PT0S', 'yy M d h H m s tt t MMM ddd fff FFF z zz zzz \\y ''lit'' %d')]", `"20 4 7 12 0 5 9 AM A Apr Tue 000  +0 +00 +00:00 y lit 7"`, ""},
		{"[dateTimeAdd('2020-04-07T13:00:00Z', 'PT0S', 'U')]", `"Tuesday, 07 April 2020 13:00:00"`, ""},
		{"[dateTimeAdd('2020-04-07T13:00:00Z', 'PT0S', 'm')]", `"April 07"`, ""},
		{"[dateTimeAdd('2020-04-07T13:00:00.12Z', 'PT0S', 'ss.FFF')]", `"00.12"`, ""},
		{"[dateTimeAdd('2020-04-07T13:00:00Z', 'PT0S', 'ss.FFF')]", `"00"`, ""},
		{"[dateTimeAdd('2020-04-07T13:00:00Z', 'PT0S', 'g')]", `"04/07/2020 13:00"`, ""},
		{"[dateTimeAdd('2020-04-07T13:00:00Z', 'PT0S', 'y')]", `"2020 April"`, ""},
		{"[dateTimeAdd('2020-04-07T13:00:00Z', 'PT0S', 'Q')]", "", "standard date"},
		{"[dateTimeAdd('2020-04-07T13:00:00Z', 'PT0S', 'ffffffff')]", "", "more than 7"},
		{"[dateTimeAdd('2020-04-07T13:00:00Z', 'PT0S', '''open')]", "", "not closed"},
		{"[dateTimeAdd('yesterday', 'P1D')]", "", "not a date"},
		{"[dateTimeAdd('2020-04-07', 'P')]", "", "ISO 8601 duration"},
		{"[dateTimeAdd('2020-04-07', '1D')]", "", "ISO 8601 duration"},
		{"[dateTimeAdd('2020-04-07', 'P1H')]", "", "ISO 8601 duration"},
		{"[dateTimeAdd('2020-04-07', 'PT1D')]", "", "ISO 8601 duration"},
		{"[dateTimeAdd('2020-04-07', 'PTT1H')]", "", "ISO 8601 duration"},
		{"[dateTimeAdd('2020-04-07', 'P1')]", "", "ISO 8601 duration"},
		{"[dateTimeAdd('2020-04-07', 'P99999999Y')]", "", "ISO 8601 duration"},
		{"[dateTimeAdd(1, 'P1D')]", "", "must be a string"},
		{"[dateTimeAdd('2020-04-07', 1)]", "", "must be a string"},
		{"[dateTimeAdd('2020-04-07', 'P1D', 1)]", "", "must be a string"},
		{"[dateTimeToEpoch('1970-01-02T00:00:00Z')]", `86400`, ""},
		{"[dateTimeToEpoch('x')]", "", "not a date"},
		{"[dateTimeToEpoch(1)]", "", "must be a string"},
		{"[dateTimeFromEpoch(0)]", `"1970-01-01T00:00:00Z"`, ""},
		{"[dateTimeFromEpoch(999999999999)]", "", "years 1 to 9999"},
		{"[dateTimeFromEpoch('0')]", "", "whole number"},
		{"[utcNow()]", "", "only in a parameter's defaultValue"},
	})
	// utcNow in a parameter default, with and without a known time
	for _, c := range []struct {
		now       time.Time
		format    string
		want, err string
	}{
		{testScope.Now, "", "20241210T020000Z", ""},
		{testScope.Now, "u", "2024-12-10 02:00:00Z", ""},
		{testScope.Now, "yyyy-MM-dd", "2024-12-10", ""},
		{testScope.Now, "Q", "", "standard date"},
		{time.Time{}, "", "", "not supported offline"},
	} {
		tpl := `{"parameters":{"t":{"type":"string","defaultValue":"[utcNow('` + c.format + `')]"}},"outputs":{"o":{"type":"string","value":"[parameters('t')]"}}}`
		if c.format == "" {
			tpl = strings.Replace(tpl, "utcNow('')", "utcNow()", 1)
		}
		d, err := Evaluate([]byte(tpl), nil, Scope{Now: c.now})
		if err != nil {
			t.Fatal(err)
		}
		if c.err != "" {
			if !strings.Contains(fmt.Sprint(d.Problems), c.err) {
				t.Errorf("utcNow(%q): problems %v, want %q", c.format, d.Problems, c.err)
			}
			continue
		}
		if d.Outputs["o"] != c.want {
			t.Errorf("utcNow(%q) = %v, want %q (%v)", c.format, d.Outputs["o"], c.want, d.Problems)
		}
	}
	if _, err := Evaluate([]byte(`{"parameters":{"t":{"type":"string","defaultValue":"[utcNow(1)]"}},"outputs":{"o":{"type":"string","value":"[parameters('t')]"}}}`), nil, testScope); err != nil {
		t.Fatal(err)
	}
}

func TestCidrFunctions(t *testing.T) {
	runFnCases(t, testScope, []fnCase{
		{"[map(range(0, 3), lambda('i', cidrSubnet('10.144.0.0/20', 24, lambdaVariables('i'))))]", `["10.144.0.0/24","10.144.1.0/24","10.144.2.0/24"]`, ""},
		{"[cidrSubnet('fdad:3236:5555::/48', 52, 3)]", `"fdad:3236:5555:3000::/52"`, ""},
		{"[cidrSubnet('10.0.0.0/8', 8, 0)]", `"10.0.0.0/8"`, ""},
		{"[cidrSubnet('10.144.0.0/20', 24, 16)]", "", "outside the 16 subnets"},
		{"[cidrSubnet('10.144.0.0/20', 19, 0)]", "", "newCIDR 19"},
		{"[cidrSubnet('10.144.0.0/20', 33, 0)]", "", "newCIDR 33"},
		{"[cidrSubnet('10.144.0.0/20', 'a', 0)]", "", "whole number"},
		{"[cidrSubnet('10.144.0.0/20', 24, 'a')]", "", "whole number"},
		{"[cidrSubnet('10.144.0.0', 24, 0)]", "", "CIDR notation"},
		{"[map(range(0, 2), lambda('i', cidrHost('10.144.3.0/24', lambdaVariables('i'))))]", `["10.144.3.1","10.144.3.2"]`, ""},
		{"[cidrHost('10.144.3.0/24', 253)]", `"10.144.3.254"`, ""},
		{"[cidrHost('10.144.3.0/24', 254)]", "", "outside the hosts"},
		{"[cidrHost('10.144.3.0/24', -1)]", "", "outside the hosts"},
		{"[cidrHost('fdad:3236:5555:3000::/52', 4)]", `"fdad:3236:5555:3000::5"`, ""},
		{"[cidrHost('10.0.0.0/24', 'a')]", "", "whole number"},
		{"[cidrHost(1, 0)]", "", "must be a string"},
		{"[parseCidr('10.144.3.7/31')]", `{"network":"10.144.3.6","netmask":"255.255.255.254","broadcast":"10.144.3.7","firstUsable":"10.144.3.6","lastUsable":"10.144.3.7","cidr":31}`, ""},
		{"[parseCidr('10.1.2.3/32').lastUsable]", `"10.1.2.3"`, ""},
		{"[parseCidr('fe80::1%eth0/64')]", "", "CIDR notation"},
		{"[parseCidr('::ffff:10.0.0.0/104')]", "", "CIDR notation"},
	})
}

func TestScopeFunctions(t *testing.T) {
	full := Scope{TenantID: "tttt", ManagementGroup: "mg1", SubscriptionID: "ssss", ResourceGroup: "rg", DeploymentName: "dep"}
	runFnCases(t, full, []fnCase{
		{"[subscription()]", `{"id":"/subscriptions/ssss","subscriptionId":"ssss","tenantId":"tttt","displayName":null}`, ""},
		{"[subscription().displayName]", "", "the subscription's display name is not known offline"},
		{"[resourceGroup().properties.provisioningState]", `"Succeeded"`, ""},
		{"[resourceGroup()]", `{"id":"/subscriptions/ssss/resourceGroups/rg","name":"rg","type":"Microsoft.Resources/resourceGroups","location":null,"properties":{"provisioningState":"Succeeded"}}`, ""},
		{"[resourceGroup().location]", "", "the resource group's location is not known offline"},
		{"[tenant()]", `{"countryCode":null,"displayName":null,"id":"/tenants/tttt","tenantId":"tttt"}`, ""},
		{"[tenant().displayName]", "", "the tenant's displayName is not known offline"},
		{"[managementGroup()]", `{"id":"/providers/Microsoft.Management/managementGroups/mg1","name":"mg1","type":"Microsoft.Management/managementGroups","properties":null}`, ""},
		{"[managementGroup('other').id]", `"/providers/Microsoft.Management/managementGroups/other"`, ""},
		{"[managementGroup(1)]", "", "must be a string"},
		{"[deployment().name]", `"dep"`, ""},
		{"[deployment().properties.parameters]", `{}`, ""},
		{"[deployment().properties.templateHash]", "", "templateHash is not known offline"},
		{"[deployment().properties.template.variables.nums]", `[3,1,2]`, ""},
		{"[environment().resourceManager]", `"https://management.azure.com/"`, ""},
		{"[environment().suffixes.storage]", `"core.windows.net"`, ""},
	})
	runFnCases(t, Scope{}, []fnCase{
		{"[subscription()]", "", "the subscription is not known offline"},
		{"[resourceGroup()]", "", "the subscription is not known offline"},
		{"[tenant()]", "", "the tenant is not known offline"},
		{"[managementGroup()]", "", "management group scope"},
		{"[deployment().name]", `"goldenpipe"`, ""},
	})
	runFnCases(t, Scope{SubscriptionID: "s"}, []fnCase{
		{"[resourceGroup()]", "", "the resource group is not known offline"},
		{"[subscription().tenantId]", "", "the tenant is not known offline"},
	})
	for cloud, want := range map[string]string{"AzureChinaCloud": "https://management.chinacloudapi.cn/", "azureusgovernment": "https://management.usgovcloudapi.net/", "AzureCloud": "https://management.azure.com/"} {
		runFnCases(t, Scope{Cloud: cloud}, []fnCase{{"[environment().resourceManager]", `"` + want + `"`, ""}})
	}
	runFnCases(t, Scope{Cloud: "Mars"}, []fnCase{{"[environment()]", "", `the cloud "Mars"`}})

	// deployment().location at subscription scope, none at resource group scope
	for schema, want := range map[string]string{
		"https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#": `"westeurope"`,
		"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#":             `null`,
	} {
		d, err := Evaluate([]byte(`{"$schema":"`+schema+`","outputs":{"o":{"type":"object","value":"[deployment()]"}}}`), nil, Scope{Location: "westeurope"})
		if err != nil {
			t.Fatal(err)
		}
		o, _ := d.Outputs["o"].(map[string]any)
		if got := docShowJSON(o["location"]); got != want {
			t.Errorf("%s: deployment().location = %s, want %s (%v)", schema, got, want, d.Problems)
		}
	}
	// deployment().properties.parameters holds the values given
	d, err := Evaluate([]byte(`{"parameters":{"a":{"type":"int"},"b":{"type":"string","defaultValue":"x"}},"outputs":{"o":{"type":"object","value":"[deployment().properties.parameters]"}}}`),
		[]byte(`{"contentVersion":"1.0.0.0","parameters":{"a":{"value":1}}}`), Scope{})
	if err != nil {
		t.Fatal(err)
	}
	if got := docShowJSON(d.Outputs["o"]); got != `{"a":{"value":1}}` {
		t.Errorf("deployment().properties.parameters = %s (%v)", got, d.Problems)
	}
}

func TestResourceFunctions(t *testing.T) {
	runFnCases(t, Scope{SubscriptionID: "s", ResourceGroup: "g", ManagementGroup: "mg1"}, []fnCase{
		{"[extensionResourceId(resourceId('Microsoft.Storage/storageAccounts', 'st'), 'Microsoft.Authorization/locks', 'lock')]",
			`"/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/st/providers/Microsoft.Authorization/locks/lock"`, ""},
		{"[extensionResourceId('/subscriptions/s/', 'Microsoft.Authorization/policyAssignments', 'p')]", `"/subscriptions/s/providers/Microsoft.Authorization/policyAssignments/p"`, ""},
		{"[extensionResourceId('st', 'Microsoft.Authorization/locks', 'lock')]", "", "not a resource id"},
		{"[extensionResourceId('/x', 'Microsoft.Authorization/locks', 'a', 'b')]", "", "needs 1 name(s), not 2"},
		{"[extensionResourceId('/x', 1, 'a')]", "", "must be a string"},
		{"[managementGroupResourceId('Microsoft.Authorization/policyDefinitions', 'pd')]", `"/providers/Microsoft.Management/managementGroups/mg1/providers/Microsoft.Authorization/policyDefinitions/pd"`, ""},
		{"[managementGroupResourceId('mg2', 'Microsoft.Authorization/policyDefinitions', 'pd')]", `"/providers/Microsoft.Management/managementGroups/mg2/providers/Microsoft.Authorization/policyDefinitions/pd"`, ""},
		{"[managementGroupResourceId('a', 'b')]", "", "no resource type"},
		{"[managementGroupResourceId('Microsoft.A/b', 'x', 'y')]", "", "needs 1 name(s)"},
		{"[managementGroupResourceId(1, 'Microsoft.A/b')]", "", "must be a string"},
		{"[listKeys(resourceId('Microsoft.Storage/storageAccounts', 'st'), '2023-01-01').keys[0].value]", "", "listKeys() is not supported offline: it reads resources that exist in Azure"},
		{"[listAccountSas('st', '2023-01-01', createObject())]", "", "listAccountSas() is not supported offline"},
		{"[references('vms')]", "", "references() is not supported offline"},
		{"[deployer().objectId]", "", "deployer() is not supported offline"},
		{"[pickZones('Microsoft.Compute', 'virtualMachines', 'westus2')]", "", "pickZones() is not supported offline"},
		{"[list()]", "", "list() is not supported offline"},
		{"[listing.fn()]", "", "user-defined function"},
		{"[float('1.5')]", `1.5`, ""},
		{"[float(3)]", `3`, ""},
		{"[float('x')]", "", "not a number"},
		{"[float(true())]", "", "string or a number"},
	})
	runFnCases(t, Scope{}, []fnCase{
		{"[managementGroupResourceId('Microsoft.Authorization/policyDefinitions', 'pd')]", "", "not at management group scope"},
	})
}
