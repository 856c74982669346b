package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/simulator"
	"github.com/goldenpipe/goldenpipe/template"
)

const timerBody = `{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{"sys":{"UtcNow":"2024-12-10T02:00:00Z"}}}`

func fastSimulator() sims {
	b := simulator.NewImageBuilder()
	b.CreateDuration, b.PhaseDuration = 30*time.Millisecond, 30*time.Millisecond
	return sims{Builder: b, Images: simulator.NewImages()}
}

// drain waits for the in-process bus to deliver everything sent.
func (h *harness) drain() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.bus.Drain(ctx); err != nil {
		h.t.Fatal(err)
	}
}

// monitorUntil fires BuildMonitor (as the timer would) until every build
// of the template is finished.
func (h *harness) monitorUntilDone(templateName string) []builds.Build {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		h.drain()
		h.invoke("BuildMonitor", []byte(timerBody))
		var list []builds.Build
		h.getBuilds("/api/builds?template="+templateName, &list)
		done := len(list) > 0
		for _, b := range list {
			done = done && builds.Terminal(b.State)
		}
		if done {
			return list
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("builds of %s did not finish in 20 s", templateName)
	return nil
}

// avdTemplate uploads the AVD seed template pointing at a script in the
// scripts container, and the script.
func (h *harness) avdTemplate(name string, script []byte) {
	h.t.Helper()
	url := h.upload(h.s.ScriptsContainer, "avd/install-apps.ps1", script)
	raw, err := os.ReadFile(filepath.Join("..", "template", "testdata", "seed", "windows-avd-powershell.json"))
	if err != nil {
		h.t.Fatal(err)
	}
	raw = bytes.ReplaceAll(raw, []byte("https://goldenscripts.blob.core.windows.net/scripts/avd/install-apps.ps1"), []byte(url))
	h.upload(h.s.TemplatesContainer, name+".json", raw)
}

func TestBuildEndToEnd(t *testing.T) {
	h := newHarnessWith(t, "e2eb", fastSimulator())
	sim := h.sim
	script := []byte("Write-Host 'apps v1'\r\n")
	h.avdTemplate("avd-win11", script)

	// checksums, the template, the nightly plan: all through the host protocol
	h.blobEvent("ScriptUploaded", h.s.ScriptsContainer, "avd/install-apps.ps1")
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "avd-win11.json")
	logs := h.invoke("NightlyRebuild", []byte(timerBody))
	if !strings.Contains(strings.Join(logs, "\n"), "1 builds requested") {
		t.Fatalf("nightly: %q", logs)
	}
	list := h.monitorUntilDone("avd-win11")
	if len(list) != 1 {
		t.Fatalf("%d builds, want exactly 1: %+v", len(list), list)
	}
	b := list[0]
	var rec template.Record
	h.get("/api/templates/avd-win11", &rec)

	// the record is complete
	if b.State != builds.StateSucceeded || b.Template != "avd-win11" || b.Fingerprint != rec.Rendered.Fingerprint ||
		b.SourceVersion != "22631.4460.241106" || b.Scripts["avd/install-apps.ps1"] != sum(script) || b.AIBID == "" ||
		b.AIBName != builds.AIBName(b.ID) || b.Reason == "" || len(b.Rendered) == 0 || b.StartedAt.IsZero() || b.FinishedAt.IsZero() {
		t.Errorf("build record incomplete: %+v", b)
	}
	var states []string
	for _, tr := range b.History {
		s := string(tr.State)
		if tr.SubState != "" {
			s += "/" + tr.SubState
		}
		states = append(states, s)
	}
	// the states in order, with the sub-states the ticks happened to see
	got := strings.Join(states, " → ")
	if !strings.HasPrefix(got, "requested → creating → running → running/") || !strings.HasSuffix(got, " → succeeded") {
		t.Errorf("history %s", got)
	}
	if len(b.Outputs) != 1 || b.Outputs[0].Name != "avd-win11-vhd" || b.Outputs[0].ArtifactURI == "" || strings.Contains(b.Outputs[0].ArtifactURI, "?") {
		t.Errorf("outputs = %+v", b.Outputs)
	}
	var one builds.Build
	if code := h.get("/api/builds/"+b.ID, &one); code != 200 || one.ID != b.ID {
		t.Errorf("GET build: %d", code)
	}
	if code := h.get("/api/builds/nope", nil); code != 404 {
		t.Errorf("unknown build: %d", code)
	}
	// lifecycle events as CloudEvents
	var types []string
	for _, m := range h.bus.Topic(h.s.EventsTopic) {
		var ev builds.CloudEvent
		if err := json.Unmarshal(m.Body, &ev); err != nil || ev.SpecVersion != "1.0" || ev.Data.BuildID != b.ID || ev.ID != m.ID {
			t.Errorf("event %s: %v %+v", m.Body, err, ev)
		}
		types = append(types, ev.Type)
	}
	if strings.Join(types, ",") != "com.goldenpipe.build.requested,com.goldenpipe.build.started,com.goldenpipe.vhd.copied,com.goldenpipe.build.succeeded" {
		t.Errorf("events = %v", types)
	}
	// the VHD was copied out of the staging account, verified, and only then
	// the Image Builder template (with its staging group) deleted
	if len(b.Rescue) != 1 || b.Rescue[0].State != builds.CopyVerified || !strings.HasSuffix(b.Rescue[0].Destination, "/"+h.prefix+"-vhds/avd-win11/"+b.ID+"/avd-win11-vhd.vhd") {
		t.Errorf("rescue = %+v", b.Rescue)
	}
	if len(sim.Templates()) != 0 {
		t.Errorf("Image Builder templates left after a safe build: %v", sim.Templates())
	}
	// the template knows its last build; the plan says up to date
	h.get("/api/templates/avd-win11", &rec)
	if rec.LastBuild == nil || rec.LastBuild.BuildID != b.ID || rec.Plan.Rebuild {
		t.Errorf("template after the build: last %+v plan %+v", rec.LastBuild, rec.Plan)
	}
	if sim.Calls("Create") != 1 || sim.Calls("Run") != 1 {
		t.Errorf("Image Builder saw %d creates and %d runs, want 1 and 1", sim.Calls("Create"), sim.Calls("Run"))
	}

	// the nightly run over the unchanged template starts nothing
	logs = h.invoke("NightlyRebuild", []byte(timerBody))
	h.drain()
	h.invoke("BuildMonitor", []byte(timerBody))
	if !strings.Contains(strings.Join(logs, "\n"), "0 builds requested, 1 up to date") || sim.Calls("Create") != 1 {
		t.Errorf("unchanged nightly: %q, %d creates", logs, sim.Calls("Create"))
	}

	// one changed script: exactly one build
	h.upload(h.s.ScriptsContainer, "avd/install-apps.ps1", []byte("Write-Host 'apps v2'\r\n"))
	h.blobEvent("ScriptUploaded", h.s.ScriptsContainer, "avd/install-apps.ps1")
	h.invoke("NightlyRebuild", []byte(timerBody)) // the change's request and the nightly's coalesce
	list = h.monitorUntilDone("avd-win11")
	if len(list) != 2 || sim.Calls("Create") != 2 || sim.Calls("Run") != 2 || list[0].State != builds.StateSucceeded {
		t.Fatalf("after a script change: %d builds, %d creates, %d runs", len(list), sim.Calls("Create"), sim.Calls("Run"))
	}
	if !strings.Contains(list[0].Reason, "avd/install-apps.ps1") {
		t.Errorf("reason %q does not name the script", list[0].Reason)
	}

	// a newer "latest" platform version: exactly one build
	h.images.Publish("MicrosoftWindowsDesktop", "office-365", "win11-23h2-avd-m365", "22631.4602.241210")
	logs = h.invoke("NightlyRebuild", []byte(timerBody))
	list = h.monitorUntilDone("avd-win11")
	if len(list) != 3 || sim.Calls("Create") != 3 || list[0].SourceVersion != "22631.4602.241210" {
		t.Fatalf("after a new platform version: %d builds, %d creates, source %s; %q", len(list), sim.Calls("Create"), list[0].SourceVersion, logs)
	}
	if !strings.Contains(list[0].Reason, "source 22631.4460.241106 → 22631.4602.241210") {
		t.Errorf("reason %q", list[0].Reason)
	}
	// every Image Builder template belongs to a build
	assertNoOrphans(t, h)
}

func assertNoOrphans(t *testing.T, h *harness) {
	t.Helper()
	var list []builds.Build
	h.getBuilds("/api/builds", &list)
	known := map[string]bool{}
	for _, b := range list {
		known[b.AIBName] = true
	}
	for _, name := range h.sim.Templates() {
		if !known[name] {
			t.Errorf("orphan Image Builder template %s", name)
		}
	}
}

func postJSON(h *harness, path, body string) (int, string) {
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
	return rec.Code, rec.Body.String()
}

func TestBuildRequestsThroughAPIAndQueue(t *testing.T) {
	h := newHarnessTuned(t, "apib", fastSimulator(), nil, noBuildOnUpload) // this test requests the builds
	h.avdTemplate("avd", []byte("Write-Host 1\r\n"))
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "avd.json")

	code, body := postJSON(h, "/api/builds", `{"template":"avd"}`)
	if code != http.StatusAccepted || !strings.Contains(body, `"buildId": "avd-`) {
		t.Fatalf("POST /api/builds: %d %s", code, body)
	}
	list := h.monitorUntilDone("avd")
	if len(list) != 1 || list[0].State != builds.StateSucceeded || list[0].RequestedBy != "api" {
		t.Fatalf("list = %+v", list)
	}
	if code, body := postJSON(h, "/api/builds", `{"template":"avd"}`); code != http.StatusConflict || !strings.Contains(body, "up to date") {
		t.Errorf("second POST without force: %d %s", code, body)
	}
	if code, _ := postJSON(h, "/api/builds", `{"template":"avd","force":true}`); code != http.StatusAccepted {
		t.Errorf("forced POST: %d", code)
	}
	if list = h.monitorUntilDone("avd"); len(list) != 2 || !list[0].Force {
		t.Errorf("after a forced build: %+v", list)
	}
	for _, bad := range []struct{ body, want string }{
		{`{"template":"nope"}`, "no template"},
		{`{"templat":"avd"}`, "unknown field"},
		{`{}`, "template is required"},
		{`not json`, "must be JSON"},
	} {
		if code, body := postJSON(h, "/api/builds", bad.body); code/100 != 4 || !strings.Contains(body, bad.want) {
			t.Errorf("POST %s: %d %s", bad.body, code, body)
		}
	}

	// invalid messages are rejected with the reason and the body kept, once
	for i, body := range []string{`{"template": 42}`, `{"template":"no such template"}`, `{"template":"ghost"}`, `plain text`} {
		msg := goldenpipe.OutMessage{ID: fmt.Sprintf("bad-%d", i), Body: []byte(body)}
		if err := h.bus.Send(context.Background(), h.s.BuildQueue, msg); err != nil {
			t.Fatal(err)
		}
	}
	h.drain()
	var rejected []builds.Rejection
	h.get("/api/builds/rejected", &rejected)
	if len(rejected) != 4 || len(h.bus.DeadLetters()) != 0 {
		t.Fatalf("rejected %d (want 4), dead letters %d (want 0): %+v", len(rejected), len(h.bus.DeadLetters()), rejected)
	}
	reasons := ""
	for _, r := range rejected {
		reasons += r.Reason + " | " + r.Body + "\n"
	}
	for _, want := range []string{"cannot unmarshal number", `template "no such template" is not a template name`, `no template "ghost"`, "plain text"} {
		if !strings.Contains(reasons, want) {
			t.Errorf("rejections lack %q:\n%s", want, reasons)
		}
	}
}

func httptestRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func httptestRequest(function string, body []byte) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/"+function, bytes.NewReader(body))
	req.Header.Set("X-Azure-Functions-InvocationId", "test")
	return req
}

// TestBuildsArePagedNewestFirst: /api/builds answers pages of the builds
// index, newest first, on Azurite's own listing markers; ?template= pages
// one template's builds.
func TestBuildsArePagedNewestFirst(t *testing.T) {
	h := newHarnessWith(t, "pages", fastSimulator())
	for _, n := range []string{"p1", "p2", "p3"} {
		h.avdTemplate(n, []byte("Write-Host pages\r\n"))
		h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, n+".json")
	}
	for _, n := range []string{"p1", "p2", "p3"} {
		h.monitorUntilDone(n)
	}
	type page struct {
		Value    []builds.Build `json:"value"`
		NextLink string         `json:"nextLink"`
	}
	read := func(path string) page {
		rec := httptestRecorder()
		h.srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		var p page
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &p) != nil {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
		return p
	}
	first := read("/api/builds?top=2&code=k")
	if len(first.Value) != 2 || first.NextLink == "" || !strings.Contains(first.NextLink, "code=k") {
		t.Fatalf("first page: %d builds, nextLink %q", len(first.Value), first.NextLink)
	}
	u, _ := url.Parse(first.NextLink)
	second := read(u.RequestURI())
	all := append(first.Value, second.Value...)
	if len(second.Value) != 1 || second.NextLink != "" {
		t.Fatalf("second page: %d builds, nextLink %q", len(second.Value), second.NextLink)
	}
	for i := 1; i < len(all); i++ {
		if all[i].RequestedAt.After(all[i-1].RequestedAt) {
			t.Errorf("not newest first: %s at %s after %s at %s", all[i].ID, all[i].RequestedAt, all[i-1].ID, all[i-1].RequestedAt)
		}
	}
	if one := read("/api/builds?template=p2"); len(one.Value) != 1 || one.Value[0].Template != "p2" || one.NextLink != "" {
		t.Errorf("builds of p2: %+v", one)
	}
}
