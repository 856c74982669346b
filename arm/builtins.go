package arm

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/goldenpipe/goldenpipe/internal/jsontree"
)

func strPredicate(f func(s, p string) bool) armFunc {
	return armFunc{min: 2, max: 2, call: func(_ *evaluator, a []*node, _ int) (*node, error) {
		parts, err := allStrings(a)
		if err != nil {
			return nil, err
		}
		return boolNode(f(strings.ToLower(parts[0]), strings.ToLower(parts[1]))), nil
	}}
}

func unsupported(why string) armFunc {
	return armFunc{min: 0, max: -1, why: why, call: func(*evaluator, []*node, int) (*node, error) { return nil, errUnsupported }}
}

func arith(op func(a, b int64) (int64, error)) armFunc {
	return armFunc{min: 2, max: 2, call: func(_ *evaluator, a []*node, _ int) (*node, error) {
		x, err := wantInt(a, 0)
		if err != nil {
			return nil, err
		}
		y, err := wantInt(a, 1)
		if err != nil {
			return nil, err
		}
		v, err := op(x, y)
		if err != nil {
			return nil, err
		}
		return intNode(v), nil
	}}
}

func logic(all bool) armFunc {
	return armFunc{min: 2, max: -1, call: func(_ *evaluator, a []*node, _ int) (*node, error) {
		for i, v := range a {
			if v.Kind != 'b' {
				return nil, fmt.Errorf("argument %d must be a boolean, not %s", i+1, v.Describe())
			}
			if v.B != all {
				return boolNode(!all), nil
			}
		}
		return boolNode(all), nil
	}}
}

var armFunctions map[string]armFunc

func init() {
	nondeterministic := "its value changes on every deployment; give the value in the parameters file"
	deployed := "it reads resources that exist in Azure; give the value in the parameters file"
	armFunctions = map[string]armFunc{
		"if": {min: 0, max: -1, lazy: ifFn},
		"parameters": {min: 1, max: 1, call: func(ev *evaluator, a []*node, depth int) (*node, error) {
			name, err := wantString(a, 0)
			if err != nil {
				return nil, err
			}
			return ev.parameter(name, depth)
		}},
		"variables": {min: 1, max: 1, call: func(ev *evaluator, a []*node, depth int) (*node, error) {
			name, err := wantString(a, 0)
			if err != nil {
				return nil, err
			}
			return ev.variable(name, depth)
		}},
		"concat": {min: 1, max: -1, call: func(_ *evaluator, a []*node, _ int) (*node, error) {
			if a[0].Kind == '[' {
				var items []*node
				for i, v := range a {
					if v.Kind != '[' {
						return nil, fmt.Errorf("argument %d must be an array like the first, not %s", i+1, v.Describe())
					}
					items = append(items, v.Items...)
				}
				return arrayNode(items), nil
			}
			var b strings.Builder
			for i, v := range a {
				if v.Kind == '[' || v.Kind == '{' {
					return nil, fmt.Errorf("argument %d is %s; concat joins strings or arrays", i+1, v.Describe())
				}
				t, _ := textOf(v) // a scalar
				b.WriteString(t)
				if b.Len() > maxExprString {
					return nil, fmt.Errorf("the result is over %d bytes", maxExprString)
				}
			}
			return strNode(b.String()), nil
		}},
		"tolower": {min: 1, max: 1, call: strFn(strings.ToLower)},
		"toupper": {min: 1, max: 1, call: strFn(strings.ToUpper)},
		"trim":    {min: 1, max: 1, call: strFn(strings.TrimSpace)},
		"base64":  {min: 1, max: 1, call: strFn(base64Std)},
		"replace": {min: 3, max: 3, call: func(_ *evaluator, a []*node, _ int) (*node, error) {
			s, err := wantString(a, 0)
			if err != nil {
				return nil, err
			}
			old, err := wantString(a, 1)
			if err != nil {
				return nil, err
			}
			nw, err := wantString(a, 2)
			if err != nil {
				return nil, err
			}
			if old == "" {
				return strNode(s), nil
			}
			if n := strings.Count(s, old); n > 0 && len(nw) > len(old) && len(s)+n*(len(nw)-len(old)) > maxExprString {
				return nil, fmt.Errorf("the result is over %d bytes", maxExprString)
			}
			return strNode(strings.ReplaceAll(s, old, nw)), nil
		}},
		"string": {min: 1, max: 1, call: func(_ *evaluator, a []*node, _ int) (*node, error) {
			t, err := textOf(a[0])
			if err != nil {
				return nil, err
			}
			return strNode(t), nil
		}},
		"int": {min: 1, max: 1, call: func(_ *evaluator, a []*node, _ int) (*node, error) {
			if v, ok := jsontree.AsInt(a[0]); ok {
				return intNode(v), nil
			}
			s, err := wantString(a, 0)
			if err != nil {
				return nil, err
			}
			v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%q is not a whole number", s)
			}
			return intNode(v), nil
		}},
		"bool": {min: 1, max: 1, call: func(_ *evaluator, a []*node, _ int) (*node, error) {
			switch {
			case a[0].Kind == 'b':
				return a[0], nil
			case a[0].Kind == '"' && strings.EqualFold(a[0].Str, "true"):
				return boolNode(true), nil
			case a[0].Kind == '"' && strings.EqualFold(a[0].Str, "false"):
				return boolNode(false), nil
			}
			if v, ok := jsontree.AsInt(a[0]); ok {
				return boolNode(v != 0), nil
			}
			return nil, fmt.Errorf("%s is not a boolean", toText(a[0]))
		}},
		"true":  {min: 0, max: 0, call: func(*evaluator, []*node, int) (*node, error) { return boolNode(true), nil }},
		"false": {min: 0, max: 0, call: func(*evaluator, []*node, int) (*node, error) { return boolNode(false), nil }},
		"null":  {min: 0, max: 0, call: func(*evaluator, []*node, int) (*node, error) { return nullNode(), nil }},
		"equals": {min: 2, max: 2, call: func(_ *evaluator, a []*node, _ int) (*node, error) {
			eq, err := equal(a[0], a[1])
			if err != nil {
				return nil, err
			}
			return boolNode(eq), nil
		}},
		"not": {min: 1, max: 1, call: func(_ *evaluator, a []*node, _ int) (*node, error) {
			if a[0].Kind != 'b' {
				return nil, fmt.Errorf("argument 1 must be a boolean, not %s", a[0].Describe())
			}
			return boolNode(!a[0].B), nil
		}},
		"and": logic(true),
		"or":  logic(false),
		"empty": {min: 1, max: 1, call: func(_ *evaluator, a []*node, _ int) (*node, error) {
			v := a[0]
			return boolNode(v.Kind == '0' || v.Kind == '"' && v.Str == "" || v.Kind == '[' && len(v.Items) == 0 || v.Kind == '{' && len(v.Members) == 0), nil
		}},
		"length": {min: 1, max: 1, call: func(_ *evaluator, a []*node, _ int) (*node, error) {
			switch a[0].Kind {
			case '"':
				return intNode(int64(utf8.RuneCountInString(a[0].Str))), nil
			case '[':
				return intNode(int64(len(a[0].Items))), nil
			case '{':
				return intNode(int64(len(a[0].Members))), nil
			}
			return nil, fmt.Errorf("argument 1 must be a string, array or object, not %s", a[0].Describe())
		}},
		"contains": {min: 2, max: 2, call: func(_ *evaluator, a []*node, _ int) (*node, error) {
			switch a[0].Kind {
			case '"':
				t, err := textOf(a[1])
				if err != nil {
					return nil, err
				}
				return boolNode(strings.Contains(a[0].Str, t)), nil
			case '[':
				budget := maxCompare
				for _, it := range a[0].Items {
					if equalBounded(it, a[1], &budget) {
						return boolNode(true), nil
					}
					if budget < 0 {
						return nil, fmt.Errorf("the array is too large to search")
					}
				}
				return boolNode(false), nil
			case '{':
				return boolNode(a[1].Kind == '"' && a[0].GetFold(a[1].Str) != nil), nil
			}
			return nil, fmt.Errorf("argument 1 must be a string, array or object, not %s", a[0].Describe())
		}},
		"startswith": strPredicate(strings.HasPrefix),
		"endswith":   strPredicate(strings.HasSuffix),
		"substring": {min: 2, max: 3, call: func(_ *evaluator, a []*node, _ int) (*node, error) {
			s, err := wantString(a, 0)
			if err != nil {
				return nil, err
			}
			start, err := wantInt(a, 1)
			if err != nil {
				return nil, err
			}
			n := int64(len(s)) - start
			if len(a) == 3 {
				if n, err = wantInt(a, 2); err != nil {
					return nil, err
				}
			}
			if start < 0 || n < 0 || start+n > int64(len(s)) {
				return nil, fmt.Errorf("start %d and length %d fall outside the %d characters of the string", start, n, len(s))
			}
			return strNode(s[start : start+n]), nil
		}},
		"split": {min: 2, max: 2, call: func(_ *evaluator, a []*node, _ int) (*node, error) {
			s, err := wantString(a, 0)
			if err != nil {
				return nil, err
			}
			var seps []string
			switch a[1].Kind {
			case '"':
				seps = []string{a[1].Str}
			case '[':
				for _, it := range a[1].Items {
					seps = append(seps, toText(it))
				}
			default:
				return nil, fmt.Errorf("argument 2 must be a string or an array of strings")
			}
			parts := []string{s}
			work := 0
			for _, sep := range seps {
				if sep == "" {
					continue
				}
				var next []string
				for _, p := range parts {
					next = append(next, strings.Split(p, sep)...)
				}
				parts = next
				if work += len(parts) + len(s); work > maxExprCharge {
					return nil, fmt.Errorf("splitting takes too much work")
				}
			}
			items := make([]*node, len(parts))
			for i, p := range parts {
				items[i] = strNode(p)
			}
			return arrayNode(items), nil
		}},
		"first": {min: 1, max: 1, call: func(_ *evaluator, a []*node, _ int) (*node, error) { return end(a[0], true) }},
		"last":  {min: 1, max: 1, call: func(_ *evaluator, a []*node, _ int) (*node, error) { return end(a[0], false) }},
		"take":  {min: 2, max: 2, call: func(_ *evaluator, a []*node, _ int) (*node, error) { return slice(a, true) }},
		"skip":  {min: 2, max: 2, call: func(_ *evaluator, a []*node, _ int) (*node, error) { return slice(a, false) }},
		"coalesce": {min: 1, max: -1, call: func(_ *evaluator, a []*node, _ int) (*node, error) {
			for _, v := range a {
				if v.Kind != '0' {
					return v, nil
				}
			}
			return nullNode(), nil
		}},
		"createarray": {min: 0, max: -1, call: func(_ *evaluator, a []*node, _ int) (*node, error) { return arrayNode(append([]*node(nil), a...)), nil }},
		"array": {min: 1, max: 1, call: func(_ *evaluator, a []*node, _ int) (*node, error) {
			if a[0].Kind == '[' {
				return a[0], nil
			}
			return arrayNode([]*node{a[0]}), nil
		}},
		"createobject": {min: 0, max: -1, call: func(_ *evaluator, a []*node, _ int) (*node, error) {
			if len(a)%2 != 0 {
				return nil, fmt.Errorf("takes pairs of key and value, not %d arguments", len(a))
			}
			o := &node{Kind: '{'}
			for i := 0; i < len(a); i += 2 {
				k, err := wantString(a, i)
				if err != nil {
					return nil, err
				}
				o.Members = append(o.Members, member{Key: k, Val: a[i+1]})
			}
			return o, nil
		}},
		"json": {min: 1, max: 1, call: func(_ *evaluator, a []*node, _ int) (*node, error) {
			s, err := wantString(a, 0)
			if err != nil {
				return nil, err
			}
			n, err := parseJSON([]byte(s))
			if err != nil {
				return nil, fmt.Errorf("not valid JSON: %v", err)
			}
			return n, nil
		}},
		"add": arith(func(a, b int64) (int64, error) { return a + b, nil }),
		"sub": arith(func(a, b int64) (int64, error) { return a - b, nil }),
		"mul": arith(func(a, b int64) (int64, error) { return a * b, nil }),
		"div": arith(func(a, b int64) (int64, error) {
			if b == 0 {
				return 0, errors.New("division by zero")
			}
			return a / b, nil
		}),
		"mod": arith(func(a, b int64) (int64, error) {
			if b == 0 {
				return 0, errors.New("division by zero")
			}
			return a % b, nil
		}),
		"uniquestring": {min: 1, max: -1, call: func(_ *evaluator, a []*node, _ int) (*node, error) {
			parts, err := allStrings(a)
			if err != nil {
				return nil, err
			}
			return strNode(uniqueString(parts...)), nil
		}},
		"guid": {min: 1, max: -1, call: func(_ *evaluator, a []*node, _ int) (*node, error) {
			parts, err := allStrings(a)
			if err != nil {
				return nil, err
			}
			return strNode(armGUID(parts...)), nil
		}},
		"resourceid":             {min: 2, max: -1, call: resourceIDFn},
		"subscriptionresourceid": {min: 2, max: -1, call: subscriptionResourceIDFn},
		"tenantresourceid":       {min: 2, max: -1, call: tenantResourceIDFn},
		"newguid":                unsupported(nondeterministic),
		"reference":              unsupported(deployed),
		"listkeys":               unsupported(deployed),
		"listsecrets":            unsupported(deployed),
		"list":                   unsupported(deployed),
		"copyindex":              {min: 0, max: 2, call: copyIndexFn},
		"pickzones":              unsupported(deployed),
		"providers":              unsupported(deployed),
	}
	// The functions of each reference page, in arm/fn_<page>.go; a page's
	// entry replaces one written above.
	for _, page := range fnPages {
		for name, f := range page {
			armFunctions[name] = f
		}
	}
}

// fnPages are the function tables of arm/fn_*.go, one per page of
// Microsoft's template-function reference.
var fnPages = []map[string]armFunc{lambdaFunctions, arrayFunctions, objectFunctions, comparisonFunctions, scopeFunctions, stringFunctions, formatFunctions, dateFunctions, cidrFunctions, resourceFunctions}

// ifFn is if(condition, trueValue, falseValue): only the branch taken is
// evaluated, as ARM does (Microsoft Learn, template-functions-logical, "if").
func ifFn(ev *evaluator, e []*expr, depth int) (*node, error) {
	if len(e) != 3 {
		if len(e) > 0 { // the condition's own errors first
			if _, err := ev.eval(e[0], depth+1); err != nil {
				return nil, err
			}
		}
		return nil, exprErrorf("if takes 3 arguments (condition, true value, false value), not %d", len(e))
	}
	c, err := ev.eval(e[0], depth+1)
	if err != nil {
		return nil, err
	}
	if c.Kind != 'b' {
		return nil, exprErrorf("the condition of if must be a boolean, not %s", c.Describe())
	}
	if c.B {
		return ev.eval(e[1], depth+1)
	}
	return ev.eval(e[2], depth+1)
}

func allStrings(a []*node) ([]string, error) {
	out := make([]string, len(a))
	for i := range a {
		s, err := wantString(a, i)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

func end(v *node, first bool) (*node, error) {
	switch v.Kind {
	case '"':
		if v.Str == "" {
			return strNode(""), nil
		}
		r := []rune(v.Str)
		if first {
			return strNode(string(r[0])), nil
		}
		return strNode(string(r[len(r)-1])), nil
	case '[':
		if len(v.Items) == 0 {
			return nullNode(), nil
		}
		if first {
			return v.Items[0], nil
		}
		return v.Items[len(v.Items)-1], nil
	}
	return nil, fmt.Errorf("argument 1 must be a string or an array, not %s", v.Describe())
}

func slice(a []*node, take bool) (*node, error) {
	n, err := wantInt(a, 1)
	if err != nil {
		return nil, err
	}
	clamp := func(l int) int {
		switch {
		case n < 0:
			return 0
		case n > int64(l):
			return l
		}
		return int(n)
	}
	switch a[0].Kind {
	case '"':
		k := clamp(len(a[0].Str))
		if take {
			return strNode(a[0].Str[:k]), nil
		}
		return strNode(a[0].Str[k:]), nil
	case '[':
		k := clamp(len(a[0].Items))
		if take {
			return arrayNode(a[0].Items[:k]), nil
		}
		return arrayNode(a[0].Items[k:]), nil
	}
	return nil, fmt.Errorf("argument 1 must be a string or an array, not %s", a[0].Describe())
}

// resourceIDFn is resourceId([subscriptionId], [resourceGroupName],
// resourceType, name…).
func resourceIDFn(ev *evaluator, a []*node, _ int) (*node, error) {
	parts, err := allStrings(a)
	if err != nil {
		return nil, err
	}
	t := typeIndex(parts)
	if t < 0 || t > 2 {
		return nil, fmt.Errorf("no resource type (namespace/type) among the arguments")
	}
	var sub, rg string
	switch t {
	case 0:
		if sub, err = ev.scoped("the subscription", ev.scope.SubscriptionID); err == nil {
			rg, err = ev.scoped("the resource group", ev.scope.ResourceGroup)
		}
	case 1:
		sub, err = ev.scoped("the subscription", ev.scope.SubscriptionID)
		rg = parts[0]
	case 2:
		sub, rg = parts[0], parts[1]
	}
	if err != nil {
		return nil, err
	}
	tail, err := typedNames(parts[t], parts[t+1:])
	if err != nil {
		return nil, err
	}
	return strNode("/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/" + tail), nil
}

func subscriptionResourceIDFn(ev *evaluator, a []*node, _ int) (*node, error) {
	parts, err := allStrings(a)
	if err != nil {
		return nil, err
	}
	t := typeIndex(parts)
	if t < 0 || t > 1 {
		return nil, fmt.Errorf("no resource type (namespace/type) among the arguments")
	}
	sub := ""
	if t == 1 {
		sub = parts[0]
	} else if sub, err = ev.scoped("the subscription", ev.scope.SubscriptionID); err != nil {
		return nil, err
	}
	if strings.EqualFold(strings.Trim(parts[t], "/"), "Microsoft.Resources/resourceGroups") && len(parts) == t+2 {
		// a resource group's id has no provider segment
		return strNode("/subscriptions/" + sub + "/resourceGroups/" + parts[t+1]), nil
	}
	tail, err := typedNames(parts[t], parts[t+1:])
	if err != nil {
		return nil, err
	}
	return strNode("/subscriptions/" + sub + "/providers/" + tail), nil
}

func tenantResourceIDFn(_ *evaluator, a []*node, _ int) (*node, error) {
	parts, err := allStrings(a)
	if err != nil {
		return nil, err
	}
	tail, err := typedNames(parts[0], parts[1:])
	if err != nil {
		return nil, err
	}
	return strNode("/providers/" + tail), nil
}

func typeIndex(parts []string) int {
	for i, p := range parts {
		if strings.Contains(p, "/") {
			return i
		}
	}
	return -1
}

// typedNames writes "Namespace/type1/name1/type2/name2".
func typedNames(typ string, names []string) (string, error) {
	segs := strings.Split(strings.Trim(typ, "/"), "/")
	if len(segs) < 2 {
		return "", fmt.Errorf("%q is not a resource type (namespace/type)", typ)
	}
	var flat []string
	for _, n := range names {
		flat = append(flat, strings.Split(n, "/")...)
	}
	if len(flat) != len(segs)-1 {
		return "", fmt.Errorf("%q needs %d name(s), not %d", typ, len(segs)-1, len(flat))
	}
	out := segs[0]
	for i, s := range segs[1:] {
		out += "/" + s + "/" + flat[i]
	}
	return out, nil
}
