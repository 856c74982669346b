// Package placeholder expands the ${SETTING} placeholders the README lets
// users write in their templates (today one: ${SCRIPTS_URL}, the scripts
// container's URL), so the same file works locally and in Azure. It is the
// one expansion `make run`'s loader (scripts/devrun), `goldenpipe upload`
// and `goldenpipe validate` use, so the three agree on what a template
// becomes.
package placeholder

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// ScriptsURL is the placeholder of the scripts container's URL (no
// trailing slash): a template names a script as ${SCRIPTS_URL}/<path>.
const ScriptsURL = "SCRIPTS_URL"

// Documented lists the placeholders the README documents, with what each
// stands for. Expand replaces only these; any other ${NAME} is left as it
// is (Image Builder would take it as text, and the validator says so).
var Documented = map[string]string{
	ScriptsURL: "the scripts container's URL",
}

// Values are the values of the placeholders, by name.
type Values map[string]string

var ref = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// Expand returns b with each documented ${NAME} that has a value replaced
// by it, escaped for a JSON string (templates are JSON; a URL needs no
// escaping, but a value with a quote or a backslash would break the file
// otherwise). A placeholder without a value is left as it is; Missing
// names them.
func Expand(b []byte, v Values) []byte {
	if !bytes.Contains(b, []byte("${")) {
		return b
	}
	return ref.ReplaceAllFunc(b, func(m []byte) []byte {
		name := string(m[2 : len(m)-1])
		if _, ok := Documented[name]; !ok {
			return m
		}
		val, ok := v[name]
		if !ok || val == "" {
			return m
		}
		if name == ScriptsURL {
			val = strings.TrimSuffix(val, "/")
		}
		q, _ := json.Marshal(val) // a string always marshals
		return q[1 : len(q)-1]
	})
}

// Missing returns the documented placeholders b uses that v gives no
// value for, sorted.
func Missing(b []byte, v Values) []string {
	seen := map[string]bool{}
	for _, m := range ref.FindAllSubmatch(b, -1) {
		name := string(m[1])
		if _, ok := Documented[name]; ok && v[name] == "" {
			seen[name] = true
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Describe says what a missing placeholder needs, for an error message.
func Describe(names []string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("${%s} (%s)", n, Documented[n])
	}
	return strings.Join(parts, ", ")
}
