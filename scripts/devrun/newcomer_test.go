package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe/config"
	"github.com/goldenpipe/goldenpipe/internal/azurite"
)

// buildDevrun builds this command into a test's folder.
func buildDevrun(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "devrun")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func write(t *testing.T, dir, name, body string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// linuxTemplate is a bare Ubuntu template running one script of the
// scripts container, named the README's way.
func linuxTemplate(script string) string {
	return `{
  "type": "Microsoft.VirtualMachineImages/imageTemplates", "apiVersion": "2024-02-01", "location": "westeurope",
  "identity": {"type": "UserAssigned", "userAssignedIdentities": {"/subscriptions/0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11/resourcegroups/rg-images/providers/Microsoft.ManagedIdentity/userAssignedIdentities/aib": {}}},
  "goldenpipe": {"stage": "test"},
  "properties": {
    "source": {"type": "PlatformImage", "publisher": "Canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts-gen2", "version": "latest"},
    "customize": [{"type": "Shell", "name": "setup", "scriptUri": "${SCRIPTS_URL}/` + script + `"}],
    "distribute": [{"type": "VHD", "runOutputName": "vhd"}]
  }
}`
}

type buildView struct {
	ID, Template, State, Error, LogTail string
}

// TestLocalFolderWhileRunning: files added to the user's folder while
// make run runs are loaded, with ${SCRIPTS_URL} replaced, and built; a
// script that plainly fails (one bash -n refuses, one with a top-level
// exit 1) fails its build as Image Builder reports it, with the exit code
// in customization.log, and the failed build's page shows that log.
func TestLocalFolderWhileRunning(t *testing.T) {
	bin := buildDevrun(t)
	dir := t.TempDir()
	mine := filepath.Join(dir, "local")
	if err := os.Mkdir(mine, 0o755); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	_, lines := devrun(t, bin, "-port", fmt.Sprint(port), "-data", filepath.Join(dir, "azurite"), "-azurite-port", "0", "-phase", "100ms", "-speed", "1200",
		"-watch", "100ms", "-examples=false", "-load", mine)
	go func() {
		for range lines {
		}
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitUntil(t, "the handler", func() bool { return getJSON(base+"/api/health", &struct{}{}) == 200 })

	// added after the start, while it runs
	write(t, mine, "scripts/linux/hello.sh", "#!/bin/bash\nset -eu\necho hello\n")
	write(t, mine, "scripts/linux/syntax.sh", "#!/bin/bash\nif [ -f /etc/os-release ]; then\n  echo found\n")
	write(t, mine, "scripts/linux/exit1.sh", "#!/bin/bash\necho 'installing'\nexit 1\n")
	write(t, mine, "templates/late.json", linuxTemplate("linux/hello.sh"))
	write(t, mine, "templates/syntax.json", linuxTemplate("linux/syntax.sh"))
	write(t, mine, "templates/exit1.json", linuxTemplate("linux/exit1.sh"))

	latest := func(template string) (b buildView) {
		var all []buildView
		getJSON(base+"/api/builds", &all)
		for _, x := range all {
			if x.Template == template {
				return x
			}
		}
		return b
	}
	waitUntil(t, "the template added while running to be built", func() bool { return latest("late").State == "succeeded" })
	var rec struct {
		Valid    bool
		Rendered *struct{ JSON json.RawMessage }
	}
	if getJSON(base+"/api/templates/late", &rec) != 200 || !rec.Valid || strings.Contains(string(rec.Rendered.JSON), "${SCRIPTS_URL}") {
		t.Errorf("the template added while running: %+v", rec)
	}
	for _, tt := range []struct{ template, code string }{{"syntax", "2"}, {"exit1", "1"}} {
		var b buildView
		waitUntil(t, tt.template+"'s build to fail", func() bool { b = latest(tt.template); return b.State == "failed" && b.LogTail != "" })
		if !strings.HasPrefix(b.Error, "Failed while waiting for packerizer: Microservice has failed: Failed while processing request: Error when executing packerizer: Packer build command has failed: exit status 1.") ||
			!strings.Contains(b.Error, "Image Build log location: ") || !strings.Contains(b.Error, "/packerlogs/") || !strings.Contains(b.Error, "OperationId: ") {
			t.Errorf("%s: Azure's message is not Image Builder's for a failed customizer: %s", tt.template, b.Error)
		}
		want := "Script exited with non-zero exit status: " + tt.code + ". Allowed exit codes are: [0]"
		if !strings.Contains(b.LogTail, want) || !strings.Contains(b.LogTail, "(telemetry) Starting provisioner shell") {
			t.Errorf("%s: customization.log lacks %q:\n%s", tt.template, want, b.LogTail)
		}
		resp, err := http.Get(base + "/api/view/builds/" + b.ID)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, w := range []string{"customization.log", "Script exited with non-zero exit status: " + tt.code, "Packer build command has failed"} {
			if !strings.Contains(string(page), w) {
				t.Errorf("%s: the failed build's page lacks %q", tt.template, w)
			}
		}
	}
	// the script fixed in the folder: picked up too, and the next build succeeds
	write(t, mine, "scripts/linux/exit1.sh", "#!/bin/bash\necho 'installing'\nexit 0\n")
	var fixed buildView
	waitUntil(t, "the fixed script's rebuild", func() bool { fixed = latest("exit1"); return fixed.State == "succeeded" })
}

// TestServeSimulatorForFuncStart: `devrun -serve-simulator` serves the
// simulator over HTTP and posts blob events to the Functions host's Event
// Grid webhook; the handler binary started as func start starts it, with
// local.settings.json.example's values (AIB_SIMULATOR a URL, ServiceBus a
// connection string), accepts them, reaches the simulator, and checks a
// template the folder loads.
func TestServeSimulatorForFuncStart(t *testing.T) {
	bin := buildDevrun(t)
	handler := filepath.Join(t.TempDir(), "goldenpipe")
	if out, err := exec.Command("go", "build", "-o", handler, "../../cmd/goldenpipe").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	mine := filepath.Join(dir, "local")
	write(t, mine, "scripts/linux/hello.sh", "#!/bin/bash\necho hello\n")
	write(t, mine, "templates/mine.json", linuxTemplate("linux/hello.sh"))

	// the Functions host stands in here: its Event Grid webhook gets the
	// events, which it hands to the handler as the host does
	hport := freePort(t)
	var mu sync.Mutex
	var posted []string
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fn := r.URL.Query().Get("functionName")
		if r.URL.Path != "/runtime/webhooks/eventgrid" || r.Header.Get("aeg-event-type") != "Notification" || fn == "" {
			http.Error(w, "not an Event Grid notification", http.StatusBadRequest)
			return
		}
		var events []json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&events); err != nil || len(events) != 1 {
			http.Error(w, "not an array of one event", http.StatusBadRequest)
			return
		}
		mu.Lock()
		posted = append(posted, fn)
		mu.Unlock()
		// handed on as the host does (the handler's answer may wait for the
		// Service Bus a build request goes to, which is not here)
		body, _ := json.Marshal(map[string]any{"Data": map[string]any{"event": events[0]}, "Metadata": map[string]any{}})
		hc := &http.Client{Timeout: 10 * time.Second}
		resp, err := hc.Post(fmt.Sprintf("http://127.0.0.1:%d/%s", hport, fn), "application/json", strings.NewReader(string(body)))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
	}))
	t.Cleanup(host.Close) // after devrun stops (cleanups run last-in first-out)

	simPort := freePort(t)
	_, lines := devrun(t, bin, "-serve-simulator", "-simulator-port", fmt.Sprint(simPort), "-functions-host", host.URL,
		"-data", filepath.Join(dir, "azurite"), "-azurite-port", "0", "-phase", "100ms", "-watch", "100ms", "-examples=false", "-load", mine)
	blob := make(chan string, 1)
	go func() {
		for l := range lines {
			if e, ok := strings.CutPrefix(l, "azurite blob endpoint "); ok {
				blob <- strings.Fields(e)[0]
			}
		}
	}()
	var endpoint string
	select {
	case endpoint = <-blob:
	case <-time.After(2 * time.Minute):
		t.Fatal("devrun -serve-simulator did not start Azurite")
	}

	// the handler as func start runs it: the example's values (Azurite
	// at the port this test's Azurite has), the port from the host
	values, _, err := config.LocalSettings(exampleSettings(t))
	if err != nil {
		t.Fatal(err)
	}
	if values[config.SettingSimulator] != "http://127.0.0.1:7080" || !strings.Contains(values[config.ConnServiceBus], "Endpoint=sb://") {
		t.Fatalf("the example does not point at the served simulator and a Service Bus: %q %q", values[config.SettingSimulator], values[config.ConnServiceBus])
	}
	azurite.PointAt(values, endpoint)
	values[config.SettingSimulator] = fmt.Sprintf("http://127.0.0.1:%d", simPort) // -simulator-port, as the test's port
	values["FUNCTIONS_CUSTOMHANDLER_PORT"] = fmt.Sprint(hport)
	cmd := exec.Command(handler)
	for k, v := range values {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "PATH="+os.Getenv("PATH"), "HOME="+t.TempDir())
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Signal(os.Interrupt); <-exited })
	base := fmt.Sprintf("http://127.0.0.1:%d", hport)
	var health struct {
		Status string
		Checks []struct {
			Name  string
			OK    bool
			Error string
		}
	}
	waitUntil(t, "the handler to start with the example settings", func() bool {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("the handler refused the example settings: %v", err)
		default:
		}
		return getJSON(base+"/api/health", &health) != 0
	})
	for _, c := range health.Checks {
		switch {
		case c.Name == "Image Builder (simulator)" && !c.OK:
			t.Errorf("the handler does not reach the served simulator: %s", c.Error)
		case c.Name != "Service Bus" && !c.OK: // no Service Bus emulator here
			t.Errorf("health check %s fails: %s", c.Name, c.Error)
		}
	}
	var rec struct {
		Valid    bool
		Problems []struct{ Path, Message string }
		Rendered *struct{ SourceVersion string }
	}
	waitUntil(t, "the template, through the host's webhook, checked by the handler", func() bool {
		rec.Rendered = nil
		return getJSON(base+"/api/templates/mine", &rec) == 200 && rec.Rendered != nil
	})
	if !rec.Valid || rec.Rendered.SourceVersion == "" || strings.Contains(rec.Rendered.SourceVersion, "latest") {
		t.Errorf("the template is not valid or latest not resolved by the served marketplace: %+v", rec)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(strings.Join(posted, ","), "ScriptUploaded") || !strings.Contains(strings.Join(posted, ","), "TemplateUploaded") {
		t.Errorf("the host's webhook got %v", posted)
	}
}
