package arm

import (
	"fmt"
	"strings"
)

func (ev *evaluator) parameter(name string, depth int) (*node, error) {
	if v, ok, err := ev.udfParameter(name); ok { // in a user-defined function
		return v, err
	}
	key := strings.ToLower(name)
	if v, ok := ev.params[key]; ok {
		return v, nil
	}
	if ev.decls == nil || ev.decls.GetFold(name) == nil {
		return nil, exprErrorf("the template declares no parameter %q", name)
	}
	if ev.paramBusy[key] {
		return nil, exprErrorf("the default value of parameter %q refers to itself", name)
	}
	decl := ev.decls.GetFold(name)
	if v, ok := ev.given[key]; ok {
		if v == nil {
			return nil, exprErrorf("parameter %q is a Key Vault reference: its value is read at deployment and is not known offline", name)
		}
		ev.params[key] = v
		return v, nil
	}
	def := decl.GetFold("defaultValue")
	if def == nil && ev.nullable(decl) { // languageVersion 2.0: a nullable parameter without a value is null
		ev.params[key] = nullNode()
		return ev.params[key], nil
	}
	if def == nil {
		return nil, exprErrorf("parameter %q has no value: give it in the parameters file or a defaultValue", name)
	}
	ev.paramBusy[key] = true
	ev.inDefault++
	v, err := ev.topLevel(func() (*node, error) { return ev.deep(def, depth+1) })
	ev.inDefault--
	delete(ev.paramBusy, key)
	if err != nil {
		return nil, through(err, fmt.Sprintf("the default of parameter %q", name))
	}
	ev.params[key] = v
	return v, nil
}

func (ev *evaluator) variable(name string, depth int) (*node, error) {
	if err := ev.udfVariable(name); err != nil {
		return nil, err
	}
	key := strings.ToLower(name)
	if v, ok := ev.varCache[key]; ok {
		return v, nil
	}
	var raw *node
	if ev.vars != nil && !strings.EqualFold(name, copyKey) { // "copy" declares loops, not a variable
		raw = ev.vars.GetFold(name)
	}
	if ev.varBusy[key] {
		return nil, exprErrorf("variable %q refers to itself", name)
	}
	ev.varBusy[key] = true
	var v *node
	var err error
	if raw != nil {
		v, err = ev.topLevel(func() (*node, error) {
			ev.copyProps = true
			return ev.deep(raw, depth+1)
		})
	} else {
		var found bool
		v, err = ev.topLevel(func() (*node, error) {
			var v *node
			var err error
			v, found, err = ev.variableLoop(name, depth+1)
			return v, err
		})
		if !found {
			delete(ev.varBusy, key)
			return nil, exprErrorf("the template declares no variable %q", name)
		}
	}
	delete(ev.varBusy, key)
	if err != nil {
		return nil, through(err, fmt.Sprintf("variable %q", name))
	}
	ev.varCache[key] = v
	return v, nil
}

// topLevel evaluates in the template's own scope: parameters and
// variables see no copy index, lambda variable or function parameter of
// where they are used (their values are cached).
func (ev *evaluator) topLevel(f func() (*node, error)) (*node, error) {
	saved, props := ev.frame, ev.copyProps
	ev.frame, ev.copyProps = nil, false
	defer func() { ev.frame, ev.copyProps = saved, props }()
	return f()
}

// readParameters reads an ARM parameters file: the standard shape
// ({"$schema": …deploymentParameters.json#, "parameters": {"x": {"value": …}}})
// or the bare parameters object `az deployment` also takes.
func (ev *evaluator) readParameters(raw []byte) map[string]*node {
	const where = path("(parameters file)")
	root, err := parseJSON(StripComments(raw))
	if err != nil {
		ev.problem(where, "not valid JSON: %v", err)
		return nil
	}
	if root.Kind != '{' {
		ev.problem(where, "must be a JSON object, not %s", root.Describe())
		return nil
	}
	params := root
	if p := root.GetFold("parameters"); p != nil && (root.GetFold("$schema") != nil || root.GetFold("contentVersion") != nil) {
		params = p
	}
	if params.Kind != '{' {
		ev.problem(where.key("parameters"), "must be an object, not %s", params.Describe())
		return nil
	}
	out := map[string]*node{}
	for _, m := range params.Members {
		mp := where.key("parameters").key(m.Key)
		switch {
		case m.Val.Kind != '{':
			ev.problem(mp, "must be an object with a \"value\" (or a Key Vault \"reference\"), not %s", m.Val.Describe())
		case m.Val.GetFold("value") != nil:
			out[strings.ToLower(m.Key)] = m.Val.GetFold("value")
		case m.Val.GetFold("reference") != nil:
			out[strings.ToLower(m.Key)] = nil // known to exist, not known offline
		default:
			ev.problem(mp, "has neither \"value\" nor \"reference\"")
		}
	}
	return out
}

// paramTypes are the ARM parameter types and the JSON kind of their values.
var paramTypes = map[string]byte{"string": '"', "securestring": '"', "int": 'n', "bool": 'b', "object": '{', "secureobject": '{', "array": '['}

// checkParameters checks the declarations against the values given:
// undeclared values, types, allowed values and bounds, as ARM does before
// a deployment.
func (ev *evaluator) checkParameters(used map[string]bool) {
	for key := range ev.given {
		if ev.decls == nil || ev.decls.GetFold(key) == nil {
			ev.problem(path("(parameters file)").key("parameters").key(key), "the template declares no such parameter (ARM refuses values for undeclared parameters)")
		}
	}
	if ev.decls == nil {
		return
	}
	if ev.decls.Kind != '{' {
		ev.problem("parameters", "must be an object, not %s", ev.decls.Describe())
		return
	}
	for _, m := range ev.decls.Members {
		p := path("parameters").key(m.Key)
		if m.Val.Kind != '{' {
			ev.problem(p, "must be an object declaring the parameter's type")
			continue
		}
		decl, err := ev.resolveType(m.Val)
		if err != nil {
			ev.problem(p.key("$ref"), "%v", err)
			continue
		}
		typ := typeName(decl)
		if _, ok := paramTypes[typ]; !ok {
			ev.problem(p.key("type"), "must be one of string, securestring, int, bool, object, secureobject, array (or a \"$ref\" to a type of the definitions)")
			continue
		}
		_, given := ev.given[strings.ToLower(m.Key)]
		if !given && m.Val.GetFold("defaultValue") == nil {
			if ev.nullable(decl) || used[strings.ToLower(m.Key)] {
				continue // null; or reported where it is used
			}
			ev.warn(p, "has no value (parameters file or defaultValue); nothing uses it, but `az deployment group create` would ask for it")
			continue
		}
		v, err := ev.parameter(m.Key, 0)
		if err != nil || v == nil {
			if !used[strings.ToLower(m.Key)] && err != nil {
				ev.warn(p, "%v", err)
			}
			continue
		}
		ev.checkType(m.Val, v, p, 0, func(at path, msg string) { ev.problem(at, "%s", msg) })
	}
}

// imageResource is one imageTemplates resource found in a deployment

// paramsUsedBy lists the parameters an image resource reads directly or
// through variables (by lowercased name), so that a missing value is
// reported where it is used.
func paramsUsedBy(n *node, vars *node, out map[string]bool, seen map[string]bool, budget *int) {
	*budget--
	if *budget < 0 {
		return
	}
	visit := func(s string) {
		if !IsExpression(s) {
			return
		}
		low := asciiLower(s) // same length as s, so offsets agree
		for _, fn := range []string{"parameters(", "variables("} {
			for i := strings.Index(low, fn); i >= 0; {
				rest := s[i+len(fn):]
				if q := strings.TrimLeft(rest, " "); strings.HasPrefix(q, "'") {
					if j := strings.IndexByte(q[1:], '\''); j >= 0 {
						name := strings.ToLower(q[1 : 1+j])
						if fn == "parameters(" {
							out[name] = true
						} else if !seen[name] && vars != nil {
							seen[name] = true
							if v := vars.GetFold(name); v != nil {
								paramsUsedBy(v, vars, out, seen, budget)
							} else if loops := vars.GetFold(copyKey); loops != nil {
								paramsUsedBy(loops, vars, out, seen, budget)
							}
						}
					}
				}
				next := strings.Index(low[i+1:], fn)
				if next < 0 {
					break
				}
				i += 1 + next
			}
		}
	}
	switch n.Kind {
	case '"':
		visit(n.Str)
	case '{':
		for _, m := range n.Members {
			visit(m.Key)
			paramsUsedBy(m.Val, vars, out, seen, budget)
		}
	case '[':
		for _, it := range n.Items {
			paramsUsedBy(it, vars, out, seen, budget)
		}
	}
}
