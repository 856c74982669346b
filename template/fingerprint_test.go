package template

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func shuffle(n *node, rng *rand.Rand) {
	rng.Shuffle(len(n.Members), func(i, j int) { n.Members[i], n.Members[j] = n.Members[j], n.Members[i] })
	for _, m := range n.Members {
		shuffle(m.Val, rng)
	}
	for _, it := range n.Items {
		shuffle(it, rng) // array order is meaning (customizer order): shuffled inside only
	}
}

func fingerprintOf(t *testing.T, raw []byte, scripts fakeChecksums, v VersionLister) string {
	t.Helper()
	return render(t, Parse("t", raw, Options{ScriptsURL: testScriptsURL}), scripts, v).Fingerprint
}

// Reordering keys and changing whitespace keeps the fingerprint.
func TestFingerprintIgnoresKeyOrderAndWhitespace(t *testing.T) {
	for _, name := range []string{"ubuntu-shell", "windows-avd-powershell"} {
		raw, _ := os.ReadFile(filepath.Join("testdata", "seed", name+".json"))
		want := fingerprintOf(t, raw, testScripts, testVersions())
		for seed := uint64(0); seed < 50; seed++ {
			rng := rand.New(rand.NewPCG(seed, 7))
			root, err := parseJSON(raw)
			if err != nil {
				t.Fatal(err)
			}
			shuffle(root, rng)
			var compact, spaced bytes.Buffer
			root.Encode(&compact)
			_ = json.Indent(&spaced, compact.Bytes(), strings.Repeat(" ", rng.IntN(4)), strings.Repeat("\t", 1+rng.IntN(3)))
			for _, variant := range [][]byte{compact.Bytes(), spaced.Bytes()} {
				if got := fingerprintOf(t, variant, testScripts, testVersions()); got != want {
					t.Fatalf("%s seed %d: fingerprint %s, want %s\n%s", name, seed, got, want, variant)
				}
			}
		}
	}
}

// Anything that makes the image moves the fingerprint; tags do not.
func TestFingerprintMovesWithWhatMakesTheImage(t *testing.T) {
	raw, _ := os.ReadFile(filepath.Join("testdata", "seed", "ubuntu-shell.json"))
	base := fingerprintOf(t, raw, testScripts, testVersions())
	edit := func(old, new string) []byte {
		if !bytes.Contains(raw, []byte(old)) {
			t.Fatalf("fixture lacks %q", old)
		}
		return bytes.Replace(raw, []byte(old), []byte(new), 1)
	}
	otherScripts := fakeChecksums{}
	for k, v := range testScripts {
		otherScripts[k] = v
	}
	otherScripts["linux/hardening.sh"] = strings.Repeat("e", 64)
	newer := testVersions()
	newer.versions["Canonical/UbuntuServer/18.04-LTS"] = append(newer.versions["Canonical/UbuntuServer/18.04-LTS"], "18.04.202412100")

	moves := map[string]string{
		"inline command":       fingerprintOf(t, edit(`"sudo apt-get install -y nginx"`, `"sudo apt-get install -y apache2"`), testScripts, testVersions()),
		"customizer name":      fingerprintOf(t, edit(`"name": "setupHardening"`, `"name": "setupHardening2"`), testScripts, testVersions()),
		"script checksum":      fingerprintOf(t, raw, otherScripts, testVersions()),
		"newer source version": fingerprintOf(t, raw, testScripts, newer),
		"pinned source":        fingerprintOf(t, edit(`"version": "latest"`, `"version": "18.04.202306070"`), testScripts, testVersions()),
		"vm size":              fingerprintOf(t, edit(`"Standard_D1_v2"`, `"Standard_D2s_v3"`), testScripts, testVersions()),
		"file destination":     fingerprintOf(t, edit(`"/tmp/index.html"`, `"/tmp/www/index.html"`), testScripts, testVersions()),
		"distribution target":  fingerprintOf(t, edit(`"eastus"`, `"northeurope"`), testScripts, testVersions()),
		"location": fingerprintOf(t, edit(`"location": "westus2",
    "dependsOn"`, `"location": "eastus",
    "dependsOn"`), testScripts, testVersions()),
	}
	for what, fp := range moves {
		if fp == base {
			t.Errorf("changing the %s kept the fingerprint", what)
		}
	}
	stays := map[string]string{
		"template tags": fingerprintOf(t, edit(`"userIdentity": "enabled"`, `"userIdentity": "disabled", "owner": "platform"`), testScripts, testVersions()),
		"artifact tags": fingerprintOf(t, edit(`"baseosimg": "ubuntu1804"`, `"baseosimg": "ubuntu"`), testScripts, testVersions()),
		"apiVersion":    fingerprintOf(t, edit(`"2019-05-01-preview"`, `"2024-02-01"`), testScripts, testVersions()),
	}
	for what, fp := range stays {
		if fp != base {
			t.Errorf("changing the %s moved the fingerprint", what)
		}
	}
}

func TestPlan(t *testing.T) {
	raw, _ := os.ReadFile(filepath.Join("testdata", "seed", "ubuntu-shell.json"))
	p := Parse("ubuntu", raw, Options{ScriptsURL: testScriptsURL})
	now := render(t, p, testScripts, testVersions())
	last := &BuildSummary{BuildID: "b1", Fingerprint: now.Fingerprint, SourceVersion: now.SourceVersion, Scripts: now.Scripts}
	if pl := MakePlan(now, p.Policy, nil); !pl.Rebuild || pl.Reason != "never built" {
		t.Errorf("never built: %+v", pl)
	}
	if pl := MakePlan(now, p.Policy, last); pl.Rebuild || pl.Reason != "up to date with build b1" {
		t.Errorf("unchanged: %+v", pl)
	}
	if pl := MakePlan(now, Policy{Rebuild: RebuildNightly}, last); !pl.Rebuild {
		t.Errorf("nightly policy: %+v", pl)
	}
	older := &BuildSummary{BuildID: "b0", Fingerprint: "old", SourceVersion: "18.04.202306070",
		Scripts: map[string]string{"linux/hardening.sh": "aaaa" + strings.Repeat("0", 60), "linux/index.html": now.Scripts["linux/index.html"], "linux/gone.sh": strings.Repeat("1", 64)}}
	pl := MakePlan(now, p.Policy, older)
	want := "source 18.04.202306070 → 18.04.202401161; linux/gone.sh removed; linux/hardening.sh aaaa… → 1f3a…"
	if !pl.Rebuild || pl.Reason != want {
		t.Errorf("plan reason %q\nwant        %q", pl.Reason, want)
	}
	changedOnly := &BuildSummary{BuildID: "b2", Fingerprint: "other", SourceVersion: now.SourceVersion, Scripts: now.Scripts}
	if pl := MakePlan(now, p.Policy, changedOnly); !pl.Rebuild || pl.Reason != "the template changed" {
		t.Errorf("template-only change: %+v", pl)
	}
}
