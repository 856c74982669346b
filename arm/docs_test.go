package arm

// The documented examples of Microsoft's ARM template-function reference,
// as our own test cases: testdata/docs/<page>.json holds, for each example on
// https://learn.microsoft.com/azure/azure-resource-manager/templates/template-functions-<page>,
// a deployment template written from the example's facts (parameter defaults,
// expressions), the scope it needs, and every output value the page documents.
// Values only a live Azure knows (newGuid, reference(), pickZones, the doc
// author's own resource group...) are listed under "live" with the reason and
// are not compared. testdata/docs/README.md lists the pages and counts.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// docPages are the template-function reference pages, one case file each.
var docPages = []string{
	"array", "cidr", "comparison", "date", "deployment", "lambda",
	"logical", "numeric", "object", "resource", "scope", "string",
}

// docSourcePrefix is how every case's source URL starts; the page name and a
// '#' section anchor follow.
const docSourcePrefix = "https://learn.microsoft.com/azure/azure-resource-manager/templates/template-functions-"

// docParametersSchema is the $schema of a deployment parameters file
// (https://learn.microsoft.com/azure/azure-resource-manager/templates/parameter-files).
const docParametersSchema = "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#"

// docCase is one documented example.
type docCase struct {
	Name       string                     `json:"name"`
	Source     string                     `json:"source"`
	Comment    string                     `json:"comment,omitempty"`
	Scope      *docScope                  `json:"scope,omitempty"`
	Template   json.RawMessage            `json:"template"`
	Parameters map[string]json.RawMessage `json:"parameters,omitempty"`
	Outputs    map[string]json.RawMessage `json:"outputs"`
	Live       map[string]string          `json:"live,omitempty"`
}

// docScope is a case's deployment scope, in the JSON spelling of the case
// files; it maps one to one onto Scope.
type docScope struct {
	TenantID        string `json:"tenantId,omitempty"`
	ManagementGroup string `json:"managementGroup,omitempty"`
	SubscriptionID  string `json:"subscriptionId,omitempty"`
	ResourceGroup   string `json:"resourceGroup,omitempty"`
	Location        string `json:"location,omitempty"`
	DeploymentName  string `json:"deploymentName,omitempty"`
	Now             string `json:"now,omitempty"`
	Cloud           string `json:"cloud,omitempty"`
	Where           string `json:"where,omitempty"`
	StandIn         bool   `json:"standIn,omitempty"`
}

// scope converts the case's scope; an absent scope is the zero Scope.
func (c docCase) scope() (Scope, error) {
	if c.Scope == nil {
		return Scope{}, nil
	}
	s := c.Scope
	out := Scope{
		TenantID:        s.TenantID,
		ManagementGroup: s.ManagementGroup,
		SubscriptionID:  s.SubscriptionID,
		ResourceGroup:   s.ResourceGroup,
		Location:        s.Location,
		DeploymentName:  s.DeploymentName,
		Cloud:           s.Cloud,
		Where:           s.Where,
		StandIn:         s.StandIn,
	}
	if s.Now != "" {
		now, err := time.Parse(time.RFC3339, s.Now)
		if err != nil {
			return Scope{}, fmt.Errorf("scope.now %q: %w", s.Now, err)
		}
		out.Now = now.UTC()
	}
	return out, nil
}

// parametersFile wraps the case's parameter values as a deployment
// parameters file, or returns nil when the case gives none (defaults apply).
func (c docCase) parametersFile() ([]byte, error) {
	if len(c.Parameters) == 0 {
		return nil, nil
	}
	return json.Marshal(map[string]any{
		"$schema":        docParametersSchema,
		"contentVersion": "1.0.0.0",
		"parameters":     c.Parameters,
	})
}

// loadDocCases reads one page's case file strictly: an unknown key is an error.
func loadDocCases(page string) ([]docCase, error) {
	raw, err := os.ReadFile(filepath.Join("testdata", "docs", page+".json"))
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var cases []docCase
	if err := dec.Decode(&cases); err != nil {
		return nil, fmt.Errorf("%s.json: %w", page, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s.json: data after the array", page)
	}
	return cases, nil
}

// docDecodeJSON decodes with json.Number for numbers.
func docDecodeJSON(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("data after the value")
	}
	return v, nil
}

// docNormalizeJSON brings any Go value to the shape docDecodeJSON gives (maps,
// slices, json.Number), so values from Evaluate compare whatever Go types
// carry them.
func docNormalizeJSON(v any) (any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return docDecodeJSON(raw)
}

// docSameJSON reports whether two decoded JSON values are equal; numbers are
// compared by value (1 equals 1.0), strings and keys exactly.
func docSameJSON(a, b any) bool {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		rx, okx := new(big.Rat).SetString(x.String())
		ry, oky := new(big.Rat).SetString(y.String())
		if !okx || !oky {
			return x == y
		}
		return rx.Cmp(ry) == 0
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !docSameJSON(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !docSameJSON(xv, yv) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(a, b)
	}
}

// docShowJSON prints a value compactly for a failure message.
func docShowJSON(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return string(raw)
}

// docShowProblems prints the deployment's problems, one per line.
func docShowProblems(d *Deployment) string {
	if d == nil || len(d.Problems) == 0 {
		return "(no problems reported)"
	}
	var b strings.Builder
	for _, p := range d.Problems {
		fmt.Fprintf(&b, "\n  problem at %s: %s", p.Path, p.Message)
	}
	return b.String()
}

// docSortedKeys returns a map's keys in order, so subtests run in a stable order.
func docSortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestDocumentedExamples evaluates every documented example and compares
// each documented output with what Evaluate returns: one subtest per
// case/output, failing on any difference. Live-only outputs are listed, not
// compared. The count of reproduced outputs is printed at the end.
func TestDocumentedExamples(t *testing.T) {
	var total, reproduced, live int
	for _, page := range docPages {
		cases, err := loadDocCases(page)
		if err != nil {
			t.Fatalf("loading %s: %v", page, err)
		}
		for _, c := range cases {
			total += len(c.Outputs) + len(c.Live)
			live += len(c.Live)

			scope, serr := c.scope()
			params, perr := c.parametersFile()
			var dep *Deployment
			var everr error
			if serr == nil && perr == nil {
				dep, everr = Evaluate(c.Template, params, scope)
			}
			var outputs map[string]any
			if dep != nil {
				outputs = dep.Outputs
			}

			for _, name := range docSortedKeys(c.Outputs) {
				t.Run(c.Name+"/"+name, func(t *testing.T) {
					// Counted here rather than from t.Run's result, which is
					// also true for a subtest that -run filtered out.
					defer func() {
						if !t.Failed() {
							reproduced++
						}
					}()
					switch {
					case serr != nil:
						t.Fatalf("case scope: %v", serr)
					case perr != nil:
						t.Fatalf("case parameters: %v", perr)
					case everr != nil:
						t.Fatalf("Evaluate: %v (source %s)", everr, c.Source)
					case dep == nil:
						t.Fatalf("Evaluate returned no deployment and no error (source %s)", c.Source)
					}
					want, err := docDecodeJSON(c.Outputs[name])
					if err != nil {
						t.Fatalf("documented value of %s: %v", name, err)
					}
					gotRaw, present := outputs[name]
					if !present && want == nil {
						return // a documented null: ARM returns no value for a null output
					}
					if !present {
						t.Fatalf("output %s missing; documented %s (source %s)%s",
							name, docShowJSON(want), c.Source, docShowProblems(dep))
					}
					got, err := docNormalizeJSON(gotRaw)
					if err != nil {
						t.Fatalf("output %s is not JSON: %v", name, err)
					}
					if !docSameJSON(got, want) {
						t.Errorf("output %s = %s, documented %s (source %s)%s",
							name, docShowJSON(got), docShowJSON(want), c.Source, docShowProblems(dep))
					}
				})
			}
			for _, name := range docSortedKeys(c.Live) {
				got := "(not produced)"
				if v, present := outputs[name]; present {
					got = docShowJSON(v)
				}
				t.Logf("live-only %s/%s: %s; evaluated: %s", c.Name, name, c.Live[name], got)
			}
		}
	}
	summary := fmt.Sprintf("documented outputs: %d reproduced of %d (%d live-only, listed)", reproduced, total, live)
	t.Log(summary)
	fmt.Println(summary)
}

// TestDocumentedExampleFiles checks the case files themselves: every page has
// a file, every case parses strictly, names its page and a source URL on that
// page, and accounts for every output of its template exactly once (compared
// or live-only, with a reason).
func TestDocumentedExampleFiles(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "docs", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var onDisk []string
	for _, f := range files {
		onDisk = append(onDisk, strings.TrimSuffix(filepath.Base(f), ".json"))
	}
	want := append([]string(nil), docPages...)
	sort.Strings(want)
	sort.Strings(onDisk)
	if !reflect.DeepEqual(onDisk, want) {
		t.Fatalf("case files %v, want one per page %v", onDisk, want)
	}

	readme, err := os.ReadFile(filepath.Join("testdata", "docs", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, page := range docPages {
		cases, err := loadDocCases(page)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		var compared, live int
		for _, c := range cases {
			compared += len(c.Outputs)
			live += len(c.Live)
		}
		row := fmt.Sprintf("| [%s](%s.json) | %d | %d | %d | %d |", page, page, len(cases), compared+live, compared, live)
		if !bytes.Contains(readme, []byte(row)) {
			t.Errorf("testdata/docs/README.md lacks the row %q: its table no longer matches %s.json", row, page)
		}
		if len(cases) == 0 {
			t.Errorf("%s.json has no cases", page)
		}
		for i, c := range cases {
			where := fmt.Sprintf("%s.json case %d (%s)", page, i, c.Name)
			if !strings.HasPrefix(c.Name, page+"/") || len(c.Name) == len(page)+1 {
				t.Errorf("%s: name must be %q followed by the example", where, page+"/")
			}
			if seen[c.Name] {
				t.Errorf("%s: name used twice", where)
			}
			seen[c.Name] = true
			prefix := docSourcePrefix + page + "#"
			if !strings.HasPrefix(c.Source, prefix) || len(c.Source) == len(prefix) {
				t.Errorf("%s: source %q must be a section of %s", where, c.Source, strings.TrimSuffix(prefix, "#"))
			}
			if _, err := c.scope(); err != nil {
				t.Errorf("%s: %v", where, err)
			}
			for name, raw := range c.Parameters {
				var v struct {
					Value json.RawMessage `json:"value"`
				}
				if err := json.Unmarshal(raw, &v); err != nil || v.Value == nil {
					t.Errorf("%s: parameter %s must be {\"value\": ...}", where, name)
				}
			}
			var tpl struct {
				Schema  string                     `json:"$schema"`
				Outputs map[string]json.RawMessage `json:"outputs"`
			}
			if err := json.Unmarshal(c.Template, &tpl); err != nil {
				t.Errorf("%s: template: %v", where, err)
				continue
			}
			if !strings.HasPrefix(tpl.Schema, "https://schema.management.azure.com/schemas/") {
				t.Errorf("%s: template $schema %q", where, tpl.Schema)
			}
			if len(c.Outputs)+len(c.Live) == 0 {
				t.Errorf("%s: no documented outputs", where)
			}
			for name, raw := range c.Outputs {
				if _, err := docDecodeJSON(raw); err != nil {
					t.Errorf("%s: output %s: %v", where, name, err)
				}
				if _, ok := c.Live[name]; ok {
					t.Errorf("%s: output %s is both compared and live-only", where, name)
				}
			}
			for name, reason := range c.Live {
				if strings.TrimSpace(reason) == "" {
					t.Errorf("%s: live-only output %s gives no reason", where, name)
				}
			}
			for name := range tpl.Outputs {
				_, compared := c.Outputs[name]
				_, isLive := c.Live[name]
				if !compared && !isLive {
					t.Errorf("%s: template output %s has no documented value and is not listed live-only", where, name)
				}
			}
			for name := range c.Outputs {
				if _, ok := tpl.Outputs[name]; !ok {
					t.Errorf("%s: documented output %s is not an output of the template", where, name)
				}
			}
			for name := range c.Live {
				if _, ok := tpl.Outputs[name]; !ok {
					t.Errorf("%s: live-only output %s is not an output of the template", where, name)
				}
			}
		}
	}
}
