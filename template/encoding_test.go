package template

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

// utf16Bytes encodes s as UTF-16 with its byte-order mark, as Windows
// PowerShell 5.1's Out-File writes it (-Encoding Unicode, BigEndianUnicode).
func utf16Bytes(s string, le bool) []byte {
	out := []byte{0xFE, 0xFF}
	if le {
		out = []byte{0xFF, 0xFE}
	}
	for _, u := range utf16.Encode([]rune(s)) {
		if le {
			out = append(out, byte(u), byte(u>>8))
		} else {
			out = append(out, byte(u>>8), byte(u))
		}
	}
	return out
}

// A template saved by Notepad or Windows PowerShell (a UTF-8 BOM, UTF-16
// LE or BE with a BOM) reads as the same template as its UTF-8 text,
// characters outside the BMP included.
func TestTemplateSavedOnWindowsIsAccepted(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "seed", "windows-avd-powershell.json"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(b), `"avd-win11"`, `"avd-win11 Ünïcødé ✓ 😀"`, 1)
	if text == string(b) {
		t.Fatal("the fixture's tag was not found")
	}
	want := Parse("avd", []byte(text), Options{ScriptsURL: testScriptsURL})
	if !want.Valid() {
		t.Fatalf("the UTF-8 fixture is invalid: %v", want.Problems)
	}
	if !bytes.Contains(want.upgradedTo, []byte("Ünïcødé ✓ 😀")) {
		t.Fatalf("the tag's characters are not in the template: %s", want.upgradedTo)
	}
	for _, tt := range []struct {
		name string
		raw  []byte
	}{
		{"UTF-8 with BOM", append([]byte{0xEF, 0xBB, 0xBF}, text...)},
		{"UTF-16 LE with BOM", utf16Bytes(text, true)},
		{"UTF-16 BE with BOM", utf16Bytes(text, false)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := Parse("avd", tt.raw, Options{ScriptsURL: testScriptsURL})
			if !p.Valid() {
				t.Fatalf("refused: %v", p.Problems)
			}
			if !bytes.Equal(p.upgradedTo, want.upgradedTo) {
				t.Errorf("reads differently from the UTF-8 file:\n%s\nwant\n%s", p.upgradedTo, want.upgradedTo)
			}
		})
	}
}

// Bytes that are not the text they claim to be are refused with the
// offset of the first bad byte in the file as saved, and nothing of the
// template is read (never U+FFFD in what goes to Image Builder).
func TestTemplateWithInvalidTextIsRefusedWithTheOffset(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "seed", "windows-avd-powershell.json"))
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(b, []byte(`"avd-win11"`)) + 4 // inside the tag's string
	bad := func(insert ...byte) []byte {
		out := append([]byte{}, b[:at]...)
		out = append(out, insert...)
		return append(out, b[at:]...)
	}
	le := utf16Bytes(string(b), true)
	lone := append(append([]byte{}, le[:2+2*at]...), 0x00, 0xD8) // a high surrogate, then a quote
	lone = append(lone, le[2+2*at:]...)
	tests := []struct {
		name string
		raw  []byte
		want string
	}{
		{"a Latin-1 byte", bad(0xE9), "invalid UTF-8 at byte " + itoa(at)},
		{"a cut sequence", bad(0xE2, 0x9C), "invalid UTF-8 at byte " + itoa(at)},
		{"an overlong encoding", bad(0xC0, 0xAF), "invalid UTF-8 at byte " + itoa(at)},
		{"an encoded surrogate", bad(0xED, 0xA0, 0x80), "invalid UTF-8 at byte " + itoa(at)},
		{"after a UTF-8 BOM", append([]byte{0xEF, 0xBB, 0xBF}, bad(0xFF)...), "invalid UTF-8 at byte " + itoa(at+3)},
		{"UTF-16 with an odd length", le[:len(le)-1], "odd number of bytes"},
		{"UTF-16 with an unpaired surrogate", lone, "invalid UTF-16 LE at byte " + itoa(2+2*at) + ": an unpaired surrogate 0xD800"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := ParseFile("avd", tt.raw, nil, Options{ScriptsURL: testScriptsURL})
			if len(ps) != 1 || ps[0].Valid() || ps[0].upgradedTo != nil {
				t.Fatalf("accepted (problems %v)", ps[0].Problems)
			}
			if len(ps[0].Problems) != 1 || !strings.Contains(ps[0].Problems[0].Message, tt.want) {
				t.Errorf("problems %v, want one saying %q", ps[0].Problems, tt.want)
			}
		})
	}
	t.Run("in the parameters file", func(t *testing.T) {
		dep := []byte(`{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0","resources":[]}`)
		ps := ParseFile("avd", dep, []byte("{\"parameters\":{\"x\":{\"value\":\"\xff\"}}}"), Options{})
		if len(ps) != 1 || ps[0].Valid() || !strings.Contains(ps[0].Problems[0].Message, "invalid UTF-8 at byte 29") {
			t.Errorf("problems %v", ps[0].Problems)
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }

// FuzzDecodeText: whatever the bytes, the text is valid UTF-8 or refused
// with an offset inside the file, and UTF-8 without a BOM is kept as is.
func FuzzDecodeText(f *testing.F) {
	f.Add([]byte("{}"))
	f.Add([]byte{0xEF, 0xBB, 0xBF, '{', '}'})
	f.Add(utf16Bytes(`{"a":"😀"}`, true))
	f.Add(utf16Bytes(`{"a":"😀"}`, false))
	f.Add([]byte{0xFF, 0xFE, 0x00, 0xD8})
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, err := DecodeText(raw)
		if err != nil {
			if !strings.Contains(err.Error(), "at byte ") && !strings.Contains(err.Error(), "odd number") {
				t.Fatalf("error without an offset: %v", err)
			}
			return
		}
		if !utf8.Valid(out) {
			t.Fatalf("invalid UTF-8 out: %q", out)
		}
		if utf8.Valid(raw) && !bytes.HasPrefix(raw, []byte{0xEF, 0xBB, 0xBF}) && !bytes.Equal(out, raw) {
			t.Fatalf("UTF-8 text changed: %q -> %q", raw, out)
		}
	})
}
