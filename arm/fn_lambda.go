package arm

import (
	"fmt"
	"sort"
	"strings"
)

// The lambda functions of ARM templates (Microsoft Learn,
// template-functions-lambda): filter, groupBy, map, mapValues, reduce, sort,
// toObject, with lambda('name', …, expression) and lambdaVariables('name').
// A lambda is written only as an argument of these functions; its variables
// live in a frame (evaluator.push) while its body is evaluated. The page's
// rules kept here: filter, map and reduce take an optional index variable
// (lambda('item', 'i', …)); sort's lambda says whether its first argument
// comes before the second; toObject's value lambda is optional (the item by
// default). Every lambda call counts evaluation steps, and every built
// result is charged against maxExprCharge, so a lambda over a large range
// ends in a problem, not in a hang.
var lambdaFunctions = map[string]armFunc{
	"lambda": {min: 1, max: -1, lazy: func(*evaluator, []*expr, int) (*node, error) {
		return nil, fmt.Errorf("a lambda can only be an argument of filter, groupBy, map, mapValues, reduce, sort or toObject")
	}},
	"lambdavariables": {min: 1, max: 1, call: func(ev *evaluator, a []*node, _ int) (*node, error) {
		name, err := wantString(a, 0)
		if err != nil {
			return nil, err
		}
		if v, ok := ev.local(name); ok {
			return v, nil
		}
		return nil, fmt.Errorf("no lambda variable %q here", name)
	}},
	"filter":    {min: 2, max: 2, lazy: filterFn},
	"map":       {min: 2, max: 2, lazy: mapFn},
	"reduce":    {min: 3, max: 3, lazy: reduceFn},
	"sort":      {min: 2, max: 2, lazy: sortFn},
	"toobject":  {min: 2, max: 3, lazy: toObjectFn},
	"groupby":   {min: 2, max: 2, lazy: groupByFn},
	"mapvalues": {min: 2, max: 2, lazy: mapValuesFn},
}

// lambda is a lambda argument: its variable names (lowercased) and body,
// and the frame its calls bind them in (one per lambda argument, reused
// from call to call: a lambda's value never outlives its call).
type lambda struct {
	names []string
	keys  []string
	body  *expr
	frame *frame
}

// lambdaArg reads argument i (0-based) of fn as a lambda of min to max
// variables.
func lambdaArg(fn string, e []*expr, i, minVars, maxVars int) (*lambda, error) {
	x := e[i]
	if x.kind != eCall || !strings.EqualFold(x.name, "lambda") {
		return nil, fmt.Errorf("argument %d of %s must be a lambda(…)", i+1, fn)
	}
	if len(x.args) < 2 {
		return nil, fmt.Errorf("the lambda of %s needs at least one variable name and an expression", fn)
	}
	l := &lambda{body: x.args[len(x.args)-1]}
	seen := map[string]bool{}
	for _, a := range x.args[:len(x.args)-1] {
		if a.kind != eString {
			return nil, fmt.Errorf("the variable names of a lambda must be string literals")
		}
		k := asciiLower(a.name)
		if seen[k] {
			return nil, fmt.Errorf("the lambda names the variable %q twice", a.name)
		}
		seen[k] = true
		l.names = append(l.names, a.name)
		l.keys = append(l.keys, k)
	}
	l.frame = &frame{locals: make(map[string]*node, len(l.keys))}
	if len(l.names) < minVars || len(l.names) > maxVars {
		if minVars == maxVars {
			return nil, fmt.Errorf("the lambda of %s takes %d variable(s), not %d", fn, minVars, len(l.names))
		}
		return nil, fmt.Errorf("the lambda of %s takes %d to %d variables, not %d", fn, minVars, maxVars, len(l.names))
	}
	return l, nil
}

// indexed is an item and, when the lambda names a second variable, its
// index (made only then: most lambdas name none).
func (l *lambda) indexed(it *node, i int) []*node {
	if len(l.keys) < 2 {
		return []*node{it}
	}
	return []*node{it, intNode(int64(i))}
}

// call evaluates the lambda's body with its variables bound to vals (extra
// values, such as an index the lambda does not name, are dropped).
func (l *lambda) call(ev *evaluator, depth int, vals ...*node) (*node, error) {
	for i, k := range l.keys {
		l.frame.locals[k] = vals[i]
	}
	leave := ev.push(l.frame)
	v, err := ev.eval(l.body, depth+1)
	leave()
	if err != nil {
		return nil, err
	}
	if err := ev.charge(v); err != nil {
		return nil, err
	}
	return v, nil
}

// lambdaInput evaluates the first argument of a lambda function; an object
// is accepted where allowObject (mapValues).
func lambdaInput(ev *evaluator, fn string, e []*expr, depth int, kind byte) (*node, error) {
	v, err := ev.eval(e[0], depth+1)
	if err != nil {
		return nil, err
	}
	if v.Kind != kind {
		want := "an array"
		if kind == '{' {
			want = "an object"
		}
		return nil, fmt.Errorf("argument 1 of %s must be %s, not %s", fn, want, v.Describe())
	}
	return v, nil
}

func filterFn(ev *evaluator, e []*expr, depth int) (*node, error) {
	in, err := lambdaInput(ev, "filter", e, depth, '[')
	if err != nil {
		return nil, err
	}
	l, err := lambdaArg("filter", e, 1, 1, 2)
	if err != nil {
		return nil, err
	}
	out := &node{Kind: '['}
	for i, it := range in.Items {
		keep, err := l.call(ev, depth, l.indexed(it, i)...)
		if err != nil {
			return nil, err
		}
		if keep.Kind != 'b' {
			return nil, fmt.Errorf("the lambda of filter must return a boolean, not %s", keep.Describe())
		}
		if keep.B {
			out.Items = append(out.Items, it)
		}
	}
	return out, ev.charge(out)
}

func mapFn(ev *evaluator, e []*expr, depth int) (*node, error) {
	in, err := lambdaInput(ev, "map", e, depth, '[')
	if err != nil {
		return nil, err
	}
	l, err := lambdaArg("map", e, 1, 1, 2)
	if err != nil {
		return nil, err
	}
	out := &node{Kind: '[', Items: make([]*node, 0, len(in.Items))}
	for i, it := range in.Items {
		v, err := l.call(ev, depth, l.indexed(it, i)...)
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, v)
	}
	return out, ev.charge(out)
}

func reduceFn(ev *evaluator, e []*expr, depth int) (*node, error) {
	in, err := lambdaInput(ev, "reduce", e, depth, '[')
	if err != nil {
		return nil, err
	}
	acc, err := ev.eval(e[1], depth+1)
	if err != nil {
		return nil, err
	}
	l, err := lambdaArg("reduce", e, 2, 2, 3)
	if err != nil {
		return nil, err
	}
	for i, it := range in.Items {
		vals := []*node{acc, it}
		if len(l.keys) == 3 {
			vals = append(vals, intNode(int64(i)))
		}
		if acc, err = l.call(ev, depth, vals...); err != nil {
			return nil, err
		}
	}
	return acc, nil
}

// sortFn is sort(array, lambda('a', 'b', a-before-b)); a stable merge sort,
// so equal items keep their order and every comparison is one lambda call.
func sortFn(ev *evaluator, e []*expr, depth int) (*node, error) {
	in, err := lambdaInput(ev, "sort", e, depth, '[')
	if err != nil {
		return nil, err
	}
	l, err := lambdaArg("sort", e, 1, 2, 2)
	if err != nil {
		return nil, err
	}
	items := append([]*node(nil), in.Items...)
	var failed error
	sort.SliceStable(items, func(i, j int) bool {
		if failed != nil {
			return false
		}
		v, err := l.call(ev, depth, items[i], items[j])
		if err == nil && v.Kind != 'b' {
			err = fmt.Errorf("the lambda of sort must return a boolean, not %s", v.Describe())
		}
		if err != nil {
			failed = err
			return false
		}
		return v.B
	})
	if failed != nil {
		return nil, failed
	}
	out := arrayNode(items)
	return out, ev.charge(out)
}

// toObjectFn is toObject(array, keyLambda, [valueLambda]): a later item
// with the same key replaces an earlier one's value.
func toObjectFn(ev *evaluator, e []*expr, depth int) (*node, error) {
	in, err := lambdaInput(ev, "toObject", e, depth, '[')
	if err != nil {
		return nil, err
	}
	keyL, err := lambdaArg("toObject", e, 1, 1, 1)
	if err != nil {
		return nil, err
	}
	var valL *lambda
	if len(e) == 3 {
		if valL, err = lambdaArg("toObject", e, 2, 1, 1); err != nil {
			return nil, err
		}
	}
	out := &node{Kind: '{'}
	at := map[string]int{}
	for _, it := range in.Items {
		k, err := keyL.call(ev, depth, it)
		if err != nil {
			return nil, err
		}
		if k.Kind != '"' {
			return nil, fmt.Errorf("the key lambda of toObject must return a string, not %s", k.Describe())
		}
		v := it
		if valL != nil {
			if v, err = valL.call(ev, depth, it); err != nil {
				return nil, err
			}
		}
		setMember(out, at, k.Str, v)
	}
	return out, ev.charge(out)
}

// groupByFn is groupBy(array, lambda): an object of arrays keyed by what
// the lambda returns, in order of first appearance.
func groupByFn(ev *evaluator, e []*expr, depth int) (*node, error) {
	in, err := lambdaInput(ev, "groupBy", e, depth, '[')
	if err != nil {
		return nil, err
	}
	l, err := lambdaArg("groupBy", e, 1, 1, 1)
	if err != nil {
		return nil, err
	}
	out := &node{Kind: '{'}
	at := map[string]int{}
	for _, it := range in.Items {
		k, err := l.call(ev, depth, it)
		if err != nil {
			return nil, err
		}
		if k.Kind != '"' {
			return nil, fmt.Errorf("the lambda of groupBy must return a string, not %s", k.Describe())
		}
		key := asciiLower(k.Str)
		if j, ok := at[key]; ok {
			g := out.Members[j].Val
			out.Members[j].Val = arrayNode(append(append([]*node(nil), g.Items...), it))
			continue
		}
		at[key] = len(out.Members)
		out.Members = append(out.Members, member{Key: k.Str, Val: arrayNode([]*node{it})})
	}
	return out, ev.charge(out)
}

func mapValuesFn(ev *evaluator, e []*expr, depth int) (*node, error) {
	in, err := lambdaInput(ev, "mapValues", e, depth, '{')
	if err != nil {
		return nil, err
	}
	l, err := lambdaArg("mapValues", e, 1, 1, 1)
	if err != nil {
		return nil, err
	}
	out := &node{Kind: '{', Members: make([]member, 0, len(in.Members))}
	for _, m := range in.Members {
		v, err := l.call(ev, depth, m.Val)
		if err != nil {
			return nil, err
		}
		out.Members = append(out.Members, member{Key: m.Key, Val: v})
	}
	return out, ev.charge(out)
}

// setMember puts key's value in object n being built, replacing a value
// of the same key (ARM's property names are case-insensitive); at indexes
// the members by lowercased key.
func setMember(n *node, at map[string]int, key string, v *node) {
	k := asciiLower(key)
	if j, ok := at[k]; ok {
		n.Members[j].Val = v
		return
	}
	at[k] = len(n.Members)
	n.Members = append(n.Members, member{Key: key, Val: v})
}
