// Package template reads Image Builder templates as operators write them
// (any API version from 2019-05-01-preview on), reports every problem with
// its path, upgrades them to API 2024-02-01 through the Go SDK's types,
// renders them with checksums and exact source versions, and fingerprints
// what makes the image.
package template

import (
	"fmt"
	"strings"

	"github.com/goldenpipe/goldenpipe/internal/jsontree"
)

// MaxTemplateBytes bounds an uploaded template; AIB templates are a few KiB.
const MaxTemplateBytes = 1 << 20

// node is a JSON value that keeps the order of object members and the
// duplicates encoding/json would silently drop (package jsontree).
type node = jsontree.Node

type member = jsontree.Member

// parseJSON reads one JSON value into a node tree, at most MaxTemplateBytes bytes.
func parseJSON(b []byte) (*node, error) { return jsontree.Parse(b, MaxTemplateBytes) }

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

// clip shortens a value quoted in a message.
func clip(s string) string {
	if len(s) > 300 {
		return s[:297] + "…"
	}
	return s
}
