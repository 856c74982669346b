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
		args[0].Kind == '"' && strings.Contains(args[0].Str, "/"):
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
	fns := ev.root.GetFold("functions")
	if fns == nil {
		return st.udfs
	}
	if fns.Kind != '[' {
		ev.problem("functions", "must be an array of namespaces, not %s", fns.Describe())
		return st.udfs
	}
	for i, ns := range fns.Items {
		p := path("functions").index(i)
		if ns.Kind != '{' {
			ev.problem(p, "must be an object with a namespace and members, not %s", ns.Describe())
			continue
		}
		name := ns.GetFold("namespace")
		members := ns.GetFold("members")
		if name == nil || name.Kind != '"' || name.Str == "" || strings.Contains(name.Str, ".") {
			ev.problem(p.key("namespace"), "must be a name (a string without dots)")
			continue
		}
		if members == nil || members.Kind != '{' {
			ev.problem(p.key("members"), "must be an object of functions")
			continue
		}
		for _, m := range members.Members {
			mp := p.key("members").key(m.Key)
			if m.Val.Kind != '{' {
				ev.problem(mp, "must be an object with parameters and an output")
				continue
			}
			out := m.Val.GetFold("output")
			if out == nil || out.Kind != '{' || out.GetFold("value") == nil {
				ev.problem(mp.key("output"), "must be an object with a type and a value")
				continue
			}
			if ps := m.Val.GetFold("parameters"); ps != nil {
				ok := ps.Kind == '['
				for j, it := range ps.Items {
					if it.Kind != '{' || it.GetFold("name") == nil || it.GetFold("name").Kind != '"' {
						ev.problem(mp.key("parameters").index(j), "must be an object with a name and a type")
						ok = false
					} else if it.GetFold("defaultValue") != nil {
						ev.problem(mp.key("parameters").index(j), "a user-defined function's parameter can't have a default value (ARM's rule)")
						ok = false
					}
				}
				if !ok {
					if ps.Kind != '[' {
						ev.problem(mp.key("parameters"), "must be an array")
					}
					continue
				}
			}
			st.udfs[strings.ToLower(name.Str+"."+m.Key)] = m.Val
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
	if ps := decl.GetFold("parameters"); ps != nil {
		params = ps.Items
	}
	if len(args) != len(params) {
		return nil, exprErrorf("%s takes %d argument(s), not %d", name, len(params), len(args))
	}
	bound := make(map[string]*node, len(params))
	for i, p := range params {
		pname := p.GetFold("name").Str
		if msg := ev.typeProblem(p, args[i], depth); msg != "" {
			return nil, exprErrorf("%s: argument %d (%s) %s", name, i+1, pname, msg)
		}
		bound[strings.ToLower(pname)] = args[i]
	}
	// The body sees only its parameters: no copy index, lambda variables
	// or variables of the caller.
	savedArgs, savedName, savedFrame := st.udfArgs, st.udfName, ev.frame
	st.udfArgs, st.udfName, ev.frame = bound, name, nil
	out := decl.GetFold("output")
	v, err := ev.deep(out.GetFold("value"), depth+1)
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
	if err != nil || v == nil || v.Kind != '{' {
		return v, true, err
	}
	if ev.scope.Location == "" {
		return nil, true, ev.missing("the deployment's location (deployment().location at " + ev.st.level + " scope)")
	}
	out := &node{Kind: '{', Members: append(append([]member(nil), v.Members...), member{Key: "location", Val: strNode(ev.scope.Location)})}
	return out, true, nil
}
