package app

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/config"
	"github.com/goldenpipe/goldenpipe/internal/azurite"
	"github.com/goldenpipe/goldenpipe/internal/cli"
	"github.com/goldenpipe/goldenpipe/simulator"
)

// TestCommandsAgainstTheHandler runs the goldenpipe subcommands as a
// person would, against the real handler: upload a script and a template
// from disk, see the template in status, ask for a build, read the failed
// build's Azure message and log tail with logs; a rollback of a template
// with no gallery is refused (exit 1), an unreachable app is exit 2; the
// function key travels in x-functions-key, never in the URL.
func TestCommandsAgainstTheHandler(t *testing.T) {
	sim := fastSimulator()
	sim.Builder.Outcome = func(string) simulator.Outcome {
		return simulator.Outcome{State: goldenpipe.RunFailed, Message: "Script exited with non-zero exit status: 1. Allowed exit codes are: [0]"}
	}
	h := newHarnessTuned(t, "cli", sim, nil, noBuildOnUpload) // the build is asked for with the command
	var mu sync.Mutex
	var keys, urls []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys, urls = append(keys, r.Header.Get("x-functions-key")), append(urls, r.URL.String())
		mu.Unlock()
		h.a.Server.ServeHTTP(w, r)
	}))
	defer srv.Close()

	dir := t.TempDir()
	script := filepath.Join(dir, "install-apps.ps1")
	if err := os.WriteFile(script, []byte("winget install Microsoft.Teams\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conn := az.ConnectionString(azurite.Account{})
	env := map[string]string{"Scripts": conn, "State": conn, "ServiceBus": "inprocess", "AIB_SIMULATOR": "true",
		"SCRIPTS_CONTAINER": h.s.ScriptsContainer, "TEMPLATES_CONTAINER": h.s.TemplatesContainer, "STATE_CONTAINER": h.s.StateContainer,
		"GOLDENPIPE_URL": srv.URL, "GOLDENPIPE_KEY": "the-function-key"}
	lookup := config.MapLookup(env)
	run := func(cmd func(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr *bytes.Buffer) int, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := cmd(context.Background(), args, lookup, &out, &errb)
		return code, out.String(), errb.String()
	}
	api := func(f func(context.Context, []string, func(string) (string, bool), io.Writer, io.Writer, *http.Client) int) func(context.Context, []string, func(string) (string, bool), *bytes.Buffer, *bytes.Buffer) int {
		return func(ctx context.Context, a []string, l func(string) (string, bool), o, e *bytes.Buffer) int {
			return f(ctx, a, l, o, e, nil)
		}
	}
	upload := func(ctx context.Context, a []string, l func(string) (string, bool), o, e *bytes.Buffer) int {
		return cli.Upload(ctx, a, l, o, e)
	}

	code, out, errs := run(upload, "-prefix", "avd/", "-settings", dir, script)
	if code != 0 || !strings.Contains(out, "/"+h.s.ScriptsContainer+"/avd/install-apps.ps1") {
		t.Fatalf("upload script: %d %s %s", code, out, errs)
	}
	h.blobEvent("ScriptUploaded", h.s.ScriptsContainer, "avd/install-apps.ps1") // as Event Grid tells the app
	raw, err := os.ReadFile(filepath.Join("..", "template", "testdata", "seed", "windows-avd-powershell.json"))
	if err != nil {
		t.Fatal(err)
	}
	tpl := filepath.Join(dir, "avd.json")
	url := h.svc.NewContainerClient(h.s.ScriptsContainer).NewBlobClient("avd/install-apps.ps1").URL()
	raw = bytes.ReplaceAll(raw, []byte("https://goldenscripts.blob.core.windows.net/scripts/avd/install-apps.ps1"), []byte(url))
	if err := os.WriteFile(tpl, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := run(upload, "-settings", dir, tpl); code != 0 || !strings.Contains(out, "/"+h.s.TemplatesContainer+"/avd.json") {
		t.Fatalf("upload template: %d %s %s", code, out, errs)
	}
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "avd.json")

	if code, out, errs := run(api(cli.Status)); code != 0 || !regexp.MustCompile(`(?m)^avd\s+true\s+\d+\s+build: never built`).MatchString(out) {
		t.Fatalf("status: %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = run(api(cli.Build), "-reason", "new Teams", "avd")
	m := regexp.MustCompile(`build (\S+) requested`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("build: %d %s %s", code, out, errs)
	}
	list := h.monitorUntilDone("avd")
	if len(list) != 1 || list[0].ID != m[1] || list[0].Reason != "new Teams" {
		t.Fatalf("builds: %s", summarize(list))
	}
	code, out, errs = run(api(cli.Logs), m[1])
	for _, want := range []string{"build " + m[1] + " of avd: failed", "Azure's message:\nScript exited with non-zero exit status: 1",
		"--- customization.log (end) ---", "PACKER ERR"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("logs lacks %q: %d\n%s\n%s", want, code, out, errs)
		}
	}
	if code, _, errs := run(api(cli.Rollback), "avd"); code != 1 || !strings.Contains(errs, "no Azure Compute Gallery image") {
		t.Errorf("rollback without a gallery: %d %s", code, errs)
	}
	if code, _, errs := run(api(cli.Logs), "no-such-build"); code != 1 || !strings.Contains(errs, "404") {
		t.Errorf("logs of an unknown build: %d %s", code, errs)
	}
	if code, _, _ := run(api(cli.Build)); code != 2 {
		t.Errorf("build without a template: %d, want 2", code)
	}
	mu.Lock()
	for i, k := range keys {
		if k != "the-function-key" || strings.Contains(urls[i], "the-function-key") || strings.Contains(urls[i], "code=") {
			t.Errorf("request %s: key header %q", urls[i], k)
		}
	}
	mu.Unlock()
	srv.Close()
	if code, _, errs := run(api(cli.Status)); code != 2 || !strings.Contains(errs, "reaching") {
		t.Errorf("an unreachable app: %d %s", code, errs)
	}
}
