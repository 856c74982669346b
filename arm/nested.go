package arm

import (
	"encoding/json"
	stdpath "path"
	"strings"
)

// Nested deployments: a Microsoft.Resources/deployments resource with an
// inline properties.template (or a templateLink with a relativePath the
// caller's Scope.Load resolves) is evaluated as a deployment of its own,
// at the resource group or subscription it targets, and its resources are
// returned with the parent's, each with its scope.
//
// Sources: Microsoft Learn, "Using linked and nested templates when
// deploying Azure resources" (azure-resource-manager/templates/
// linked-templates: expressionEvaluationOptions.scope inner and outer,
// outer being the default; outputs read by the parent with
// reference('name').outputs.x.value; templateLink.relativePath, resolved
// against the parent's own location), "Deploy resources to subscriptions"
// and "Deploy to multiple resource groups"
// (templates/deploy-to-subscription, templates/deploy-to-resource-group:
// the resourceGroup and subscriptionId properties of a deployments
// resource; a subscription-scope template has no resourceGroup()).

// maxNestDepth bounds deployments within deployments. Microsoft Learn
// documents no depth limit for nested deployments (searched: "Template
// limits" in templates/best-practices lists 256 parameters, 800
// resources, 64 outputs and 4 MB but no depth); 10 is our own bound, deep
// enough for Bicep modules within modules, and what-if's documented limit
// of 500 nested templates (templates/deploy-what-if, "What-if limits")
// bounds how many one deployment may hold.
const (
	maxNestDepth   = 10
	maxNestedCount = 500
	maxLinkedBytes = 4 << 20 // every linked template loaded, summed: ARM's 4 MB template limit
)

// maxNestedOutput bounds the evaluated bodies of deployments and their
// resources, summed (a variable so that a test can lower it).
var maxNestedOutput = 32 << 20

// Deployment levels (structure.level).
const (
	levelResourceGroup   = "resourceGroup"
	levelSubscription    = "subscription"
	levelManagementGroup = "managementGroup"
	levelTenant          = "tenant"
)

// structure is the evaluator's state for user-defined functions, types
// and nested deployments.
type structure struct {
	level       string // levelResourceGroup …; "" until run decides
	deployScope string // where resources go when not the scope's group ("" = defaultScope's rule)
	depth       int    // nesting of this deployment
	shared      *nestShared
	linkDir     string // directory of this template among the linked ones, for relativePath
	raws        []rawResource
	done        map[*node][]Resource // nested deployments evaluated ahead of their turn (reference())
	busy        map[*node]bool
	outputs     map[string]*node  // a nested deployment's outputs ({x: {type, value}}), by lowercased name
	symbolic    map[string]string // languageVersion 2.0 symbolic name → deployment name, lowercased
	kids        []Resource        // a nested deployment's resources, to follow it
	probing     bool              // evaluating a deployment's name to find it
	outer       bool              // parameters and variables are the parent's
	typeRoot    *node             // the template whose definitions the parameters' $ref name (nil: this one)

	udfs    map[string]*node // "namespace.member" lowercased → the member's declaration
	udfArgs map[string]*node // non-nil while a user-defined function runs
	udfName string
}

// nestShared is what every deployment of one evaluation shares.
type nestShared struct {
	count       int
	loadedBytes int
	outBytes    int
	loaded      map[string]*node
}

func (ev *evaluator) structure() *structure {
	if ev.st == nil {
		ev.st = &structure{shared: &nestShared{loaded: map[string]*node{}}, done: map[*node][]Resource{}, busy: map[*node]bool{},
			outputs: map[string]*node{}, symbolic: map[string]string{}}
	}
	return ev.st
}

// decideLevel reads the deployment's level from its $schema, for the top
// template ("subscriptionDeploymentTemplate.json" and friends, as
// `az deployment sub create` requires).
func (ev *evaluator) decideLevel() {
	st := ev.structure()
	if st.level != "" {
		return
	}
	st.level = levelResourceGroup
	if s := ev.root.GetFold("$schema"); s != nil && s.Kind == '"' {
		low := strings.ToLower(s.Str)
		switch {
		case strings.Contains(low, "subscriptiondeploymenttemplate"):
			st.level = levelSubscription
		case strings.Contains(low, "managementgroupdeploymenttemplate"):
			st.level = levelManagementGroup
		case strings.Contains(low, "tenantdeploymenttemplate"):
			st.level = levelTenant
		}
	}
	if st.level != levelResourceGroup {
		ev.scope.ResourceGroup = "" // no resourceGroup() above a group
	}
}

// atGroup reports a deployment at resource-group level.
func (ev *evaluator) atGroup() bool {
	return ev.st == nil || ev.st.level == "" || ev.st.level == levelResourceGroup
}

// noGroup is the error of resourceGroup() in a deployment above a group.
func (ev *evaluator) noGroup() error {
	return exprErrorf("resourceGroup() is not available in a %s-scope deployment: it has no resource group (name the group, or use subscriptionResourceId)", ev.st.level)
}

// nestedKey is how a nested deployment is found by reference(): its name,
// or the last segment of its resource id.
func nestedKey(s string) string {
	low := strings.ToLower(s)
	if i := strings.LastIndex(low, "/providers/microsoft.resources/deployments/"); i >= 0 {
		low = low[i+len("/providers/microsoft.resources/deployments/"):]
	}
	return low
}

// nestedReference answers reference() for a nested deployment of this
// template, whose outputs are known offline: {outputs: {x: {type, value}}}
// (with 'Full', under properties). ok is false for anything else, left to
// the built-in reference().
func (ev *evaluator) nestedReference(args []*node) (*node, bool, error) {
	if len(args) == 0 || args[0].Kind != '"' {
		return nil, false, nil
	}
	st := ev.structure()
	key := nestedKey(args[0].Str)
	if name, ok := st.symbolic[strings.ToLower(args[0].Str)]; ok {
		key = name
	}
	outs, ok := st.outputs[key]
	if !ok && !st.probing {
		ev.evaluateAhead(args[0].Str)
		if name, ok := st.symbolic[strings.ToLower(args[0].Str)]; ok {
			key = name
		}
		if outs, ok = st.outputs[key]; !ok {
			return nil, false, nil
		}
	}
	full := len(args) > 2 && args[2].Kind == '"' && strings.EqualFold(args[2].Str, "full")
	props := &node{Kind: '{', Members: []member{{Key: "outputs", Val: outs}, {Key: "provisioningState", Val: strNode("Succeeded")}}}
	if full {
		return &node{Kind: '{', Members: []member{{Key: "properties", Val: props}}}, true, nil
	}
	return props, true, nil
}

// evaluateAhead evaluates, ahead of their turn in the file, the nested
// deployments that may be the one reference() asks for (ARM orders by
// dependsOn, not by the file).
func (ev *evaluator) evaluateAhead(want string) {
	st := ev.structure()
	wantKey := nestedKey(want)
	for _, it := range st.raws {
		if _, done := st.done[it.val]; done || st.busy[it.val] || !isDeployments(it.val) {
			continue
		}
		sym := ""
		if rest, ok := strings.CutPrefix(string(it.at), "resources."); ok {
			sym = strings.ToLower(rest)
		}
		if sym != strings.ToLower(want) {
			n := it.val.GetFold("name")
			if n == nil {
				continue
			}
			st.probing = true // a name that needs reference() is not chased further
			v, err := ev.deep(n, 0)
			st.probing = false
			if err == nil && (v.Kind != '"' || nestedKey(v.Str) != wantKey) {
				continue // another one (a name that needs copyIndex() is tried)
			}
		}
		st.busy[it.val] = true
		mark := len(ev.out.Resources)
		// evaluated as at the top of the file: not in the caller's copy
		// loop, lambda or user-defined function
		savedFrame, savedArgs, savedName := ev.frame, st.udfArgs, st.udfName
		ev.frame, st.udfArgs, st.udfName = nil, nil, ""
		ev.resource(it)
		ev.frame, st.udfArgs, st.udfName = savedFrame, savedArgs, savedName
		st.done[it.val] = append([]Resource(nil), ev.out.Resources[mark:]...)
		ev.out.Resources = ev.out.Resources[:mark]
		delete(st.busy, it.val)
		if _, ok := st.outputs[wantKey]; ok {
			return
		}
	}
}

// aheadDone appends a resource evaluated ahead (reference()) at its turn.
func (ev *evaluator) aheadDone(it rawResource) bool {
	if ev.st == nil {
		return false
	}
	got, ok := ev.st.done[it.val]
	if ok {
		ev.out.Resources = append(ev.out.Resources, got...)
	} else if isDeployments(it.val) {
		ev.st.busy[it.val] = true // evaluated now: not again ahead
	}
	return ok
}

func isDeployments(raw *node) bool {
	t := raw.GetFold("type")
	return t != nil && t.Kind == '"' && strings.EqualFold(t.Str, DeploymentsType)
}

// flushKids appends the resources of the nested deployment just evaluated.
func (ev *evaluator) flushKids() {
	if ev.st == nil || len(ev.st.kids) == 0 {
		return
	}
	ev.out.Resources = append(ev.out.Resources, ev.st.kids...)
	ev.st.kids = nil
}

// nestedDeployment evaluates the deployment a deployments resource holds
// (its body evaluated, the inner template as written) into ev.st.kids and
// the outputs reference() reads.
func (ev *evaluator) nestedDeployment(res *Resource, it rawResource, body *node, fail func(path, error)) {
	st := ev.structure()
	at := path(res.Path)
	props := body.GetFold("properties")
	if props == nil || props.Kind != '{' {
		fail(at.key("properties"), exprErrorf("a deployment needs properties with a template or a templateLink"))
		return
	}
	if !ev.withinNestBounds(at, fail) {
		return
	}
	tpl, prefix, dir, ok := ev.nestedTemplate(props, at, fail)
	if !ok {
		return
	}
	outer, ok := nestedScopeOuter(props, at, fail)
	if !ok {
		return
	}
	target, ok := ev.nestedTarget(res, it, body, at, fail)
	if !ok {
		return
	}
	child := ev.nestedChild(tpl, target, dir, outer, res, props, at, fail)
	child.steps, child.charged = ev.steps, ev.charged
	child.run()
	ev.steps, ev.charged = child.steps, child.charged
	ev.scopeUsed = ev.scopeUsed || child.scopeUsed
	ev.collectNested(res, child, nestedPaths{prefix: prefix, at: at, outer: outer}, fail)
	if res.Name != "" {
		st.outputs[nestedKey(res.Name)] = nestedOutputs(tpl, child)
		if rest, ok := strings.CutPrefix(string(it.at), "resources."); ok {
			st.symbolic[strings.ToLower(rest)] = nestedKey(res.Name)
		}
	}
}

// withinNestBounds counts a nested deployment and tells whether it is
// within the depth and count bounds. Past either bound the evaluation
// stops: its steps are spent, so copy loops end instead of refusing
// deployment after deployment.
func (ev *evaluator) withinNestBounds(at path, fail func(path, error)) bool {
	st := ev.structure()
	if st.depth+1 > maxNestDepth {
		fail(at, exprErrorf("deployments nested more than %d deep (this evaluator's bound; ARM documents none)", maxNestDepth))
		ev.steps = maxExprSteps
		return false
	}
	st.shared.count++
	if st.shared.count > maxNestedCount {
		fail(at, exprErrorf("more than %d nested deployments (what-if's documented limit)", maxNestedCount))
		ev.steps = maxExprSteps
		return false
	}
	return true
}

// nestedTemplate returns a deployment's inner template (properties.template,
// else the file properties.templateLink names), the path it stands at and
// the directory its own links are relative to; false when there is none
// to evaluate (reported).
func (ev *evaluator) nestedTemplate(props *node, at path, fail func(path, error)) (tpl *node, prefix path, dir string, ok bool) {
	tpl, prefix, dir = props.GetFold("template"), at.key("properties").key("template"), ev.structure().linkDir
	if tpl == nil {
		link := props.GetFold("templateLink")
		if link == nil {
			fail(at.key("properties"), exprErrorf("a deployment needs a template or a templateLink"))
			return nil, "", "", false
		}
		prefix = at.key("properties").key("templateLink")
		if tpl, dir, ok = ev.linked(link, prefix, fail); !ok {
			return nil, "", "", false
		}
	}
	if tpl.Kind != '{' {
		fail(prefix, exprErrorf("must be an object, not %s", tpl.Describe()))
		return nil, "", "", false
	}
	if props.GetFold("parametersLink") != nil {
		fail(at.key("properties").key("parametersLink"), exprErrorf("a parameters file by link is not read offline: give the parameters inline in properties.parameters"))
		return nil, "", "", false
	}
	return tpl, prefix, dir, true
}

// nestedScopeOuter tells whether a nested template's expressions are
// evaluated in the parent's scope (expressionEvaluationOptions.scope
// outer, ARM's default for nested templates; never for a linked one);
// false ok when the scope is neither inner nor outer (reported).
func nestedScopeOuter(props *node, at path, fail func(path, error)) (outer, ok bool) {
	outer = true // ARM's default for nested templates
	if o := props.GetFold("expressionEvaluationOptions"); o != nil && o.Kind == '{' {
		if s := o.GetFold("scope"); s != nil && s.Kind == '"' {
			switch strings.ToLower(s.Str) {
			case "inner":
				outer = false
			case "outer":
			default:
				fail(at.key("properties").key("expressionEvaluationOptions").key("scope"), exprErrorf("must be inner or outer, not %q", s.Str))
				return false, false
			}
		}
	}
	if props.GetFold("templateLink") != nil && props.GetFold("template") == nil {
		outer = false // a linked template has its own parameters always
	}
	return outer, true
}

// nestTarget is where a nested deployment deploys: a subscription and, at
// resource group level, a resource group.
type nestTarget struct {
	sub, rg, level string
	location       string // the deployments resource's location, if given
}

// stringMember returns a string member of an object, "" when it is absent
// or not a string.
func stringMember(obj *node, k string) string {
	if n := obj.GetFold(k); n != nil && n.Kind == '"' {
		return n.Str
	}
	return ""
}

// nestedTarget tells where a nested deployment deploys: the resourceGroup
// and subscriptionId of the deployments resource (or its scope), else
// where the parent deploys; false when that is not evaluated offline
// (reported).
func (ev *evaluator) nestedTarget(res *Resource, it rawResource, body *node, at path, fail func(path, error)) (nestTarget, bool) {
	st := ev.structure()
	sub, rg := stringMember(body, "subscriptionId"), stringMember(body, "resourceGroup")
	if it.val.GetFold("scope") != nil { // a scope element: a subscription's or group's id, or above
		parts := strings.Split(strings.Trim(res.Scope, "/"), "/")
		switch {
		case len(parts) == 2 && strings.EqualFold(parts[0], "subscriptions"):
			sub, rg = parts[1], ""
		case len(parts) == 4 && strings.EqualFold(parts[0], "subscriptions") && strings.EqualFold(parts[2], "resourceGroups"):
			sub, rg = parts[1], parts[3]
		default:
			fail(at.key("scope"), exprErrorf("a deployment with a scope property (management group, tenant) is not evaluated offline"))
			return nestTarget{}, false
		}
	}
	level := levelResourceGroup
	switch {
	case rg != "":
	case sub == "" && ev.atGroup():
		rg = ev.scope.ResourceGroup
	case st.level == levelManagementGroup || st.level == levelTenant:
		fail(at, exprErrorf("deployments from a %s-scope template are not evaluated offline", st.level))
		return nestTarget{}, false
	default:
		level = levelSubscription
	}
	if sub == "" {
		sub = ev.scope.SubscriptionID
	}
	return nestTarget{sub: sub, rg: rg, level: level, location: stringMember(body, "location")}, true
}

// nestedChild makes the evaluator of a nested template: at the target's
// level, sharing the parent's bounds, with the parent's declarations when
// outer, else its own scope and the parameters the deployment passes.
func (ev *evaluator) nestedChild(tpl *node, tg nestTarget, dir string, outer bool, res *Resource, props *node, at path, fail func(path, error)) *evaluator {
	st := ev.structure()
	child := newEvaluator(tpl, ev.scope)
	cst := child.structure()
	cst.level, cst.depth, cst.shared, cst.linkDir, cst.outer = tg.level, st.depth+1, st.shared, dir, outer
	if tg.sub != "" {
		cst.deployScope = "/subscriptions/" + tg.sub
		if tg.level == levelResourceGroup {
			cst.deployScope += "/resourceGroups/" + tg.rg
		}
	}
	child.scope.StandIn = false // the parent warns once
	if outer {
		// Outer: the parent's parameters, variables and functions, and
		// its scope for resourceGroup() and friends (a known surprise
		// Microsoft Learn warns of); only the resources deploy elsewhere.
		child.decls, child.given, child.params, child.paramBusy = ev.decls, ev.given, ev.params, ev.paramBusy
		child.vars, child.varCache, child.varBusy = ev.vars, ev.varCache, ev.varBusy
		cst.level = st.level
		if st.udfs != nil {
			cst.udfs = st.udfs
		}
		cst.typeRoot = ev.typeRoot()
		return child
	}
	child.scope.SubscriptionID, child.scope.ResourceGroup = tg.sub, tg.rg
	child.scope.DeploymentName = res.Name
	if tg.level == levelSubscription {
		child.scope.ResourceGroup = ""
	}
	if tg.location != "" && tg.level == levelSubscription {
		child.scope.Location = tg.location
	} else if tg.level == levelResourceGroup && !(strings.EqualFold(tg.rg, ev.scope.ResourceGroup) && strings.EqualFold(tg.sub, ev.scope.SubscriptionID)) {
		child.scope.Location = ev.groupLocation(tg.sub, tg.rg)
	}
	child.given = map[string]*node{}
	if p := props.GetFold("parameters"); p != nil {
		child.given = ev.nestedParameters(p, at.key("properties").key("parameters"), fail)
	}
	return child
}

// nestedPaths says where a nested template stands in the parent: the path
// of its template (prefix), of the deployments resource (at), and whether
// it is evaluated in the parent's scope (outer).
type nestedPaths struct {
	prefix, at path
	outer      bool
}

// reprefixAll puts the paths of a nested template's findings under where
// the template stands in the parent; a value the parent passed is found
// where the parent passes it.
func (np nestedPaths) reprefixAll(child *evaluator, list []Problem) []Problem {
	out := make([]Problem, len(list))
	for i, p := range list {
		out[i] = Problem{Path: reprefix(np.prefix, np.at, p.Path), Message: p.Message}
		// a value the parent passed is found where the parent passes it
		if rest, ok := strings.CutPrefix(p.Path, "parameters."); ok && !np.outer {
			name, _, _ := strings.Cut(rest, ".")
			name, _, _ = strings.Cut(name, "[")
			if _, given := child.given[strings.ToLower(name)]; given {
				out[i].Path = string(np.at.key("properties").key("parameters").key(name).key("value")) + strings.TrimPrefix(rest, name)
			}
		}
	}
	return out
}

// collectNested brings a nested deployment's findings and resources into
// the parent, within the bound of what nested deployments may build.
func (ev *evaluator) collectNested(res *Resource, child *evaluator, np nestedPaths, fail func(path, error)) {
	st := ev.structure()
	// The nested deployment's own problems (its parameters, …) are the
	// deployments resource's; an output that is not known offline is a
	// note: it matters only where the parent reads it (reference() then
	// says it has no such output).
	for _, p := range np.reprefixAll(child, child.out.Problems) {
		if strings.HasPrefix(p.Path, string(np.prefix.key("outputs"))) {
			ev.out.Notes = append(ev.out.Notes, Problem{Path: p.Path, Message: "not known offline: " + p.Message})
			continue
		}
		res.Problems = append(res.Problems, p)
	}
	ev.out.Warnings = append(ev.out.Warnings, np.reprefixAll(child, child.out.Warnings)...)
	ev.out.Notes = append(ev.out.Notes, np.reprefixAll(child, child.out.Notes)...)
	for _, r := range child.out.Resources {
		st.shared.outBytes += len(r.Body)
		if st.shared.outBytes > maxNestedOutput {
			fail(np.at, exprErrorf("the nested deployments' resources are over %d bytes, summed", maxNestedOutput))
			break
		}
		r.Path = reprefix(np.prefix, np.at, r.Path)
		r.Problems = np.reprefixAll(child, r.Problems)
		st.kids = append(st.kids, r)
	}
}

// nestedOutputs is what reference() reads of a nested deployment: each
// output the inner template declares and the child evaluated, with its
// declared type.
func nestedOutputs(tpl *node, child *evaluator) *node {
	outs := &node{Kind: '{'}
	decl := tpl.GetFold("outputs")
	if decl == nil || decl.Kind != '{' {
		return outs
	}
	for _, m := range decl.Members {
		v, ok := child.out.Outputs[m.Key]
		if !ok {
			continue
		}
		typ := strNode("")
		if m.Val.Kind == '{' {
			if t := m.Val.GetFold("type"); t != nil && t.Kind == '"' {
				typ = t
			}
		}
		outs.Members = append(outs.Members, member{Key: m.Key, Val: &node{Kind: '{', Members: []member{{Key: "type", Val: typ}, {Key: "value", Val: encodeAny(v)}}}})
	}
	return outs
}

// chargeNested counts a deployments resource's body (which holds its
// template as written, once per copy) against the bound of what nested
// deployments may build.
func (ev *evaluator) chargeNested(res *Resource, at path, fail func(path, error)) {
	sh := ev.structure().shared
	sh.outBytes += len(res.Body)
	if sh.outBytes > maxNestedOutput {
		res.Body = nil
		fail(at, exprErrorf("%s: the nested deployments are over %d bytes, summed", MsgTooLarge, maxNestedOutput))
	}
}

// reprefix puts a path of a nested template under where the template
// stands in the parent.
func reprefix(prefix, at path, p string) string {
	switch {
	case p == "" || p == "(template)":
		return string(prefix)
	case strings.HasPrefix(p, "(parameters file).parameters"):
		return string(at.key("properties").key("parameters")) + strings.TrimPrefix(p, "(parameters file).parameters")
	}
	return string(prefix) + "." + p
}

// groupLocation is a resource group's location when this deployment
// creates it (a Microsoft.Resources/resourceGroups resource), "" when not
// known offline.
func (ev *evaluator) groupLocation(sub, rg string) string {
	for _, r := range ev.out.Resources {
		if !strings.EqualFold(r.Type, "Microsoft.Resources/resourceGroups") || !strings.EqualFold(r.Name, rg) {
			continue
		}
		if r.Scope != "" && !strings.EqualFold(r.Scope, "/subscriptions/"+sub) {
			continue
		}
		var b struct{ Location string }
		if json.Unmarshal(r.Body, &b) == nil {
			return b.Location
		}
	}
	return ""
}

// nestedParameters reads properties.parameters of an inner-scope nested
// deployment, evaluated in the parent: {"x": {"value": …}} or a Key Vault
// {"reference": …} (known to exist, not known offline).
func (ev *evaluator) nestedParameters(p *node, at path, fail func(path, error)) map[string]*node {
	out := map[string]*node{}
	if p.Kind != '{' {
		fail(at, exprErrorf("must be an object, not %s", p.Describe()))
		return out
	}
	for _, m := range p.Members {
		switch {
		case m.Val.Kind != '{':
			fail(at.key(m.Key), exprErrorf("must be an object with a \"value\", not %s", m.Val.Describe()))
		case m.Val.GetFold("value") != nil:
			out[strings.ToLower(m.Key)] = m.Val.GetFold("value")
		case m.Val.GetFold("reference") != nil:
			out[strings.ToLower(m.Key)] = nil
		default:
			fail(at.key(m.Key), exprErrorf("has neither \"value\" nor \"reference\""))
		}
	}
	return out
}

// linked reads a templateLink: a relativePath through the caller's
// Scope.Load, relative to the linking template's own place; uri and id
// (template specs) are not fetched offline.
func (ev *evaluator) linked(link *node, at path, fail func(path, error)) (*node, string, bool) {
	st := ev.structure()
	if link.Kind != '{' {
		fail(at, exprErrorf("must be an object, not %s", link.Describe()))
		return nil, "", false
	}
	rel := link.GetFold("relativePath")
	if rel == nil || rel.Kind != '"' || rel.Str == "" {
		switch {
		case link.GetFold("uri") != nil:
			fail(at.key("uri"), exprErrorf("a linked template by URI is not fetched offline: put the template inline (properties.template) or beside this one and link it by relativePath"))
		case link.GetFold("id") != nil:
			fail(at.key("id"), exprErrorf("a template spec is not read offline: put the template inline (properties.template) or link it by relativePath"))
		default:
			fail(at, exprErrorf("needs a relativePath (or uri or id)"))
		}
		return nil, "", false
	}
	if ev.scope.Load == nil {
		fail(at.key("relativePath"), exprErrorf("linked templates are not read here: no place to load %q from", rel.Str))
		return nil, "", false
	}
	clean := stdpath.Clean(stdpath.Join(st.linkDir, strings.ReplaceAll(rel.Str, `\`, "/")))
	if strings.HasPrefix(rel.Str, "/") || clean == ".." || strings.HasPrefix(clean, "../") {
		fail(at.key("relativePath"), exprErrorf("%q is outside the templates' folder", rel.Str))
		return nil, "", false
	}
	if tpl, ok := st.shared.loaded[clean]; ok {
		return tpl, stdpath.Dir(clean), true
	}
	b, err := ev.scope.Load(clean)
	if err != nil {
		fail(at.key("relativePath"), exprErrorf("cannot read %q: %v", clean, err))
		return nil, "", false
	}
	st.shared.loadedBytes += len(b)
	if len(b) > MaxBytes || st.shared.loadedBytes > maxLinkedBytes {
		fail(at.key("relativePath"), exprErrorf("%q: the linked templates are over %d bytes", clean, maxLinkedBytes))
		return nil, "", false
	}
	tpl, err := parseJSON(StripComments(b))
	if err != nil {
		fail(at.key("relativePath"), exprErrorf("%q is not valid JSON: %v", clean, err))
		return nil, "", false
	}
	st.shared.loaded[clean] = tpl
	return tpl, stdpath.Dir(clean), true
}

// encodeAny turns a decoded value (decode's kinds) back into a node.
func encodeAny(v any) *node {
	b, err := json.Marshal(v)
	if err != nil {
		return nullNode()
	}
	n, err := parseJSON(b)
	if err != nil {
		return nullNode()
	}
	return n
}

// subscriptionLevelID is resourceId() in a subscription-scope deployment:
// "When used in a subscription-level deployment, … returns
// /subscriptions/{subscriptionId}/providers/{type}/{name}" (Microsoft
// Learn, template-functions-resource, resourceId).
func (ev *evaluator) subscriptionLevelID(args []*node, depth int) (*node, error) {
	return subscriptionResourceIDFn(ev, args, depth)
}
