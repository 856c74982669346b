package arm

import (
	"strings"
)

// User-defined functions: the template's "functions" section, an array of
// {namespace, members: {name: {parameters: [{name, type}], output: {type,
// value}}}}, called as namespace.name(args).
//
// Source: Microsoft Learn, "User-defined functions in ARM template"
// (azure-resource-manager/templates/user-defined-functions): a function
// can't use variables, and parameters() in it reads only its own
// parameters; its parameters have no default values; it can't use
// reference() or list* (those are refused offline anyway). Bicep's
// languageVersion 2.0 output calls functions from functions (its
// "__bicep" namespace), which is evaluated here too, bounded by the
// expression depth and steps.

// structural answers the calls that need this file's structure: a
// user-defined function (a dotted name), reference() to a nested
// deployment of this template, resourceId() in a subscription-scope
// deployment. ok is false for the built-in functions.
func (ev *evaluator) structural(name string, args []*node, depth int) (*node, bool, error) {
	low := strings.ToLower(name)
	switch {
	case strings.Contains(low, "."):
		v, err := ev.callUDF(name, args, depth)
		return v, true, err
	case low == "resourcegroup" && !ev.atGroup():
		return nil, true, ev.noGroup()
	case low == "deployment" && !ev.atGroup() && len(args) == 0:
		return ev.deploymentAbove(args, depth)
	case low == "reference":
		return ev.nestedReference(args)
	case low == "resourceid" && ev.st != nil && ev.st.level == levelSubscription && len(args) > 0 &&
		args[0].kind == '"' && strings.Contains(args[0].str, "/"):
		v, err := ev.subscriptionLevelID(args, depth)
		if err != nil {
			err = exprErrorf("resourceId: %v", err)
		}
		return v, true, err
	}
	return nil, false, nil
}

// udfs reads the functions section once: "namespace.member" lowercased →
// the member's declaration. Malformed declarations are problems.
func (ev *evaluator) udfs() map[string]*node {
	st := ev.structure()
	if st.udfs != nil {
		return st.udfs
	}
	st.udfs = map[string]*node{}
	fns := ev.root.getFold("functions")
	if fns == nil {
		return st.udfs
	}
	if fns.kind != '[' {
		ev.problem("functions", "must be an array of namespaces, not %s", fns.describe())
		return st.udfs
	}
	for i, ns := range fns.items {
		p := path("functions").index(i)
		if ns.kind != '{' {
			ev.problem(p, "must be an object with a namespace and members, not %s", ns.describe())
			continue
		}
		name := ns.getFold("namespace")
		members := ns.getFold("members")
		if name == nil || name.kind != '"' || name.str == "" || strings.Contains(name.str, ".") {
			ev.problem(p.key("namespace"), "must be a name (a string without dots)")
			continue
		}
		if members == nil || members.kind != '{' {
			ev.problem(p.key("members"), "must be an object of functions")
			continue
		}
		for _, m := range members.members {
			mp := p.key("members").key(m.key)
			if m.val.kind != '{' {
				ev.problem(mp, "must be an object with parameters and an output")
				continue
			}
			out := m.val.getFold("output")
			if out == nil || out.kind != '{' || out.getFold("value") == nil {
				ev.problem(mp.key("output"), "must be an object with a type and a value")
				continue
			}
			if ps := m.val.getFold("parameters"); ps != nil {
				ok := ps.kind == '['
				for j, it := range ps.items {
					if it.kind != '{' || it.getFold("name") == nil || it.getFold("name").kind != '"' {
						ev.problem(mp.key("parameters").index(j), "must be an object with a name and a type")
						ok = false
					} else if it.getFold("defaultValue") != nil {
						ev.problem(mp.key("parameters").index(j), "a user-defined function's parameter can't have a default value (ARM's rule)")
						ok = false
					}
				}
				if !ok {
					if ps.kind != '[' {
						ev.problem(mp.key("parameters"), "must be an array")
					}
					continue
				}
			}
			st.udfs[strings.ToLower(name.str+"."+m.key)] = m.val
		}
	}
	return st.udfs
}

// callUDF calls a user-defined function with evaluated arguments.
func (ev *evaluator) callUDF(name string, args []*node, depth int) (*node, error) {
	decl, ok := ev.udfs()[strings.ToLower(name)]
	if !ok {
		return nil, exprErrorf("%s is not a user-defined function of this template: its functions section declares no such namespace and member", name)
	}
	st := ev.structure()
	var params []*node
	if ps := decl.getFold("parameters"); ps != nil {
		params = ps.items
	}
	if len(args) != len(params) {
		return nil, exprErrorf("%s takes %d argument(s), not %d", name, len(params), len(args))
	}
	bound := make(map[string]*node, len(params))
	for i, p := range params {
		pname := p.getFold("name").str
		if msg := ev.typeProblem(p, args[i], depth); msg != "" {
			return nil, exprErrorf("%s: argument %d (%s) %s", name, i+1, pname, msg)
		}
		bound[strings.ToLower(pname)] = args[i]
	}
	// The body sees only its parameters: no copy index, lambda variables
	// or variables of the caller.
	savedArgs, savedName, savedFrame := st.udfArgs, st.udfName, ev.frame
	st.udfArgs, st.udfName, ev.frame = bound, name, nil
	out := decl.getFold("output")
	v, err := ev.deep(out.getFold("value"), depth+1)
	st.udfArgs, st.udfName, ev.frame = savedArgs, savedName, savedFrame
	if err != nil {
		return nil, through(err, "function "+name)
	}
	if msg := ev.typeProblem(out, v, depth); msg != "" {
		return nil, exprErrorf("%s: its output %s", name, msg)
	}
	return v, nil
}

// udfParameter is parameters(name) inside a user-defined function.
func (ev *evaluator) udfParameter(name string) (*node, bool, error) {
	if ev.st == nil || ev.st.udfArgs == nil {
		return nil, false, nil
	}
	v, ok := ev.st.udfArgs[strings.ToLower(name)]
	if !ok {
		return nil, true, exprErrorf("function %s declares no parameter %q (a user-defined function reads only its own parameters)", ev.st.udfName, name)
	}
	return v, true, nil
}

// udfVariable refuses variables() inside a user-defined function.
func (ev *evaluator) udfVariable(name string) error {
	if ev.st == nil || ev.st.udfArgs == nil {
		return nil
	}
	return exprErrorf("function %s reads variable %q: a user-defined function can't use variables (ARM's rule)", ev.st.udfName, name)
}

// deploymentAbove is deployment() in a deployment above a resource
// group, which also has the deployment's location: "When deploying to a
// subscription, management group, or tenant, the return object includes a
// location property" (Microsoft Learn, template-functions-deployment,
// deployment()). The rest is the built-in's.
func (ev *evaluator) deploymentAbove(args []*node, depth int) (*node, bool, error) {
	fn := armFunctions["deployment"]
	v, err := fn.call(ev, args, depth)
	if err != nil || v == nil || v.kind != '{' {
		return v, true, err
	}
	if ev.scope.Location == "" {
		return nil, true, ev.missing("the deployment's location (deployment().location at " + ev.st.level + " scope)")
	}
	out := &node{kind: '{', members: append(append([]member(nil), v.members...), member{key: "location", val: strNode(ev.scope.Location)})}
	return out, true, nil
}
