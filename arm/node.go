package arm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// maxDepth bounds nesting, so a hostile upload cannot exhaust the stack.
const maxDepth = 32

// node is a JSON value that keeps the order of object members and the
// duplicates encoding/json would silently drop.
type node struct {
	Kind    byte // '{', '[', '"', 'n' (number), 'b' (bool), '0' (null)
	Members []member
	Items   []*node
	Str     string
	Num     json.Number
	B       bool
}

type member struct {
	Key string
	Val *node
}

func (n *node) Get(key string) *node {
	for _, m := range n.Members {
		if m.Key == key {
			return m.Val
		}
	}
	return nil
}

func (n *node) Describe() string {
	switch n.Kind {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 'n':
		return "a number"
	case 'b':
		return "a boolean"
	}
	return "null"
}

// parseJSON reads one JSON value into a node tree.
func parseJSON(b []byte) (*node, error) {
	if len(b) > MaxBytes {
		return nil, fmt.Errorf("template is %d bytes, over the limit of %d", len(b), MaxBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	n, err := readNode(dec, 0)
	if err != nil {
		return nil, syntaxError(b, dec, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, syntaxError(b, dec, errors.New("text after the template's closing brace"))
	}
	return n, nil
}

func syntaxError(b []byte, dec *json.Decoder, err error) error {
	off := dec.InputOffset()
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = se.Offset
	}
	line, col := 1, 1
	for i := int64(0); i < off && i < int64(len(b)); i++ {
		if b[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	msg := err.Error()
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		msg = "unexpected end of the template (a bracket or brace is not closed)"
	}
	return fmt.Errorf("line %d, column %d: %s", line, col, msg)
}

func readNode(dec *json.Decoder, depth int) (*node, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", maxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &node{Kind: '{'}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key, _ := kt.(string)
				v, err := readNode(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.Members = append(n.Members, member{Key: key, Val: v})
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return n, nil
		case '[':
			n := &node{Kind: '['}
			for dec.More() {
				v, err := readNode(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.Items = append(n.Items, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return n, nil
		}
		return nil, fmt.Errorf("unexpected %q", t)
	case string:
		return &node{Kind: '"', Str: t}, nil
	case json.Number:
		return &node{Kind: 'n', Num: t}, nil
	case bool:
		return &node{Kind: 'b', B: t}, nil
	case nil:
		return &node{Kind: '0'}, nil
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}

// Encode writes a node tree as JSON.
func (n *node) Encode(w *bytes.Buffer) { encodeLimited(n, w, math.MaxInt) }

// encodeScalar writes a string, number, boolean or null.
func (n *node) encodeScalar(w *bytes.Buffer) {
	switch n.Kind {
	case '"':
		writeString(w, n.Str)
	case 'n':
		w.WriteString(n.Num.String())
	case 'b':
		w.WriteString(strconv.FormatBool(n.B))
	default:
		w.WriteString("null")
	}
}

func writeString(w *bytes.Buffer, s string) {
	b, _ := json.Marshal(s)
	w.Write(b)
}

// ---- values ----

func strNode(s string) *node        { return &node{Kind: '"', Str: s} }
func intNode(v int64) *node         { return &node{Kind: 'n', Num: jsonNumber(v)} }
func boolNode(v bool) *node         { return &node{Kind: 'b', B: v} }
func nullNode() *node               { return &node{Kind: '0'} }
func arrayNode(items []*node) *node { return &node{Kind: '[', Items: items} }

func asInt(n *node) (int64, bool) {
	if n.Kind != 'n' {
		return 0, false
	}
	v, err := strconv.ParseInt(n.Num.String(), 10, 64)
	return v, err == nil
}

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
	if !encodeLimited(n, &b, maxExprString) {
		return b.String(), exprErrorf("the value is over %d bytes as text", maxExprString)
	}
	return b.String(), nil
}

// encodeLimited writes n as JSON, stopping (false) past limit bytes.
func encodeLimited(n *node, w *bytes.Buffer, limit int) bool {
	if w.Len() > limit {
		return false
	}
	switch n.Kind {
	case '{':
		w.WriteByte('{')
		for i, m := range n.Members {
			if i > 0 {
				w.WriteByte(',')
			}
			writeString(w, m.Key)
			w.WriteByte(':')
			if !encodeLimited(m.Val, w, limit) {
				return false
			}
		}
		w.WriteByte('}')
	case '[':
		w.WriteByte('[')
		for i, it := range n.Items {
			if i > 0 {
				w.WriteByte(',')
			}
			if !encodeLimited(it, w, limit) {
				return false
			}
		}
		w.WriteByte(']')
	default:
		n.encodeScalar(w)
	}
	return w.Len() <= limit
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

// GetFold is a property lookup as ARM does it: without regard to case.
func (n *node) GetFold(key string) *node {
	if v := n.Get(key); v != nil {
		return v
	}
	for _, m := range n.Members {
		if strings.EqualFold(m.Key, key) {
			return m.Val
		}
	}
	return nil
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

func jsonNumber(v int64) json.Number { return json.Number(strconv.FormatInt(v, 10)) }

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
