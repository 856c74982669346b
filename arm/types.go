package arm

import (
	"fmt"
	"strings"

	"github.com/goldenpipe/goldenpipe/internal/jsontree"
)

// Types: a parameter's (or a user-defined function's parameter or output)
// type declaration, with languageVersion 2.0's user-defined types.
//
// Source: Microsoft Learn, "User-defined data types in ARM templates"
// (azure-resource-manager/templates/definitions) and "Parameters in ARM
// templates" (templates/parameters): a type is a primitive ("string",
// "securestring", "int", "bool", "object", "secureObject", "array") with
// allowedValues, minValue/maxValue, minLength/maxLength; objects have
// properties (each a type; required unless nullable), additionalProperties
// (a type, or false), sealed (no other properties), and a discriminator
// {propertyName, mapping: {value: type}}; arrays have items (a type) and
// prefixItems (a tuple); "$ref": "#/definitions/x" names a type of the
// template's definitions; nullable allows null (and a missing value).

// maxTypeDepth bounds types within types ($ref chains included).
const maxTypeDepth = 32

// typeRoot is the template whose definitions $ref names.
func (ev *evaluator) typeRoot() *node {
	if ev.st != nil && ev.st.typeRoot != nil {
		return ev.st.typeRoot
	}
	return ev.root
}

// resolveType follows a declaration's $ref into the definition it names;
// the declaration's own members (nullable, metadata …) stay over the
// definition's.
func (ev *evaluator) resolveType(decl *node) (*node, error) {
	for hops := 0; decl.Kind == '{' && decl.GetFold("$ref") != nil; hops++ {
		if hops > maxTypeDepth {
			return nil, fmt.Errorf("$ref goes through more than %d definitions (a loop?)", maxTypeDepth)
		}
		ref := decl.GetFold("$ref")
		if ref.Kind != '"' {
			return nil, fmt.Errorf("$ref must be a string such as \"#/definitions/name\", not %s", ref.Describe())
		}
		name, ok := strings.CutPrefix(ref.Str, "#/definitions/")
		if !ok || name == "" {
			return nil, fmt.Errorf("$ref %q: only \"#/definitions/<name>\" of this template is understood", ref.Str)
		}
		defs := ev.typeRoot().GetFold("definitions")
		var target *node
		if defs != nil && defs.Kind == '{' {
			target = defs.Get(name)
		}
		if target == nil || target.Kind != '{' {
			return nil, fmt.Errorf("$ref %q: the template's definitions have no type %q", ref.Str, name)
		}
		merged := &node{Kind: '{'}
		for _, m := range target.Members {
			if decl.GetFold(m.Key) == nil || strings.EqualFold(m.Key, "$ref") {
				merged.Members = append(merged.Members, m)
			}
		}
		for _, m := range decl.Members {
			if !strings.EqualFold(m.Key, "$ref") {
				merged.Members = append(merged.Members, m)
			}
		}
		if target.GetFold("$ref") != nil && decl.GetFold("$ref") != nil {
			// keep following the definition's own $ref
			merged.Members = append(merged.Members, member{Key: "$ref", Val: target.GetFold("$ref")})
		}
		decl = merged
	}
	return decl, nil
}

// nullable reports a declaration that allows null (and no value).
func (ev *evaluator) nullable(decl *node) bool {
	if decl == nil || decl.Kind != '{' {
		return false
	}
	if n := decl.GetFold("nullable"); n != nil {
		return n.Kind == 'b' && n.B
	}
	if decl.GetFold("$ref") != nil {
		if t, err := ev.resolveType(decl); err == nil {
			n := t.GetFold("nullable")
			return n != nil && n.Kind == 'b' && n.B
		}
	}
	return false
}

// typeName is a resolved declaration's primitive type, lowercased: "" when
// it declares none (an object by its properties or discriminator counts
// as "object").
func typeName(t *node) string {
	if n := t.GetFold("type"); n != nil && n.Kind == '"' {
		return strings.ToLower(n.Str)
	}
	if t.GetFold("properties") != nil || t.GetFold("discriminator") != nil || t.GetFold("additionalProperties") != nil {
		return "object"
	}
	if t.GetFold("items") != nil || t.GetFold("prefixItems") != nil {
		return "array"
	}
	return ""
}

// typeProblem is the first problem of a value against a declaration, ""
// when it fits.
func (ev *evaluator) typeProblem(decl, v *node, depth int) string {
	first := ""
	ev.checkType(decl, v, "", depth, func(p path, msg string) {
		if first == "" {
			if p != "" {
				msg = string(p) + ": " + msg
			}
			first = msg
		}
	})
	return first
}

// checkType reports, at paths under p, where a value does not fit a
// declaration. Reported messages follow ARM's validation of a parameter
// value before a deployment.
func (ev *evaluator) checkType(decl, v *node, p path, depth int, report func(path, string)) {
	t, ok := ev.declaredType(decl, p, depth, report)
	if !ok {
		return
	}
	if v.Kind == '0' {
		if !ev.nullable(t) {
			report(p, "is null, and its type is not nullable")
		}
		return
	}
	if !checkTypeName(t, v, p, report) {
		return
	}
	checkAllowedValues(t, v, p, report)
	checkValueRange(t, v, p, report)
	checkLength(t, v, p, report)
	switch v.Kind {
	case '{':
		ev.checkObject(t, v, p, depth, report)
	case '[':
		ev.checkArray(t, v, p, depth, report)
	}
}

// declaredType resolves a declaration to the object that declares the
// type; false when it cannot (too deep, a bad reference, not an object:
// reported).
func (ev *evaluator) declaredType(decl *node, p path, depth int, report func(path, string)) (*node, bool) {
	if depth > maxTypeDepth {
		report(p, fmt.Sprintf("types nested deeper than %d levels", maxTypeDepth))
		return nil, false
	}
	t, err := ev.resolveType(decl)
	if err != nil {
		report(p, err.Error())
		return nil, false
	}
	if t.Kind != '{' {
		report(p, fmt.Sprintf("the type must be an object, not %s", t.Describe()))
		return nil, false
	}
	return t, true
}

// checkTypeName reports a type name ARM does not know or a value of
// another kind than its type; false when it did (the value's other checks
// then do not apply).
func checkTypeName(t, v *node, p path, report func(path, string)) bool {
	typ := typeName(t)
	if typ == "" || typ == "any" {
		return true
	}
	kind, ok := paramTypes[typ]
	if !ok {
		report(p, fmt.Sprintf("type %q is not one of string, securestring, int, bool, object, secureobject, array", typ))
		return false
	}
	if v.Kind != kind {
		report(p, fmt.Sprintf("is declared %s but its value is %s", typ, v.Describe()))
		return false
	}
	return true
}

// checkAllowedValues reports a value that is not one of the type's
// allowedValues (strings compared without regard to case); an array's
// items may each be one of them.
func checkAllowedValues(t, v *node, p path, report func(path, string)) {
	allowed := t.GetFold("allowedValues")
	if allowed == nil || allowed.Kind != '[' {
		return
	}
	in := func(x *node) bool {
		for _, a := range allowed.Items {
			if equalNodes(a, x) || x.Kind == '"' && a.Kind == '"' && strings.EqualFold(a.Str, x.Str) {
				return true
			}
		}
		return false
	}
	found := in(v)
	if !found && v.Kind == '[' { // an array's items each one of them
		found = true
		for _, it := range v.Items {
			found = found && in(it)
		}
	}
	if !found {
		var opts []string
		for _, a := range allowed.Items {
			opts = append(opts, toText(a))
		}
		report(p, fmt.Sprintf("%q is not one of the allowed values: %s", toText(v), strings.Join(opts, ", ")))
	}
}

// checkValueRange reports an integer below the type's minValue or above
// its maxValue.
func checkValueRange(t, v *node, p path, report func(path, string)) {
	n, ok := jsontree.AsInt(v)
	if !ok || v.Kind != 'n' {
		return
	}
	if lo := t.GetFold("minValue"); lo != nil {
		if l, ok := jsontree.AsInt(lo); ok && n < l {
			report(p, fmt.Sprintf("%d is below the minValue %d", n, l))
		}
	}
	if hi := t.GetFold("maxValue"); hi != nil {
		if h, ok := jsontree.AsInt(hi); ok && n > h {
			report(p, fmt.Sprintf("%d is above the maxValue %d", n, h))
		}
	}
}

// checkLength reports a string (in characters) or array shorter than the
// type's minLength or longer than its maxLength.
func checkLength(t, v *node, p path, report func(path, string)) {
	length := -1
	switch v.Kind {
	case '"':
		length = len([]rune(v.Str))
	case '[':
		length = len(v.Items)
	}
	if length < 0 {
		return
	}
	if lo := t.GetFold("minLength"); lo != nil {
		if l, ok := jsontree.AsInt(lo); ok && int64(length) < l {
			report(p, fmt.Sprintf("is %d long, below the minLength %d", length, l))
		}
	}
	if hi := t.GetFold("maxLength"); hi != nil {
		if h, ok := jsontree.AsInt(hi); ok && int64(length) > h {
			report(p, fmt.Sprintf("is %d long, above the maxLength %d", length, h))
		}
	}
}

func (ev *evaluator) checkObject(t, v *node, p path, depth int, report func(path, string)) {
	if d := t.GetFold("discriminator"); d != nil {
		ev.checkDiscriminated(d, v, p, depth, report)
		return
	}
	props := t.GetFold("properties")
	declared := map[string]bool{}
	if props != nil && props.Kind == '{' {
		for _, m := range props.Members {
			declared[strings.ToLower(m.Key)] = true
			got := v.GetFold(m.Key)
			if got == nil {
				if !ev.nullable(m.Val) {
					report(p.key(m.Key), "is required by the type")
				}
				continue
			}
			ev.checkType(m.Val, got, p.key(m.Key), depth+1, report)
		}
	}
	sealed := false
	if s := t.GetFold("sealed"); s != nil && s.Kind == 'b' {
		sealed = s.B
	}
	extra := t.GetFold("additionalProperties")
	if extra != nil && extra.Kind == 'b' && !extra.B {
		sealed = true
	}
	for _, m := range v.Members {
		if declared[strings.ToLower(m.Key)] {
			continue
		}
		switch {
		case sealed:
			report(p.key(m.Key), "is not a property of the type (it is sealed: no other properties)")
		case extra != nil && extra.Kind == '{':
			ev.checkType(extra, m.Val, p.key(m.Key), depth+1, report)
		}
	}
}

func (ev *evaluator) checkDiscriminated(d, v *node, p path, depth int, report func(path, string)) {
	name := d.GetFold("propertyName")
	mapping := d.GetFold("mapping")
	if name == nil || name.Kind != '"' || mapping == nil || mapping.Kind != '{' {
		report(p, "the type's discriminator needs a propertyName and a mapping")
		return
	}
	var keys []string
	for _, m := range mapping.Members {
		keys = append(keys, m.Key)
	}
	got := v.GetFold(name.Str)
	if got == nil || got.Kind != '"' {
		report(p.key(name.Str), fmt.Sprintf("is required, one of: %s", strings.Join(keys, ", ")))
		return
	}
	variant := mapping.Get(got.Str)
	if variant == nil {
		report(p.key(name.Str), fmt.Sprintf("%q is not one of the types: %s", got.Str, strings.Join(keys, ", ")))
		return
	}
	ev.checkType(variant, v, p, depth+1, report)
}

func (ev *evaluator) checkArray(t, v *node, p path, depth int, report func(path, string)) {
	start := 0
	if pre := t.GetFold("prefixItems"); pre != nil && pre.Kind == '[' {
		for i, it := range pre.Items {
			if i >= len(v.Items) {
				if !ev.nullable(it) {
					report(p.index(i), "is required by the tuple type")
				}
				continue
			}
			ev.checkType(it, v.Items[i], p.index(i), depth+1, report)
		}
		start = len(pre.Items)
	}
	items := t.GetFold("items")
	switch {
	case items == nil:
	case items.Kind == 'b' && !items.B:
		if len(v.Items) > start {
			report(p.index(start), fmt.Sprintf("the tuple type has %d items, not %d", start, len(v.Items)))
		}
	case items.Kind == '{':
		for i := start; i < len(v.Items); i++ {
			ev.checkType(items, v.Items[i], p.index(i), depth+1, report)
		}
	}
}
