package arm

import (
	"fmt"
	"strings"
)

func (ev *evaluator) parameter(name string, depth int) (*node, error) {
	key := strings.ToLower(name)
	if v, ok := ev.params[key]; ok {
		return v, nil
	}
	if ev.decls == nil || ev.decls.getFold(name) == nil {
		return nil, exprErrorf("the template declares no parameter %q", name)
	}
	if ev.paramBusy[key] {
		return nil, exprErrorf("the default value of parameter %q refers to itself", name)
	}
	decl := ev.decls.getFold(name)
	if v, ok := ev.given[key]; ok {
		if v == nil {
			return nil, exprErrorf("parameter %q is a Key Vault reference: its value is read at deployment and is not known offline", name)
		}
		ev.params[key] = v
		return v, nil
	}
	def := decl.getFold("defaultValue")
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
	key := strings.ToLower(name)
	if v, ok := ev.varCache[key]; ok {
		return v, nil
	}
	var raw *node
	if ev.vars != nil && !strings.EqualFold(name, copyKey) { // "copy" declares loops, not a variable
		raw = ev.vars.getFold(name)
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
	if root.kind != '{' {
		ev.problem(where, "must be a JSON object, not %s", root.describe())
		return nil
	}
	params := root
	if p := root.getFold("parameters"); p != nil && (root.getFold("$schema") != nil || root.getFold("contentVersion") != nil) {
		params = p
	}
	if params.kind != '{' {
		ev.problem(where.key("parameters"), "must be an object, not %s", params.describe())
		return nil
	}
	out := map[string]*node{}
	for _, m := range params.members {
		mp := where.key("parameters").key(m.key)
		switch {
		case m.val.kind != '{':
			ev.problem(mp, "must be an object with a \"value\" (or a Key Vault \"reference\"), not %s", m.val.describe())
		case m.val.getFold("value") != nil:
			out[strings.ToLower(m.key)] = m.val.getFold("value")
		case m.val.getFold("reference") != nil:
			out[strings.ToLower(m.key)] = nil // known to exist, not known offline
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
		if ev.decls == nil || ev.decls.getFold(key) == nil {
			ev.problem(path("(parameters file)").key("parameters").key(key), "the template declares no such parameter (ARM refuses values for undeclared parameters)")
		}
	}
	if ev.decls == nil {
		return
	}
	if ev.decls.kind != '{' {
		ev.problem("parameters", "must be an object, not %s", ev.decls.describe())
		return
	}
	for _, m := range ev.decls.members {
		p := path("parameters").key(m.key)
		if m.val.kind != '{' {
			ev.problem(p, "must be an object declaring the parameter's type")
			continue
		}
		typ := ""
		if t := m.val.getFold("type"); t != nil && t.kind == '"' {
			typ = strings.ToLower(t.str)
		}
		kind, ok := paramTypes[typ]
		if !ok {
			ev.problem(p.key("type"), "must be one of string, securestring, int, bool, object, secureobject, array")
			continue
		}
		_, given := ev.given[strings.ToLower(m.key)]
		if !given && m.val.getFold("defaultValue") == nil {
			if used[strings.ToLower(m.key)] {
				continue // reported where it is used
			}
			ev.warn(p, "has no value (parameters file or defaultValue); nothing uses it, but `az deployment group create` would ask for it")
			continue
		}
		v, err := ev.parameter(m.key, 0)
		if err != nil || v == nil {
			if !used[strings.ToLower(m.key)] && err != nil {
				ev.warn(p, "%v", err)
			}
			continue
		}
		if v.kind != kind && !(kind == 'n' && v.kind == 'n') {
			ev.problem(p, "is declared %s but its value is %s", typ, v.describe())
			continue
		}
		if allowed := m.val.getFold("allowedValues"); allowed != nil && allowed.kind == '[' {
			found := false
			var opts []string
			for _, a := range allowed.items {
				found = found || equalNodes(a, v) || v.kind == '"' && a.kind == '"' && strings.EqualFold(a.str, v.str)
				opts = append(opts, toText(a))
			}
			if !found {
				ev.problem(p, "%q is not one of the allowed values: %s", toText(v), strings.Join(opts, ", "))
			}
		}
		if n, ok := asInt(v); ok {
			if lo := m.val.getFold("minValue"); lo != nil {
				if l, ok := asInt(lo); ok && n < l {
					ev.problem(p, "%d is below the minValue %d", n, l)
				}
			}
			if hi := m.val.getFold("maxValue"); hi != nil {
				if h, ok := asInt(hi); ok && n > h {
					ev.problem(p, "%d is above the maxValue %d", n, h)
				}
			}
		}
		length := -1
		switch v.kind {
		case '"':
			length = len([]rune(v.str))
		case '[':
			length = len(v.items)
		}
		if length >= 0 {
			if lo := m.val.getFold("minLength"); lo != nil {
				if l, ok := asInt(lo); ok && int64(length) < l {
					ev.problem(p, "is %d long, below the minLength %d", length, l)
				}
			}
			if hi := m.val.getFold("maxLength"); hi != nil {
				if h, ok := asInt(hi); ok && int64(length) > h {
					ev.problem(p, "is %d long, above the maxLength %d", length, h)
				}
			}
		}
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
							if v := vars.getFold(name); v != nil {
								paramsUsedBy(v, vars, out, seen, budget)
							} else if loops := vars.getFold(copyKey); loops != nil {
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
	switch n.kind {
	case '"':
		visit(n.str)
	case '{':
		for _, m := range n.members {
			visit(m.key)
			paramsUsedBy(m.val, vars, out, seen, budget)
		}
	case '[':
		for _, it := range n.items {
			paramsUsedBy(it, vars, out, seen, budget)
		}
	}
}
