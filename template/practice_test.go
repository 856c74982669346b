package template

import (
	"context"
	"strings"
	"testing"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/practice"
)

// findingsOf returns the practice findings of a template: "check" for a
// warning, "check!" for a problem, each with its path.
func findingsOf(p *Parsed) map[string]string {
	out := map[string]string{}
	add := func(list []Problem, mark string) {
		for _, f := range list {
			if i := strings.LastIndex(f.Message, "["); i >= 0 {
				check := strings.SplitN(f.Message[i+1:], ":", 2)[0]
				if practice.Reason(check) != "" {
					out[check+mark] = f.Path
				}
			}
		}
	}
	add(p.Warnings, "")
	add(p.Problems, "!")
	return out
}

const ps = "PowerShell"

func TestPracticeChecks(t *testing.T) {
	avd := func(hostPool, sku string, extra ...any) []byte {
		kv := append([]any{"goldenpipe", map[string]any{"hostPool": hostPool}, "properties.source.publisher", "MicrosoftWindowsDesktop",
			"properties.source.offer", "windows-11", "properties.source.sku", sku}, extra...)
		return edit(t, windowsBase, kv...)
	}
	cleanup := map[string]any{"type": ps, "name": "cleanup", "inline": []any{"Remove-Item -Recurse -Force $env:TEMP\\*"}}
	update := map[string]any{"type": "WindowsUpdate"}
	restart := map[string]any{"type": "WindowsRestart"}
	inline := func(lines ...any) map[string]any {
		return map[string]any{"type": ps, "name": "s", "runElevated": true, "inline": lines}
	}
	tests := []struct {
		name   string
		raw    []byte
		trips  string // "check" (warning) or "check!" (problem); "" none of the checks named in quiet
		quiet  []string
		atPath string
	}{
		{"pooled host pool on an Enterprise image", avd("pooled", "win11-24h2-ent", "properties.customize.3", cleanup), "avd-image", nil, "properties.source.sku"},
		{"pooled host pool on multi-session", avd("pooled", "win11-24h2-avd", "properties.customize.3", cleanup), "", []string{"avd-image", "avd-cleanup", "gen2"}, ""},
		{"personal host pool on multi-session", avd("personal", "win11-24h2-avd", "properties.customize.3", cleanup), "avd-image", nil, "properties.source.sku"},
		{"personal host pool on Enterprise", avd("personal", "win11-24h2-ent", "properties.customize.3", cleanup), "", []string{"avd-image"}, ""},
		{"a Generation 1 image", edit(t, windowsBase, "properties.source.sku", "2019-Datacenter"), "gen2", nil, "properties.source.sku"},
		{"a Generation 2 image", edit(t, windowsBase, "properties.source.sku", "2022-datacenter-g2"), "", []string{"gen2"}, ""},
		{"a custom image source", edit(t, windowsBase, "properties.source", map[string]any{"type": "ManagedImage",
			"imageId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/images/old"}), "custom-source", nil, "properties.source"},
		{"a custom image source on purpose", edit(t, windowsBase, "goldenpipe", map[string]any{"recustomize": true}, "properties.source", map[string]any{"type": "ManagedImage",
			"imageId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/images/old"}), "", []string{"custom-source"}, ""},
		{"no Windows Update", edit(t, windowsBase, "properties.customize.2", restart), "windows-update", nil, "properties.customize"},
		{"an update with no restart after it", edit(t, windowsBase, "properties.customize.1", update, "properties.customize.2", restart,
			"properties.customize.0", map[string]any{"type": ps, "name": "x", "inline": []any{"x"}}), "", []string{"restart-after-update"}, ""},
		{"an update last", edit(t, windowsBase, "properties.customize.1", restart, "properties.customize.2", update), "restart-after-update", nil, "properties.customize[2]"},
		{"an exit code 3010 with no restart after it", edit(t, windowsBase, "properties.customize.1", update, "properties.customize.2", restart, "properties.customize.3",
			map[string]any{"type": ps, "name": "x", "inline": []any{"x"}, "validExitCodes": []any{0, 3010}}),
			"restart-after-update", nil, "properties.customize[3]"},
		{"an exit code 3010 with a restart after it", edit(t, windowsBase, "properties.customize.0",
			map[string]any{"type": ps, "name": "x", "inline": []any{"x"}, "validExitCodes": []any{0, 3010}}, "properties.customize.1", update, "properties.customize.2", restart),
			"", []string{"restart-after-update"}, ""},
		{"AVD without a cleanup", avd("pooled", "win11-24h2-avd"), "avd-cleanup", nil, "properties.customize"},
		{"domain join in an inline script", edit(t, windowsBase, "properties.customize.0", inline("$c = Get-Credential", "Add-Computer -DomainName contoso.com -Credential $c")),
			"domain-join!", nil, "properties.customize[0].inline[1]"},
		{"domain join only in a comment", edit(t, windowsBase, "properties.customize.0", inline("# Add-Computer -DomainName contoso.com is done by the host pool")),
			"", []string{"domain-join"}, ""},
		{"sysprep yourself", edit(t, windowsBase, "properties.customize.0", inline("C:\\Windows\\System32\\Sysprep\\Sysprep.exe /oobe /generalize /quit")),
			"self-sysprep!", nil, "properties.customize[0].inline[0]"},
		{"antivirus left on", edit(t, windowsBase, "properties.customize.0", inline("msiexec /i SophosSetup.msi /quiet")), "antivirus", nil, "properties.customize[0].inline[0]"},
		{"antivirus disabled before capture", edit(t, windowsBase, "properties.customize.0", inline("msiexec /i SophosSetup.msi /quiet", "Stop-Service 'Sophos Endpoint Defense'")),
			"", []string{"antivirus"}, ""},
		{"production published as a VHD only", edit(t, windowsBase, "properties.distribute.0", map[string]any{"type": "VHD", "runOutputName": "v"}), "production-gallery", nil, "properties.distribute"},
		{"a test image as a VHD", edit(t, windowsBase, "goldenpipe", map[string]any{"stage": "test"}, "properties.distribute.0", map[string]any{"type": "VHD", "runOutputName": "v"}),
			"", []string{"production-gallery"}, ""},
		{"a check silenced", edit(t, windowsBase, "goldenpipe", map[string]any{"ignore": []any{"windows-update"}}, "properties.customize.2", restart),
			"", []string{"windows-update"}, ""},
		{"sysprep silenced on purpose", edit(t, windowsBase, "goldenpipe", map[string]any{"ignore": []any{"self-sysprep"}}, "properties.customize.0", inline("Sysprep.exe /generalize /oobe")),
			"", []string{"self-sysprep"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Parse("t", tt.raw, Options{ScriptsURL: testScriptsURL})
			got := findingsOf(p)
			if tt.trips != "" {
				if at, ok := got[tt.trips]; !ok || at != tt.atPath {
					t.Errorf("want %s at %s; findings %v", tt.trips, tt.atPath, got)
				}
			}
			for _, q := range tt.quiet {
				if _, ok := got[q]; ok {
					t.Errorf("%s tripped: %v", q, got)
				}
				if _, ok := got[q+"!"]; ok {
					t.Errorf("%s! tripped: %v", q, got)
				}
			}
		})
	}
	t.Run("an unknown check to silence", func(t *testing.T) {
		p := Parse("t", edit(t, windowsBase, "goldenpipe", map[string]any{"ignore": []any{"no-such-check"}}), Options{})
		if !strings.Contains(strings.Join(problemStrings(p.Problems), "\n"), `goldenpipe.ignore: "no-such-check" is not a practice check`) {
			t.Errorf("%v", p.Problems)
		}
	})
}

// scannedScripts is a checksum catalog whose scripts were scanned.
type scannedScripts map[string]string

func (s scannedScripts) Checksum(_ context.Context, name string) (goldenpipe.Checksum, error) {
	text, ok := s[name]
	if !ok {
		return goldenpipe.Checksum{}, goldenpipe.Errorf(goldenpipe.ENOTFOUND, "no %s", name)
	}
	return goldenpipe.Checksum{Name: name, SHA256: strings.Repeat("a", 64), Findings: practice.Scan(text)}, nil
}

// A script of the scripts container that joins a domain is a problem at
// the step that runs it, with the script's line; silenced, it is not.
func TestScriptFindingsAtTheStep(t *testing.T) {
	raw := edit(t, windowsBase, "properties.customize.0.scriptUri", testScriptsURL+"/avd/join.ps1")
	scripts := scannedScripts{"avd/join.ps1": "Write-Host start\nAdd-Computer -DomainName contoso.com -Restart\n"}
	for _, silenced := range []bool{false, true} {
		r := raw
		if silenced {
			r = edit(t, string(raw), "goldenpipe", map[string]any{"ignore": []any{"domain-join"}})
		}
		p := Parse("t", r, Options{ScriptsURL: testScriptsURL})
		c, err := (&Renderer{ScriptsURL: testScriptsURL, Checksums: scripts, Versions: &Resolver{Lister: anyImage{}}}).Check(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(problemStrings(c.Problems), "\n")
		has := strings.Contains(got, "properties.customize[0].scriptUri: avd/join.ps1, line 2: Add-Computer -DomainName contoso.com -Restart: joins a domain [domain-join:")
		if has == silenced {
			t.Errorf("silenced=%v: %s", silenced, got)
		}
	}
}

// TestKeepVersionsPolicy: goldenpipe.keepVersions is a number from 1 to
// 1000 (0 keeps every version), and it has an effect only on a template
// that publishes to an Azure Compute Gallery.
func TestKeepVersionsPolicy(t *testing.T) {
	vhd := []any{map[string]any{"type": "VHD", "runOutputName": "vhd"}}
	tests := []struct {
		name    string
		raw     []byte
		problem string
		warning string
	}{
		{"a gallery template keeping 3", edit(t, windowsBase, "goldenpipe", map[string]any{"keepVersions": 3}), "", ""},
		{"the default keeps all", edit(t, windowsBase), "", ""},
		{"a VHD-only template", edit(t, windowsBase, "goldenpipe", map[string]any{"keepVersions": 3}, "properties.distribute", vhd), "", "has no effect"},
		{"negative", edit(t, windowsBase, "goldenpipe", map[string]any{"keepVersions": -1}), "must be from 1 to 1000", ""},
		{"too many", edit(t, windowsBase, "goldenpipe", map[string]any{"keepVersions": 1001}), "must be from 1 to 1000", ""},
		{"not a number", edit(t, windowsBase, "goldenpipe", map[string]any{"keepVersions": "three"}), "goldenpipe.keepVersions", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Parse("t", tt.raw, Options{})
			var problems, warnings []string
			for _, x := range p.Problems {
				if strings.HasPrefix(x.Path, "goldenpipe") {
					problems = append(problems, x.String())
				}
			}
			for _, x := range p.Warnings {
				if x.Path == "goldenpipe.keepVersions" {
					warnings = append(warnings, x.String())
				}
			}
			if tt.problem == "" && len(problems) > 0 || tt.problem != "" && !strings.Contains(strings.Join(problems, "\n"), tt.problem) {
				t.Errorf("problems %q, want %q", problems, tt.problem)
			}
			if tt.warning == "" && len(warnings) > 0 || tt.warning != "" && !strings.Contains(strings.Join(warnings, "\n"), tt.warning) {
				t.Errorf("warnings %q, want %q", warnings, tt.warning)
			}
		})
	}
}
