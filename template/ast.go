// Package template reads Image Builder templates as operators write them
// (any API version from 2019-05-01-preview on), reports every problem with
// its path, upgrades them to API 2024-02-01 through the Go SDK's types,
// renders them with checksums and exact source versions, and fingerprints
// what makes the image.
package template

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

// MaxTemplateBytes bounds an uploaded template; AIB templates are a few KiB.
const MaxTemplateBytes = 1 << 20

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
	if len(b) > MaxTemplateBytes {
		return nil, fmt.Errorf("template is %d bytes, over the limit of %d", len(b), MaxTemplateBytes)
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

// path builds problem paths such as properties.customize[2].name.
type path string

func (p path) key(k string) path {
	if p == "" {
		return path(k)
	}
	return path(string(p) + "." + k)
}

func (p path) isValidator() bool { return strings.HasPrefix(string(p), "properties.validate.") }

func (p path) index(i int) path { return path(fmt.Sprintf("%s[%d]", p, i)) }

func (p path) String() string {
	if p == "" {
		return "(template)"
	}
	return string(p)
}

// isPlaceholder reports the documentation's placeholders: "<region>",
// "<path to script>", "<true false>" ...
func isPlaceholder(s string) bool {
	s = strings.TrimSpace(s)
	return strings.HasPrefix(s, "<") && strings.HasSuffix(s, ">") && len(s) > 2
}

func jsonNumber(v int64) json.Number { return json.Number(strconv.FormatInt(v, 10)) }

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

func asInt(n *node) (int64, bool) {
	if n.Kind != 'n' {
		return 0, false
	}
	v, err := strconv.ParseInt(n.Num.String(), 10, 64)
	return v, err == nil
}

// clip shortens a value quoted in a message.
func clip(s string) string {
	if len(s) > 300 {
		return s[:297] + "…"
	}
	return s
}
