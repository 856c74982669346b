package pack

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestMakePackage runs `make package` and checks the zip is laid out as the
// Functions host expects: host.json at the root, one folder per function with
// its function.json, and the handler binary (executable, linux ELF) where
// host.json's customHandler points. Nothing else.
func TestMakePackage(t *testing.T) {
	dir := t.TempDir()
	zipPath := filepath.Join(dir, "app.zip")
	make := exec.Command("make", "-s", "package", "BIN="+filepath.Join(dir, "goldenpipe"), "ZIP="+zipPath)
	make.Dir = filepath.Join("..", "..")
	if out, err := make.CombinedOutput(); err != nil {
		t.Fatalf("make package: %v\n%s", err, out)
	}
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()

	files := map[string]*zip.File{}
	for _, f := range zr.File {
		files[f.Name] = f
	}
	hj, ok := files["host.json"]
	if !ok {
		t.Fatal("no host.json at the root of the zip")
	}
	var h HostJSON
	if err := json.Unmarshal(read(t, hj), &h); err != nil {
		t.Fatal(err)
	}
	if h.ExtensionBundle.Version != "[4.*, 5.0.0)" || !h.CustomHandler.EnableForwardingHTTPRequest {
		t.Errorf("host.json = %+v", h)
	}
	exe := h.CustomHandler.Description.DefaultExecutablePath
	bin, ok := files[exe]
	if !ok {
		t.Fatalf("host.json points at %q, which is not in the zip", exe)
	}
	if bin.Mode().Perm()&0o111 == 0 {
		t.Errorf("%s is not executable: %v", exe, bin.Mode())
	}
	if head := read(t, bin)[:4]; !bytes.Equal(head, []byte("\x7fELF")) {
		t.Errorf("%s is not an ELF binary", exe)
	}

	want, _ := filepath.Glob(filepath.Join("..", "..", "functions", "*", "function.json"))
	var wantNames, gotNames []string
	for _, p := range want {
		wantNames = append(wantNames, path.Join(filepath.Base(filepath.Dir(p)), "function.json"))
	}
	for name, f := range files {
		switch {
		case name == "host.json" || name == exe:
		case strings.Count(name, "/") == 1 && strings.HasSuffix(name, "/function.json"):
			gotNames = append(gotNames, name)
			var fj struct{ Bindings []json.RawMessage }
			if err := json.Unmarshal(read(t, f), &fj); err != nil || len(fj.Bindings) == 0 {
				t.Errorf("%s: not a function.json with bindings: %v", name, err)
			}
		default:
			t.Errorf("unexpected entry %q in the zip", name)
		}
	}
	sort.Strings(wantNames)
	sort.Strings(gotNames)
	if strings.Join(gotNames, ",") != strings.Join(wantNames, ",") {
		t.Errorf("function folders = %v, want %v", gotNames, wantNames)
	}
}

func read(t *testing.T, f *zip.File) []byte {
	t.Helper()
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWriteRefusesAppWithoutFunctions(t *testing.T) {
	dir := t.TempDir()
	_ = os.WriteFile(filepath.Join(dir, "host.json"), []byte(`{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"x"}}}`), 0o644)
	_ = os.Mkdir(filepath.Join(dir, "functions"), 0o755)
	err := Write(io.Discard, dir, "/bin/sh")
	if err == nil || !strings.Contains(err.Error(), "no functions") {
		t.Fatalf("err = %v", err)
	}
}
