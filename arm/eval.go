package arm

import (
	"errors"
	"fmt"
	"strings"

	"github.com/goldenpipe/goldenpipe/internal/jsontree"
)

// evaluator evaluates the expressions of one deployment template.
type evaluator struct {
	scope     Scope
	root      *node            // the template
	decls     *node            // the template's "parameters" object
	given     map[string]*node // values from the parameters file, by lowercased name
	params    map[string]*node // evaluated values, by lowercased name
	paramBusy map[string]bool
	vars      *node // the template's "variables" object
	varCache  map[string]*node
	varBusy   map[string]bool
	steps     int
	charged   int
	inDefault int // > 0 while a parameter's defaultValue is evaluated
	scopeUsed bool
	walked    int // values visited by walk, bounded by maxWalk
	// copyProps says a "copy" member of an object declares property loops
	// (in a resource's body and in variables).
	copyProps bool
	// frame is what local names mean where evaluation stands (copy loop
	// indexes; lambda variables and user-defined function parameters
	// belong here too). nil at the top level.
	frame *frame
	st    *structure // user-defined functions and types, nested deployments (nested.go)
	out   *Deployment
}

// frame is one level of local names: a copy loop's index, a lambda's
// variables, a user-defined function's parameters. Lookups go from the
// innermost frame out through parent.
type frame struct {
	parent *frame
	// copyName and copyIndex are a copy loop's name and current index;
	// inCopy says the frame is a copy loop's.
	copyName  string
	copyIndex int64
	inCopy    bool
	// copyDefault marks a resource's or an output's own loop, the one
	// copyIndex() without a name gives.
	copyDefault bool
	// locals are names bound by a lambda or a user-defined function's
	// parameters, by lowercased name.
	locals map[string]*node
}

// push enters a frame; the returned function leaves it.
func (ev *evaluator) push(f *frame) func() {
	f.parent = ev.frame
	ev.frame = f
	return func() { ev.frame = f.parent }
}

// local looks a local name up through the frames.
func (ev *evaluator) local(name string) (*node, bool) {
	key := asciiLower(name)
	for f := ev.frame; f != nil; f = f.parent {
		if v, ok := f.locals[key]; ok {
			return v, true
		}
	}
	return nil, false
}

func newEvaluator(root *node, scope Scope) *evaluator {
	ev := &evaluator{scope: scope, root: root, params: map[string]*node{}, paramBusy: map[string]bool{},
		varCache: map[string]*node{}, varBusy: map[string]bool{}, given: map[string]*node{}, out: &Deployment{}}
	ev.decls = root.GetFold("parameters")
	if v := root.GetFold("variables"); v != nil && v.Kind == '{' {
		ev.vars = v
	}
	return ev
}

func (ev *evaluator) problem(p path, format string, args ...any) {
	ev.out.Problems = append(ev.out.Problems, Problem{Path: p.String(), Message: fmt.Sprintf(format, args...)})
}

func (ev *evaluator) warn(p path, format string, args ...any) {
	ev.out.Warnings = append(ev.out.Warnings, Problem{Path: p.String(), Message: fmt.Sprintf(format, args...)})
}

func (ev *evaluator) note(p path, format string, args ...any) {
	ev.out.Notes = append(ev.out.Notes, Problem{Path: p.String(), Message: fmt.Sprintf(format, args...)})
}

// maxWalk bounds the values walk visits for one file: the template's own
// values, once each, and what copy loops repeat.
const maxWalk = 4 << 20

// maxExprCharge bounds what evaluation may build: string bytes plus array
// and object members, summed over every function result.
const maxExprCharge = 32 << 20

func (ev *evaluator) charge(n *node) error {
	switch n.Kind {
	case '"':
		ev.charged += len(n.Str)
	case '[':
		ev.charged += len(n.Items)
	case '{':
		ev.charged += len(n.Members)
	}
	if ev.charged > maxExprCharge {
		return exprErrorf("evaluation builds more than %d bytes of values", maxExprCharge)
	}
	return nil
}

// deep evaluates every expression in a value (keys included), returning
// the first error.
func (ev *evaluator) deep(n *node, depth int) (*node, error) {
	var first error
	out := ev.walk(n, "", depth, func(_ path, err error) {
		if first == nil {
			first = err
		}
	})
	return out, first
}

// walk evaluates every expression in a value and reports each failure at
// its path; a failed value becomes null.
func (ev *evaluator) walk(n *node, p path, depth int, fail func(path, error)) *node {
	if depth > maxExprDepth {
		fail(p, exprErrorf("nested deeper than %d levels", maxExprDepth))
		return nullNode()
	}
	if ev.walked++; ev.walked > maxWalk {
		if ev.walked == maxWalk+1 {
			fail(p, exprErrorf("evaluation builds more than %d values (copy loops too large?)", maxWalk))
		}
		return nullNode()
	}
	switch n.Kind {
	case '"':
		if !IsExpression(n.Str) {
			return strNode(unescapeLiteral(n.Str))
		}
		e, err := parseExpression(n.Str)
		if err == nil {
			var v *node
			if v, err = ev.eval(e, depth); err == nil {
				if err = ev.charge(v); err == nil {
					return v
				}
			}
		}
		fail(p, fmt.Errorf("%s: %w", clip(n.Str), err))
		return nullNode()
	case '{':
		out := &node{Kind: '{'}
		for _, m := range n.Members {
			key := m.Key
			if ev.copyProps && isPropertyLoops(key, m.Val) {
				ev.propertyLoops(m.Val, p, depth+1, fail, out)
				continue
			}
			if IsExpression(key) {
				k := ev.walk(strNode(key), p.key(key), depth+1, fail)
				if k.Kind != '"' {
					if k.Kind != '0' {
						fail(p.key(key), exprErrorf("%s: a property name must be a string, not %s", clip(key), k.Describe()))
					}
					continue
				}
				key = k.Str
			} else {
				key = unescapeLiteral(key)
			}
			out.Members = append(out.Members, member{Key: key, Val: ev.walk(m.Val, p.key(key), depth+1, fail)})
		}
		return out
	case '[':
		out := &node{Kind: '['}
		for i, it := range n.Items {
			out.Items = append(out.Items, ev.walk(it, p.index(i), depth+1, fail))
		}
		return out
	}
	return n
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:297] + "…"
	}
	return s
}

// ---- evaluation ----

// errUnsupported marks functions the evaluator knows but cannot evaluate
// offline (reference(), list*(), utcNow() …).
var errUnsupported = errors.New("unsupported")

func checkSize(s string) (*node, error) {
	if len(s) > maxExprString {
		return nil, exprErrorf("the result is over %d bytes", maxExprString)
	}
	return strNode(s), nil
}

func (ev *evaluator) eval(e *expr, depth int) (*node, error) {
	if ev.steps > maxExprSteps { // spent: stays at the bound
		return nil, exprErrorf("evaluation takes more than %d steps (recursion through variables?)", maxExprSteps)
	}
	ev.steps++
	if ev.steps > maxExprSteps {
		return nil, exprErrorf("evaluation takes more than %d steps (recursion through variables?)", maxExprSteps)
	}
	if depth > maxExprDepth {
		return nil, exprErrorf("nested deeper than %d levels", maxExprDepth)
	}
	switch e.kind {
	case eString:
		return strNode(e.name), nil
	case eNumber:
		return intNode(e.num), nil
	case eProperty:
		target, err := ev.eval(e.args[0], depth+1)
		if err != nil {
			return nil, err
		}
		if target.Kind != '{' {
			return nil, exprErrorf("cannot read property %q of %s", e.name, target.Describe())
		}
		return ev.property(target, e.name)
	case eIndex:
		target, err := ev.eval(e.args[0], depth+1)
		if err != nil {
			return nil, err
		}
		idx, err := ev.eval(e.args[1], depth+1)
		if err != nil {
			return nil, err
		}
		switch {
		case target.Kind == '[':
			i, ok := jsontree.AsInt(idx)
			if !ok || i < 0 || i >= int64(len(target.Items)) {
				return nil, exprErrorf("index %s is outside the array of %d items", toText(idx), len(target.Items))
			}
			return target.Items[i], nil
		case target.Kind == '{' && idx.Kind == '"':
			return ev.property(target, idx.Str)
		}
		return nil, exprErrorf("cannot index %s with %s", target.Describe(), idx.Describe())
	}
	fn, known := lookupFunction(e.name)
	if known && fn.lazy != nil { // if(), lambdas: arguments evaluated by the function
		if len(e.args) < fn.min || fn.max >= 0 && len(e.args) > fn.max {
			return nil, exprErrorf("%s takes %s, not %d", e.name, fn.arity(), len(e.args))
		}
		v, err := fn.lazy(ev, e.args, depth)
		return fn.result(e.name, v, err)
	}
	args := make([]*node, len(e.args))
	for i, a := range e.args {
		v, err := ev.eval(a, depth+1)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	if v, ok, err := ev.structural(e.name, args, depth); ok { // udf.go
		return v, err
	}
	if !known {
		return nil, exprErrorf("%s is not an ARM template function this app evaluates", e.name)
	}
	if len(args) < fn.min || fn.max >= 0 && len(args) > fn.max {
		return nil, exprErrorf("%s takes %s, not %d", e.name, fn.arity(), len(args))
	}
	v, err := fn.call(ev, args, depth)
	return fn.result(e.name, v, err)
}

// result words a function's error: unsupported functions say why, other
// errors name the function.
func (f armFunc) result(name string, v *node, err error) (*node, error) {
	var ee *exprError
	switch {
	case errors.Is(err, errUnsupported):
		return nil, exprErrorf("%s() is not supported offline: %s", name, f.why)
	case errors.As(err, &ee):
		return nil, err // already says where
	case err != nil:
		return nil, exprErrorf("%s: %v", name, err)
	}
	return v, nil
}

// property reads a member of an object; a member without a value is one
// of the deployment's scope that is not known (the group's location).
func (ev *evaluator) property(target *node, name string) (*node, error) {
	for _, m := range target.Members {
		if strings.EqualFold(m.Key, name) {
			if m.Val.Kind == kindUnknown { // fn_scope.go
				return nil, ev.missing(m.Val.Str)
			}
			return m.Val, nil
		}
	}
	return nil, exprErrorf("the object has no property %q", name)
}

// armFunc is a built-in function (builtins.go). call gets its arguments
// evaluated; lazy, when set instead, gets them as written and evaluates
// what it needs (if() takes one branch; lambda functions bind their
// variables in a frame, see evaluator.push).
type armFunc struct {
	min, max int // argument counts; max -1 for any
	call     func(ev *evaluator, args []*node, depth int) (*node, error)
	lazy     func(ev *evaluator, args []*expr, depth int) (*node, error)
	why      string // for unsupported functions
}

func (f armFunc) arity() string {
	switch {
	case f.min == f.max && f.min == 1:
		return "1 argument"
	case f.min == f.max:
		return fmt.Sprintf("%d arguments", f.min)
	case f.max < 0:
		return fmt.Sprintf("at least %d argument(s)", f.min)
	}
	return fmt.Sprintf("%d to %d arguments", f.min, f.max)
}

func wantString(args []*node, i int) (string, error) {
	if args[i].Kind != '"' {
		return "", fmt.Errorf("argument %d must be a string, not %s", i+1, args[i].Describe())
	}
	return args[i].Str, nil
}

func wantInt(args []*node, i int) (int64, error) {
	v, ok := jsontree.AsInt(args[i])
	if !ok {
		return 0, fmt.Errorf("argument %d must be a whole number, not %s", i+1, args[i].Describe())
	}
	return v, nil
}

func strFn(f func(s string) string) func(*evaluator, []*node, int) (*node, error) {
	return func(_ *evaluator, a []*node, _ int) (*node, error) {
		s, err := wantString(a, 0)
		if err != nil {
			return nil, err
		}
		return checkSize(f(s))
	}
}

// strPredicate is a function of two strings to a boolean, compared
// without regard to case as ARM's startsWith and endsWith do.
