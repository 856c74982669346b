//go:build browser

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe/app"
	"github.com/goldenpipe/goldenpipe/azure"
	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/config"
	"github.com/goldenpipe/goldenpipe/internal/azurite"
	"github.com/goldenpipe/goldenpipe/internal/clock"
	"github.com/goldenpipe/goldenpipe/internal/local"
	"github.com/goldenpipe/goldenpipe/internal/placeholder"
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
		"--user-data-dir=" + t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append(base, args...)...).Output()
	if err != nil {
		t.Fatalf("chromium %v: %v", args, err)
	}
	return out
}

// measure, injected by the test's proxy (never by the app, whose CSP
// allows no script), opens every <details> and records how wide the page
// is against the window, and the element reaching furthest right.
const measure = `<script>window.addEventListener('load', function () {
  document.querySelectorAll('details').forEach(function (d) { d.open = true; });
  var w = document.documentElement.clientWidth, max = w, worst = 'none';
  document.querySelectorAll('body *').forEach(function (e) {
    var r = e.getBoundingClientRect();
    if (r.width > 0 && r.right > max + 1) { max = r.right; worst = e.tagName + ' ' + (e.textContent || '').slice(0, 80); }
  });
  var out = document.createElement('pre');
  out.id = 'overflow-measure';
  out.textContent = 'scrollWidth=' + document.documentElement.scrollWidth + ' clientWidth=' + w + ' widest=' + worst + ';';
  document.body.appendChild(out);
});</script>`

// refreshTag is the pages' self-refresh: under Chromium's virtual time it
// would reload the page while it is measured.
var refreshTag = regexp.MustCompile(`<meta http-equiv="refresh"[^>]*>`)

// injecting serves the app's pages with measure before </body>, and
// without their self-refresh.
func injecting(app http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		app.ServeHTTP(rec, r)
		body := strings.Replace(refreshTag.ReplaceAllString(rec.Body.String(), ""), "</body>", measure+"</body>", 1)
		w.Header().Set("Content-Type", rec.Header().Get("Content-Type"))
		w.WriteHeader(rec.Code)
		_, _ = io.WriteString(w, body)
	})
}

var measured = regexp.MustCompile(`scrollWidth=(\d+) clientWidth=(\d+) widest=([^;]*);`)

// TestStatusPagesInChromium loads the overview, a failed build's page, a
// running build's page and a template's page in headless Chromium at 1280
// px, checks what a person sees, measures in the page that nothing is
// wider than the window, and saves screenshots under bin/screenshots/ (a
// build output; `make docs` refreshes the ones in docs/ from the examples
// alone, without the injection fixture).
// headings finds a page's section headings, to say what a page showed.
var headings = regexp.MustCompile(`<h2[^>]*>[^<]*</h2>`)

func TestStatusPagesInChromium(t *testing.T) {
	docs := os.Getenv("SCREENSHOT_DIR") != ""
	conn := az.ConnectionString(azurite.Account{})
	p := unique("web")
	s, err := config.Load(config.MapLookup(map[string]string{"Scripts": conn, "State": conn, "ServiceBus": "inprocess",
		"AIB_SIMULATOR": "true", "SCRIPTS_CONTAINER": p + "-scripts", "TEMPLATES_CONTAINER": p + "-templates", "STATE_CONTAINER": p + "-state",
		"VHD_DESTINATION": az.BlobEndpoint + "/devstoreaccount1/" + p + "-vhds", "VhdStorage": conn, "StagingStorage": az.ConnectionString(staging)}))
	if err != nil {
		t.Fatal(err)
	}
	c := clock.NewFake(time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC))
	sim := simulator.NewImageBuilder()
	sim.CreateDuration, sim.PhaseDuration, sim.Now = time.Minute, time.Minute, c.Now
	// the broken template's run fails because its script throws: the
	// simulator fails that customizer as Image Builder reports it
	// (simulator/customizer.go), no hook
	sims := &local.Local{Builder: sim, Gallery: simulator.NewGallery()}
	a, err := app.Build(context.Background(), s, slog.New(slog.DiscardHandler), app.Overrides{ARM: sims.ARM, ServiceBus: sims.ServiceBus, StagingGroups: sims.StagingGroups, Gallery: sims.GalleryVersions})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	a.Builds.Now, a.Gallery.Now = c.Now, c.Now
	svc, _ := azure.NewBlobService(s.Scripts)
	for _, ct := range []string{s.ScriptsContainer, s.TemplatesContainer} {
		_ = azure.EnsureContainer(context.Background(), svc, ct)
	}
	ctx := context.Background()
	scripts := svc.NewContainerClient(s.ScriptsContainer)
	cleanup, _ := os.ReadFile(filepath.Join("..", "examples", "scripts", "avd", "cleanup.ps1"))
	for name, body := range map[string][]byte{"avd/install-apps.ps1": []byte("winget install Microsoft.Teams\r\n"), "avd/cleanup.ps1": cleanup,
		"avd/broken.ps1": []byte("Write-Host 'Installing the apps...'\r\nthrow 'the installer is missing'\r\n")} {
		if _, err := scripts.NewBlockBlobClient(name).UploadBuffer(ctx, body, nil); err != nil {
			t.Fatal(err)
		}
	}
	example, _ := os.ReadFile(filepath.Join("..", "examples", "templates", "avd-win11.json"))
	example = placeholder.Expand(example, placeholder.Values{placeholder.ScriptsURL: scripts.URL()})
	broken := bytes.ReplaceAll(example, []byte("/avd/install-apps.ps1"), []byte("/avd/broken.ps1"))
	gallery, _ := os.ReadFile(filepath.Join("..", "app", "testdata", "avd-gallery.json"))
	gallery = bytes.ReplaceAll(gallery, []byte("SCRIPT_URL"), []byte(scripts.URL()+"/avd/install-apps.ps1"))
	upload := func(name string, raw []byte) {
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
	timer := map[string]any{"Data": map[string]any{"timer": map[string]any{"IsPastDue": false}}, "Metadata": map[string]any{}}
	// tick runs the monitor, moving the fake clock on by step, until done
	tick := func(step time.Duration, done func() bool) {
		for i := 0; i < 300 && !done(); i++ {
			_ = sims.Bus.Drain(ctx)
			invoke("BuildMonitor", timer)
			c.Advance(step)
		}
		if !done() {
			t.Fatal("the builds did not get where the test needs them")
		}
	}
	latest := func(template string) builds.Build {
		list, _ := a.Builds.List(ctx, template)
		if len(list) == 0 {
			return builds.Build{}
		}
		return list[0]
	}

	for _, name := range []string{"avd/install-apps.ps1", "avd/cleanup.ps1", "avd/broken.ps1"} {
		invoke("ScriptUploaded", event(s.ScriptsContainer, name))
	}
	upload("broken.json", broken)
	upload("avd-pooled.json", gallery)
	invoke("TemplateUploaded", event(s.TemplatesContainer, "broken.json"))
	invoke("TemplateUploaded", event(s.TemplatesContainer, "avd-pooled.json"))
	if !docs {
		upload("x<b>bold</b>.json", example) // a template whose name would be markup if it were not escaped
		invoke("TemplateUploaded", event(s.TemplatesContainer, "x<b>bold</b>.json"))
	}
	tick(time.Minute, func() bool {
		b, g := latest("broken"), latest("avd-pooled")
		return b.State == builds.StateFailed && b.LogTail != "" && g.State == builds.StateSucceeded && slices.Contains(g.Done, "gallery")
	})
	upload("avd-win11.json", example)
	invoke("TemplateUploaded", event(s.TemplatesContainer, "avd-win11.json"))
	tick(time.Minute, func() bool { b := latest("avd-win11"); return b.State == builds.StateRunning && b.SubState != "" })
	failed, running := latest("broken"), latest("avd-win11")

	srv := httptest.NewServer(a.Server)
	defer srv.Close()
	proxy := httptest.NewServer(injecting(a.Server))
	defer proxy.Close()
	pages := []struct {
		name, path string
		want       []string
	}{
		{"status-page", "/api/", []string{"Builds in flight (1)", "avd-win11-", "running · ", "Templates (",
			"22631.4460.241106", "Script checksums (3)", "avd/install-apps.ps1", "Rejected messages (0)"}},
		{"build-failed", "/api/view/builds/" + failed.ID, []string{"Azure's message", "Packer build command has failed: exit status 1", "Allowed exit codes are: [0]", "Image Build log location",
			"(telemetry) Starting provisioner powershell",
			"customization.log (end)", "PACKER ERR", "Timeline", "Asked by", "never built"}},
		{"build-running", "/api/view/builds/" + running.ID, []string{"running", "so far", "Template sent to Image Builder", "sha256Checksum"}},
		{"template", "/api/view/templates/avd-pooled", []string{"latest resolves to", "Gallery versions", "host pool pooled", "keep the newest 3 gallery versions",
			"Builds (1)", "As uploaded"}},
	}
	if !docs {
		pages[0].want = append(pages[0].want, "x&lt;b&gt;bold&lt;/b&gt;")
	}
	for _, pg := range pages {
		t.Run(pg.name, func(t *testing.T) {
			dom := string(chromium(t, "--window-size=1280,1000", "--virtual-time-budget=2000", "--dump-dom", proxy.URL+pg.path))
			for _, want := range pg.want {
				if !strings.Contains(dom, want) && !strings.Contains(dom, html.EscapeString(want)) {
					t.Errorf("the page in Chromium lacks %q; its headings: %q", want, headings.FindAllString(dom, -1))
				}
			}
			if strings.Contains(dom, "<b>bold</b>") {
				t.Error("a template name became markup in the browser")
			}
			m := measured.FindStringSubmatch(dom)
			if m == nil {
				t.Fatal("the page was not measured (the injected script did not run)")
			}
			if m[1] != m[2] || m[3] != "none" {
				t.Errorf("wider than the window at 1280 px: scrollWidth %s, clientWidth %s, widest %s", m[1], m[2], m[3])
			}
			shot := filepath.Join("..", "bin", "screenshots", pg.name+".png") // never a tracked file
			if dir := os.Getenv("SCREENSHOT_DIR"); dir != "" {
				shot = filepath.Join(dir, pg.name+".png")
			}
			_ = os.MkdirAll(filepath.Dir(shot), 0o755)
			chromium(t, "--window-size=1280,1000", "--screenshot="+shot, srv.URL+pg.path)
			if st, err := os.Stat(shot); err != nil || st.Size() < 10_000 {
				t.Fatalf("no screenshot at %s: %v", shot, err)
			}
		})
	}
}
