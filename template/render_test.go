package template

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/goldenpipe/goldenpipe"
)

var update = flag.Bool("update", false, "rewrite the golden files")

type fakeChecksums map[string]string

func (f fakeChecksums) Checksum(_ context.Context, name string) (goldenpipe.Checksum, error) {
	sum, ok := f[name]
	if !ok {
		return goldenpipe.Checksum{}, goldenpipe.Errorf(goldenpipe.ENOTFOUND, "no script %q", name)
	}
	return goldenpipe.Checksum{Name: name, SHA256: sum}, nil
}

type fakeVersions struct {
	versions map[string][]string // publisher/offer/sku → versions
	calls    atomic.Int64
}

func (f *fakeVersions) ListVersions(_ context.Context, location, publisher, offer, sku string) ([]string, error) {
	f.calls.Add(1)
	return f.versions[publisher+"/"+offer+"/"+sku], nil
}

var testScripts = fakeChecksums{
	"linux/hardening.sh":   "1f3a6ff6902a4a52deee69e8db26d0036a53388651008aaf31795bb20dabd21f",
	"linux/index.html":     "7d865e959b2466918c9863afca942d0fb89d7c9ac0c99bafc3749504ded97730",
	"avd/install-apps.ps1": "9b2c6ff6902a4a52deee69e8db26d0036a53388651008aaf31795bb20dabd21f",
}

func testVersions() *fakeVersions {
	return &fakeVersions{versions: map[string][]string{
		"Canonical/UbuntuServer/18.04-LTS":                       {"18.04.202401161", "18.04.202306070", "18.04.202401160"},
		"MicrosoftWindowsDesktop/office-365/win11-23h2-avd-m365": {"22631.2861.231204", "22631.4460.241106", "22631.3880.240709"},
	}}
}

func render(t *testing.T, p *Parsed, scripts fakeChecksums, v VersionLister) *Rendered {
	t.Helper()
	if !p.Valid() {
		t.Fatalf("problems: %v", p.Problems)
	}
	r := &Renderer{ScriptsURL: testScriptsURL, Checksums: scripts, Versions: &Resolver{Lister: v}}
	out, problems, err := r.Render(context.Background(), p)
	if err != nil || len(problems) > 0 {
		t.Fatalf("render: %v %v", problems, err)
	}
	return out
}

// TestGoldenUpgradeAndRender: old API in, the exact 2024-02-01 request out.
func TestGoldenUpgradeAndRender(t *testing.T) {
	for _, name := range []string{"ubuntu-shell", "windows-avd-powershell", "managed-image-source", "shared-image-version-source"} {
		t.Run(name, func(t *testing.T) {
			out := render(t, parseFixture(t, "seed", name), testScripts, testVersions())
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, out.JSON, "", "  "); err != nil {
				t.Fatal(err)
			}
			pretty.WriteString("\n")
			golden := filepath.Join("testdata", "golden", name+".json")
			if *update {
				if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./template -run Golden -update)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("rendered template differs from %s:\n%s", golden, pretty.String())
			}
		})
	}
}

func TestRenderFillsChecksumsAndExactVersion(t *testing.T) {
	out := render(t, parseFixture(t, "seed", "ubuntu-shell"), testScripts, testVersions())
	s := string(out.JSON)
	for _, want := range []string{
		`"version":"18.04.202401161"`,
		`"sha256Checksum":"` + testScripts["linux/hardening.sh"] + `"`,
		`"sha256Checksum":"` + testScripts["linux/index.html"] + `"`,
		`"targetRegions":[{"name":"westus2"},{"name":"eastus"}]`,
		`"artifactTags":{"source":"azVmImageBuilder"}`,
		`"type":"ManagedImage"`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("rendered template lacks %s", want)
		}
	}
	for _, gone := range []string{"dependsOn", "apiVersion", "replicationRegions", `"tags":{"source"`} {
		if strings.Contains(s, gone) {
			t.Errorf("rendered template still has %s", gone)
		}
	}
	if out.SourceVersion != "18.04.202401161" || len(out.Scripts) != 2 {
		t.Errorf("source %q scripts %v", out.SourceVersion, out.Scripts)
	}
	// the stale checksum written in the template was replaced, with a warning
	if len(out.Warnings) != 1 || !strings.Contains(out.Warnings[0].String(), "properties.customize[0].sha256Checksum: 2c6ff690… is stale") {
		t.Errorf("warnings = %v", out.Warnings)
	}
}

func TestRenderPinnedChecksumIsKept(t *testing.T) {
	b, _ := os.ReadFile(filepath.Join("testdata", "seed", "ubuntu-shell.json"))
	pinned := bytes.Replace(b, []byte(`"properties": {`), []byte(`"goldenpipe": {"pinnedChecksums": ["setupHardening"]}, "properties": {`), 1)
	p := Parse("ubuntu", pinned, Options{ScriptsURL: testScriptsURL})
	out := render(t, p, testScripts, testVersions())
	if !strings.Contains(string(out.JSON), `"sha256Checksum":"2c6ff6902a4a52deee69e8db26d0036a53388651008aaf31795bb20dabd21fd8"`) {
		t.Errorf("pinned checksum was replaced: %s", out.JSON)
	}
	if strings.Contains(string(out.JSON), "goldenpipe") {
		t.Error("the goldenpipe section reached the rendered template")
	}
	if len(out.Warnings) != 1 || !strings.Contains(out.Warnings[0].Message, "pinned to 2c6ff690…") {
		t.Errorf("warnings = %v", out.Warnings)
	}
}

func TestRenderMissingScriptIsAProblem(t *testing.T) {
	p := parseFixture(t, "seed", "ubuntu-shell")
	scripts := fakeChecksums{"linux/hardening.sh": testScripts["linux/hardening.sh"]}
	r := &Renderer{ScriptsURL: testScriptsURL, Checksums: scripts, Versions: &Resolver{Lister: testVersions()}}
	out, problems, err := r.Render(context.Background(), p)
	if err != nil || out != nil || len(problems) != 1 || problems[0].String() != `properties.customize[2]: script "linux/index.html" does not exist in the scripts container` {
		t.Fatalf("= %v %v %v", out, problems, err)
	}
}

func TestVersionOrdering(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"8.10.2024", "8.9.2024", 1},
		{"8.9.2024", "8.10.2024", -1},
		{"20348.2849.241106", "20348.2762.241009", 1},
		{"20348.2849.241106", "20348.2849.241106", 0},
		{"2024.11.13", "2024.12.10", -1},
		{"22631.4460.241106", "22631.10.250101", 1},
		{"18.04.202401161", "18.04.202401160", 1},
		{"1.0", "1.0.1", -1},
		{"9.99", "10.0", -1},
		{"17763.6532.241106", "17763.6532.241106", 0},
		{"99999999999999999999.1", "99999999999999999998.9", 1}, // beyond int64
	}
	for _, tt := range tests {
		if got := CompareVersions(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareVersions(%s, %s) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
	list := []string{"8.9.2024", "8.10.2024", "8.2.2025", "8.10.2023"}
	if got := Newest(list); got != "8.10.2024" {
		t.Errorf("Newest = %s (text order would say 8.9.2024)", got)
	}
}

func TestResolverLooksEachImageUpOnce(t *testing.T) {
	v := testVersions()
	r := &Resolver{Lister: v}
	for i := 0; i < 5; i++ {
		for _, loc := range []string{"westus2", "West US 2"} {
			got, err := r.Latest(context.Background(), loc, "Canonical", "UbuntuServer", "18.04-LTS")
			if err != nil || got != "18.04.202401161" {
				t.Fatalf("Latest = %q, %v", got, err)
			}
		}
	}
	if _, err := r.Latest(context.Background(), "westus2", "MicrosoftWindowsDesktop", "office-365", "win11-23h2-avd-m365"); err != nil {
		t.Fatal(err)
	}
	if v.calls.Load() != 2 {
		t.Errorf("%d lookups for 2 distinct images", v.calls.Load())
	}
	if _, err := r.Latest(context.Background(), "westus2", "Nobody", "none", "x"); goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
		t.Errorf("unknown image: %v", err)
	}
}
