package arm

import (
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"
)

// The string functions of ARM templates that arm/builtins.go did not have
// (Microsoft Learn, template-functions-string): base64ToJson,
// base64ToString, dataUri, dataUriToString, join, padLeft, uriComponent,
// uriComponentToString, and uri with the page's slash rules.
var stringFunctions = map[string]armFunc{
	"base64tostring":       {min: 1, max: 1, call: base64ToStringFn},
	"base64tojson":         {min: 1, max: 1, call: base64ToJSONFn},
	"datauri":              {min: 1, max: 1, call: dataURIFn},
	"datauritostring":      {min: 1, max: 1, call: dataURIToStringFn},
	"join":                 {min: 2, max: 2, call: joinFn},
	"padleft":              {min: 2, max: 3, call: padLeftFn},
	"uricomponent":         {min: 1, max: 1, call: strFn(uriComponent)},
	"uricomponenttostring": {min: 1, max: 1, call: uriComponentToStringFn},
	"uri":                  {min: 2, max: 2, call: uriFn},
}

func decodeBase64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("%q is not base64: %v", clip(s), err)
	}
	return b, nil
}

func base64ToStringFn(_ *evaluator, a []*node, _ int) (*node, error) {
	s, err := wantString(a, 0)
	if err != nil {
		return nil, err
	}
	b, err := decodeBase64(s)
	if err != nil {
		return nil, err
	}
	return strNode(string(b)), nil
}

// base64ToJSONFn is base64ToJson: the decoded text read as JSON. The
// page's example encodes {'one': 'a', 'two': 'b'} with single quotes, as
// the lenient JSON reader ARM uses (Newtonsoft) accepts; such text is read
// with its single-quoted strings made double-quoted.
func base64ToJSONFn(_ *evaluator, a []*node, _ int) (*node, error) {
	s, err := wantString(a, 0)
	if err != nil {
		return nil, err
	}
	b, err := decodeBase64(s)
	if err != nil {
		return nil, err
	}
	return lenientJSON(string(b))
}

// lenientJSON parses JSON, also with single-quoted strings.
func lenientJSON(s string) (*node, error) {
	n, err := parseJSON([]byte(s))
	if err == nil {
		return n, nil
	}
	if n2, err2 := parseJSON([]byte(singleToDoubleQuotes(s))); err2 == nil {
		return n2, nil
	}
	return nil, fmt.Errorf("not valid JSON: %v", err)
}

// singleToDoubleQuotes rewrites 'text' strings outside "text" strings as
// "text", escaping double quotes inside them.
func singleToDoubleQuotes(s string) string {
	var b strings.Builder
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == 0 && (c == '\'' || c == '"'):
			quote = c
			b.WriteByte('"')
		case quote != 0 && c == '\\' && i+1 < len(s):
			b.WriteByte(c)
			i++
			b.WriteByte(s[i])
		case quote != 0 && c == quote:
			quote = 0
			b.WriteByte('"')
		case quote == '\'' && c == '"':
			b.WriteString(`\"`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// dataURIFn is dataUri(string): "data:text/plain;charset=utf8;base64,…"
// (template-functions-string#datauri).
func dataURIFn(_ *evaluator, a []*node, _ int) (*node, error) {
	s, err := wantString(a, 0)
	if err != nil {
		return nil, err
	}
	return checkSize("data:text/plain;charset=utf8;base64," + base64Std(s))
}

// dataURIToStringFn is dataUriToString(dataUri): the data of a data URI
// (RFC 2397: "data:[<mediatype>][;base64],<data>").
func dataURIToStringFn(_ *evaluator, a []*node, _ int) (*node, error) {
	s, err := wantString(a, 0)
	if err != nil {
		return nil, err
	}
	comma := strings.IndexByte(s, ',')
	if !strings.HasPrefix(strings.ToLower(s), "data:") || comma < 0 {
		return nil, fmt.Errorf("%q is not a data URI (data:[mediatype][;base64],data)", clip(s))
	}
	meta, data := s[len("data:"):comma], s[comma+1:]
	if strings.HasSuffix(strings.ToLower(meta), ";base64") {
		b, err := decodeBase64(data)
		if err != nil {
			return nil, err
		}
		return strNode(string(b)), nil
	}
	return strNode(unescapeData(data)), nil
}

// joinFn is join(inputArray, delimiter): the items (strings, numbers or
// booleans) as text with the delimiter between them.
func joinFn(_ *evaluator, a []*node, _ int) (*node, error) {
	if a[0].Kind != '[' {
		return nil, fmt.Errorf("argument 1 must be an array, not %s", a[0].Describe())
	}
	sep, err := wantString(a, 1)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	for i, it := range a[0].Items {
		if it.Kind == '[' || it.Kind == '{' {
			return nil, fmt.Errorf("item %d is %s; join joins strings, numbers and booleans", i+1, it.Describe())
		}
		if i > 0 {
			b.WriteString(sep)
		}
		t, _ := textOf(it)
		b.WriteString(t)
		if b.Len() > maxExprString {
			return nil, fmt.Errorf("the result is over %d bytes", maxExprString)
		}
	}
	return strNode(b.String()), nil
}

// padLeftFn is padLeft(valueToPad, totalLength, [paddingCharacter]): a
// string or whole number padded on the left to totalLength characters with
// one character (a space by default); a longer value is unchanged.
func padLeftFn(_ *evaluator, a []*node, _ int) (*node, error) {
	if a[0].Kind != '"' && a[0].Kind != 'n' {
		return nil, fmt.Errorf("argument 1 must be a string or a whole number, not %s", a[0].Describe())
	}
	s, _ := textOf(a[0])
	n, err := wantInt(a, 1)
	if err != nil {
		return nil, err
	}
	if n < 0 || n > maxExprString {
		return nil, fmt.Errorf("totalLength %d must be from 0 to %d", n, maxExprString)
	}
	pad := " "
	if len(a) == 3 {
		if pad, err = wantString(a, 2); err != nil {
			return nil, err
		}
		if utf8.RuneCountInString(pad) != 1 {
			return nil, fmt.Errorf("the padding must be one character, not %q", pad)
		}
	}
	if k := int(n) - utf8.RuneCountInString(s); k > 0 {
		s = strings.Repeat(pad, k) + s
	}
	return checkSize(s)
}

// uriComponent encodes as .NET's Uri.EscapeDataString: every byte but the
// unreserved characters of RFC 3986 (letters, digits, - . _ ~) as %XX.
func uriComponent(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func uriComponentToStringFn(_ *evaluator, a []*node, _ int) (*node, error) {
	s, err := wantString(a, 0)
	if err != nil {
		return nil, err
	}
	return strNode(unescapeData(s)), nil
}

// unescapeData decodes %XX sequences as .NET's Uri.UnescapeDataString
// does: a "%" not followed by two hex digits stays as it is, and "+" is
// not a space.
func unescapeData(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	unhex := func(c byte) (byte, bool) {
		switch {
		case c >= '0' && c <= '9':
			return c - '0', true
		case c >= 'a' && c <= 'f':
			return c - 'a' + 10, true
		case c >= 'A' && c <= 'F':
			return c - 'A' + 10, true
		}
		return 0, false
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				b = append(b, hi<<4|lo)
				i += 2
				continue
			}
		}
		b = append(b, s[i])
	}
	return string(b)
}

// uriFn is uri(baseUri, relativeUri) as .NET's Uri(Uri, string)
// resolves it, with the rule template-functions-string#uri adds: a base
// ending in "/" is followed by the relative part, a leading "/" of which is
// merged with it (uri('http://contoso.org/firstpath/', '/myscript.sh') is
// http://contoso.org/firstpath/myscript.sh). Otherwise a relative part
// starting with "/" replaces the base's path, and one without replaces
// what follows the base's last "/" (a base without a path gets one).
func uriFn(_ *evaluator, a []*node, _ int) (*node, error) {
	base, err := wantString(a, 0)
	if err != nil {
		return nil, err
	}
	rel, err := wantString(a, 1)
	if err != nil {
		return nil, err
	}
	if strings.Contains(rel, "://") { // already absolute
		return checkSize(rel)
	}
	if strings.HasSuffix(base, "/") {
		return checkSize(base + strings.TrimPrefix(rel, "/"))
	}
	root := base // scheme and authority
	if k := strings.Index(base, "//"); k >= 0 {
		if p := strings.IndexByte(base[k+2:], '/'); p >= 0 {
			root = base[:k+2+p]
		}
	}
	switch {
	case strings.HasPrefix(rel, "/"):
		return checkSize(root + rel)
	case root == base:
		return checkSize(base + "/" + rel)
	}
	return checkSize(base[:strings.LastIndexByte(base, '/')+1] + rel)
}
