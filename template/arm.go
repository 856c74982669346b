package template

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// ARM deployment templates: files with $schema, parameters, variables and
// resources[], deployed with `az deployment group create` and a parameters
// file. Each Microsoft.VirtualMachineImages/imageTemplates resource in them
// is evaluated (parameters, variables, expressions) into the bare resource
// Image Builder gets, then read like any other template.

// ImageTemplateType is the ARM resource type of an image template.
const ImageTemplateType = "Microsoft.VirtualMachineImages/imageTemplates"

// File kinds (Parsed.Kind).
const (
	KindResource   = "resource"   // a bare imageTemplates resource (REST body)
	KindDeployment = "deployment" // an ARM deployment template
	KindParameters = "parameters" // an ARM parameters file on its own
)

// Deployment is the scope a deployment template is evaluated in: what
// subscription(), resourceGroup() and deployment() return.
type Deployment struct {
	SubscriptionID string
	ResourceGroup  string
	Location       string // the resource group's region
	Name           string // deployment().name; "goldenpipe" when empty
	// Where names where these values come from, for the message when one
	// is needed and missing (e.g. "app settings AZURE_SUBSCRIPTION_ID, …").
	Where string
	// StandIn says the values are placeholders chosen by a tool; a
	// template that uses them gets a warning saying so.
	StandIn bool
	// Now is what utcNow() gives in a parameter's defaultValue (the only
	// place ARM allows it): the time the template file was written, so a
	// template renders the same until it changes. Zero: not supported.
	Now time.Time
}

func isDeploymentTemplate(root *node) bool {
	if s := root.getFold("$schema"); s != nil && s.kind == '"' {
		low := strings.ToLower(s.str)
		if strings.Contains(low, "deploymenttemplate") {
			return true
		}
	}
	r := root.getFold("resources")
	return r != nil && (r.kind == '[' || r.kind == '{') && root.getFold("properties") == nil
}

func isParametersFile(root *node) bool {
	s := root.getFold("$schema")
	return s != nil && s.kind == '"' && strings.Contains(strings.ToLower(s.str), "deploymentparameters")
}

// armEval evaluates the expressions of one deployment template.
type armEval struct {
	dep       Deployment
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
	secrets   map[string]bool // secure parameters read
}

// maxExprCharge bounds what evaluation may build: string bytes plus array
// and object members, summed over every function result.
const maxExprCharge = 32 << 20

func (ev *armEval) charge(n *node) error {
	switch n.kind {
	case '"':
		ev.charged += len(n.str)
	case '[':
		ev.charged += len(n.items)
	case '{':
		ev.charged += len(n.members)
	}
	if ev.charged > maxExprCharge {
		return exprErrorf("evaluation builds more than %d bytes of values", maxExprCharge)
	}
	return nil
}

// scope returns a value of the deployment's scope, noting its use.
func (ev *armEval) scope(what, value string) (string, error) {
	if value == "" {
		return "", ev.missing(what)
	}
	ev.scopeUsed = true
	return value, nil
}

func (ev *armEval) missing(what string) error {
	where := ev.dep.Where
	if where == "" {
		where = "the app's settings"
	}
	return exprErrorf("%s is not known offline: set it (%s)", what, where)
}

func (ev *armEval) subscription() (*node, error) {
	sub, err := ev.scope("the subscription", ev.dep.SubscriptionID)
	if err != nil {
		return nil, err
	}
	return &node{kind: '{', members: []member{
		{key: "id", val: strNode("/subscriptions/" + sub)},
		{key: "subscriptionId", val: strNode(sub)},
	}}, nil
}

func (ev *armEval) resourceGroup() (*node, error) {
	if _, err := ev.scope("the subscription", ev.dep.SubscriptionID); err != nil {
		return nil, err
	}
	if _, err := ev.scope("the resource group", ev.dep.ResourceGroup); err != nil {
		return nil, err
	}
	rg := &node{kind: '{', members: []member{
		{key: "id", val: strNode("/subscriptions/" + ev.dep.SubscriptionID + "/resourceGroups/" + ev.dep.ResourceGroup)},
		{key: "name", val: strNode(ev.dep.ResourceGroup)},
		{key: "type", val: strNode("Microsoft.Resources/resourceGroups")},
	}}
	if ev.dep.Location != "" {
		rg.members = append(rg.members, member{key: "location", val: strNode(ev.dep.Location)})
	} else {
		rg.members = append(rg.members, member{key: "location", val: nil}) // unknown: an error only when read
	}
	return rg, nil
}

func (ev *armEval) deployment() *node {
	name := ev.dep.Name
	if name == "" {
		name = "goldenpipe"
	}
	return &node{kind: '{', members: []member{{key: "name", val: strNode(name)}}}
}

func (ev *armEval) parameter(name string, depth int) (*node, error) {
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
	if isSecure(decl) {
		ev.secrets[name] = true
	}
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
	v, err := ev.deep(def, depth+1)
	ev.inDefault--
	delete(ev.paramBusy, key)
	if err != nil {
		return nil, through(err, fmt.Sprintf("the default of parameter %q", name))
	}
	ev.params[key] = v
	return v, nil
}

func (ev *armEval) variable(name string, depth int) (*node, error) {
	key := strings.ToLower(name)
	if v, ok := ev.varCache[key]; ok {
		return v, nil
	}
	var raw *node
	if ev.vars != nil {
		raw = ev.vars.getFold(name)
	}
	if raw == nil {
		return nil, exprErrorf("the template declares no variable %q", name)
	}
	if ev.varBusy[key] {
		return nil, exprErrorf("variable %q refers to itself", name)
	}
	if raw.kind == '{' && raw.getFold("copy") != nil && strings.EqualFold(name, "copy") {
		return nil, exprErrorf("variable copy loops are not evaluated; write the values out")
	}
	ev.varBusy[key] = true
	v, err := ev.deep(raw, depth+1)
	delete(ev.varBusy, key)
	if err != nil {
		return nil, through(err, fmt.Sprintf("variable %q", name))
	}
	ev.varCache[key] = v
	return v, nil
}

// deep evaluates every expression in a value (keys included), returning
// the first error.
func (ev *armEval) deep(n *node, depth int) (*node, error) {
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
func (ev *armEval) walk(n *node, p path, depth int, fail func(path, error)) *node {
	if depth > maxExprDepth {
		fail(p, exprErrorf("nested deeper than %d levels", maxExprDepth))
		return nullNode()
	}
	switch n.kind {
	case '"':
		if !isExpression(n.str) {
			return strNode(unescapeLiteral(n.str))
		}
		e, err := parseExpression(n.str)
		if err == nil {
			var v *node
			if v, err = ev.eval(e, depth); err == nil {
				if err = ev.charge(v); err == nil {
					return v
				}
			}
		}
		fail(p, fmt.Errorf("%s: %w", clip(n.str), err))
		return nullNode()
	case '{':
		out := &node{kind: '{'}
		for _, m := range n.members {
			key := m.key
			if isExpression(key) {
				k := ev.walk(strNode(key), p.key(key), depth+1, fail)
				if k.kind != '"' {
					if k.kind != '0' {
						fail(p.key(key), exprErrorf("%s: a property name must be a string, not %s", clip(key), k.describe()))
					}
					continue
				}
				key = k.str
			} else {
				key = unescapeLiteral(key)
			}
			out.members = append(out.members, member{key: key, val: ev.walk(m.val, p.key(key), depth+1, fail)})
		}
		return out
	case '[':
		out := &node{kind: '['}
		for i, it := range n.items {
			out.items = append(out.items, ev.walk(it, p.index(i), depth+1, fail))
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

func isSecure(decl *node) bool {
	t := decl.getFold("type")
	return t != nil && t.kind == '"' && (strings.EqualFold(t.str, "securestring") || strings.EqualFold(t.str, "secureobject"))
}

// readParameters reads an ARM parameters file: the standard shape
// ({"$schema": …deploymentParameters.json#, "parameters": {"x": {"value": …}}})
// or the bare parameters object `az deployment` also takes.
func readParameters(raw []byte, r *report) map[string]*node {
	const where = path("(parameters file)")
	root, err := parseJSON(stripComments(raw))
	if err != nil {
		r.problem(where, "not valid JSON: %v", err)
		return nil
	}
	if root.kind != '{' {
		r.problem(where, "must be a JSON object, not %s", root.describe())
		return nil
	}
	params := root
	if p := root.getFold("parameters"); p != nil && (root.getFold("$schema") != nil || root.getFold("contentVersion") != nil) {
		params = p
	}
	if params.kind != '{' {
		r.problem(where.key("parameters"), "must be an object, not %s", params.describe())
		return nil
	}
	out := map[string]*node{}
	for _, m := range params.members {
		mp := where.key("parameters").key(m.key)
		switch {
		case m.val.kind != '{':
			r.problem(mp, "must be an object with a \"value\" (or a Key Vault \"reference\"), not %s", m.val.describe())
		case m.val.getFold("value") != nil:
			out[strings.ToLower(m.key)] = m.val.getFold("value")
		case m.val.getFold("reference") != nil:
			out[strings.ToLower(m.key)] = nil // known to exist, not known offline
		default:
			r.problem(mp, "has neither \"value\" nor \"reference\"")
		}
	}
	return out
}

// paramTypes are the ARM parameter types and the JSON kind of their values.
var paramTypes = map[string]byte{"string": '"', "securestring": '"', "int": 'n', "bool": 'b', "object": '{', "secureobject": '{', "array": '['}

// checkParameters checks the declarations against the values given:
// undeclared values, types, allowed values and bounds, as ARM does before
// a deployment.
func (ev *armEval) checkParameters(r *report, imageParams map[string]bool) {
	for key := range ev.given {
		if ev.decls == nil || ev.decls.getFold(key) == nil {
			r.problem(path("(parameters file)").key("parameters").key(key), "the template declares no such parameter (ARM refuses values for undeclared parameters)")
		}
	}
	if ev.decls == nil {
		return
	}
	if ev.decls.kind != '{' {
		r.problem("parameters", "must be an object, not %s", ev.decls.describe())
		return
	}
	for _, m := range ev.decls.members {
		p := path("parameters").key(m.key)
		if m.val.kind != '{' {
			r.problem(p, "must be an object declaring the parameter's type")
			continue
		}
		typ := ""
		if t := m.val.getFold("type"); t != nil && t.kind == '"' {
			typ = strings.ToLower(t.str)
		}
		kind, ok := paramTypes[typ]
		if !ok {
			r.problem(p.key("type"), "must be one of string, securestring, int, bool, object, secureobject, array")
			continue
		}
		_, given := ev.given[strings.ToLower(m.key)]
		if !given && m.val.getFold("defaultValue") == nil {
			if imageParams[strings.ToLower(m.key)] {
				continue // reported where the image template uses it
			}
			r.warn(p, "has no value (parameters file or defaultValue); the image template does not use it, but `az deployment group create` would ask for it")
			continue
		}
		v, err := ev.parameter(m.key, 0)
		if err != nil || v == nil {
			if !imageParams[strings.ToLower(m.key)] && err != nil {
				r.warn(p, "%v", err)
			}
			continue
		}
		if v.kind != kind && !(kind == 'n' && v.kind == 'n') {
			r.problem(p, "is declared %s but its value is %s", typ, v.describe())
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
				r.problem(p, "%q is not one of the allowed values: %s", toText(v), strings.Join(opts, ", "))
			}
		}
		if n, ok := asInt(v); ok {
			if lo := m.val.getFold("minValue"); lo != nil {
				if l, ok := asInt(lo); ok && n < l {
					r.problem(p, "%d is below the minValue %d", n, l)
				}
			}
			if hi := m.val.getFold("maxValue"); hi != nil {
				if h, ok := asInt(hi); ok && n > h {
					r.problem(p, "%d is above the maxValue %d", n, h)
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
					r.problem(p, "is %d long, below the minLength %d", length, l)
				}
			}
			if hi := m.val.getFold("maxLength"); hi != nil {
				if h, ok := asInt(hi); ok && int64(length) > h {
					r.problem(p, "is %d long, above the maxLength %d", length, h)
				}
			}
		}
	}
}

// imageResource is one imageTemplates resource found in a deployment
// template, with where it stands.
type imageResource struct {
	at  path
	val *node
}

// deploymentResources splits the resources of a deployment template into
// image templates and the others (listed in the record as not deployed by
// this app). languageVersion 2.0 (Bicep's symbolic names) keeps resources
// in an object.
func deploymentResources(root *node, r *report, ev *armEval) (images []imageResource, others []string) {
	res := root.getFold("resources")
	var list []imageResource
	switch {
	case res == nil:
		r.problem("resources", "is required in a deployment template")
		return nil, nil
	case res.kind == '[':
		for i, it := range res.items {
			list = append(list, imageResource{path("resources").index(i), it})
		}
	case res.kind == '{':
		for _, m := range res.members {
			list = append(list, imageResource{path("resources").key(m.key), m.val})
		}
	default:
		r.problem("resources", "must be an array, not %s", res.describe())
		return nil, nil
	}
	for _, it := range list {
		if it.val.kind != '{' {
			r.problem(it.at, "must be an object, not %s", it.val.describe())
			continue
		}
		typ := ""
		if t := it.val.getFold("type"); t != nil && t.kind == '"' {
			typ = t.str
		}
		name := ""
		if n := it.val.getFold("name"); n != nil && n.kind == '"' {
			name = n.str
			if v, err := ev.deep(n, 0); err == nil && v.kind == '"' {
				name = v.str
			}
		}
		switch {
		case strings.EqualFold(typ, ImageTemplateType):
			images = append(images, it)
		case strings.EqualFold(typ, "Microsoft.Resources/deployments") && mentionsImageTemplates(it.val):
			r.problem(it.at, "a nested deployment holding an image template is not evaluated: put the imageTemplates resource at the top level of resources")
		default:
			others = append(others, strings.TrimSpace(typ+" "+name))
		}
	}
	sort.Strings(others)
	return images, others
}

func mentionsImageTemplates(n *node) bool {
	switch n.kind {
	case '"':
		return strings.EqualFold(n.str, ImageTemplateType)
	case '{':
		for _, m := range n.members {
			if mentionsImageTemplates(m.val) {
				return true
			}
		}
	case '[':
		for _, it := range n.items {
			if mentionsImageTemplates(it) {
				return true
			}
		}
	}
	return false
}

// paramsUsedBy lists the parameters an image resource reads directly or
// through variables (by lowercased name), so that a missing value is
// reported where it is used.
func paramsUsedBy(n *node, vars *node, out map[string]bool, seen map[string]bool, budget *int) {
	*budget--
	if *budget < 0 {
		return
	}
	visit := func(s string) {
		if !isExpression(s) {
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

// sizeOver reports whether a value encodes to more than limit bytes,
// stopping as soon as it knows (evaluated values may share parts).
func sizeOver(n *node, limit int) bool {
	budget := limit
	var walk func(n *node) bool
	walk = func(n *node) bool {
		switch n.kind {
		case '"':
			budget -= len(n.str) + 2
		case 'n':
			budget -= len(n.num)
		case '{':
			budget -= 2
			for _, m := range n.members {
				budget -= len(m.key) + 4
				if budget < 0 || walk(m.val) {
					return true
				}
			}
		case '[':
			budget -= 2
			for _, it := range n.items {
				budget--
				if budget < 0 || walk(it) {
					return true
				}
			}
		default:
			budget -= 5
		}
		return budget < 0
	}
	return walk(n)
}

// stripComments blanks out the // and /* */ comments ARM allows in
// deployment templates and parameters files, keeping line and column
// numbers for syntax errors.
func stripComments(b []byte) []byte {
	var out []byte
	inString, escaped := false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		if c == '"' {
			inString = true
			continue
		}
		if c != '/' || i+1 >= len(b) || (b[i+1] != '/' && b[i+1] != '*') {
			continue
		}
		if out == nil {
			out = append([]byte(nil), b...)
		}
		if b[i+1] == '/' {
			for ; i < len(b) && b[i] != '\n'; i++ {
				out[i] = ' '
			}
			continue
		}
		end := i + 2
		for end+1 < len(b) && !(b[end] == '*' && b[end+1] == '/') {
			end++
		}
		if end+1 >= len(b) { // unclosed: leave it for the JSON error
			return out
		}
		for j := i; j <= end+1; j++ {
			if out[j] != '\n' && out[j] != '\r' {
				out[j] = ' '
			}
		}
		i = end + 1
	}
	if out == nil {
		return b
	}
	return out
}

// utcNow is ARM's utcNow(format): allowed only in a parameter's
// defaultValue; here the deployment's Now, in .NET's custom date format
// (yyyy, MM, dd, HH, mm, ss) or the standard "u" and "s" formats.
func (ev *armEval) utcNow(format string) (*node, error) {
	if ev.inDefault == 0 {
		return nil, exprErrorf("utcNow() can be used only in a parameter's defaultValue (ARM's rule)")
	}
	if ev.dep.Now.IsZero() {
		return nil, errUnsupported
	}
	t := ev.dep.Now.UTC()
	switch format {
	case "":
		format = "yyyyMMddTHHmmssZ"
	case "u":
		return strNode(t.Format("2006-01-02 15:04:05Z")), nil
	case "s":
		return strNode(t.Format("2006-01-02T15:04:05")), nil
	}
	r := strings.NewReplacer("yyyy", "2006", "MM", "01", "dd", "02", "HH", "15", "mm", "04", "ss", "05")
	return strNode(t.Format(r.Replace(format))), nil
}

// asciiLower lowercases ASCII letters only, keeping every byte offset.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
