package arm

import (
	"fmt"
	"sort"
	"strings"
)

// The object functions of ARM templates that arm/builtins.go did not have
// (Microsoft Learn, template-functions-object): items, objectKeys,
// shallowMerge, and union with its deep merge of objects.
var objectFunctions = map[string]armFunc{
	"items":        {min: 1, max: 1, call: itemsFn},
	"objectkeys":   {min: 1, max: 1, call: objectKeysFn},
	"shallowmerge": {min: 1, max: 1, call: shallowMergeFn},
	"union":        {min: 1, max: -1, call: unionFn},
}

// itemsFn is items(object): an array of {key, value}, sorted by key ("The
// items function sorts the objects in the alphabetical order",
// template-functions-object#items).
func itemsFn(ev *evaluator, a []*node, _ int) (*node, error) {
	if a[0].Kind != '{' {
		return nil, fmt.Errorf("argument 1 must be an object, not %s", a[0].Describe())
	}
	ms := append([]member(nil), a[0].Members...)
	sort.SliceStable(ms, func(i, j int) bool { return cultureCompare(ms[i].Key, ms[j].Key) < 0 })
	out := &node{Kind: '[', Items: make([]*node, len(ms))}
	for i, m := range ms {
		out.Items[i] = &node{Kind: '{', Members: []member{{Key: "key", Val: strNode(m.Key)}, {Key: "value", Val: m.Val}}}
	}
	if err := ev.chargeNodes(len(ms)); err != nil {
		return nil, err
	}
	return out, nil
}

// objectKeysFn is objectKeys(object): the keys, in the object's order.
func objectKeysFn(_ *evaluator, a []*node, _ int) (*node, error) {
	if a[0].Kind != '{' {
		return nil, fmt.Errorf("argument 1 must be an object, not %s", a[0].Describe())
	}
	out := &node{Kind: '[', Items: make([]*node, len(a[0].Members))}
	for i, m := range a[0].Members {
		out.Items[i] = strNode(m.Key)
	}
	return out, nil
}

// shallowMergeFn is shallowMerge(arrayOfObjects): the objects' top-level
// members, a later object's replacing an earlier one's whole
// (template-functions-object#shallowmerge).
func shallowMergeFn(_ *evaluator, a []*node, _ int) (*node, error) {
	if a[0].Kind != '[' {
		return nil, fmt.Errorf("argument 1 must be an array of objects, not %s", a[0].Describe())
	}
	out := &node{Kind: '{'}
	at := map[string]int{}
	for i, o := range a[0].Items {
		if o.Kind != '{' {
			return nil, fmt.Errorf("item %d must be an object, not %s", i+1, o.Describe())
		}
		for _, m := range o.Members {
			setMember(out, at, m.Key, m.Val)
		}
	}
	return out, nil
}

// unionFn is union(arg1, arg2, …) of arrays (every distinct item, in
// order) or of objects, which merges deeply: where two objects have a
// member that is an object in both, the members merge; otherwise the later
// value wins ("union merges nested objects", template-functions-object#union).
func unionFn(_ *evaluator, a []*node, _ int) (*node, error) {
	switch a[0].Kind {
	case '{':
		out := a[0]
		for i, v := range a[1:] {
			if v.Kind != '{' {
				return nil, fmt.Errorf("argument %d must be an object like the first, not %s", i+2, v.Describe())
			}
			out = mergeDeep(out, v, 0)
		}
		return out, nil
	case '[':
		out := &node{Kind: '['}
		seen := map[string]bool{}
		total := 0
		for i, v := range a {
			if v.Kind != '[' {
				return nil, fmt.Errorf("argument %d must be an array like the first, not %s", i+1, v.Describe())
			}
			for _, it := range v.Items {
				var b strings.Builder
				t, err := textOf(it)
				if err != nil {
					return nil, err
				}
				b.WriteByte(it.Kind)
				b.WriteString(t)
				if total += b.Len(); total > maxExprCharge {
					return nil, fmt.Errorf("the arrays are too large to join")
				}
				if k := b.String(); !seen[k] {
					seen[k] = true
					out.Items = append(out.Items, it)
				}
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("argument 1 must be an object or an array, not %s", a[0].Describe())
}

// mergeDeep merges object b into a copy of object a (members matched
// without regard to case); values are shared, not copied. Depth is bounded
// by the values' own nesting (jsontree.MaxDepth for parsed values).
func mergeDeep(a, b *node, depth int) *node {
	out := &node{Kind: '{', Members: append([]member(nil), a.Members...)}
	at := make(map[string]int, len(out.Members))
	for i, m := range out.Members {
		at[asciiLower(m.Key)] = i
	}
	for _, m := range b.Members {
		j, ok := at[asciiLower(m.Key)]
		if ok && out.Members[j].Val.Kind == '{' && m.Val.Kind == '{' && depth < maxExprDepth {
			out.Members[j].Val = mergeDeep(out.Members[j].Val, m.Val, depth+1)
			continue
		}
		setMember(out, at, m.Key, m.Val)
	}
	return out
}
