package template

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testScriptsURL = "https://goldenscripts.blob.core.windows.net/scripts"

func parseFixture(t testing.TB, dir, name string) *Parsed {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", dir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return Parse(name, b, Options{ScriptsURL: testScriptsURL})
}

// The seed's examples, assembled into whole templates, pass.
func TestSeedExamplesAreValid(t *testing.T) {
	tests := []struct {
		name, os, api string
		notes         []string // each must appear among the upgrade notes
	}{
		{"ubuntu-shell", OSLinux, "2019-05-01-preview", []string{
			"dependsOn: dependsOn belongs to ARM deployment templates",
			`properties.distribute[0].type: "managedImage" written as "ManagedImage"`,
			`properties.distribute[1].replicationRegions: deprecated since API 2022-07-01; written as targetRegions`,
			`properties.distribute[2].tags: renamed to "artifactTags"`,
		}},
		{"windows-avd-powershell", OSWindows, "2019-05-01-preview", []string{
			`properties.customize[0].runElevated: string "true" written as a boolean`,
			`properties.customize[1].inline: a single string written as an array`,
			`properties.customize[1].validExitCodes: a single number written as an array`,
		}},
		{"managed-image-source", "", "2020-02-14", nil},
		{"shared-image-version-source", "", "2020-02-14", []string{`properties.source.imageVersionID: renamed to "imageVersionId"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := parseFixture(t, "seed", tt.name)
			if !p.Valid() {
				t.Fatalf("problems: %v", p.Problems)
			}
			if p.OS != tt.os || p.SourceAPI != tt.api {
				t.Errorf("OS %q API %q, want %q %q", p.OS, p.SourceAPI, tt.os, tt.api)
			}
			all := strings.Join(p.Notes, "\n")
			for _, n := range tt.notes {
				if !strings.Contains(all, n) {
					t.Errorf("notes lack %q:\n%s", n, all)
				}
			}
		})
	}
}

// Each seeded mistake is reported with its path; nothing else is reported.
func TestSeededMistakesAreReportedWithTheirPaths(t *testing.T) {
	tests := map[string][]string{ // "path: message fragment", in any order, all of them
		"mistake-skeleton":   {"(template): not valid JSON: line 9, column 5"},
		"mistake-iso-source": {"properties.source.type: ISO sources are deprecated"},
		"mistake-placeholders": {
			`location: "<region>" is a placeholder`,
			"tags.<name: the key is a placeholder",
			"identity.userAssignedIdentities.<imgBuilderId>: the identity is a placeholder",
			`properties.buildTimeoutInMinutes: "<minutes>" is a placeholder`,
			`properties.customize[0].name: "<name>" is a placeholder`,
			`properties.customize[0].scriptUri: "<path to script>" is a placeholder`,
			`properties.customize[0].sha256Checksum: "<sha256 checksum>" is a placeholder`,
			`properties.distribute[0].runOutputName: "<VHD name>" is a placeholder`,
		},
		"mistake-linux": {
			"properties.buildTimeout: unknown field",
			"properties.vmProfile.vnetConfig.name: was replaced by subnetId",
			"properties.vmProfile.vnetConfig.subnetName: was replaced by subnetId",
			"properties.vmProfile.vnetConfig.resourceGroupName: was replaced by subnetId",
			"properties.buildTimeoutInMinutes: 1000 is out of range: 0 (the default, 240) or 6 to 960",
			"properties.customize[3]: Shell gives both scriptUri and inline",
			`properties.customize[4].destination: "/etc/app.conf" is outside /tmp`,
			"properties.customize[5].type: WindowsRestart runs on Windows only",
			`properties.customize[5].restartTimeout: "5 minutes" is not a duration`,
			"properties.customize[6].sha256Checksum: must be lowercase hex",
			`properties.customize[7].sha256Checksum: "abc123" is not a sha256`,
			"properties.customize[8]: Shell needs scriptUri or inline",
			"properties.distribute[0].runOutputName: is required",
			"properties.distribute[1].imageId: is required",
			"properties.distribute[1].location: is required",
			`properties.distribute[2].runOutputName: duplicate "out"`,
			`properties.distribute[3].runOutputName: "bad name!" must be 1-64`,
		},
		"mistake-windows": {
			"identity: is required since API 2020-02-14",
			"properties.customize[0].type: Shell runs on Linux only",
			`properties.customize[1].runElevated: must be true or false, not "<true false>"`,
			`properties.customize[1].validExitCodes: "<exit code>" is a placeholder`,
			"properties.customize[1]: PowerShell needs scriptUri or inline",
			"properties.customize[2].sha256Checksum: applies to scriptUri only",
			`properties.customize[3].type: unknown type "Ansible"`,
			`properties.errorHandling.onCustomizerError: "ignore" must be "cleanup" or "abort"`,
		},
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			p := parseFixture(t, "seed", name)
			got := make([]string, len(p.Problems))
			for i, pr := range p.Problems {
				got[i] = pr.String()
			}
			for _, w := range want {
				found := false
				for _, g := range got {
					found = found || strings.HasPrefix(g, w) || strings.Contains(g, w)
				}
				if !found {
					t.Errorf("missing problem %q", w)
				}
			}
			if len(got) != len(want) {
				t.Errorf("%d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
			}
		})
	}
}

func TestTemplateNames(t *testing.T) {
	for name, ok := range map[string]bool{"avd-win11": true, "a": true, "ubuntu_22.04-gen2": true, strings.Repeat("x", 64): true,
		strings.Repeat("x", 65): false, "with space": false, "folder/avd": false, "": false} {
		p := Parse(name, []byte(`{}`), Options{})
		hasNameProblem := false
		for _, pr := range p.Problems {
			hasNameProblem = hasNameProblem || pr.Path == "(name)"
		}
		if hasNameProblem == ok {
			t.Errorf("name %q: problem=%v, want ok=%v", name, hasNameProblem, ok)
		}
	}
	if n, err := NameFromBlob("avd-win11.json"); err != nil || n != "avd-win11" {
		t.Errorf("NameFromBlob = %q, %v", n, err)
	}
	if _, err := NameFromBlob("readme.md"); err == nil {
		t.Error("NameFromBlob accepted a blob without .json")
	}
}

func TestHugeAndMalformedUploads(t *testing.T) {
	huge := []byte(`{"location":"` + strings.Repeat("x", MaxTemplateBytes) + `"}`)
	deep := []byte(strings.Repeat("[", 10000) + strings.Repeat("]", 10000))
	tests := map[string]struct {
		in   []byte
		want string
	}{
		"huge":                  {huge, "over the limit of 1048576"},
		"deep":                  {deep, "nested deeper than 32 levels"},
		"empty":                 {nil, "not valid JSON"},
		"array":                 {[]byte(`[]`), "must be a JSON object, not an array"},
		"trailing":              {[]byte(`{} {}`), "text after the template's closing brace"},
		"unterminated":          {[]byte(`{"location": "westus"`), "not closed"},
		"duplicate":             {[]byte(`{"location":"a","location":"b"}`), `location: duplicate field "location"`},
		"properties not object": {[]byte(`{"properties": 3}`), "properties: must be an object, not a number"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			p := Parse("x", tt.in, Options{})
			if p.Valid() || !strings.Contains(problemsText(p), tt.want) {
				t.Fatalf("problems %q, want one containing %q", problemsText(p), tt.want)
			}
		})
	}
}

func problemsText(p *Parsed) string {
	var b strings.Builder
	for _, pr := range p.Problems {
		b.WriteString(pr.String() + "\n")
	}
	return b.String()
}
