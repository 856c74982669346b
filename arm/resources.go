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
	ev.decideLevel()
	ev.udfs() // the functions section's problems, once
	list := ev.resourceList()
	ev.structure().raws = list
	used := map[string]bool{}
	budget := 100_000
	for _, it := range list {
		paramsUsedBy(it.val, ev.vars, used, map[string]bool{}, &budget)
	}
	if o := root.GetFold("outputs"); o != nil {
		paramsUsedBy(o, ev.vars, used, map[string]bool{}, &budget)
	}
	if !ev.structure().outer { // an outer nested template's parameters are its parent's
		ev.checkParameters(used)
	}
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
	res := ev.root.GetFold("resources")
	var list []rawResource
	switch {
	case res == nil:
		ev.problem("resources", "is required in a deployment template")
		return nil
	case res.Kind == '[':
		for i, it := range res.Items {
			list = append(list, rawResource{path("resources").index(i), it})
		}
	case res.Kind == '{':
		for _, m := range res.Members {
			list = append(list, rawResource{path("resources").key(m.Key), m.Val})
		}
	default:
		ev.problem("resources", "must be an array, not %s", res.Describe())
		return nil
	}
	out := list[:0]
	for _, it := range list {
		if it.val.Kind != '{' {
			ev.problem(it.at, "must be an object, not %s", it.val.Describe())
			continue
		}
		if e := it.val.GetFold("existing"); e != nil && e.Kind == 'b' && e.B {
			// languageVersion 2.0: a resource that exists already, declared
			// to be referred to; not deployed (Microsoft Learn, "Resource
			// declaration in ARM templates", existing resources).
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
	if ev.aheadDone(it) { // a nested deployment reference() evaluated ahead (nested.go)
		return
	}
	c := it.val.GetFold(copyKey)
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
		if t := it.val.GetFold("type"); t != nil && t.Kind == '"' {
			res.Type = t.Str
		}
		if a := it.val.GetFold("apiVersion"); a != nil && a.Kind == '"' {
			res.APIVersion = a.Str
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
	if c := it.val.GetFold("condition"); c != nil {
		v := ev.walk(c, it.at.key("condition"), 0, fail)
		if v.Kind == 'b' && !v.B {
			ev.noteOnce(it.at, MsgConditionFalse)
			return
		}
		if v.Kind != 'b' && v.Kind != '0' {
			fail(it.at.key("condition"), exprErrorf("must be a boolean, not %s", v.Describe()))
		}
	}
	ev.evalResource(&res, it, fail)
	ev.out.Resources = append(ev.out.Resources, res)
	ev.flushKids() // a nested deployment's resources follow it
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
	body := &node{Kind: '{'}
	var scope *node
	nested := false
	if t := it.val.GetFold("type"); t != nil && t.Kind == '"' && strings.EqualFold(t.Str, DeploymentsType) {
		nested = true
	}
	for _, m := range it.val.Members {
		switch strings.ToLower(m.Key) {
		case "condition", "copy":
			continue
		case "scope":
			scope = m.Val
			continue
		case "properties":
			if nested && m.Val.Kind == '{' {
				// A nested deployment's inner template is evaluated as a
				// deployment of its own, not here.
				body.Members = append(body.Members, member{Key: m.Key, Val: ev.nestedProperties(m.Val, it.at.key(m.Key), fail)})
				continue
			}
		}
		body.Members = append(body.Members, member{Key: m.Key, Val: ev.walk(m.Val, it.at.key(m.Key), 0, fail)})
	}
	if scope != nil {
		if v := ev.walk(scope, it.at.key("scope"), 0, fail); v.Kind == '"' {
			res.Scope = extensionScope(v.Str, res.Scope)
		}
	}
	str := func(key string, raw bool) string {
		if n := body.GetFold(key); n != nil && n.Kind == '"' {
			return n.Str
		}
		if n := it.val.GetFold(key); raw && n != nil && n.Kind == '"' {
			return n.Str // as written, when it could not be evaluated
		}
		return ""
	}
	// The name is "" when it could not be evaluated (a problem says why).
	res.Type, res.APIVersion, res.Name = str("type", true), str("apiVersion", true), str("name", false)
	if sizeOver(body, MaxBytes) {
		fail(it.at, exprErrorf("%s %d bytes", MsgTooLarge, MaxBytes))
		return
	}
	if nested { // before nulls leave: a parameter passed as null is given, null
		ev.nestedDeployment(res, it, body, fail)
	}
	body = dropNulls(body)
	var b bytes.Buffer
	body.Encode(&b)
	res.Body = json.RawMessage(b.Bytes())
	if nested {
		ev.chargeNested(res, it.at, fail) // nested.go: deployments' bodies summed, copies included
	}
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
	switch n.Kind {
	case '{':
		out := &node{Kind: '{', Members: make([]member, 0, len(n.Members))}
		for _, m := range n.Members {
			if m.Val.Kind == '0' {
				continue
			}
			out.Members = append(out.Members, member{Key: m.Key, Val: dropNulls(m.Val)})
		}
		return out
	case '[':
		out := &node{Kind: '[', Items: make([]*node, len(n.Items))}
		for i, it := range n.Items {
			out.Items[i] = dropNulls(it)
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
	out := &node{Kind: '{'}
	for _, m := range props.Members {
		if strings.EqualFold(m.Key, "template") {
			out.Members = append(out.Members, m)
			continue
		}
		out.Members = append(out.Members, member{Key: m.Key, Val: ev.walk(m.Val, p.key(m.Key), 0, fail)})
	}
	return out
}

// defaultScope is the resource id of the deployment's resource group, ""
// when not known offline.
func (ev *evaluator) defaultScope() string {
	if st := ev.st; st != nil && st.deployScope != "" {
		return st.deployScope
	}
	if !ev.atGroup() {
		if ev.st.level == levelSubscription && ev.scope.SubscriptionID != "" {
			return "/subscriptions/" + ev.scope.SubscriptionID
		}
		return ""
	}
	if ev.scope.SubscriptionID == "" || ev.scope.ResourceGroup == "" {
		return ""
	}
	return "/subscriptions/" + ev.scope.SubscriptionID + "/resourceGroups/" + ev.scope.ResourceGroup
}

// outputs evaluates the deployment's outputs.
func (ev *evaluator) outputs() {
	outs := ev.root.GetFold("outputs")
	if outs == nil {
		return
	}
	if outs.Kind != '{' {
		ev.problem("outputs", "must be an object, not %s", outs.Describe())
		return
	}
	fail := func(p path, err error) { ev.problem(p, "%v", err) }
	for _, m := range outs.Members {
		p := path("outputs").key(m.Key)
		if m.Val.Kind != '{' {
			ev.problem(p, "must be an object with a type and a value, not %s", m.Val.Describe())
			continue
		}
		if c := m.Val.GetFold("condition"); c != nil {
			v := ev.walk(c, p.key("condition"), 0, fail)
			if v.Kind == 'b' && !v.B {
				continue
			}
		}
		var v *node
		if raw := m.Val.GetFold("value"); raw != nil {
			v = ev.walk(raw, p.key("value"), 0, fail)
		} else if c := m.Val.GetFold(copyKey); c != nil {
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
		ev.out.Outputs[m.Key] = decode(v)
	}
}

// decode turns a node into the values encoding/json gives with UseNumber.
func decode(n *node) any {
	switch n.Kind {
	case '{':
		o := make(map[string]any, len(n.Members))
		for _, m := range n.Members {
			o[m.Key] = decode(m.Val)
		}
		return o
	case '[':
		a := make([]any, len(n.Items))
		for i, it := range n.Items {
			a[i] = decode(it)
		}
		return a
	case '"':
		return n.Str
	case 'n':
		return n.Num
	case 'b':
		return n.B
	}
	return nil
}
