package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/goldenpipe/goldenpipe/inmem"
	"github.com/goldenpipe/goldenpipe/internal/local"
	"github.com/goldenpipe/goldenpipe/simulator"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/azure"
	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/config"
	"github.com/goldenpipe/goldenpipe/host"
	"github.com/goldenpipe/goldenpipe/internal/apitest"
	"github.com/goldenpipe/goldenpipe/internal/azurite"
	"github.com/goldenpipe/goldenpipe/template"
)

// harness is the handler built from settings on Azurite, driven over HTTP
// as the Functions host drives it.
type harness struct {
	t      *testing.T
	prefix string // the test's own containers: <prefix>-scripts, -templates, -state, -vhds
	// the simulated Azure: Image Builder, the marketplace, the bus
	sim    *simulator.ImageBuilder
	images *simulator.Images
	bus    *inmem.Bus
	srv    *host.Server
	a      *App
	svc    *service.Client
	s      config.Settings
	logs   *syncBuffer
	ports  *ports // the services' ports, for a test to wrap
}

// syncBuffer collects the handler's log lines (stdout in production).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func newHarness(t *testing.T, prefix string) *harness {
	t.Helper()
	return newHarnessWith(t, prefix, sims{})
}

// prefixes gives each test its own containers, the same for every
// harness of one test (a second process on the same storage) and new for
// every run, so the suite passes with -count=2 and -shuffle=on.
var prefixes sync.Map

// merged returns base with extra's settings added.
func merged(base, extra map[string]string) map[string]string {
	for k, v := range extra {
		base[k] = v
	}
	return base
}

func uniquePrefix(t *testing.T, prefix string) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	key := fmt.Sprintf("%p/%s", t, prefix)
	v, loaded := prefixes.LoadOrStore(key, prefix+"-"+hex.EncodeToString(b[:]))
	if !loaded {
		t.Cleanup(func() { prefixes.Delete(key) }) // a later test may get the same *testing.T address
	}
	return v.(string)
}

// sims is the simulated Azure a test harness runs on (internal/local).
type sims = local.Local

func newHarnessWith(t *testing.T, prefix string, o sims) *harness {
	t.Helper()
	return newHarnessSettings(t, prefix, o, nil)
}

// newHarnessSettings is newHarnessWith with more app settings.
func newHarnessSettings(t *testing.T, prefix string, o sims, extra map[string]string) *harness {
	t.Helper()
	return newHarnessTuned(t, prefix, o, extra, nil)
}

// ports are the ports of a harness's services as the test sees them: put
// in place at construction (Tuning's hooks) around the app's own, each
// holding the port its service calls, which a test wraps once its setup
// is done (crash and fault injection) by replacing the embedded value.
type ports struct {
	aib          *aibPort
	buildTpls    *buildTemplatesPort
	buildDocs    *docsPort
	templateDocs *docsPort
	bus          *busPort
	source       *sourcePort
	destination  *destinationPort
}

type (
	aibPort            struct{ builds.ImageBuilder }
	buildTemplatesPort struct{ builds.Templates }
	docsPort           struct{ goldenpipe.Documents }
	busPort            struct{ builds.Bus }
	sourcePort         struct{ builds.VHDSource }
	destinationPort    struct{ builds.VHDDestination }
)

// hook puts the ports in place: tune's own hooks, if any, wrap the
// app's ports first.
func (p *ports) hook(tu *Tuning) {
	aib, tpls, bdocs, tdocs, bus, src, dst := tu.AIB, tu.BuildTemplates, tu.BuildDocs, tu.TemplateDocs, tu.Bus, tu.Source, tu.Destination
	// a port the app has none of (no VHD_DESTINATION) stays nil
	tu.AIB = func(v builds.ImageBuilder) builds.ImageBuilder {
		if v = wrap(v, aib); v == nil {
			return nil
		}
		p.aib = &aibPort{v}
		return p.aib
	}
	tu.BuildTemplates = func(v builds.Templates) builds.Templates {
		p.buildTpls = &buildTemplatesPort{wrap(v, tpls)}
		return p.buildTpls
	}
	tu.BuildDocs = func(v goldenpipe.Documents) goldenpipe.Documents {
		p.buildDocs = &docsPort{wrap(v, bdocs)}
		return p.buildDocs
	}
	tu.TemplateDocs = func(v goldenpipe.Documents) goldenpipe.Documents {
		p.templateDocs = &docsPort{wrap(v, tdocs)}
		return p.templateDocs
	}
	tu.Bus = func(v builds.Bus) builds.Bus { p.bus = &busPort{wrap(v, bus)}; return p.bus }
	tu.Source = func(v builds.VHDSource) builds.VHDSource { p.source = &sourcePort{wrap(v, src)}; return p.source }
	tu.Destination = func(v builds.VHDDestination) builds.VHDDestination {
		if v = wrap(v, dst); v == nil {
			return nil
		}
		p.destination = &destinationPort{v}
		return p.destination
	}
}

// noBuildOnUpload tunes a harness whose test requests its builds itself.
func noBuildOnUpload(tu *Tuning) { tu.NoBuildOnUpload = true }

// newHarnessTuned is newHarnessSettings with the services tuned at
// construction: tune changes the harness's Tuning (transient failures
// back off, and unseen effects are issued again, on the test's time
// scale: BackoffBase 20 ms, ReissueAfter 200 ms).
func newHarnessTuned(t *testing.T, prefix string, o sims, extra map[string]string, tune func(*Tuning)) *harness {
	t.Helper()
	prefix = uniquePrefix(t, prefix)
	conn := az.ConnectionString(azurite.Account{})
	s, err := config.Load(config.MapLookup(merged(map[string]string{
		"Scripts": conn, "State": conn, "ServiceBus": "inprocess", "AIB_SIMULATOR": "true",
		"SCRIPTS_CONTAINER": prefix + "-scripts", "TEMPLATES_CONTAINER": prefix + "-templates", "STATE_CONTAINER": prefix + "-state",
		"VHD_DESTINATION": az.BlobEndpoint + "/devstoreaccount1/" + prefix + "-vhds", "VhdStorage": conn,
		"StagingStorage": az.ConnectionString(staging),
	}, extra)))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	l := &o
	// transient failures back off, and unseen effects are issued again, on the test's time scale
	tu := Tuning{Builds: builds.Config{BackoffBase: 20 * time.Millisecond, ReissueAfter: 200 * time.Millisecond}}
	if tune != nil {
		tune(&tu)
	}
	p := &ports{}
	p.hook(&tu)
	a, err := Build(context.Background(), s, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Overrides{ARM: l.ARM, ServiceBus: l.ServiceBus, StagingGroups: l.StagingGroups, Gallery: l.GalleryVersions, Tuning: tu})
	if err != nil {
		t.Fatal(err)
	}
	srv := a.Server
	svc, _ := azure.NewBlobService(s.Scripts)
	for _, c := range []string{s.ScriptsContainer, s.TemplatesContainer} {
		if err := azure.EnsureContainer(context.Background(), svc, c); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_ = a.Close(context.Background())
		// no SAS ever reaches a log line
		if strings.Contains(logs.String(), "sig=") {
			t.Errorf("the logs contain a SAS signature (sig=)")
		}
	})
	return &harness{t: t, prefix: prefix, srv: srv, a: a, svc: svc, s: s, logs: logs, sim: l.Builder, images: l.Images, bus: l.Bus, ports: p}
}

func (h *harness) upload(container, name string, b []byte) string {
	h.t.Helper()
	c := h.svc.NewContainerClient(container)
	if _, err := c.NewBlockBlobClient(name).UploadBuffer(context.Background(), b, nil); err != nil {
		h.t.Fatal(err)
	}
	return c.NewBlobClient(name).URL()
}

// blobEvent invokes function with a BlobCreated event for container/name,
// as the host would, and returns the answer's Logs.
func (h *harness) blobEvent(function, container, name string) []string {
	h.t.Helper()
	return h.invoke(function, blobEventBody(h, function, container, name))
}

// blobEventBody is the host's payload of a BlobCreated event for
// container/name.
func blobEventBody(h *harness, function, container, name string) []byte {
	url := h.svc.NewContainerClient(container).NewBlobClient(name).URL()
	body, _ := json.Marshal(map[string]any{
		"Data": map[string]any{"event": map[string]any{
			"id": "ev-" + name, "eventType": "Microsoft.Storage.BlobCreated", "eventTime": "2024-12-10T01:59:58Z",
			"subject": "/blobServices/default/containers/" + container + "/blobs/" + name, "topic": "t",
			"data": map[string]any{"api": "PutBlob", "url": url, "eTag": "\"0x1\"", "sequencer": "01"},
		}},
		"Metadata": map[string]any{"sys": map[string]any{"MethodName": `"` + function + `"`}},
	})
	return body
}

func (h *harness) invoke(function string, body []byte) []string {
	h.t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/"+function, bytes.NewReader(body))
	req.Header.Set("X-Azure-Functions-InvocationId", "test")
	h.srv.ServeHTTP(rec, req)
	if rec.Code != 200 {
		h.t.Fatalf("%s: %d %s", function, rec.Code, rec.Body)
	}
	var answer struct{ Logs []string }
	_ = json.Unmarshal(rec.Body.Bytes(), &answer)
	if strings.Contains(rec.Body.String(), "sig=") {
		h.t.Errorf("%s answered with a SAS signature in its Logs", function)
	}
	return answer.Logs
}

// get reads a route into v; a paged list ({value, nextLink}) read into a
// slice is read whole, following nextLink.
func (h *harness) get(path string, v any) int {
	h.t.Helper()
	for page := 0; ; page++ {
		rec := httptest.NewRecorder()
		h.srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if v == nil || rec.Code != 200 {
			return rec.Code
		}
		next, err := apitest.AppendPage(rec.Body.Bytes(), v)
		if err != nil {
			h.t.Fatalf("GET %s: %v: %s", path, err, rec.Body)
		}
		if next == "" || page == 1000 {
			return rec.Code
		}
		u, err := url.Parse(next)
		if err != nil {
			h.t.Fatalf("nextLink %q: %v", next, err)
		}
		path = u.RequestURI()
	}
}

// getBuilds lists builds (their summaries, every page) and reads each
// one's record, as a client that needs the details does.
func (h *harness) getBuilds(path string, list *[]builds.Build) int {
	h.t.Helper()
	var sums []builds.Summary
	code := h.get(path, &sums)
	if code != 200 {
		return code
	}
	out := make([]builds.Build, 0, len(sums))
	for _, s := range sums {
		var b builds.Build
		if c := h.get("/api/builds/"+s.ID, &b); c != 200 {
			h.t.Fatalf("GET build %s listed by %s: %d", s.ID, path, c)
		}
		out = append(out, b)
	}
	*list = out
	return code
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestTemplateUploadedEndToEnd(t *testing.T) {
	h := newHarness(t, "tpl")
	script := []byte("Write-Host 'installing apps'\r\n")
	scriptURL := h.upload(h.s.ScriptsContainer, "avd/install-apps.ps1", script)

	raw, err := os.ReadFile(filepath.Join("..", "template", "testdata", "seed", "windows-avd-powershell.json"))
	if err != nil {
		t.Fatal(err)
	}
	raw = bytes.ReplaceAll(raw, []byte("https://goldenscripts.blob.core.windows.net/scripts/avd/install-apps.ps1"), []byte(scriptURL))
	h.upload(h.s.TemplatesContainer, "avd-win11.json", raw)
	logs := h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "avd-win11.json")
	if !strings.Contains(strings.Join(logs, "\n"), "rebuild=true (never built)") {
		t.Errorf("logs: %q", logs)
	}

	var rec template.Record
	if code := h.get("/api/templates/avd-win11", &rec); code != 200 {
		t.Fatalf("GET template: %d", code)
	}
	if !rec.Valid || rec.Rendered == nil || rec.Plan == nil || !rec.Plan.Rebuild {
		t.Fatalf("record = %+v", rec)
	}
	// the checksum was computed on the spot (no ScriptUploaded event yet), the
	// stale one in the template replaced, latest resolved numerically
	var compact bytes.Buffer
	if err := json.Compact(&compact, rec.Rendered.JSON); err != nil {
		t.Fatal(err)
	}
	rendered := compact.String()
	for _, want := range []string{`"sha256Checksum":"` + sum(script) + `"`, `"version":"22631.4460.241106"`, `"runElevated":true`} {
		if !strings.Contains(rendered, want) {
			t.Errorf("rendered template lacks %s:\n%s", want, rendered)
		}
	}
	if rec.Rendered.SourceVersion != "22631.4460.241106" || rec.Rendered.Scripts["avd/install-apps.ps1"] != sum(script) || len(rec.Rendered.Fingerprint) != 64 {
		t.Errorf("rendered = %+v", rec.Rendered)
	}
	// besides the practice checks (template/practice_test.go), one warning: the stale checksum
	var other []string
	for _, w := range rec.Warnings {
		if !strings.Contains(w.Message, "silence with goldenpipe.ignore]") {
			other = append(other, w.Message)
		}
	}
	if len(other) != 1 || !strings.Contains(other[0], "is stale") {
		t.Errorf("warnings = %v", rec.Warnings)
	}

	var list []struct {
		Name, Fingerprint string
		Valid             bool
	}
	if code := h.get("/api/templates", &list); code != 200 || len(list) != 1 || list[0].Fingerprint != rec.Rendered.Fingerprint {
		t.Fatalf("list: %d %+v", code, list)
	}
	if code := h.get("/api/templates/unknown", nil); code != 404 {
		t.Errorf("unknown template: %d", code)
	}

	// a script change renders the templates that use it again, at once
	old := rec.Rendered.Fingerprint
	script2 := []byte("Write-Host 'installing more apps'\r\n")
	h.upload(h.s.ScriptsContainer, "avd/install-apps.ps1", script2)
	h.blobEvent("ScriptUploaded", h.s.ScriptsContainer, "avd/install-apps.ps1")
	h.get("/api/templates/avd-win11", &rec)
	if rec.Stale || rec.Rendered.Scripts["avd/install-apps.ps1"] != sum(script2) || rec.Rendered.Fingerprint == old {
		t.Errorf("after the script changed: stale=%v scripts=%v", rec.Stale, rec.Rendered.Scripts)
	}
	logs = h.invoke("NightlyRebuild", []byte(`{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{}}`))
	if !strings.Contains(strings.Join(logs, "\n"), "1 templates planned: 1 builds requested, 0 up to date, 0 invalid") {
		t.Errorf("nightly logs: %q", logs)
	}
}

func TestInvalidTemplateIsRecordedWithEveryProblem(t *testing.T) {
	h := newHarness(t, "bad")
	raw, err := os.ReadFile(filepath.Join("..", "template", "testdata", "seed", "mistake-linux.json"))
	if err != nil {
		t.Fatal(err)
	}
	h.upload(h.s.TemplatesContainer, "broken.json", raw)
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "broken.json")
	var rec template.Record
	if code := h.get("/api/templates/broken", &rec); code != 200 {
		t.Fatalf("GET: %d", code)
	}
	if rec.Valid || len(rec.Problems) != 17 || rec.Rendered != nil { // the repeated customizer name is no longer one (Azure has no such rule)
		t.Errorf("valid=%v, %d problems: %v", rec.Valid, len(rec.Problems), rec.Problems)
	}
	// a template referencing a script that does not exist is invalid, with the path
	ok, _ := os.ReadFile(filepath.Join("..", "template", "testdata", "seed", "ubuntu-shell.json"))
	ok = bytes.ReplaceAll(ok, []byte("https://goldenscripts.blob.core.windows.net/scripts/"), []byte(h.svc.NewContainerClient(h.s.ScriptsContainer).URL()+"/"))
	h.upload(h.s.ScriptsContainer, "linux/hardening.sh", []byte("#!/bin/sh\n"))
	h.upload(h.s.TemplatesContainer, "ubuntu.json", ok)
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "ubuntu.json")
	h.get("/api/templates/ubuntu", &rec)
	want := fmt.Sprintf("properties.customize[2]: script %q does not exist in the scripts container", "linux/index.html")
	if rec.Valid || len(rec.Problems) != 1 || rec.Problems[0].String() != want {
		t.Errorf("problems = %v, want [%s]", rec.Problems, want)
	}
}

func TestTemplateDeletedAndOversized(t *testing.T) {
	h := newHarness(t, "del")
	ok, _ := os.ReadFile(filepath.Join("..", "template", "testdata", "seed", "managed-image-source.json"))
	h.upload(h.s.TemplatesContainer, "patched.json", ok)
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "patched.json")
	var rec template.Record
	if code := h.get("/api/templates/patched", &rec); code != 200 || !rec.Valid {
		t.Fatalf("GET: %d %+v", code, rec.Problems)
	}
	if _, err := h.svc.NewContainerClient(h.s.TemplatesContainer).NewBlobClient("patched.json").Delete(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"Data": map[string]any{"event": map[string]any{
		"id": "del", "eventType": "Microsoft.Storage.BlobDeleted", "subject": "/blobServices/default/containers/" + h.s.TemplatesContainer + "/blobs/patched.json",
		"data": map[string]any{"api": "DeleteBlob", "url": h.svc.NewContainerClient(h.s.TemplatesContainer).NewBlobClient("patched.json").URL()},
	}}, "Metadata": map[string]any{}})
	logs := h.invoke("TemplateUploaded", body)
	if !strings.Contains(strings.Join(logs, "\n"), "record removed (kept in history)") {
		t.Errorf("logs: %q", logs)
	}
	if code := h.get("/api/templates/patched", nil); code != 404 {
		t.Errorf("deleted template still served: %d", code)
	}

	huge := append([]byte(`{"location":"`), bytes.Repeat([]byte("x"), template.MaxTemplateBytes)...)
	huge = append(huge, `"}`...)
	h.upload(h.s.TemplatesContainer, "huge.json", huge)
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "huge.json")
	h.get("/api/templates/huge", &rec)
	if rec.Valid || len(rec.Problems) != 1 || !strings.Contains(rec.Problems[0].Message, "over the limit of 1048576") || rec.Source != "" {
		t.Errorf("huge template: valid=%v problems=%v source %d bytes", rec.Valid, rec.Problems, len(rec.Source))
	}
}

// countingDocs counts the writes to keys under a prefix, and every read.
type countingDocs struct {
	goldenpipe.Documents
	prefix string
	mu     sync.Mutex
	writes int
	reads  int
}

func (c *countingDocs) Get(ctx context.Context, key string, v any) (string, error) {
	c.mu.Lock()
	c.reads++
	c.mu.Unlock()
	return c.Documents.Get(ctx, key, v)
}

func (c *countingDocs) count(key string) {
	if strings.HasPrefix(key, c.prefix) {
		c.mu.Lock()
		c.writes++
		c.mu.Unlock()
	}
}

func (c *countingDocs) Put(ctx context.Context, key string, v any, ifMatch string) (string, error) {
	c.count(key)
	return c.Documents.Put(ctx, key, v, ifMatch)
}

func (c *countingDocs) Overwrite(ctx context.Context, key string, v any) (string, error) {
	c.count(key)
	return c.Documents.Overwrite(ctx, key, v)
}

// TestQuietNightWritesNoTemplate: a night on which nothing changed renders
// every template again, reading its record once and writing none; a new
// platform image version is written (and planned).
func TestQuietNightWritesNoTemplate(t *testing.T) {
	sim := fastSimulator()
	h := newHarnessWith(t, "quiet", sim)
	h.avdTemplate("avd", []byte("Write-Host quiet\r\n"))
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "avd.json")
	h.monitorUntilDone("avd")
	docs := &countingDocs{Documents: h.ports.templateDocs.Documents, prefix: "templates/"}
	h.ports.templateDocs.Documents = docs
	h.invoke("NightlyRebuild", []byte(timerBody))
	if docs.writes != 0 {
		t.Errorf("a quiet night wrote %d template records", docs.writes)
	}
	if docs.reads != 1 { // the template's record; its blob's version comes from the listing
		t.Errorf("a quiet night read %d documents for one template, want 1", docs.reads)
	}
	sim.Images.Publish("MicrosoftWindowsDesktop", "office-365", "win11-23h2-avd-m365", "22631.9999.250101")
	h.invoke("NightlyRebuild", []byte(timerBody))
	var rec template.Record
	h.get("/api/templates/avd", &rec)
	if docs.writes != 1 || rec.Plan == nil || !rec.Plan.Rebuild || !strings.Contains(rec.Plan.Reason, "22631.9999.250101") {
		t.Errorf("a new image version: %d writes, plan %+v", docs.writes, rec.Plan)
	}
}

// TestScriptChangeFansOut: a script used by many templates re-plans them
// as a recorded walk: the upload's invocation passes a bounded number of
// templates and answers; the monitor's ticks walk on from the cursor until
// every template was re-rendered with the new checksum; a newer change of
// the script restarts the walk; nothing is left behind.
func TestScriptChangeFansOut(t *testing.T) {
	h := newHarnessTuned(t, "fanout", fastSimulator(), nil, func(tu *Tuning) { tu.NoBuildOnUpload, tu.ReplanLimit = true, 2 })
	names := []string{"t0", "t1", "t2", "t3", "t4", "t5"}
	for _, n := range names {
		h.avdTemplate(n, []byte("Write-Host v1\r\n"))
		h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, n+".json")
	}
	sumOf := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	rendered := func(want string) (n int) {
		for _, name := range names {
			var rec template.Record
			h.get("/api/templates/"+name, &rec)
			if rec.Rendered != nil && rec.Rendered.Scripts["avd/install-apps.ps1"] == want {
				n++
			}
		}
		return n
	}
	walks := func() int {
		keys, err := h.a.Templates.Docs.Keys(context.Background(), "replans/")
		if err != nil {
			t.Fatal(err)
		}
		return len(keys)
	}
	v2 := []byte("Write-Host v2\r\n")
	h.upload(h.s.ScriptsContainer, "avd/install-apps.ps1", v2)
	h.blobEvent("ScriptUploaded", h.s.ScriptsContainer, "avd/install-apps.ps1")
	if n := rendered(sumOf(v2)); n != 2 || walks() != 1 {
		t.Fatalf("after the upload: %d templates re-rendered (want the 2 of its budget), %d walks (want 1)", n, walks())
	}
	h.invoke("BuildMonitor", []byte(timerBody))
	if n := rendered(sumOf(v2)); n != 4 {
		t.Fatalf("after one tick: %d re-rendered, want 4", n)
	}
	// a newer change restarts the walk from the first template
	v3 := []byte("Write-Host v3\r\n")
	h.upload(h.s.ScriptsContainer, "avd/install-apps.ps1", v3)
	h.blobEvent("ScriptUploaded", h.s.ScriptsContainer, "avd/install-apps.ps1")
	for i := 0; i < 5 && walks() > 0; i++ {
		h.invoke("BuildMonitor", []byte(timerBody))
	}
	if n := rendered(sumOf(v3)); n != len(names) || walks() != 0 {
		t.Errorf("after the ticks: %d of %d re-rendered with the newest script, %d walks left", n, len(names), walks())
	}
}

// TestTemplateListReadsSummaries: /api/templates answers from the
// summaries kept beside the records (one listing, no record read); a
// record written before summaries were kept is read once and written again
// with its summary, and is not read again.
func TestTemplateListReadsSummaries(t *testing.T) {
	h := newHarnessTuned(t, "summaries", fastSimulator(), nil, noBuildOnUpload)
	h.avdTemplate("avd", []byte("Write-Host s\r\n"))
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "avd.json")
	var rec template.Record
	h.get("/api/templates/avd", &rec)
	// an old record: the same document written without its summary
	rec.Name = "old"
	old, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.a.Templates.Docs.Overwrite(context.Background(), template.RecordKey("old"), json.RawMessage(old)); err != nil {
		t.Fatal(err)
	}
	counted := &countingDocs{Documents: h.ports.templateDocs.Documents, prefix: "templates/"}
	h.ports.templateDocs.Documents = counted
	var list []template.Summary
	if code := h.get("/api/templates", &list); code != 200 || len(list) != 2 {
		t.Fatalf("templates: %d %+v", code, list)
	}
	if counted.reads != 1 {
		t.Errorf("the first page read %d records, want 1 (the old one, to give it a summary)", counted.reads)
	}
	list = nil
	counted.reads = 0
	h.get("/api/templates", &list)
	names := map[string]bool{}
	for _, s := range list {
		names[s.Name] = s.Valid && s.Fingerprint == rec.Rendered.Fingerprint
	}
	if counted.reads != 0 || !names["avd"] || !names["old"] {
		t.Errorf("the second page read %d records (want 0); summaries %+v", counted.reads, list)
	}
}
