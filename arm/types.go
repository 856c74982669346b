package arm

import (
	"fmt"
	"strings"
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
	for hops := 0; decl.kind == '{' && decl.getFold("$ref") != nil; hops++ {
		if hops > maxTypeDepth {
			return nil, fmt.Errorf("$ref goes through more than %d definitions (a loop?)", maxTypeDepth)
		}
		ref := decl.getFold("$ref")
		if ref.kind != '"' {
			return nil, fmt.Errorf("$ref must be a string such as \"#/definitions/name\", not %s", ref.describe())
		}
		name, ok := strings.CutPrefix(ref.str, "#/definitions/")
		if !ok || name == "" {
			return nil, fmt.Errorf("$ref %q: only \"#/definitions/<name>\" of this template is understood", ref.str)
		}
		defs := ev.typeRoot().getFold("definitions")
		var target *node
		if defs != nil && defs.kind == '{' {
			target = defs.get(name)
		}
		if target == nil || target.kind != '{' {
			return nil, fmt.Errorf("$ref %q: the template's definitions have no type %q", ref.str, name)
		}
		merged := &node{kind: '{'}
		for _, m := range target.members {
			if decl.getFold(m.key) == nil || strings.EqualFold(m.key, "$ref") {
				merged.members = append(merged.members, m)
			}
		}
		for _, m := range decl.members {
			if !strings.EqualFold(m.key, "$ref") {
				merged.members = append(merged.members, m)
			}
		}
		if target.getFold("$ref") != nil && decl.getFold("$ref") != nil {
			// keep following the definition's own $ref
			merged.members = append(merged.members, member{key: "$ref", val: target.getFold("$ref")})
		}
		decl = merged
	}
	return decl, nil
}

// nullable reports a declaration that allows null (and no value).
func (ev *evaluator) nullable(decl *node) bool {
	if decl == nil || decl.kind != '{' {
		return false
	}
	if n := decl.getFold("nullable"); n != nil {
		return n.kind == 'b' && n.b
	}
	if decl.getFold("$ref") != nil {
		if t, err := ev.resolveType(decl); err == nil {
			n := t.getFold("nullable")
			return n != nil && n.kind == 'b' && n.b
		}
	}
	return false
}

// typeName is a resolved declaration's primitive type, lowercased: "" when
// it declares none (an object by its properties or discriminator counts
// as "object").
func typeName(t *node) string {
	if n := t.getFold("type"); n != nil && n.kind == '"' {
		return strings.ToLower(n.str)
	}
	if t.getFold("properties") != nil || t.getFold("discriminator") != nil || t.getFold("additionalProperties") != nil {
		return "object"
	}
	if t.getFold("items") != nil || t.getFold("prefixItems") != nil {
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
	if depth > maxTypeDepth {
		report(p, fmt.Sprintf("types nested deeper than %d levels", maxTypeDepth))
		return
	}
	t, err := ev.resolveType(decl)
	if err != nil {
		report(p, err.Error())
		return
	}
	if t.kind != '{' {
		report(p, fmt.Sprintf("the type must be an object, not %s", t.describe()))
		return
	}
	if v.kind == '0' {
		if !ev.nullable(t) {
			report(p, "is null, and its type is not nullable")
		}
		return
	}
	typ := typeName(t)
	if typ != "" && typ != "any" {
		kind, ok := paramTypes[typ]
		if !ok {
			report(p, fmt.Sprintf("type %q is not one of string, securestring, int, bool, object, secureobject, array", typ))
			return
		}
		if v.kind != kind {
			report(p, fmt.Sprintf("is declared %s but its value is %s", typ, v.describe()))
			return
		}
	}
	if allowed := t.getFold("allowedValues"); allowed != nil && allowed.kind == '[' {
		in := func(x *node) bool {
			for _, a := range allowed.items {
				if equalNodes(a, x) || x.kind == '"' && a.kind == '"' && strings.EqualFold(a.str, x.str) {
					return true
				}
			}
			return false
		}
		found := in(v)
		if !found && v.kind == '[' { // an array's items each one of them
			found = true
			for _, it := range v.items {
				found = found && in(it)
			}
		}
		if !found {
			var opts []string
			for _, a := range allowed.items {
				opts = append(opts, toText(a))
			}
			report(p, fmt.Sprintf("%q is not one of the allowed values: %s", toText(v), strings.Join(opts, ", ")))
		}
	}
	if n, ok := asInt(v); ok && v.kind == 'n' {
		if lo := t.getFold("minValue"); lo != nil {
			if l, ok := asInt(lo); ok && n < l {
				report(p, fmt.Sprintf("%d is below the minValue %d", n, l))
			}
		}
		if hi := t.getFold("maxValue"); hi != nil {
			if h, ok := asInt(hi); ok && n > h {
				report(p, fmt.Sprintf("%d is above the maxValue %d", n, h))
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
		if lo := t.getFold("minLength"); lo != nil {
			if l, ok := asInt(lo); ok && int64(length) < l {
				report(p, fmt.Sprintf("is %d long, below the minLength %d", length, l))
			}
		}
		if hi := t.getFold("maxLength"); hi != nil {
			if h, ok := asInt(hi); ok && int64(length) > h {
				report(p, fmt.Sprintf("is %d long, above the maxLength %d", length, h))
			}
		}
	}
	switch v.kind {
	case '{':
		ev.checkObject(t, v, p, depth, report)
	case '[':
		ev.checkArray(t, v, p, depth, report)
	}
}

func (ev *evaluator) checkObject(t, v *node, p path, depth int, report func(path, string)) {
	if d := t.getFold("discriminator"); d != nil {
		ev.checkDiscriminated(d, v, p, depth, report)
		return
	}
	props := t.getFold("properties")
	declared := map[string]bool{}
	if props != nil && props.kind == '{' {
		for _, m := range props.members {
			declared[strings.ToLower(m.key)] = true
			got := v.getFold(m.key)
			if got == nil {
				if !ev.nullable(m.val) {
					report(p.key(m.key), "is required by the type")
				}
				continue
			}
			ev.checkType(m.val, got, p.key(m.key), depth+1, report)
		}
	}
	sealed := false
	if s := t.getFold("sealed"); s != nil && s.kind == 'b' {
		sealed = s.b
	}
	extra := t.getFold("additionalProperties")
	if extra != nil && extra.kind == 'b' && !extra.b {
		sealed = true
	}
	for _, m := range v.members {
		if declared[strings.ToLower(m.key)] {
			continue
		}
		switch {
		case sealed:
			report(p.key(m.key), "is not a property of the type (it is sealed: no other properties)")
		case extra != nil && extra.kind == '{':
			ev.checkType(extra, m.val, p.key(m.key), depth+1, report)
		}
	}
}

func (ev *evaluator) checkDiscriminated(d, v *node, p path, depth int, report func(path, string)) {
	name := d.getFold("propertyName")
	mapping := d.getFold("mapping")
	if name == nil || name.kind != '"' || mapping == nil || mapping.kind != '{' {
		report(p, "the type's discriminator needs a propertyName and a mapping")
		return
	}
	var keys []string
	for _, m := range mapping.members {
		keys = append(keys, m.key)
	}
	got := v.getFold(name.str)
	if got == nil || got.kind != '"' {
		report(p.key(name.str), fmt.Sprintf("is required, one of: %s", strings.Join(keys, ", ")))
		return
	}
	variant := mapping.get(got.str)
	if variant == nil {
		report(p.key(name.str), fmt.Sprintf("%q is not one of the types: %s", got.str, strings.Join(keys, ", ")))
		return
	}
	ev.checkType(variant, v, p, depth+1, report)
}

func (ev *evaluator) checkArray(t, v *node, p path, depth int, report func(path, string)) {
	start := 0
	if pre := t.getFold("prefixItems"); pre != nil && pre.kind == '[' {
		for i, it := range pre.items {
			if i >= len(v.items) {
				if !ev.nullable(it) {
					report(p.index(i), "is required by the tuple type")
				}
				continue
			}
			ev.checkType(it, v.items[i], p.index(i), depth+1, report)
		}
		start = len(pre.items)
	}
	items := t.getFold("items")
	switch {
	case items == nil:
	case items.kind == 'b' && !items.b:
		if len(v.items) > start {
			report(p.index(start), fmt.Sprintf("the tuple type has %d items, not %d", start, len(v.items)))
		}
	case items.kind == '{':
		for i := start; i < len(v.items); i++ {
			ev.checkType(items, v.items[i], p.index(i), depth+1, report)
		}
	}
}
