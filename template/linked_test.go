package template

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// DirLoader reads a linked file inside its folder, up to one byte over
// a template's limit, and refuses paths outside it with a clear error.
func TestDirLoader(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "linked"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "linked", "a.json"), []byte(`{"x": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "big.json"), bytes.Repeat([]byte(" "), MaxTemplateBytes+100), 0o644); err != nil {
		t.Fatal(err)
	}
	load := DirLoader(dir)
	tests := []struct {
		rel, want, err string
		size           int
	}{
		{rel: "linked/a.json", want: `{"x": 1}`},
		{rel: "linked/../linked/a.json", want: `{"x": 1}`},
		{rel: "big.json", size: MaxTemplateBytes + 1},
		{rel: "none.json", err: "no file none.json in"},
		{rel: "../a.json", err: `"../a.json" is outside the folder`},
		{rel: "/etc/passwd", err: `is outside the folder`},
	}
	for _, tt := range tests {
		t.Run(tt.rel, func(t *testing.T) {
			b, err := load(tt.rel)
			switch {
			case tt.err != "":
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("err = %v, want %q", err, tt.err)
				}
			case err != nil:
				t.Fatal(err)
			case tt.size > 0 && len(b) != tt.size:
				t.Errorf("%d bytes read, want %d", len(b), tt.size)
			case tt.want != "" && string(b) != tt.want:
				t.Errorf("read %q", b)
			}
		})
	}
	if _, err := DirLoader(filepath.Join(dir, "nope"))("a.json"); err == nil {
		t.Error("a missing folder read")
	}
}

// A file other files link is recorded as linked when it is no valid
// template on its own; one valid on its own stays a template; a file
// linking only itself is not linked.
func TestAsLinked(t *testing.T) {
	invalid := []*Parsed{{Name: "a", Kind: KindDeployment, Problems: []Problem{{Path: "parameters.x", Message: "has no value"}}}}
	valid := []*Parsed{{Name: "a", Kind: KindDeployment}}
	tests := []struct {
		name   string
		parsed []*Parsed
		by     []string
		reads  []LinkedBlob
		kind   string
	}{
		{"not linked", invalid, nil, nil, KindDeployment},
		{"linked, invalid alone", invalid, []string{"main.json"}, nil, KindLinked},
		{"linked, valid alone", valid, []string{"main.json"}, nil, KindDeployment},
		{"linked by itself only", invalid, []string{"a.json"}, nil, KindDeployment},
		{"a cycle: it links its linker back", invalid, []string{"main.json"}, []LinkedBlob{{Blob: "main.json", ETag: "x"}}, KindDeployment},
		{"linked by two, one of them in a cycle", invalid, []string{"main.json", "other.json"}, []LinkedBlob{{Blob: "main.json"}}, KindLinked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := asLinked("a.json", "a", tt.parsed, tt.by, tt.reads)
			if len(out) != 1 || out[0].Kind != tt.kind {
				t.Fatalf("%+v", out)
			}
			if tt.kind == KindLinked {
				var rec Record
				renderLinked(&rec, out[0])
				if rec.Valid || len(rec.Problems) != 0 || len(rec.Notes) != 1 || !strings.Contains(rec.Notes[0], `linked by "`) {
					t.Errorf("record: %+v", rec)
				}
			}
		})
	}
}

// A shape whose linked template links itself again and again is stopped
// by arm's bounds: a problem, not a hang.
func TestSelfLinkIsBounded(t *testing.T) {
	dir := t.TempDir()
	tpl := `{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
	  "resources": [{"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "self",
	    "properties": {"mode": "Incremental", "templateLink": {"relativePath": "self.json"}}}]}`
	if err := os.WriteFile(filepath.Join(dir, "self.json"), []byte(tpl), 0o644); err != nil {
		t.Fatal(err)
	}
	dep := corpusDeployment
	dep.Load = DirLoader(dir)
	out := ParseFile("self", []byte(tpl), nil, Options{ScriptsURL: testScriptsURL, Deployment: dep})
	if len(out) != 1 || out[0].Valid() {
		t.Fatalf("%+v", out)
	}
	if got := strings.Join(problemStrings(out[0].Problems), "\n"); !strings.Contains(got, "deployments nested more than 10 deep") {
		t.Errorf("problems:\n%s", got)
	}
}
