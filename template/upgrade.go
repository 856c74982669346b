package template

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/goldenpipe/goldenpipe/arm"
	"github.com/goldenpipe/goldenpipe/internal/jsontree"
)

// Problem is one thing wrong with a template, at a path such as
// properties.customize[2].name.
type Problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

func (p Problem) String() string { return p.Path + ": " + p.Message }

// report collects problems and upgrade notes during one read.
type report struct {
	problems []Problem
	notes    []string
	bad      map[string]bool // paths whose value was refused (no "required" on them)
	// prefix is where the image template stands in its file
	// ("resources[0]"); paths are written with it.
	prefix string
	// evaluated is set for templates evaluated from a deployment template:
	// what looks like an expression there was written as a literal ("[[").
	evaluated bool

	warningsList []Problem
}

// shown is a path as the user finds it in the file.
func (r *report) shown(p path) string {
	switch {
	case r.prefix == "" || strings.HasPrefix(string(p), "("):
		return p.String()
	case p == "":
		return r.prefix
	}
	return r.prefix + "." + string(p)
}

func (r *report) problem(p path, format string, args ...any) {
	if r.bad == nil {
		r.bad = map[string]bool{}
	}
	r.problems = append(r.problems, Problem{Path: r.shown(p), Message: fmt.Sprintf(format, args...)})
	r.bad[p.String()] = true
}

func (r *report) note(p path, format string, args ...any) {
	r.notes = append(r.notes, r.shown(p)+": "+fmt.Sprintf(format, args...))
}

func (r *report) warn(p path, format string, args ...any) {
	r.warningsList = append(r.warningsList, Problem{Path: r.shown(p), Message: fmt.Sprintf(format, args...)})
}

// upgrade walks a template against the 2024-02-01 schema: it renames fields
// to their canonical casing, converts the loose values old templates used,
// drops read-only and ARM-only fields, and reports whatever it cannot fix.
func upgrade(root *node, r *report) *node {
	return upgradeObject(root, rootSchema, "", r)
}

func upgradeObject(n *node, o *object, p path, r *report) *node {
	if n.Kind != '{' {
		r.problem(p, "must be an object, not %s", n.Describe())
		return nil
	}
	spec, typ := o, ""
	if o.byType != nil {
		spec, typ = polymorphic(n, o, p, r)
		if spec == nil {
			r.bad[p.String()] = true // no "is required" on top of the type's problem
			return nil
		}
	}
	out := &node{Kind: '{'}
	seen := map[string]bool{}
	for _, m := range n.Members {
		canon, fld := lookup(spec, m.Key)
		mp := p.key(m.Key)
		if fld == nil {
			r.problem(mp, "unknown field%s (Azure refuses unknown fields since May 2024; allowed here: %s)", suggest(spec, m.Key), allowed(spec))
			continue
		}
		if seen[canon] {
			r.problem(mp, "duplicate field %q", canon)
			continue
		}
		seen[canon] = true
		if canon != m.Key {
			r.note(mp, "renamed to %q", canon)
		}
		switch {
		case fld.readOnly:
			r.note(mp, "read-only field set by the service; removed")
			continue
		case fld.kind == kDropped:
			r.note(mp, "%s", fld.note)
			continue
		case fld.err:
			r.problem(mp, "%s", fld.note)
			continue
		}
		if m.Val.Kind == '0' {
			continue // null: absent
		}
		if v := upgradeValue(m.Val, fld, p.key(canon), r); v != nil {
			if canon == "type" && typ != "" {
				v = &node{Kind: '"', Str: typ}
			}
			out.Members = append(out.Members, member{Key: canon, Val: v})
		}
	}
	if typ == "SharedImage" {
		sharedImageEnums(out, p, r) // before the upgrade moves storageAccountType: problems at the path written
		replicationToTargetRegions(out, p, r)
	}
	return out
}

// polymorphic picks the schema of an object by its "type".
func polymorphic(n *node, o *object, p path, r *report) (*object, string) {
	var t *node
	for _, m := range n.Members {
		if strings.EqualFold(m.Key, "type") {
			t = m.Val
		}
	}
	types := make([]string, 0, len(o.byType))
	for k := range o.byType {
		types = append(types, k)
	}
	sort.Strings(types)
	if t == nil || t.Kind != '"' {
		r.problem(p.key("type"), "is required: one of %s", strings.Join(types, ", "))
		return nil, ""
	}
	lower := strings.ToLower(t.Str)
	if msg, ok := o.removedTypes[lower]; ok {
		r.problem(p.key("type"), "%s", msg)
		return nil, ""
	}
	canon, ok := o.typeAliases[lower]
	if !ok {
		r.problem(p.key("type"), "unknown type %q: one of %s", t.Str, strings.Join(types, ", "))
		return nil, ""
	}
	if canon != t.Str {
		r.note(p.key("type"), "%q written as %q", t.Str, canon)
	}
	return o.byType[canon], canon
}

// lookup finds a key's field: exactly, then without regard to case, then
// among the renamed names.
func lookup(o *object, key string) (string, *field) {
	if fl, ok := o.fields[key]; ok {
		return key, fl
	}
	for name, fl := range o.fields {
		if strings.EqualFold(name, key) {
			return name, fl
		}
	}
	if canon, ok := o.renamed[strings.ToLower(key)]; ok {
		return canon, o.fields[canon]
	}
	return "", nil
}

func allowed(o *object) string {
	names := make([]string, 0, len(o.fields))
	for n, fl := range o.fields {
		if !fl.readOnly && fl.kind != kDropped && !fl.err {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// suggest names a field the key may be a misspelling of.
func suggest(o *object, key string) string {
	best, bestD := "", 3
	for n := range o.fields {
		if d := distance(strings.ToLower(n), strings.ToLower(key)); d < bestD {
			best, bestD = n, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// distance is the Levenshtein distance, for short field names.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// upgradeValue checks and upgrades one value against its field's kind,
// dispatching to the function for that kind; nil when the value is
// dropped (the problem is reported).
func upgradeValue(n *node, fld *field, p path, r *report) *node {
	switch fld.kind {
	case kString:
		return str(n, p, r, fld.text)
	case kBool:
		return upgradeBool(n, p, r)
	case kInt:
		return integer(n, p, r)
	case kStrings:
		return upgradeStrings(n, p, r, fld.text)
	case kInts:
		return upgradeInts(n, p, r)
	case kStringMap:
		return upgradeStringMap(n, p, r)
	case kObject:
		return upgradeObject(n, fld.obj, p, r)
	case kObjects:
		return upgradeObjects(n, fld.obj, p, r)
	case kIdentities:
		return upgradeIdentities(n, p, r)
	}
	return nil
}

// upgradeBool checks a boolean; "true" or "false" written as a string is
// taken, with a note.
func upgradeBool(n *node, p path, r *report) *node {
	switch {
	case n.Kind == 'b':
		return n
	case n.Kind == '"' && (strings.EqualFold(n.Str, "true") || strings.EqualFold(n.Str, "false")):
		r.note(p, "string %q written as a boolean", n.Str)
		return &node{Kind: 'b', B: strings.EqualFold(n.Str, "true")}
	}
	r.problem(p, "must be true or false, not %s", quoteValue(n))
	return nil
}

// upgradeStrings checks an array of strings; a single string is wrapped,
// with a note. Free text (text) may hold "<…>".
func upgradeStrings(n *node, p path, r *report, text bool) *node {
	if n.Kind == '"' {
		if s := str(n, p, r, text); s != nil {
			r.note(p, "a single string written as an array")
			return &node{Kind: '[', Items: []*node{s}}
		}
		return nil
	}
	if n.Kind != '[' {
		r.problem(p, "must be an array of strings, not %s", n.Describe())
		return nil
	}
	out := &node{Kind: '['}
	for i, it := range n.Items {
		if s := str(it, p.index(i), r, text); s != nil {
			out.Items = append(out.Items, s)
		}
	}
	return out
}

// upgradeInts checks an array of integers; a single integer is wrapped,
// with a note.
func upgradeInts(n *node, p path, r *report) *node {
	if n.Kind != '[' {
		if v := integer(n, p, r); v != nil {
			r.note(p, "a single number written as an array")
			return &node{Kind: '[', Items: []*node{v}}
		}
		return nil
	}
	out := &node{Kind: '['}
	for i, it := range n.Items {
		if v := integer(it, p.index(i), r); v != nil {
			out.Items = append(out.Items, v)
		}
	}
	return out
}

// upgradeStringMap checks an object of strings (tags); a key that is a
// documentation placeholder is dropped.
func upgradeStringMap(n *node, p path, r *report) *node {
	return upgradeMembers(n, p, r, "an object of strings", func(m member) *node {
		if isPlaceholder(m.Key) || strings.HasPrefix(m.Key, "<") {
			r.problem(p.key(m.Key), "the key is a placeholder from the documentation; fill it in")
			return nil
		}
		return str(m.Val, p.key(m.Key), r, true)
	})
}

// upgradeMembers checks an object whose keys the template chooses: each
// member whose value keep returns stays, with that value; nil when n is
// not an object (reported as not being what).
func upgradeMembers(n *node, p path, r *report, what string, keep func(m member) *node) *node {
	if n.Kind != '{' {
		r.problem(p, "must be %s, not %s", what, n.Describe())
		return nil
	}
	out := &node{Kind: '{'}
	for _, m := range n.Members {
		if v := keep(m); v != nil {
			out.Members = append(out.Members, member{Key: m.Key, Val: v})
		}
	}
	return out
}

// upgradeObjects checks an array of objects; a single object is wrapped,
// with a note. An object that cannot be upgraded stays as {} so the
// indexes after it stay those of the template.
func upgradeObjects(n *node, obj *object, p path, r *report) *node {
	if n.Kind == '{' {
		r.note(p, "a single object written as an array")
		n = &node{Kind: '[', Items: []*node{n}}
	}
	if n.Kind != '[' {
		r.problem(p, "must be an array of objects, not %s", n.Describe())
		return nil
	}
	out := &node{Kind: '['}
	for i, it := range n.Items {
		if v := upgradeObject(it, obj, p.index(i), r); v != nil {
			out.Items = append(out.Items, v)
		} else {
			out.Items = append(out.Items, &node{Kind: '{'}) // keep indexes stable
		}
	}
	return out
}

// upgradeIdentities checks userAssignedIdentities: an object keyed by
// identity resource ids, each written out as {}.
func upgradeIdentities(n *node, p path, r *report) *node {
	return upgradeMembers(n, p, r, "an object keyed by identity resource ids", func(m member) *node {
		switch {
		case isPlaceholder(m.Key) || placeholderIn(m.Key) != "":
			r.problem(p.key(m.Key), "the identity is a placeholder from the documentation; give the user-assigned identity's resource id")
			return nil
		case arm.LooksLikeExpression(m.Key) && !r.evaluated:
			r.problem(p.key(m.Key), "%s", bareExpression(m.Key))
			return nil
		}
		return &node{Kind: '{'}
	})
}

// str checks a string value; free text (commands) may hold "<…>".
func str(n *node, p path, r *report, free bool) *node {
	if n.Kind == '0' && r.bad[p.String()] {
		return nil // its expression failed, and said why
	}
	if n.Kind != '"' {
		r.problem(p, "must be a string, not %s", quoteValue(n))
		return nil
	}
	if isPlaceholder(n.Str) {
		r.problem(p, "%q is a placeholder from the documentation; fill it in", n.Str)
		return nil
	}
	if arm.LooksLikeExpression(n.Str) && !r.evaluated {
		r.problem(p, "%s", bareExpression(n.Str))
		return nil
	}
	if ph := placeholderIn(n.Str); ph != "" && !free {
		r.problem(p, "%q holds the placeholder %s from the documentation; fill it in", clip(n.Str), ph)
		return nil
	}
	return n
}

// bareExpression explains an ARM expression found in a bare resource.
func bareExpression(s string) string {
	return fmt.Sprintf("%q is an ARM template expression, but this file is a bare resource: Image Builder would get the text as it is. "+
		"Write the value, or make the file an ARM deployment template ($schema, parameters, resources) so it is evaluated", clip(s))
}

// placeholderRE finds a documentation placeholder inside a longer string,
// such as /subscriptions/<subscriptionID>/resourceGroups/<rgName>/….
var placeholderRE = regexp.MustCompile(`<[A-Za-z][^<>"'\s]{0,80}>`)

func placeholderIn(s string) string { return placeholderRE.FindString(s) }

func integer(n *node, p path, r *report) *node {
	text := ""
	switch n.Kind {
	case 'n':
		text = n.Num.String()
	case '"':
		text = strings.TrimSpace(n.Str)
	}
	v, err := strconv.ParseInt(text, 10, 32)
	if err != nil {
		if n.Kind == '"' && isPlaceholder(n.Str) {
			r.problem(p, "%q is a placeholder from the documentation; fill it in", n.Str)
		} else {
			r.problem(p, "must be a whole number, not %s", quoteValue(n))
		}
		return nil
	}
	if n.Kind == '"' {
		r.note(p, "string %q written as a number", n.Str)
	}
	return &node{Kind: 'n', Num: jsontree.JSONNumber(v)}
}

func quoteValue(n *node) string {
	switch n.Kind {
	case '"':
		return strconv.Quote(n.Str)
	case 'n':
		return n.Num.String()
	case 'b':
		return strconv.FormatBool(n.B)
	}
	return n.Describe()
}

// replicationToTargetRegions upgrades the SharedImage replicationRegions
// (deprecated by API 2022-07-01) to targetRegions; a storageAccountType
// given beside replicationRegions moves into each target region, as API
// 2024-02-01 wants it there.
func replicationToTargetRegions(out *node, p path, r *report) {
	regions := out.Get("replicationRegions")
	if regions == nil {
		if out.Get("storageAccountType") != nil && out.Get("targetRegions") != nil {
			r.problem(p.key("storageAccountType"), "can be given only with replicationRegions; with targetRegions give storageAccountType on each target region")
		}
		return
	}
	var kept []member
	var sat *node
	for _, m := range out.Members {
		switch m.Key {
		case "replicationRegions":
		case "storageAccountType":
			sat = m.Val
		default:
			kept = append(kept, m)
		}
	}
	if out.Get("targetRegions") != nil {
		r.problem(p.key("replicationRegions"), "give targetRegions or replicationRegions, not both (replicationRegions is deprecated)")
		return
	}
	if len(regions.Items) == 0 {
		r.problem(p.key("replicationRegions"), "is empty: name at least one region (or leave it out, and the version stays in the template's region)")
		return
	}
	out.Members = kept
	tr := &node{Kind: '['}
	for _, it := range regions.Items {
		region := &node{Kind: '{', Members: []member{{Key: "name", Val: it}}}
		if sat != nil {
			region.Members = append(region.Members, member{Key: "storageAccountType", Val: sat})
		}
		tr.Items = append(tr.Items, region)
	}
	out.Members = append(out.Members, member{Key: "targetRegions", Val: tr})
	r.note(p.key("replicationRegions"), "deprecated since API 2022-07-01; written as targetRegions")
	if sat != nil {
		r.note(p.key("storageAccountType"), "moved into each target region (API 2024-02-01 takes it there)")
	}
}

// storageAccountTypes are the SharedImage replica storage types, spelled
// as the service wants them (enum values are case-sensitive since May 2024).
var storageAccountTypes = []string{"Standard_LRS", "Standard_ZRS", "Premium_LRS"}

// sharedImageEnums checks the values of a SharedImage distributor that
// Image Builder compares case-sensitively: storageAccountType (on the
// distributor or on each target region) and versioning.
func sharedImageEnums(out *node, p path, r *report) {
	checkSAT := func(n *node, at path) {
		if n == nil || n.Kind != '"' {
			return
		}
		for _, ok := range storageAccountTypes {
			switch {
			case n.Str == ok:
				return
			case strings.EqualFold(n.Str, ok):
				r.problem(at, "%q must be written %q (enum values are case-sensitive since May 2024)", n.Str, ok)
				return
			}
		}
		r.problem(at, "%q is not a storage account type: one of %s", n.Str, strings.Join(storageAccountTypes, ", "))
	}
	checkSAT(out.Get("storageAccountType"), p.key("storageAccountType"))
	if tr := out.Get("targetRegions"); tr != nil {
		for i, region := range tr.Items {
			rp := p.key("targetRegions").index(i)
			checkSAT(region.Get("storageAccountType"), rp.key("storageAccountType"))
			if rc := region.Get("replicaCount"); rc != nil {
				if v, ok := jsontree.AsInt(rc); ok && v < 1 {
					r.problem(rp.key("replicaCount"), "%d must be 1 or more", v)
				}
			}
			if region.Get("name") == nil && !r.bad[rp.key("name").String()] {
				r.problem(rp.key("name"), "is required: the region to replicate to")
			}
		}
	}
	v := out.Get("versioning")
	if v == nil || v.Kind != '{' {
		return
	}
	vp := p.key("versioning")
	scheme := v.Get("scheme")
	switch {
	case scheme == nil:
		if !r.bad[vp.key("scheme").String()] {
			r.problem(vp.key("scheme"), "is required: \"Latest\" or \"Source\"")
		}
		return
	case scheme.Kind != '"':
		return
	case scheme.Str == "Latest":
		if m := v.Get("major"); m != nil {
			if n, ok := jsontree.AsInt(m); ok && n < -1 {
				r.problem(vp.key("major"), "%d is below the minimum -1 (-1 means any major version)", n)
			}
		}
	case scheme.Str == "Source":
		if v.Get("major") != nil {
			r.problem(vp.key("major"), "applies only to the \"Latest\" scheme")
		}
	case strings.EqualFold(scheme.Str, "Latest"), strings.EqualFold(scheme.Str, "Source"):
		canon := "Latest"
		if strings.EqualFold(scheme.Str, "Source") {
			canon = "Source"
		}
		r.problem(vp.key("scheme"), "%q must be written %q: enum values are case-sensitive since May 2024 (the docs' lowercase is refused, and major would be dropped)", scheme.Str, canon)
	default:
		r.problem(vp.key("scheme"), "%q is not a versioning scheme: \"Latest\" or \"Source\"", scheme.Str)
	}
}

// problemAt records a problem found at a path of the file (as package arm
// gives it), inside the template's prefix.
func (r *report) problemAt(full, msg string) {
	if r.bad == nil {
		r.bad = map[string]bool{}
	}
	r.problems = append(r.problems, Problem{Path: full, Message: msg})
	rel := full
	if r.prefix != "" {
		if rest, ok := strings.CutPrefix(full, r.prefix); ok {
			rel = strings.TrimPrefix(rest, ".")
		}
	}
	r.bad[path(rel).String()] = true
}
