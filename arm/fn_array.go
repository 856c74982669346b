package arm

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/goldenpipe/goldenpipe/internal/jsontree"
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
	if len(a) == 1 && a[0].Kind == '[' {
		vals = a[0].Items
		if len(vals) == 0 {
			return nil, fmt.Errorf("the array is empty")
		}
	}
	var best int64
	for i, v := range vals {
		x, ok := jsontree.AsInt(v)
		if !ok {
			return nil, fmt.Errorf("value %d must be a whole number, not %s", i+1, v.Describe())
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
	switch a[0].Kind {
	case '"':
		t, err := wantString(a, 1)
		if err != nil {
			return nil, err
		}
		hay, needle := strings.ToLower(a[0].Str), strings.ToLower(t)
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
		items := a[0].Items
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
	return nil, fmt.Errorf("argument 1 must be a string or an array, not %s", a[0].Describe())
}

// indexFromEnd is indexFromEnd(array, n): the n-th item counted from the
// end, 1 being the last; tryIndexFromEnd gives null where indexFromEnd
// fails.
func indexFromEnd(a []*node, try bool) (*node, error) {
	if a[0].Kind != '[' {
		if try && a[0].Kind == '0' {
			return nullNode(), nil
		}
		return nil, fmt.Errorf("argument 1 must be an array, not %s", a[0].Describe())
	}
	n, err := wantInt(a, 1)
	if err != nil {
		return nil, err
	}
	if n < 1 || n > int64(len(a[0].Items)) {
		if try {
			return nullNode(), nil
		}
		return nil, fmt.Errorf("index %d from the end is outside the array of %d items", n, len(a[0].Items))
	}
	return a[0].Items[int64(len(a[0].Items))-n], nil
}

// tryGetFn is tryGet(itemToTest, keyOrIndex, …): the value at the key of
// an object or the index of an array, each next key read from the value
// before; null where any is missing.
func tryGetFn(_ *evaluator, a []*node, _ int) (*node, error) {
	v := a[0]
	for _, k := range a[1:] {
		switch {
		case v.Kind == '{' && k.Kind == '"':
			v = v.GetFold(k.Str)
		case v.Kind == '[' && k.Kind == 'n':
			i, ok := jsontree.AsInt(k)
			if !ok || i < 0 || i >= int64(len(v.Items)) {
				return nullNode(), nil
			}
			v = v.Items[i]
		case v.Kind == '{' || v.Kind == '[' || v.Kind == '0':
			return nullNode(), nil
		default:
			return nil, fmt.Errorf("argument 1 must be an object or an array, not %s", a[0].Describe())
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
	if a[0].Kind != '[' {
		return nil, fmt.Errorf("argument 1 must be an array, not %s", a[0].Describe())
	}
	out := &node{Kind: '['}
	for i, it := range a[0].Items {
		if it.Kind != '[' {
			return nil, fmt.Errorf("item %d must be an array, not %s", i+1, it.Describe())
		}
		out.Items = append(out.Items, it.Items...)
		if len(out.Items) > maxExprCharge {
			return nil, fmt.Errorf("the result is too large")
		}
	}
	return out, ev.charge(out)
}

// intersectionFn is intersection(arg1, arg2, …) of arrays (the first's
// items found in every other, once each, in the first's order) or of
// objects (the first's members that every other has with an equal value).
func intersectionFn(_ *evaluator, a []*node, _ int) (*node, error) {
	kind := a[0].Kind
	if kind != '[' && kind != '{' {
		return nil, fmt.Errorf("argument 1 must be an array or an object, not %s", a[0].Describe())
	}
	for i, v := range a[1:] {
		if v.Kind != kind {
			return nil, fmt.Errorf("argument %d must be %s like the first, not %s", i+2, a[0].Describe(), v.Describe())
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
		out := &node{Kind: '['}
	items:
		for _, it := range a[0].Items {
			if in(it, out.Items) {
				continue
			}
			for _, other := range a[1:] {
				if !in(it, other.Items) {
					continue items
				}
			}
			out.Items = append(out.Items, it)
		}
		if budget < 0 {
			return nil, fmt.Errorf("the arrays are too large to compare")
		}
		return out, nil
	}
	out := &node{Kind: '{'}
members:
	for _, m := range a[0].Members {
		for _, other := range a[1:] {
			o := other.GetFold(m.Key)
			if o == nil || !equalBounded(m.Val, o, &budget) {
				continue members
			}
		}
		out.Members = append(out.Members, m)
	}
	if budget < 0 {
		return nil, fmt.Errorf("the objects are too large to compare")
	}
	return out, nil
}
