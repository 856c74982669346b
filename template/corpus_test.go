package template

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// The corpus: template files in the shapes public samples have (Microsoft's
// quickstarts and solutions, the REST spec's examples, ARM deployment
// templates with parameters files, Bicep's compiled output, READMEs'
// placeholders), each with its expected findings and, when valid, its
// rendering, in testdata/corpus/golden. `go test ./template -run Corpus
// -update` rewrites the golden files; review the diff.

// CorpusDeployment is the scope the corpus is evaluated in.
var corpusDeployment = Deployment{SubscriptionID: "0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11", ResourceGroup: "rg-images",
	Location: "westeurope", Now: time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC)}

// anyImage answers every image with the same versions, so that "latest"
// renders (1.10.0, numerically the newest) for whatever image a sample uses.
type anyImage struct{}

func (anyImage) ListVersions(context.Context, string, string, string, string) ([]string, error) {
	return []string{"1.9.3", "1.10.0", "1.2.0"}, nil
}

// CorpusScripts hashes the corpus's copy of the scripts container.
func corpusScripts(t testing.TB) fakeChecksums {
	t.Helper()
	out := fakeChecksums{}
	root := filepath.Join("testdata", "corpus", "scripts")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		sum := sha256.Sum256(b)
		out[filepath.ToSlash(rel)] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// corpusFiles lists the corpus's template files (not the parameters files
// beside their template).
func corpusFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		if IsParametersBlob(f) {
			if _, err := os.Stat(TemplateBlobOf(f)); err == nil {
				continue
			}
		}
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// describe writes what is known of each template of a file, as the golden
// files hold it.
func describeChecked(b *bytes.Buffer, file string, p *Parsed, c Checked) {
	state := "valid"
	if len(c.Problems) > 0 {
		state = "invalid"
	}
	fmt.Fprintf(b, "# %s -> template %q (%s, %s)\n", file, p.Name, p.Kind, state)
	if p.ResourceName != "" {
		fmt.Fprintf(b, "resource name: %s\n", p.ResourceName)
	}
	for _, o := range p.OtherResources {
		fmt.Fprintf(b, "not deployed by this app: %s\n", o)
	}
	for _, pr := range c.Problems {
		fmt.Fprintf(b, "problem  %s\n", pr)
	}
	for _, w := range c.Warnings {
		fmt.Fprintf(b, "warning  %s\n", w)
	}
	for _, n := range p.Notes {
		fmt.Fprintf(b, "note     %s\n", n)
	}
	if r := c.Rendered; r != nil {
		fmt.Fprintf(b, "source version: %s\n", r.SourceVersion)
		names := make([]string, 0, len(r.Scripts))
		for n := range r.Scripts {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(b, "script: %s %s\n", n, r.Scripts[n])
		}
		var pretty bytes.Buffer
		_ = json.Indent(&pretty, r.JSON, "", "  ")
		fmt.Fprintf(b, "rendered:\n%s\n", pretty.String())
	}
}

func checkCorpusFile(t testing.TB, file string, scripts ChecksumSource) ([]*Parsed, []Checked) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var params []byte
	if b, err := os.ReadFile(ParametersBlobOf(file)); err == nil && !IsParametersBlob(file) {
		params = b
	}
	name := strings.TrimSuffix(filepath.Base(file), ".json")
	parsed := ParseFile(name, raw, params, Options{ScriptsURL: testScriptsURL, Deployment: corpusDeployment})
	r := NewRenderer(testScriptsURL, scripts, &Resolver{Lister: anyImage{}})
	var checked []Checked
	for _, p := range parsed {
		c, err := r.Check(context.Background(), p)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		checked = append(checked, c)
	}
	return parsed, checked
}

func TestCorpus(t *testing.T) {
	files := corpusFiles(t)
	if len(files) < 30 {
		t.Fatalf("the corpus has %d template files; it should have at least 30", len(files))
	}
	scripts := corpusScripts(t)
	kinds := map[string]int{}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			parsed, checked := checkCorpusFile(t, file, scripts)
			var b bytes.Buffer
			for i, p := range parsed {
				describeChecked(&b, filepath.Base(file), p, checked[i])
				kinds[p.Kind]++
				// a valid template's rendering parses again, valid, as a bare resource
				if c := checked[i]; c.Rendered != nil {
					again := Parse(p.Name, c.Rendered.JSON, Options{ScriptsURL: testScriptsURL})
					if !again.Valid() {
						t.Errorf("the rendering of %s does not parse again: %v", p.Name, again.Problems)
					}
				}
			}
			golden := filepath.Join("testdata", "corpus", "golden", strings.TrimSuffix(filepath.Base(file), ".json")+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("%s differs from %s:\n%s", file, golden, lineDiff(string(want), b.String()))
			}
		})
	}
	if kinds[KindDeployment] < 10 || kinds[KindResource] < 15 {
		t.Errorf("the corpus should mix kinds: %v", kinds)
	}
}

// lineDiff shows the lines of got that are not in want and the reverse.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	in := func(list []string, s string) bool {
		for _, l := range list {
			if l == s {
				return true
			}
		}
		return false
	}
	var out []string
	for _, l := range w {
		if !in(g, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range g {
		if !in(w, l) {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

// The corpus covers what it claims: every API version, source, distributor
// and customizer type, validation, errorHandling, optimize and autoRun.
func TestCorpusCoverage(t *testing.T) {
	scripts := corpusScripts(t)
	seen := map[string]bool{}
	for _, file := range corpusFiles(t) {
		parsed, _ := checkCorpusFile(t, file, scripts)
		for _, p := range parsed {
			seen["api "+p.SourceAPI] = true
			if p.Template == nil || p.Template.Properties == nil {
				continue
			}
			pr := p.Template.Properties
			deref := func(s *string) string {
				if s == nil {
					return ""
				}
				return *s
			}
			if pr.Source != nil {
				seen["source "+deref(pr.Source.GetImageTemplateSource().Type)] = true
			}
			for _, c := range pr.Customize {
				seen["customizer "+deref(c.GetImageTemplateCustomizer().Type)] = true
			}
			for _, d := range pr.Distribute {
				seen["distributor "+deref(d.GetImageTemplateDistributor().Type)] = true
			}
			if pr.Validate != nil {
				for _, v := range pr.Validate.InVMValidations {
					seen["validator "+deref(v.GetImageTemplateInVMValidator().Type)] = true
				}
			}
			seen["validate"] = seen["validate"] || pr.Validate != nil
			seen["errorHandling"] = seen["errorHandling"] || pr.ErrorHandling != nil
			seen["optimize"] = seen["optimize"] || pr.Optimize != nil
			seen["autoRun"] = seen["autoRun"] || pr.AutoRun != nil
			seen["os "+p.OS] = true
		}
	}
	for _, want := range []string{"api 2019-05-01-preview", "api 2020-02-14", "api 2021-10-01", "api 2022-02-14", "api 2022-07-01",
		"api 2023-07-01", "api 2024-02-01", "source PlatformImage", "source ManagedImage", "source SharedImageVersion",
		"customizer Shell", "customizer PowerShell", "customizer File", "customizer WindowsRestart", "customizer WindowsUpdate",
		"distributor ManagedImage", "distributor SharedImage", "distributor VHD", "validator Shell", "validator PowerShell", "validator File",
		"validate", "errorHandling", "optimize", "autoRun", "os Windows", "os Linux"} {
		if !seen[want] {
			t.Errorf("no corpus template has %s", want)
		}
	}
}
