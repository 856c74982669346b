package arm

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/goldenpipe/goldenpipe/internal/jsontree"
)

// Copy loops, as Microsoft Learn describes them:
//   - resources: "Resource iteration in ARM templates"
//     (azure-resource-manager/templates/copy-resources): "copy": {"name",
//     "count", "mode": "serial"|"parallel", "batchSize"}; each iteration is a
//     resource of its own; copyIndex() is zero-based, copyIndex(offset)
//     adds the offset; batchSize can't exceed count.
//   - properties: "Property iteration in ARM templates" (copy-properties):
//     "copy": [{"name", "count", "input"}] inside a resource's properties
//     makes the property name an array of count inputs; copyIndex must name
//     the loop, copyIndex('name', offset).
//   - variables: "Variable iteration in ARM templates" (copy-variables): the
//     same array form inside a variable's object, or as the variables
//     section's own "copy" member, which declares one variable per loop.
//   - outputs: "Output iteration in ARM templates" (copy-outputs): "copy":
//     {"count", "input"} instead of a value; copyIndex() without a name.
// Every page: "The count can't exceed 800. The count can't be a negative
// number" (zero is allowed).

// maxCopyCount is the largest count a copy loop may have.
const maxCopyCount = 800

// copyKey is the member that declares a loop.
const copyKey = "copy"

// copyIndexFn is copyIndex([loopName], [offset]) (Microsoft Learn,
// template-functions-numeric, "copyIndex"): the current iteration of the
// named loop, or of the resource's or output's own loop when unnamed,
// plus the offset.
func copyIndexFn(ev *evaluator, a []*node, _ int) (*node, error) {
	name, offset, named := "", int64(0), false
	switch {
	case len(a) >= 1 && a[0].Kind == '"':
		name, named = a[0].Str, true
		if len(a) == 2 {
			o, err := wantInt(a, 1)
			if err != nil {
				return nil, err
			}
			offset = o
		}
	case len(a) == 1:
		o, err := wantInt(a, 0)
		if err != nil {
			return nil, err
		}
		offset = o
	case len(a) == 2:
		return nil, fmt.Errorf("argument 1 must be the loop's name (a string), not %s", a[0].Describe())
	}
	for f := ev.frame; f != nil; f = f.parent {
		if !f.inCopy {
			continue
		}
		if named && strings.EqualFold(f.copyName, name) || !named && f.copyDefault {
			return intNode(f.copyIndex + offset), nil
		}
	}
	switch {
	case named:
		return nil, exprErrorf("copyIndex('%s') is outside a copy loop named %q", name, name)
	case ev.frame != nil && ev.innerCopy():
		return nil, exprErrorf("copyIndex() in a property or variable loop must name the loop: copyIndex('loopName')")
	}
	return nil, exprErrorf("copyIndex() can be used only inside a copy loop (of a resource, property, variable or output)")
}

func (ev *evaluator) innerCopy() bool {
	for f := ev.frame; f != nil; f = f.parent {
		if f.inCopy {
			return true
		}
	}
	return false
}

// copyCount evaluates a loop's count: a whole number from 0 to 800 (a
// string of digits is taken, as ARM does with "count": "3").
func (ev *evaluator) copyCount(raw *node, p path, depth int, fail func(path, error)) (int, bool) {
	if raw == nil {
		fail(p, exprErrorf("a copy loop needs a count"))
		return 0, false
	}
	v := ev.walk(raw, p, depth+1, fail)
	n, ok := jsontree.AsInt(v)
	if !ok && v.Kind == '"' {
		if x, err := strconv.ParseInt(strings.TrimSpace(v.Str), 10, 64); err == nil {
			n, ok = x, true
		}
	}
	switch {
	case v.Kind == '0' && IsExpression(raw.Str):
		return 0, false // reported where it failed
	case !ok:
		fail(p, exprErrorf("the count of a copy loop must be a whole number, not %s", v.Describe()))
		return 0, false
	case n < 0:
		fail(p, exprErrorf("the count of a copy loop can't be negative (%d)", n))
		return 0, false
	case n > maxCopyCount:
		fail(p, exprErrorf("the count of a copy loop can't exceed %d (%d)", maxCopyCount, n))
		return 0, false
	}
	return int(n), true
}

// loop evaluates one array-form loop ({"name", "count", "input"}) into an
// array; its name is returned for the property or variable it makes.
func (ev *evaluator) loop(l *node, p path, depth int, fail func(path, error)) (string, *node, bool) {
	if l.Kind != '{' {
		fail(p, exprErrorf("a copy loop must be an object with name, count and input, not %s", l.Describe()))
		return "", nil, false
	}
	nameNode := l.GetFold("name")
	if nameNode == nil || nameNode.Kind != '"' {
		fail(p.key("name"), exprErrorf("a copy loop needs a name (the property or variable it makes)"))
		return "", nil, false
	}
	name := nameNode.Str
	if IsExpression(name) {
		v := ev.walk(nameNode, p.key("name"), depth+1, fail)
		if v.Kind != '"' {
			if v.Kind != '0' {
				fail(p.key("name"), exprErrorf("a copy loop's name must be a string, not %s", v.Describe()))
			}
			return "", nil, false
		}
		name = v.Str
	}
	count, ok := ev.copyCount(l.GetFold("count"), p.key("count"), depth, fail)
	if !ok {
		return name, nil, false
	}
	input := l.GetFold("input")
	if input == nil {
		fail(p.key("input"), exprErrorf("a copy loop needs an input (the value of each item)"))
		return name, nil, false
	}
	items := make([]*node, 0, count)
	for i := 0; i < count; i++ {
		if err := ev.iterate(); err != nil {
			fail(p, err)
			return name, nil, false
		}
		leave := ev.push(&frame{copyName: name, copyIndex: int64(i), inCopy: true})
		items = append(items, ev.walk(input, p.key("input"), depth+1, fail))
		leave()
	}
	return name, arrayNode(items), true
}

// iterate counts one iteration of a copy loop against the step bound, so
// that nested loops stay bounded in time as expressions are.
func (ev *evaluator) iterate() error {
	if ev.steps > maxExprSteps { // spent: stays at the bound
		return exprErrorf("evaluation takes more than %d steps (copy loops too large?)", maxExprSteps)
	}
	ev.steps++
	if ev.steps > maxExprSteps {
		return exprErrorf("evaluation takes more than %d steps (copy loops too large?)", maxExprSteps)
	}
	return nil
}

// propertyLoops expands an object member "copy": [loops…] into one member
// per loop, each an array, where the member stood.
func (ev *evaluator) propertyLoops(loops *node, p path, depth int, fail func(path, error), out *node) {
	for i, l := range loops.Items {
		name, v, ok := ev.loop(l, p.key(copyKey).index(i), depth, fail)
		if name == "" {
			continue
		}
		if !ok {
			v = nullNode()
		}
		out.Members = append(out.Members, member{Key: name, Val: v})
	}
}

// isPropertyLoops reports a "copy" member that declares property loops:
// an array of objects, each with a name, as the copy-properties and
// copy-variables pages write them.
func isPropertyLoops(key string, v *node) bool {
	if !strings.EqualFold(key, copyKey) || v.Kind != '[' || len(v.Items) == 0 {
		return false
	}
	for _, it := range v.Items {
		if it.Kind != '{' || it.GetFold("name") == nil {
			return false
		}
	}
	return true
}

// variableLoop evaluates the variables section's "copy" loop that
// declares name, if there is one.
func (ev *evaluator) variableLoop(name string, depth int) (*node, bool, error) {
	if ev.vars == nil {
		return nil, false, nil
	}
	loops := ev.vars.GetFold(copyKey)
	if loops == nil || loops.Kind != '[' {
		return nil, false, nil
	}
	for i, l := range loops.Items {
		if l.Kind != '{' {
			continue
		}
		n := l.GetFold("name")
		if n == nil || n.Kind != '"' || !strings.EqualFold(n.Str, name) {
			continue
		}
		var first error
		_, v, ok := ev.loop(l, path("variables").key(copyKey).index(i), depth, func(p path, err error) {
			if first == nil {
				first = &exprError{msg: p.String() + ": " + err.Error()}
			}
		})
		if first != nil {
			return nil, true, first
		}
		if !ok {
			return nil, true, exprErrorf("the copy loop of variable %q did not evaluate", name)
		}
		return v, true, nil
	}
	return nil, false, nil
}

// resourceLoop reads a resource's copy element ({"name", "count", "mode",
// "batchSize"}) and returns how many copies it makes and the loop's name.
func (ev *evaluator) resourceLoop(c *node, p path, fail func(path, error)) (string, int, bool) {
	if c.Kind != '{' {
		fail(p, exprErrorf("a resource's copy must be an object with name and count, not %s", c.Describe()))
		return "", 0, false
	}
	name := ""
	if n := c.GetFold("name"); n != nil && n.Kind == '"' && !IsExpression(n.Str) {
		name = n.Str
	} else {
		fail(p.key("name"), exprErrorf("a resource's copy loop needs a name (a string)"))
		return "", 0, false
	}
	count, ok := ev.copyCount(c.GetFold("count"), p.key("count"), 0, fail)
	if !ok {
		return name, 0, false
	}
	mode := "parallel"
	if m := c.GetFold("mode"); m != nil {
		v := ev.walk(m, p.key("mode"), 0, fail)
		if v.Kind != '"' || !strings.EqualFold(v.Str, "serial") && !strings.EqualFold(v.Str, "parallel") {
			fail(p.key("mode"), exprErrorf("mode must be \"serial\" or \"parallel\", not %s", toText(v)))
			return name, 0, false
		}
		mode = strings.ToLower(v.Str)
	}
	if b := c.GetFold("batchSize"); b != nil {
		v := ev.walk(b, p.key("batchSize"), 0, fail)
		size, isInt := jsontree.AsInt(v)
		switch {
		case !isInt:
			fail(p.key("batchSize"), exprErrorf("batchSize must be a whole number, not %s", v.Describe()))
			return name, 0, false
		case size < 1 || size > int64(count) && count > 0:
			fail(p.key("batchSize"), exprErrorf("batchSize must be from 1 to the loop's count (%d), not %d", count, size))
			return name, 0, false
		}
		_ = mode // serial or parallel orders the deployment; the resources are the same
	}
	return name, count, true
}

// outputLoop evaluates an output's copy ({"count", "input"}) into an
// array.
func (ev *evaluator) outputLoop(c *node, p path, fail func(path, error)) (*node, bool) {
	if c.Kind != '{' {
		fail(p, exprErrorf("an output's copy must be an object with count and input, not %s", c.Describe()))
		return nil, false
	}
	count, ok := ev.copyCount(c.GetFold("count"), p.key("count"), 0, fail)
	if !ok {
		return nil, false
	}
	input := c.GetFold("input")
	if input == nil {
		fail(p.key("input"), exprErrorf("an output's copy needs an input (the value of each item)"))
		return nil, false
	}
	items := make([]*node, 0, count)
	for i := 0; i < count; i++ {
		if err := ev.iterate(); err != nil {
			fail(p, err)
			return nil, false
		}
		leave := ev.push(&frame{copyIndex: int64(i), inCopy: true, copyDefault: true})
		items = append(items, ev.walk(input, p.key("input"), 1, fail))
		leave()
	}
	return arrayNode(items), true
}
