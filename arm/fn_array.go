package arm

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// The array functions of ARM templates that arm/builtins.go did not have
// (Microsoft Learn, template-functions-array): flatten, indexFromEnd,
// indexOf, intersection, lastIndexOf, max, min, range, tryGet,
// tryIndexFromEnd. indexOf/lastIndexOf serve the string page too.
var arrayFunctions = map[string]armFunc{
	"flatten":         {min: 1, max: 1, call: flattenFn},
	"indexfromend":    {min: 2, max: 2, call: func(_ *evaluator, a []*node, _ int) (*node, error) { return indexFromEnd(a, false) }},
	"tryindexfromend": {min: 2, max: 2, call: func(_ *evaluator, a []*node, _ int) (*node, error) { return indexFromEnd(a, true) }},
	"indexof":         {min: 2, max: 2, call: func(_ *evaluator, a []*node, _ int) (*node, error) { return indexOf(a, false) }},
	"lastindexof":     {min: 2, max: 2, call: func(_ *evaluator, a []*node, _ int) (*node, error) { return indexOf(a, true) }},
	"intersection":    {min: 2, max: -1, call: intersectionFn},
	"max":             {min: 1, max: -1, call: func(_ *evaluator, a []*node, _ int) (*node, error) { return extreme(a, 1) }},
	"min":             {min: 1, max: -1, call: func(_ *evaluator, a []*node, _ int) (*node, error) { return extreme(a, -1) }},
	"range":           {min: 2, max: 2, call: rangeFn},
	"tryget":          {min: 2, max: -1, call: tryGetFn},
}

// maxRangeCount is range()'s documented bound on count ("Must be a
// non-negative integer up to 10000", template-functions-array#range).
const maxRangeCount = 10000

// rangeFn is range(startIndex, count); the sum of both may not pass
// 2147483647 (template-functions-array#range).
func rangeFn(ev *evaluator, a []*node, _ int) (*node, error) {
	start, err := wantInt(a, 0)
	if err != nil {
		return nil, err
	}
	count, err := wantInt(a, 1)
	if err != nil {
		return nil, err
	}
	switch {
	case count < 0 || count > maxRangeCount:
		return nil, fmt.Errorf("count %d must be from 0 to %d", count, maxRangeCount)
	case start+count > 2147483647 || start < -2147483648:
		return nil, fmt.Errorf("startIndex %d plus count %d must be no greater than 2147483647", start, count)
	}
	// each new number is a node of its own: charge what it costs
	if err := ev.chargeNodes(int(count)); err != nil {
		return nil, err
	}
	items := make([]*node, count)
	for i := range items {
		items[i] = intNode(start + int64(i))
	}
	return arrayNode(items), nil
}

// nodeCost is what chargeNodes counts for each value a function creates
// (about a node's size in bytes), against maxExprCharge.
const nodeCost = 64

// chargeNodes charges n newly created values.
func (ev *evaluator) chargeNodes(n int) error {
	ev.charged += n * nodeCost
	if ev.charged > maxExprCharge {
		return exprErrorf("evaluation builds more than %d bytes of values", maxExprCharge)
	}
	return nil
}

// extreme is max (sign 1) or min (sign -1) of whole numbers given as
// arguments or as one array.
func extreme(a []*node, sign int) (*node, error) {
	vals := a
	if len(a) == 1 && a[0].kind == '[' {
		vals = a[0].items
		if len(vals) == 0 {
			return nil, fmt.Errorf("the array is empty")
		}
	}
	var best int64
	for i, v := range vals {
		x, ok := asInt(v)
		if !ok {
			return nil, fmt.Errorf("value %d must be a whole number, not %s", i+1, v.describe())
		}
		if i == 0 || cmpInt(x, best) == sign {
			best = x
		}
	}
	return intNode(best), nil
}

// indexOf is indexOf/lastIndexOf: in a string, of a substring without
// regard to case (indexOf('abcdef', 'CD') is 2); in an array, of an item
// equal to the value (case matters: lastIndexOf(names, 'Three') is -1).
// -1 when not found.
func indexOf(a []*node, last bool) (*node, error) {
	switch a[0].kind {
	case '"':
		t, err := wantString(a, 1)
		if err != nil {
			return nil, err
		}
		hay, needle := strings.ToLower(a[0].str), strings.ToLower(t)
		var at int
		if last {
			at = strings.LastIndex(hay, needle)
		} else {
			at = strings.Index(hay, needle)
		}
		if at < 0 {
			return intNode(-1), nil
		}
		return intNode(int64(utf8.RuneCountInString(hay[:at]))), nil
	case '[':
		budget := maxCompare
		items := a[0].items
		for k := range items {
			i := k
			if last {
				i = len(items) - 1 - k
			}
			if equalBounded(items[i], a[1], &budget) {
				return intNode(int64(i)), nil
			}
			if budget < 0 {
				return nil, fmt.Errorf("the array is too large to search")
			}
		}
		return intNode(-1), nil
	}
	return nil, fmt.Errorf("argument 1 must be a string or an array, not %s", a[0].describe())
}

// indexFromEnd is indexFromEnd(array, n): the n-th item counted from the
// end, 1 being the last; tryIndexFromEnd gives null where indexFromEnd
// fails.
func indexFromEnd(a []*node, try bool) (*node, error) {
	if a[0].kind != '[' {
		if try && a[0].kind == '0' {
			return nullNode(), nil
		}
		return nil, fmt.Errorf("argument 1 must be an array, not %s", a[0].describe())
	}
	n, err := wantInt(a, 1)
	if err != nil {
		return nil, err
	}
	if n < 1 || n > int64(len(a[0].items)) {
		if try {
			return nullNode(), nil
		}
		return nil, fmt.Errorf("index %d from the end is outside the array of %d items", n, len(a[0].items))
	}
	return a[0].items[int64(len(a[0].items))-n], nil
}

// tryGetFn is tryGet(itemToTest, keyOrIndex, …): the value at the key of
// an object or the index of an array, each next key read from the value
// before; null where any is missing.
func tryGetFn(_ *evaluator, a []*node, _ int) (*node, error) {
	v := a[0]
	for _, k := range a[1:] {
		switch {
		case v.kind == '{' && k.kind == '"':
			v = v.getFold(k.str)
		case v.kind == '[' && k.kind == 'n':
			i, ok := asInt(k)
			if !ok || i < 0 || i >= int64(len(v.items)) {
				return nullNode(), nil
			}
			v = v.items[i]
		case v.kind == '{' || v.kind == '[' || v.kind == '0':
			return nullNode(), nil
		default:
			return nil, fmt.Errorf("argument 1 must be an object or an array, not %s", a[0].describe())
		}
		if v == nil {
			return nullNode(), nil
		}
	}
	return v, nil
}

// flattenFn is flatten(arrayOfArrays): one array of the inner arrays'
// items, in order.
func flattenFn(ev *evaluator, a []*node, _ int) (*node, error) {
	if a[0].kind != '[' {
		return nil, fmt.Errorf("argument 1 must be an array, not %s", a[0].describe())
	}
	out := &node{kind: '['}
	for i, it := range a[0].items {
		if it.kind != '[' {
			return nil, fmt.Errorf("item %d must be an array, not %s", i+1, it.describe())
		}
		out.items = append(out.items, it.items...)
		if len(out.items) > maxExprCharge {
			return nil, fmt.Errorf("the result is too large")
		}
	}
	return out, ev.charge(out)
}

// intersectionFn is intersection(arg1, arg2, …) of arrays (the first's
// items found in every other, once each, in the first's order) or of
// objects (the first's members that every other has with an equal value).
func intersectionFn(_ *evaluator, a []*node, _ int) (*node, error) {
	kind := a[0].kind
	if kind != '[' && kind != '{' {
		return nil, fmt.Errorf("argument 1 must be an array or an object, not %s", a[0].describe())
	}
	for i, v := range a[1:] {
		if v.kind != kind {
			return nil, fmt.Errorf("argument %d must be %s like the first, not %s", i+2, a[0].describe(), v.describe())
		}
	}
	budget := maxCompare
	in := func(v *node, items []*node) bool {
		for _, it := range items {
			if equalBounded(it, v, &budget) {
				return true
			}
		}
		return false
	}
	if kind == '[' {
		out := &node{kind: '['}
	items:
		for _, it := range a[0].items {
			if in(it, out.items) {
				continue
			}
			for _, other := range a[1:] {
				if !in(it, other.items) {
					continue items
				}
			}
			out.items = append(out.items, it)
		}
		if budget < 0 {
			return nil, fmt.Errorf("the arrays are too large to compare")
		}
		return out, nil
	}
	out := &node{kind: '{'}
members:
	for _, m := range a[0].members {
		for _, other := range a[1:] {
			o := other.getFold(m.key)
			if o == nil || !equalBounded(m.val, o, &budget) {
				continue members
			}
		}
		out.members = append(out.members, m)
	}
	if budget < 0 {
		return nil, fmt.Errorf("the objects are too large to compare")
	}
	return out, nil
}
