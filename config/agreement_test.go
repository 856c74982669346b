package config

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// bicepSettings reads the app settings main.bicep defines: the keys of its
// appSettings and identitySettings objects.
func bicepSettings(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open("../deploy/main.bicep")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]bool{}
	key := regexp.MustCompile(`^\s+([A-Za-z_][A-Za-z0-9_]*):`)
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "var appSettings = {"), strings.HasPrefix(line, "var identitySettings = "):
			in = true
		case in && strings.HasPrefix(line, "}"):
			in = false
		case in:
			if m := key.FindStringSubmatch(line); m != nil {
				out[m[1]] = true
			}
		}
	}
	if len(out) < 10 {
		t.Fatalf("found only %d settings in main.bicep: has its appSettings block moved?", len(out))
	}
	return out
}

func exampleSettings(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../local.settings.json.example")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Values map[string]string }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for k := range f.Values {
		out[k] = true
	}
	return out
}

// functionRefs returns the %SETTING% placeholders of every function.json.
func functionRefs(t *testing.T) map[string]bool {
	t.Helper()
	paths, _ := filepath.Glob("../functions/*/function.json")
	ref := regexp.MustCompile(`%([A-Za-z_][A-Za-z0-9_]*)%`)
	out := map[string]bool{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ref.FindAllStringSubmatch(string(b), -1) {
			out[m[1]] = true
		}
	}
	return out
}

var connectionSuffixes = []string{"credential", "clientId", "serviceUri", "blobServiceUri", "tableServiceUri", "accountName", "fullyQualifiedNamespace"}

// defines reports whether a set of settings defines s.
func defines(set map[string]bool, s Setting) bool {
	if set[s.Name] {
		return true
	}
	if s.Connection {
		for k := range set {
			if strings.HasPrefix(k, s.Name+"__") {
				return true
			}
		}
	}
	return false
}

// readBySomeone reports whether a defined setting is read by the handler or
// the host.
func readBySomeone(name string, refs map[string]bool) bool {
	if refs[name] {
		return true
	}
	for _, h := range HostSettings {
		if name == h || strings.HasPrefix(name, h+"__") {
			return true
		}
	}
	for _, s := range Known() {
		if name == s.Name {
			return true
		}
		if s.Connection {
			for _, suf := range connectionSuffixes {
				if name == s.Name+"__"+suf {
					return true
				}
			}
		}
	}
	return false
}

// TestCodeExampleAndDeployAgree: every setting the code reads is defined in
// local.settings.json.example and in deploy/main.bicep (but those only local
// runs need), and nothing is defined there that no one reads.
func TestCodeExampleAndDeployAgree(t *testing.T) {
	deploy, example, refs := bicepSettings(t), exampleSettings(t), functionRefs(t)
	for _, s := range Known() {
		if s.HostSet {
			continue
		}
		if !defines(example, s) {
			t.Errorf("the code reads %s; local.settings.json.example does not define it", s.Name)
		}
		if !s.LocalOnly && !defines(deploy, s) {
			t.Errorf("the code reads %s; deploy/main.bicep does not define it", s.Name)
		}
	}
	for name := range refs {
		if !example[name] || !deploy[name] {
			t.Errorf("a function.json uses %%%s%%; it must be defined in the example (%v) and in main.bicep (%v)", name, example[name], deploy[name])
		}
	}
	for name := range example {
		if !readBySomeone(name, refs) {
			t.Errorf("local.settings.json.example defines %s, which nothing reads", name)
		}
	}
	for name := range deploy {
		if !readBySomeone(name, refs) {
			t.Errorf("deploy/main.bicep defines %s, which nothing reads", name)
		}
	}
	for _, local := range []string{ConnVHD, ConnStaging} {
		if defines(deploy, Setting{Name: local, Connection: true}) {
			t.Errorf("deploy/main.bicep defines %s, a local-only connection string: Azure uses identities", local)
		}
	}
}

func TestBicepHasNoSecrets(t *testing.T) {
	for _, f := range []string{"main.bicep", "subscription-roles.bicep", "imagebuilder-roles.bicep"} {
		b, err := os.ReadFile(filepath.Join("..", "deploy", f))
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"listKeys(", "AccountKey=", "SharedAccessKey", "connectionString("} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s uses %s: settings must be identity-based", f, bad)
			}
		}
	}
}
