package app

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/goldenpipe/goldenpipe/template"
)

// Templates saved on Windows (Notepad's UTF-8 with a BOM, Windows
// PowerShell 5.1's UTF-16 LE) are read by the app as their UTF-8 text; a
// template with invalid UTF-8 is recorded invalid with the byte offset.
func TestTemplatesSavedOnWindowsEndToEnd(t *testing.T) {
	h := newHarness(t, "bom")
	url := h.upload(h.s.ScriptsContainer, "avd/install-apps.ps1", []byte("Write-Host 'apps'\r\n"))
	raw, err := os.ReadFile(filepath.Join("..", "template", "testdata", "seed", "windows-avd-powershell.json"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(raw), "https://goldenscripts.blob.core.windows.net/scripts/avd/install-apps.ps1", url)
	le := []byte{0xFF, 0xFE}
	for _, u := range utf16.Encode([]rune(text)) {
		le = append(le, byte(u), byte(u>>8))
	}
	at := strings.Index(text, "avd-win11")
	bad := []byte(text[:at] + "\xe9" + text[at:])
	files := map[string][]byte{"plain": []byte(text), "bom": append([]byte{0xEF, 0xBB, 0xBF}, text...), "utf16": le, "latin1": bad}
	for name, b := range files {
		h.upload(h.s.TemplatesContainer, name+".json", b)
		h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, name+".json")
	}
	var plain template.Record
	h.get("/api/templates/plain", &plain)
	if !plain.Valid {
		t.Fatalf("the plain template: %v", plain.Problems)
	}
	for _, name := range []string{"bom", "utf16"} {
		var rec template.Record
		h.get("/api/templates/"+name, &rec)
		if !rec.Valid || rec.Rendered == nil || rec.Rendered.Fingerprint != plain.Rendered.Fingerprint || !bytes.Equal(rec.Rendered.JSON, plain.Rendered.JSON) {
			t.Errorf("%s: valid %v, problems %v", name, rec.Valid, rec.Problems)
		}
	}
	var rec template.Record
	h.get("/api/templates/latin1", &rec)
	if rec.Valid || len(rec.Problems) != 1 || !strings.Contains(rec.Problems[0].Message, "invalid UTF-8 at byte "+strconv.Itoa(at)) {
		t.Errorf("latin1: valid %v, problems %v", rec.Valid, rec.Problems)
	}
}
