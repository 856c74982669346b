package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryCommandsHelpExitsZero: -h (and -help, --help) is help asked
// for, not a usage error: each command prints its usage and exits 0.
func TestEveryCommandsHelpExitsZero(t *testing.T) {
	none := func(string) (string, bool) { return "", false }
	commands := map[string]func(args []string, stderr io.Writer) int{
		"validate": func(a []string, e io.Writer) int { return Validate(context.Background(), a, none, io.Discard, e) },
		"upload":   func(a []string, e io.Writer) int { return Upload(context.Background(), a, none, io.Discard, e) },
		"build":    func(a []string, e io.Writer) int { return Build(context.Background(), a, none, io.Discard, e, nil) },
		"status":   func(a []string, e io.Writer) int { return Status(context.Background(), a, none, io.Discard, e, nil) },
		"logs":     func(a []string, e io.Writer) int { return Logs(context.Background(), a, none, io.Discard, e, nil) },
		"rollback": func(a []string, e io.Writer) int { return Rollback(context.Background(), a, none, io.Discard, e, nil) },
	}
	for name, cmd := range commands {
		for _, h := range []string{"-h", "-help", "--help"} {
			t.Run(name+" "+h, func(t *testing.T) {
				var errOut bytes.Buffer
				if code := cmd([]string{h}, &errOut); code != 0 {
					t.Errorf("goldenpipe %s %s exits %d, want 0", name, h, code)
				}
				if !strings.Contains(errOut.String(), "usage: goldenpipe "+name) {
					t.Errorf("goldenpipe %s %s printed no usage: %s", name, h, errOut.String())
				}
			})
		}
		t.Run(name+" with an unknown flag", func(t *testing.T) {
			if code := cmd([]string{"-no-such-flag"}, io.Discard); code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
		})
	}
}

// settingsDir is a folder with the example settings as local.settings.json
// (never the repository's own, which is the user's), and no kept Azurite
// port: the standard 10000.
func settingsDir(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../local.settings.json.example")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "local.settings.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestValidateReplacesScriptsURL: ${SCRIPTS_URL} is replaced as make run
// and goldenpipe upload replace it (internal/placeholder): by
// --scripts-url, else by the scripts container of the app's settings; the
// shipped examples are valid either way, with no practice warning.
func TestValidateReplacesScriptsURL(t *testing.T) {
	examples := "../../examples/templates"
	check := func(t *testing.T, wantURL string, args ...string) {
		t.Helper()
		code, out, errOut := run(t, nil, append([]string{"--json"}, append(args, examples)...)...)
		var res []ValidateResult
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("exit %d: %v\n%s\n%s", code, err, out, errOut)
		}
		if code != 0 || len(res) != 2 {
			t.Fatalf("exit %d, %d results\n%s\n%s", code, len(res), out, errOut)
		}
		for _, r := range res {
			if !r.Valid || len(r.Problems) != 0 {
				t.Errorf("%s: problems %v", r.Template, r.Problems)
			}
			if len(r.Warnings) != 0 {
				t.Errorf("%s: the shipped example trips the app's practice checks: %v", r.Template, r.Warnings)
			}
			if strings.Contains(string(r.Rendered), "${SCRIPTS_URL}") || !strings.Contains(string(r.Rendered), wantURL+"/") {
				t.Errorf("%s: rendered without %s/: %s", r.Template, wantURL, r.Rendered)
			}
			for name, sum := range r.Scripts {
				if sum != "(resolved at build time)" {
					t.Errorf("%s: script %s is %q, not one of the scripts container's", r.Template, name, sum)
				}
			}
		}
	}
	t.Run("--scripts-url", func(t *testing.T) {
		check(t, "https://goldenscripts.blob.core.windows.net/scripts", "--scripts-url", "https://goldenscripts.blob.core.windows.net/scripts/")
	})
	t.Run("the app's settings", func(t *testing.T) {
		check(t, "http://127.0.0.1:10000/devstoreaccount1/scripts", "--settings", settingsDir(t))
	})
	t.Run("nothing names the scripts container", func(t *testing.T) {
		code, out, _ := run(t, nil, "--settings", t.TempDir(), examples)
		if code != 1 || !strings.Contains(out, "uses ${SCRIPTS_URL} (the scripts container's URL), which has no value: give --scripts-url") {
			t.Errorf("exit %d\n%s", code, out)
		}
	})
}

// TestValidateLocationAlone: --location alone evaluates a deployment
// template with stand-ins for the subscription and the group (one warning
// says so), not a problem at each use of subscription().
func TestValidateLocationAlone(t *testing.T) {
	file := filepath.Join(corpus, "arm-windows-baseline.json")
	code, out, errOut := run(t, nil, "--json", "--settings", t.TempDir(), "--location", "swedencentral", file)
	var res []ValidateResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res) != 1 {
		t.Fatalf("exit %d %v\n%s\n%s", code, err, out, errOut)
	}
	if code != 0 || !res[0].Valid {
		t.Errorf("exit %d, problems %v", code, res[0].Problems)
	}
	for _, p := range res[0].Problems {
		if strings.Contains(p.Message, "not known offline") {
			t.Errorf("a problem for a stand-in: %v", p)
		}
	}
	standIn := 0
	for _, w := range res[0].Warnings {
		if strings.Contains(w.Message, "stand-in values") {
			standIn++
		}
	}
	if standIn != 1 || !strings.Contains(string(res[0].Rendered), "swedencentral") {
		t.Errorf("%d stand-in warnings (want 1), or the location given is not used: %v\n%s", standIn, res[0].Warnings, res[0].Rendered)
	}
	if !strings.Contains(errOut, "no --subscription, --resource-group given: stand-in values are used for them") {
		t.Errorf("stderr does not say which values are stand-ins: %s", errOut)
	}
}

// TestBuildUpToDateSaysForce: the app answers 409 for a template up to
// date with its last build (make run built the examples already); build
// says so and how to build it again, and exits 1 (refused).
func TestBuildUpToDateSaysForce(t *testing.T) {
	var forced []bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Force bool }
		_ = json.NewDecoder(r.Body).Decode(&body)
		forced = append(forced, body.Force)
		if !body.Force {
			w.WriteHeader(http.StatusConflict)
			_, _ = io.WriteString(w, `{"error": "template \"avd-win11\" is up to date with build avd-win11-6343e3abe15c; use force to build it again"}`)
			return
		}
		_, _ = io.WriteString(w, `{"buildId": "avd-win11-6343e3abe15c-f863a6c", "status": "requested"}`)
	}))
	defer srv.Close()
	env := func(k string) (string, bool) {
		if k == "GOLDENPIPE_URL" {
			return srv.URL, true
		}
		return "", false
	}
	var out, errOut bytes.Buffer
	if code := Build(context.Background(), []string{"-reason", "new Teams", "avd-win11"}, env, &out, &errOut, nil); code != exitRefused {
		t.Errorf("exit %d, want %d", code, exitRefused)
	}
	if !strings.Contains(errOut.String(), "is up to date with build avd-win11-6343e3abe15c") || !strings.Contains(errOut.String(), "goldenpipe build -force avd-win11") {
		t.Errorf("does not say why and how: %s", errOut.String())
	}
	out.Reset()
	if code := Build(context.Background(), []string{"-force", "-reason", "new Teams", "avd-win11"}, env, &out, io.Discard, nil); code != 0 ||
		!strings.Contains(out.String(), "build avd-win11-6343e3abe15c-f863a6c requested") {
		t.Errorf("-force: exit %d, %s", code, out.String())
	}
	if len(forced) != 2 || forced[0] || !forced[1] {
		t.Errorf("force sent: %v", forced)
	}
}

// TestExamplesScriptsPassThePracticeChecks: the shipped scripts, hashed
// and scanned from examples/scripts as the app scans them, add no
// finding.
func TestExamplesScriptsPassThePracticeChecks(t *testing.T) {
	code, out, errOut := run(t, nil, "--scripts", "../../examples/scripts", "--scripts-url", "https://goldenscripts.blob.core.windows.net/scripts", "../../examples/templates")
	if code != 0 || strings.TrimSpace(out) != "" || !strings.Contains(errOut, "2 template(s) in 2 file(s): 0 with problems") {
		t.Errorf("exit %d\n%s\n%s", code, out, errOut)
	}
}
