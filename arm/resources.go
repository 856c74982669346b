package arm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// rawResource is one resource as written, with where it stands.
type rawResource struct {
	at  path
	val *node
}

// run evaluates the whole deployment into ev.out.
func (ev *evaluator) run() {
	root := ev.root
	if fn := root.getFold("functions"); fn != nil && fn.kind == '[' && len(fn.items) > 0 {
		ev.note("functions", "user-defined functions are not evaluated; a call to one is reported where it is used")
	}
	list := ev.resourceList()
	used := map[string]bool{}
	budget := 100_000
	for _, it := range list {
		paramsUsedBy(it.val, ev.vars, used, map[string]bool{}, &budget)
	}
	if o := root.getFold("outputs"); o != nil {
		paramsUsedBy(o, ev.vars, used, map[string]bool{}, &budget)
	}
	ev.checkParameters(used)
	for _, it := range list {
		ev.resource(it)
	}
	ev.outputs()
	if ev.scope.StandIn && ev.scopeUsed {
		ev.warn("", "evaluated with stand-in values for subscription(), resourceGroup() and resourceId() (subscription %s, group %s, location %s): give the real ones for exact values",
			ev.scope.SubscriptionID, ev.scope.ResourceGroup, ev.scope.Location)
	}
}

// resourceList lists the resources of a deployment template as written:
// an array, or (languageVersion 2.0, Bicep's symbolic names) an object.
func (ev *evaluator) resourceList() []rawResource {
	res := ev.root.getFold("resources")
	var list []rawResource
	switch {
	case res == nil:
		ev.problem("resources", "is required in a deployment template")
		return nil
	case res.kind == '[':
		for i, it := range res.items {
			list = append(list, rawResource{path("resources").index(i), it})
		}
	case res.kind == '{':
		for _, m := range res.members {
			list = append(list, rawResource{path("resources").key(m.key), m.val})
		}
	default:
		ev.problem("resources", "must be an array, not %s", res.describe())
		return nil
	}
	out := list[:0]
	for _, it := range list {
		if it.val.kind != '{' {
			ev.problem(it.at, "must be an object, not %s", it.val.describe())
			continue
		}
		out = append(out, it)
	}
	return out
}

// resource evaluates one resource as written into the Resources it
// creates: none when its condition is false, one per iteration of its copy
// loop (copy-resources), each with its evaluated name.
func (ev *evaluator) resource(it rawResource) {
	c := it.val.getFold(copyKey)
	if c == nil {
		ev.instance(it, "")
		return
	}
	var problems []Problem
	fail := func(p path, err error) { problems = append(problems, Problem{Path: p.String(), Message: err.Error()}) }
	name, count, ok := ev.resourceLoop(c, it.at.key(copyKey), fail)
	if !ok {
		// one Resource says why the loop could not be evaluated
		res := Resource{Path: string(it.at), Scope: ev.defaultScope(), Problems: problems}
		if t := it.val.getFold("type"); t != nil && t.kind == '"' {
			res.Type = t.str
		}
		if a := it.val.getFold("apiVersion"); a != nil && a.kind == '"' {
			res.APIVersion = a.str
		}
		ev.out.Resources = append(ev.out.Resources, res)
		return
	}
	for i := 0; i < count; i++ {
		if err := ev.iterate(); err != nil {
			ev.problem(it.at.key(copyKey), "%v", err)
			return
		}
		leave := ev.push(&frame{copyName: name, copyIndex: int64(i), inCopy: true, copyDefault: true})
		ev.instance(it, fmt.Sprintf("copyIndex() %d: ", i))
		leave()
	}
}

// instance evaluates one resource (one iteration of its loop, whose
// problems say which by prefix).
func (ev *evaluator) instance(it rawResource, prefix string) {
	res := Resource{Path: string(it.at), Scope: ev.defaultScope()}
	fail := func(p path, err error) {
		res.Problems = append(res.Problems, Problem{Path: p.String(), Message: prefix + err.Error()})
	}
	if c := it.val.getFold("condition"); c != nil {
		v := ev.walk(c, it.at.key("condition"), 0, fail)
		if v.kind == 'b' && !v.b {
			ev.noteOnce(it.at, MsgConditionFalse)
			return
		}
		if v.kind != 'b' && v.kind != '0' {
			fail(it.at.key("condition"), exprErrorf("must be a boolean, not %s", v.describe()))
		}
	}
	ev.evalResource(&res, it, fail)
	ev.out.Resources = append(ev.out.Resources, res)
}

// noteOnce notes a finding once, however many copies find it.
func (ev *evaluator) noteOnce(p path, msg string) {
	for _, n := range ev.out.Notes {
		if n.Path == p.String() && n.Message == msg {
			return
		}
	}
	ev.note(p, "%s", msg)
}

// evalResource evaluates a resource's elements into res: its body, type,
// apiVersion, name and scope.
func (ev *evaluator) evalResource(res *Resource, it rawResource, fail func(path, error)) {
	ev.copyProps = true // property loops (copy-properties)
	defer func() { ev.copyProps = false }()
	body := &node{kind: '{'}
	var scope *node
	nested := false
	if t := it.val.getFold("type"); t != nil && t.kind == '"' && strings.EqualFold(t.str, DeploymentsType) {
		nested = true
	}
	for _, m := range it.val.members {
		switch strings.ToLower(m.key) {
		case "condition", "copy":
			continue
		case "scope":
			scope = m.val
			continue
		case "properties":
			if nested && m.val.kind == '{' {
				// A nested deployment's inner template is evaluated as a
				// deployment of its own, not here.
				body.members = append(body.members, member{key: m.key, val: ev.nestedProperties(m.val, it.at.key(m.key), fail)})
				continue
			}
		}
		body.members = append(body.members, member{key: m.key, val: ev.walk(m.val, it.at.key(m.key), 0, fail)})
	}
	if scope != nil {
		if v := ev.walk(scope, it.at.key("scope"), 0, fail); v.kind == '"' {
			res.Scope = extensionScope(v.str, res.Scope)
		}
	}
	str := func(key string, raw bool) string {
		if n := body.getFold(key); n != nil && n.kind == '"' {
			return n.str
		}
		if n := it.val.getFold(key); raw && n != nil && n.kind == '"' {
			return n.str // as written, when it could not be evaluated
		}
		return ""
	}
	// The name is "" when it could not be evaluated (a problem says why).
	res.Type, res.APIVersion, res.Name = str("type", true), str("apiVersion", true), str("name", false)
	if sizeOver(body, MaxBytes) {
		fail(it.at, exprErrorf("%s %d bytes", MsgTooLarge, MaxBytes))
		return
	}
	body = dropNulls(body)
	var b bytes.Buffer
	body.encode(&b)
	res.Body = json.RawMessage(b.Bytes())
}

// dropNulls copies a value without the object members whose value is
// null, at any depth: ARM treats a property set to null (null(),
// json('null'), an if() that gives null) as if it were not there
// (Microsoft Learn, "Syntax and expressions in ARM templates"
// (azure-resource-manager/templates/template-expressions), "Null values"),
// which is what makes `if(cond, value, null())` properties work. Array
// items are kept: an array's length is its value. The value is bounded
// (sizeOver first), so the copy is.
func dropNulls(n *node) *node {
	switch n.kind {
	case '{':
		out := &node{kind: '{', members: make([]member, 0, len(n.members))}
		for _, m := range n.members {
			if m.val.kind == '0' {
				continue
			}
			out.members = append(out.members, member{key: m.key, val: dropNulls(m.val)})
		}
		return out
	case '[':
		out := &node{kind: '[', items: make([]*node, len(n.items))}
		for i, it := range n.items {
			out.items[i] = dropNulls(it)
		}
		return out
	}
	return n
}

// extensionScope is the resource id an extension resource's scope element
// names: a full id as written, or a resource of the deployment's group
// written "Namespace/type/name" (what Bicep compiles `scope: resource`
// to; Microsoft Learn, "Setting scope for extension resources in ARM
// templates" (scope-extension-resources), "Apply to resource").
func extensionScope(v, group string) string {
	switch {
	case strings.HasPrefix(v, "/"):
		return v
	case group == "":
		return "" // the group is not known offline
	}
	return group + "/providers/" + v
}

// DeploymentsType is the resource type of a nested deployment.
const DeploymentsType = "Microsoft.Resources/deployments"

// nestedProperties evaluates a nested deployment's properties but its
// inner template, kept as written.
func (ev *evaluator) nestedProperties(props *node, p path, fail func(path, error)) *node {
	out := &node{kind: '{'}
	for _, m := range props.members {
		if strings.EqualFold(m.key, "template") {
			out.members = append(out.members, m)
			continue
		}
		out.members = append(out.members, member{key: m.key, val: ev.walk(m.val, p.key(m.key), 0, fail)})
	}
	return out
}

// defaultScope is the resource id of the deployment's resource group, ""
// when not known offline.
func (ev *evaluator) defaultScope() string {
	if ev.scope.SubscriptionID == "" || ev.scope.ResourceGroup == "" {
		return ""
	}
	return "/subscriptions/" + ev.scope.SubscriptionID + "/resourceGroups/" + ev.scope.ResourceGroup
}

// outputs evaluates the deployment's outputs.
func (ev *evaluator) outputs() {
	outs := ev.root.getFold("outputs")
	if outs == nil {
		return
	}
	if outs.kind != '{' {
		ev.problem("outputs", "must be an object, not %s", outs.describe())
		return
	}
	fail := func(p path, err error) { ev.problem(p, "%v", err) }
	for _, m := range outs.members {
		p := path("outputs").key(m.key)
		if m.val.kind != '{' {
			ev.problem(p, "must be an object with a type and a value, not %s", m.val.describe())
			continue
		}
		if c := m.val.getFold("condition"); c != nil {
			v := ev.walk(c, p.key("condition"), 0, fail)
			if v.kind == 'b' && !v.b {
				continue
			}
		}
		var v *node
		if raw := m.val.getFold("value"); raw != nil {
			v = ev.walk(raw, p.key("value"), 0, fail)
		} else if c := m.val.getFold(copyKey); c != nil {
			var ok bool
			if v, ok = ev.outputLoop(c, p.key(copyKey), fail); !ok {
				continue
			}
		} else {
			ev.problem(p, "has no value")
			continue
		}
		if sizeOver(v, MaxBytes) {
			ev.problem(p.key("value"), "the evaluated output is over %d bytes", MaxBytes)
			continue
		}
		if ev.out.Outputs == nil {
			ev.out.Outputs = map[string]any{}
		}
		ev.out.Outputs[m.key] = decode(v)
	}
}

// decode turns a node into the values encoding/json gives with UseNumber.
func decode(n *node) any {
	switch n.kind {
	case '{':
		o := make(map[string]any, len(n.members))
		for _, m := range n.members {
			o[m.key] = decode(m.val)
		}
		return o
	case '[':
		a := make([]any, len(n.items))
		for i, it := range n.items {
			a[i] = decode(it)
		}
		return a
	case '"':
		return n.str
	case 'n':
		return n.num
	case 'b':
		return n.b
	}
	return nil
}
