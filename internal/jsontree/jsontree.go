// Package jsontree is a JSON value tree that keeps the order of object
// members and the duplicate keys encoding/json would silently drop. Package
// arm evaluates ARM templates on it and package template reads Image Builder
// templates with it; both need the members as the author wrote them.
package jsontree

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

// MaxDepth bounds nesting, so a hostile upload cannot exhaust the stack.
const MaxDepth = 32

// Node is a JSON value that keeps the order of object members and the
// duplicates encoding/json would silently drop.
type Node struct {
	Kind    byte // '{', '[', '"', 'n' (number), 'b' (bool), '0' (null)
	Members []Member
	Items   []*Node
	Str     string
	Num     json.Number
	B       bool
}

// Member is one key and value of an object, in the order written.
type Member struct {
	Key string
	Val *Node
}

// Get is the value of the first member named exactly key, or nil.
func (n *Node) Get(key string) *Node {
	for _, m := range n.Members {
		if m.Key == key {
			return m.Val
		}
	}
	return nil
}

// GetFold is a property lookup as ARM does it: without regard to case (an
// exact match wins).
func (n *Node) GetFold(key string) *Node {
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

// Describe names the kind of value for messages: "an object", "a string"...
func (n *Node) Describe() string {
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

// Parse reads one JSON value into a Node tree. A text over maxBytes, nested
// deeper than MaxDepth, or with anything after the value is an error; syntax
// errors name their line and column.
func Parse(b []byte, maxBytes int) (*Node, error) {
	if len(b) > maxBytes {
		return nil, fmt.Errorf("template is %d bytes, over the limit of %d", len(b), maxBytes)
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

func readNode(dec *json.Decoder, depth int) (*Node, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", MaxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &Node{Kind: '{'}
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
				n.Members = append(n.Members, Member{Key: key, Val: v})
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return n, nil
		case '[':
			n := &Node{Kind: '['}
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
		return &Node{Kind: '"', Str: t}, nil
	case json.Number:
		return &Node{Kind: 'n', Num: t}, nil
	case bool:
		return &Node{Kind: 'b', B: t}, nil
	case nil:
		return &Node{Kind: '0'}, nil
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}

// Encode writes a Node tree as JSON.
func (n *Node) Encode(w *bytes.Buffer) { EncodeLimited(n, w, math.MaxInt) }

// encodeScalar writes a string, number, boolean or null.
func (n *Node) encodeScalar(w *bytes.Buffer) {
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

// writeString writes s as a JSON string.
func writeString(w *bytes.Buffer, s string) {
	b, _ := json.Marshal(s)
	w.Write(b)
}

// EncodeLimited writes n as JSON, stopping (false) past limit bytes.
func EncodeLimited(n *Node, w *bytes.Buffer, limit int) bool {
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
			if !EncodeLimited(m.Val, w, limit) {
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
			if !EncodeLimited(it, w, limit) {
				return false
			}
		}
		w.WriteByte(']')
	default:
		n.encodeScalar(w)
	}
	return w.Len() <= limit
}

// AsInt is a number node's value as an int64, when it is a whole number
// that fits.
func AsInt(n *Node) (int64, bool) {
	if n.Kind != 'n' {
		return 0, false
	}
	v, err := strconv.ParseInt(n.Num.String(), 10, 64)
	return v, err == nil
}

// JSONNumber is v as a json.Number.
func JSONNumber(v int64) json.Number { return json.Number(strconv.FormatInt(v, 10)) }
