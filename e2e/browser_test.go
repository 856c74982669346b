//go:build browser

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/goldenpipe/goldenpipe/internal/local"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe/app"
	"github.com/goldenpipe/goldenpipe/azure"
	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/config"
	"github.com/goldenpipe/goldenpipe/internal/azurite"
	"github.com/goldenpipe/goldenpipe/simulator"
)

// chromium runs headless Chromium with the flags this workplace needs.
func chromium(t *testing.T, args ...string) []byte {
	t.Helper()
	bin := os.Getenv("CHROMIUM")
	if bin == "" {
		bin = "chromium"
	}
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir(), "--window-size=1400,1100"}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append(base, args...)...).Output()
	if err != nil {
		t.Fatalf("chromium %v: %v", args, err)
	}
	return out
}

// TestStatusPageInChromium loads the status page during a simulated build,
// checks what a person sees, and saves a screenshot under bin/screenshots/
// (a build output; `make docs` refreshes the one in docs/ from it).
func TestStatusPageInChromium(t *testing.T) {
	conn := az.ConnectionString(azurite.Account{})
	p := unique("web")
	s, err := config.Load(config.MapLookup(map[string]string{"Scripts": conn, "State": conn, "ServiceBus": "inprocess",
		"AIB_SIMULATOR": "true", "SCRIPTS_CONTAINER": p + "-scripts", "TEMPLATES_CONTAINER": p + "-templates", "STATE_CONTAINER": p + "-state",
		"VHD_DESTINATION": az.BlobEndpoint + "/devstoreaccount1/" + p + "-vhds", "VhdStorage": conn, "StagingStorage": az.ConnectionString(staging)}))
	if err != nil {
		t.Fatal(err)
	}
	sim := simulator.NewImageBuilder()
	sim.CreateDuration, sim.PhaseDuration = 100*time.Millisecond, time.Hour // the build stays running
	sims := &local.Local{Builder: sim}
	a, err := app.Build(context.Background(), s, slog.New(slog.DiscardHandler), app.Overrides{ARM: sims.ARM, ServiceBus: sims.ServiceBus, StagingGroups: sims.StagingGroups, Gallery: sims.GalleryVersions})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	svc, _ := azure.NewBlobService(s.Scripts)
	for _, c := range []string{s.ScriptsContainer, s.TemplatesContainer} {
		_ = azure.EnsureContainer(context.Background(), svc, c)
	}
	ctx := context.Background()
	scripts := svc.NewContainerClient(s.ScriptsContainer)
	if _, err := scripts.NewBlockBlobClient("avd/install-apps.ps1").UploadBuffer(ctx, []byte("Write-Host apps\r\n"), nil); err != nil {
		t.Fatal(err)
	}
	// a template whose name would be markup if it were not escaped
	raw, _ := os.ReadFile(filepath.Join("..", "examples", "templates", "avd-win11.json"))
	raw = bytes.ReplaceAll(raw, []byte("${SCRIPTS_URL}"), []byte(scripts.URL()))
	for _, name := range []string{"avd-win11.json", "x<b>bold</b>.json"} {
		if _, err := svc.NewContainerClient(s.TemplatesContainer).NewBlockBlobClient(name).UploadBuffer(ctx, raw, nil); err != nil {
			t.Fatal(err)
		}
	}
	invoke := func(function string, body any) {
		b, _ := json.Marshal(body)
		rec := httptest.NewRecorder()
		a.Server.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/"+function, bytes.NewReader(b)))
	}
	event := func(container, name string) map[string]any {
		return map[string]any{"Data": map[string]any{"event": map[string]any{"id": name, "eventType": "Microsoft.Storage.BlobCreated",
			"subject": "/blobServices/default/containers/" + container + "/blobs/" + name,
			"data":    map[string]any{"url": svc.NewContainerClient(container).NewBlobClient(name).URL()}}}, "Metadata": map[string]any{}}
	}
	invoke("ScriptUploaded", event(s.ScriptsContainer, "avd/install-apps.ps1"))
	invoke("TemplateUploaded", event(s.TemplatesContainer, "avd-win11.json"))
	invoke("TemplateUploaded", event(s.TemplatesContainer, "x<b>bold</b>.json"))
	timer := map[string]any{"Data": map[string]any{"timer": map[string]any{"IsPastDue": false}}, "Metadata": map[string]any{}}
	deadline := time.Now().Add(20 * time.Second)
	for running := false; !running && time.Now().Before(deadline); {
		_ = sims.Bus.Drain(ctx)
		invoke("BuildMonitor", timer)
		list, _ := a.Builds.List(ctx, "avd-win11")
		running = len(list) == 1 && list[0].State == builds.StateRunning && list[0].SubState != ""
		time.Sleep(50 * time.Millisecond)
	}

	srv := httptest.NewServer(a.Server)
	defer srv.Close()
	dom := string(chromium(t, "--dump-dom", srv.URL+"/api/"))
	for _, want := range []string{"Builds in flight (1)", "avd-win11-", "running · Queued", "Templates (2)", "never built",
		"22631.4460.241106", "Script checksums (1)", "avd/install-apps.ps1", "x&lt;b&gt;bold&lt;/b&gt;"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the page in Chromium lacks %q", want)
		}
	}
	if strings.Contains(dom, "<b>bold</b>") {
		t.Error("a template name became markup in the browser")
	}
	shot := filepath.Join("..", "bin", "screenshots", "status-page.png") // never a tracked file
	if dir := os.Getenv("SCREENSHOT_DIR"); dir != "" {
		shot = filepath.Join(dir, "status-page.png")
	}
	_ = os.MkdirAll(filepath.Dir(shot), 0o755)
	chromium(t, "--screenshot="+shot, srv.URL+"/api/")
	if st, err := os.Stat(shot); err != nil || st.Size() < 10_000 {
		t.Fatalf("no screenshot at %s: %v", shot, err)
	}
}
