package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const corpus = "../../template/testdata/corpus"

func run(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Validate(context.Background(), args, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestValidateExitCodesAndOutput(t *testing.T) {
	valid := filepath.Join(corpus, "arm-avd-win10-sig.json")
	invalid := filepath.Join(corpus, "bare-linux-mistakes.json")
	t.Run("valid deployment template with its parameters file", func(t *testing.T) {
		code, out, errOut := run(t, nil, "--scripts-url", "https://goldenscripts.blob.core.windows.net/scripts", valid)
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line != "" && !strings.Contains(line, ": warning: ") {
				t.Errorf("not a warning: %s", line)
			}
		}
		// the AVD guide's checks: win10-22h2-avd is the Generation 1 SKU (-g2 is Gen2)
		if !strings.Contains(out, `resources[0].properties.source.sku: warning: "win10-22h2-avd" looks like a Generation 1 image [gen2:`) {
			t.Errorf("no gen2 warning:\n%s", out)
		}
		if code != 0 || !strings.Contains(errOut, "1 template(s) in 1 file(s): 0 with problems") {
			t.Errorf("exit %d\n%s\n%s", code, out, errOut)
		}
	})
	t.Run("problems as file:path: message", func(t *testing.T) {
		code, out, _ := run(t, nil, "--scripts", filepath.Join(corpus, "scripts"), "--scripts-url", "https://goldenscripts.blob.core.windows.net/scripts", invalid)
		want := invalid + `:properties.distribute[0].versioning.scheme: "latest" must be written "Latest"`
		if code != 1 || !strings.Contains(out, want) || !strings.Contains(out, invalid+`:properties.customize[1]: script "linux/missing.sh" does not exist`) {
			t.Errorf("exit %d\n%s", code, out)
		}
	})
	t.Run("offline, scripts and latest are resolved at build time", func(t *testing.T) {
		code, out, _ := run(t, nil, "--json", "--scripts-url", "https://goldenscripts.blob.core.windows.net/scripts", valid)
		var res []ValidateResult
		if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 || len(res) != 1 {
			t.Fatalf("exit %d %v %s", code, err, out)
		}
		if res[0].SourceVersion != "latest (resolved at build time)" || res[0].Scripts["avd/fslogix.ps1"] != "(resolved at build time)" || res[0].Kind != "deployment" {
			t.Errorf("%+v", res[0])
		}
	})
	t.Run("a parameters file stands for its template; a directory for its files", func(t *testing.T) {
		code, out, _ := run(t, nil, "--json", filepath.Join(corpus, "arm-ubuntu-vhd.parameters.json"))
		var res []ValidateResult
		if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 || len(res) != 1 || res[0].Template != "arm-ubuntu-vhd" {
			t.Fatalf("exit %d %v %s", code, err, out)
		}
		code, out, _ = run(t, nil, "--json", corpus)
		res = nil
		if err := json.Unmarshal([]byte(out), &res); err != nil || code != 1 || len(res) < 30 {
			t.Fatalf("directory: exit %d, %d results, %v", code, len(res), err)
		}
	})
	t.Run("the deployment scope from the settings the app reads", func(t *testing.T) {
		dir := t.TempDir()
		tpl, _ := os.ReadFile(filepath.Join(corpus, "arm-windows-baseline.json"))
		os.WriteFile(filepath.Join(dir, "base.json"), tpl, 0o644)
		_, out, _ := run(t, map[string]string{"AZURE_SUBSCRIPTION_ID": "11111111-2222-3333-4444-555555555555", "AIB_RESOURCE_GROUP": "rg-x", "AIB_LOCATION": "swedencentral"}, "--json", dir)
		if !strings.Contains(out, `"location": "swedencentral"`) && !strings.Contains(out, `\"location\":\"swedencentral\"`) {
			t.Errorf("location not from AIB_LOCATION: %s", out)
		}
		if !strings.Contains(out, "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg-x/providers/Microsoft.Compute/galleries/golden/images/win2022-baseline") {
			t.Errorf("resourceId not from the settings: %s", out)
		}
		_, out, _ = run(t, nil, "--json", dir)
		if !strings.Contains(out, "stand-in values") {
			t.Errorf("no warning about stand-ins: %s", out)
		}
	})
	t.Run("usage errors", func(t *testing.T) {
		if code, _, _ := run(t, nil); code != 2 {
			t.Errorf("no file: exit %d", code)
		}
		if code, _, _ := run(t, nil, "no/such/file.json"); code != 2 {
			t.Errorf("missing file: exit %d", code)
		}
	})
}
