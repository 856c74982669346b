package arm

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/goldenpipe/goldenpipe/internal/jsontree"
)

// node is a JSON value that keeps the order of object members and the
// duplicates encoding/json would silently drop (package jsontree).
type node = jsontree.Node

type member = jsontree.Member

// parseJSON reads one JSON value into a node tree, at most MaxBytes bytes.
func parseJSON(b []byte) (*node, error) { return jsontree.Parse(b, MaxBytes) }

// ---- values ----

func strNode(s string) *node        { return &node{Kind: '"', Str: s} }
func intNode(v int64) *node         { return &node{Kind: 'n', Num: jsontree.JSONNumber(v)} }
func boolNode(v bool) *node         { return &node{Kind: 'b', B: v} }
func nullNode() *node               { return &node{Kind: '0'} }
func arrayNode(items []*node) *node { return &node{Kind: '[', Items: items} }

// toText is a value as ARM's string() writes it, for messages: cut short
// when long.
func toText(n *node) string {
	t, err := textOf(n)
	if err != nil {
		return t[:min(len(t), 200)] + "…"
	}
	return t
}

// textOf is a value as ARM's string() writes it, or an error when it is
// longer than a value may be (evaluated values share parts, so a small
// file can describe a huge one).
func textOf(n *node) (string, error) {
	switch n.Kind {
	case '"':
		return n.Str, nil
	case 'n':
		return n.Num.String(), nil
	case 'b':
		return strconv.FormatBool(n.B), nil
	case '0':
		return "", nil
	}
	var b bytes.Buffer
	if !jsontree.EncodeLimited(n, &b, maxExprString) {
		return b.String(), exprErrorf("the value is over %d bytes as text", maxExprString)
	}
	return b.String(), nil
}

// maxCompare bounds the nodes one comparison visits.
const maxCompare = 1 << 20

// equal compares two values, visiting at most maxCompare nodes.
func equal(a, b *node) (bool, error) {
	budget := maxCompare
	eq := equalBounded(a, b, &budget)
	if budget < 0 {
		return false, exprErrorf("the values are too large to compare")
	}
	return eq, nil
}

// equalNodes is equal for checks that may give up on huge values.
func equalNodes(a, b *node) bool {
	eq, _ := equal(a, b)
	return eq
}

func equalBounded(a, b *node, budget *int) bool {
	*budget--
	if *budget < 0 || a.Kind != b.Kind {
		return false
	}
	switch a.Kind {
	case '"':
		return a.Str == b.Str
	case 'n':
		return a.Num == b.Num
	case 'b':
		return a.B == b.B
	case '0':
		return true
	case '[':
		if len(a.Items) != len(b.Items) {
			return false
		}
		for i := range a.Items {
			if !equalBounded(a.Items[i], b.Items[i], budget) {
				return false
			}
		}
		return true
	case '{':
		if len(a.Members) != len(b.Members) {
			return false
		}
		for _, m := range a.Members {
			o := b.Get(m.Key)
			if o == nil || !equalBounded(m.Val, o, budget) {
				return false
			}
		}
		return true
	}
	return false
}

// sizeOver reports whether a value encodes to more than limit bytes,
// stopping as soon as it knows (evaluated values may share parts).
func sizeOver(n *node, limit int) bool {
	budget := limit
	var walk func(n *node) bool
	walk = func(n *node) bool {
		switch n.Kind {
		case '"':
			budget -= len(n.Str) + 2
		case 'n':
			budget -= len(n.Num)
		case '{':
			budget -= 2
			for _, m := range n.Members {
				budget -= len(m.Key) + 4
				if budget < 0 || walk(m.Val) {
					return true
				}
			}
		case '[':
			budget -= 2
			for _, it := range n.Items {
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

// StripComments blanks out the // and /* */ comments ARM allows in
// deployment templates and parameters files, keeping line and column
// numbers for syntax errors.
func StripComments(b []byte) []byte {
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

// path builds problem paths such as resources[0].properties.tags.owner.
type path string

func (p path) key(k string) path {
	if p == "" {
		return path(k)
	}
	return path(string(p) + "." + k)
}

func (p path) index(i int) path { return path(fmt.Sprintf("%s[%d]", p, i)) }

func (p path) String() string {
	if p == "" {
		return "(template)"
	}
	return string(p)
}
