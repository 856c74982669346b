// Package pipeline_test drives the whole pipeline on in-memory storage:
// a test binary of its own, so that no TestMain starts Azurite for it.
package pipeline_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/app"
	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/config"
	"github.com/goldenpipe/goldenpipe/gallery"
	"github.com/goldenpipe/goldenpipe/inmem"
	"github.com/goldenpipe/goldenpipe/internal/apitest"
	"github.com/goldenpipe/goldenpipe/internal/clock"
	"github.com/goldenpipe/goldenpipe/internal/local"
	"github.com/goldenpipe/goldenpipe/simulator"
	"github.com/goldenpipe/goldenpipe/template"
)

const (
	galleryImage = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-images/providers/Microsoft.Compute/galleries/goldenGallery/images/avd-win11-pooled"
	vhdSize      = 1 << 20 // a small VHD: the pipeline, not the bytes, is under test
	// copyRate makes the VHD's copy take 64 s of the fake clock: the
	// monitor sees it pending before it ends
	copyRate = 16 << 10
)

// pipeline is the handler built on in-memory storage and the simulated
// Azure, driven as the Functions host drives it.
type pipeline struct {
	t                  *testing.T
	clock              *clock.Fake
	scripts, templates *inmem.Blobs
	docs               *inmem.Docs
	staging, vhds      *inmem.Account
	sims               *local.Local
	srv                http.Handler
	s                  config.Settings
}

// newPipeline builds the app with Overrides.Storage giving in-memory
// storage. The settings' storage connections point at trap, a server that
// counts the requests that reach it: none should.
func newPipeline(t *testing.T, trap string) *pipeline {
	t.Helper()
	// one clock, moved by hand from now on: Azure's (the simulator's and
	// storage's) and the services' (Tuning.Now, Tuning.GalleryNow)
	c := clock.NewFake(time.Now().UTC().Truncate(time.Second))
	p := &pipeline{t: t, clock: c, docs: inmem.NewDocs(),
		scripts:   inmem.NewBlobs("https://goldenscripts.blob.core.windows.net/scripts", c.Now),
		templates: inmem.NewBlobs("https://goldenscripts.blob.core.windows.net/templates", c.Now),
		staging:   inmem.NewAccount("aibstaging", c.Now), vhds: inmem.NewAccount("goldenvhds", c.Now)}
	p.vhds.CopyRate = copyRate
	p.vhds.ReadsFrom(p.staging) // with a SAS the staging account signs

	sim := simulator.NewImageBuilder()
	sim.CreateDuration, sim.PhaseDuration, sim.Now = time.Minute, time.Minute, c.Now
	sim.VHDOutput = local.InMemoryVHDs(p.staging, vhdSize)
	p.sims = &local.Local{Builder: sim, Images: simulator.NewImages(), Gallery: simulator.NewGallery()}

	// a key that is no account's: nothing may reach the endpoints it names
	cs := "DefaultEndpointsProtocol=http;AccountName=inmemory;AccountKey=" + base64Key + ";BlobEndpoint=" + trap + "/inmemory;TableEndpoint=" + trap + "/inmemory"
	s, err := config.Load(config.MapLookup(map[string]string{
		"Scripts": cs, "State": cs, "ServiceBus": "inprocess", "AIB_SIMULATOR": "true",
		"SCRIPTS_CONTAINER": "scripts", "TEMPLATES_CONTAINER": "templates", "STATE_CONTAINER": "goldenpipe-state",
	}))
	if err != nil {
		t.Fatal(err)
	}
	p.s = s
	storage := func(config.Settings) (app.Storage, error) {
		return app.Storage{Docs: p.docs, Scripts: p.scripts, Templates: p.templates,
			VHDSource: p.staging, VHDDestination: p.vhds.Container("vhds")}, nil
	}
	a, err := app.Build(context.Background(), s, slog.New(slog.DiscardHandler), app.Overrides{Storage: storage,
		ARM: p.sims.ARM, ServiceBus: p.sims.ServiceBus, Gallery: p.sims.GalleryVersions,
		Tuning: app.Tuning{Now: c.Now, GalleryNow: c.Now}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close(context.Background()) })
	p.srv = a.Server
	return p
}

// base64Key is the base64 of "not a storage account key".
const base64Key = "bm90IGEgc3RvcmFnZSBhY2NvdW50IGtleQ=="

// upload writes a blob as a user would and invokes function with its
// BlobCreated event, in the host's payload (Event Grid schema).
func (p *pipeline) upload(function string, b *inmem.Blobs, container, name string, content []byte) []string {
	p.t.Helper()
	v, err := b.Upload(context.Background(), name, content)
	if err != nil {
		p.t.Fatal(err)
	}
	event, _ := json.Marshal(map[string]any{
		"id": "ev-" + name, "eventType": "Microsoft.Storage.BlobCreated", "eventTime": p.clock.Now().Format(time.RFC3339),
		"subject": "/blobServices/default/containers/" + container + "/blobs/" + name, "topic": "t",
		"data": map[string]any{"api": "PutBlob", "url": b.URL(name), "eTag": `"` + v.ETag + `"`, "contentLength": len(content),
			"blobType": "BlockBlob", "sequencer": "01"},
	})
	body, _ := json.Marshal(map[string]any{"Data": map[string]json.RawMessage{"event": event},
		"Metadata": map[string]any{"sys": map[string]any{"MethodName": function}}})
	return p.invoke(function, body)
}

// invoke posts an invocation to the handler and returns its Logs.
func (p *pipeline) invoke(function string, body []byte) []string {
	p.t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/"+function, bytes.NewReader(body))
	req.Header.Set("X-Azure-Functions-InvocationId", function+"-1")
	p.srv.ServeHTTP(rec, req)
	var answer struct{ Logs []string }
	if err := json.Unmarshal(rec.Body.Bytes(), &answer); rec.Code != http.StatusOK || err != nil {
		p.t.Fatalf("%s: %d %s", function, rec.Code, rec.Body)
	}
	return answer.Logs
}

// get reads an API route into v (every page of a list).
func (p *pipeline) get(path string, v any) {
	p.t.Helper()
	for {
		rec := httptest.NewRecorder()
		p.srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			p.t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
		next, err := apitest.AppendPage(rec.Body.Bytes(), v)
		if err != nil {
			p.t.Fatalf("GET %s: %v", path, err)
		}
		if next == "" {
			return
		}
		u, err := url.Parse(next)
		if err != nil {
			p.t.Fatalf("nextLink %q: %v", next, err)
		}
		path = u.RequestURI()
	}
}

// tick delivers what the bus holds and fires BuildMonitor, as its timer
// would, at the fake clock's time.
func (p *pipeline) tick() {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.sims.Bus.Drain(ctx); err != nil {
		p.t.Fatal(err)
	}
	p.invoke("BuildMonitor", []byte(`{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"IsPastDue":false}},"Metadata":{"sys":{"UtcNow":"`+
		p.clock.Now().Format(time.RFC3339)+`"}}}`))
}

// TestPipelineInMemory: a script upload, its checksum, the template that
// uses it rendered and recorded, a build requested and run on the
// simulated Image Builder, its VHD copied out of the staging account and
// verified before the template (and with it the staging VHD) is deleted,
// and a gallery image version: on in-memory storage, the clock moved by
// hand, no Azurite, no request to a storage endpoint.
func TestPipelineInMemory(t *testing.T) {
	var reached atomic.Int64
	trap := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		http.Error(w, "no storage here", http.StatusTeapot)
	}))
	defer trap.Close()
	p := newPipeline(t, trap.URL)

	sum := p.scriptUploaded("avd/install-apps.ps1", []byte("winget install --id Microsoft.Teams --silent\r\n"))
	rec := p.templateUploaded("avd", sum)
	b, sawPending := p.followBuild("avd")

	if b.State != builds.StateSucceeded || b.Fingerprint != rec.Rendered.Fingerprint || b.Scripts[sum.Name] != sum.SHA256 {
		t.Fatalf("build %s: %s (%s), fingerprint %s, scripts %v", b.ID, b.State, b.Error, b.Fingerprint, b.Scripts)
	}
	if n := p.sims.Builder.Calls("Create"); n != 1 || len(p.sims.Builder.Templates()) != 0 {
		t.Errorf("Image Builder: %d creates, templates left %v; want 1 and none", n, p.sims.Builder.Templates())
	}
	p.checkRescue(b, sawPending)
	p.checkGallery(b)
	p.get("/api/templates/avd", &rec)
	if rec.LastBuild == nil || rec.LastBuild.BuildID != b.ID || rec.LastBuild.Fingerprint != b.Fingerprint || strings.Contains(rec.Plan.Reason, "never built") {
		t.Errorf("the template after its build: last %+v, plan %+v", rec.LastBuild, rec.Plan)
	}
	p.checkEvents(b.ID, "com.goldenpipe.build.requested", "com.goldenpipe.build.started", "com.goldenpipe.vhd.copied", "com.goldenpipe.build.succeeded")

	// all of it in memory: no request reached a storage endpoint
	if n := reached.Load(); n != 0 {
		t.Errorf("%d requests reached the storage endpoints of the settings", n)
	}
	if p.docs.Len() == 0 {
		t.Error("the in-memory store holds nothing: the app kept its state elsewhere")
	}
}

// scriptUploaded uploads a script and returns its checksum as the API
// shows it, checked against the content's sha256.
func (p *pipeline) scriptUploaded(name string, script []byte) goldenpipe.Checksum {
	p.t.Helper()
	p.upload("ScriptUploaded", p.scripts, "scripts", name, script)
	want := sha256.Sum256(script)
	var sum goldenpipe.Checksum
	p.get("/api/checksums/"+name, &sum)
	if sum.Name != name || sum.SHA256 != hex.EncodeToString(want[:]) || sum.Size != int64(len(script)) {
		p.t.Fatalf("checksum %+v, want sha256 %x of %d bytes", sum, want, len(script))
	}
	return sum
}

// templateUploaded uploads the template of testdata that runs the script
// sum names and returns its record: valid, rendered with the script's
// checksum, a build planned.
func (p *pipeline) templateUploaded(name string, sum goldenpipe.Checksum) template.Record {
	p.t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "avd-vhd-gallery.json"))
	if err != nil {
		p.t.Fatal(err)
	}
	scriptURL := p.scripts.URL(sum.Name)
	p.upload("TemplateUploaded", p.templates, "templates", name+".json", bytes.ReplaceAll(raw, []byte("SCRIPT_URL"), []byte(scriptURL)))
	var rec template.Record
	p.get("/api/templates/"+name, &rec)
	if !rec.Valid || rec.Rendered == nil || rec.Plan == nil || !rec.Plan.Rebuild {
		p.t.Fatalf("template record: valid %v, problems %v, plan %+v", rec.Valid, rec.Problems, rec.Plan)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, rec.Rendered.JSON); err != nil {
		p.t.Fatal(err)
	}
	for _, w := range []string{`"sha256Checksum":"` + sum.SHA256 + `"`, `"scriptUri":"` + scriptURL + `"`, `"type":"VHD"`} {
		if !strings.Contains(compact.String(), w) {
			p.t.Errorf("the recorded template lacks %s:\n%s", w, compact.String())
		}
	}
	if rec.Rendered.Scripts[sum.Name] != sum.SHA256 {
		p.t.Errorf("the record's scripts %v", rec.Rendered.Scripts)
	}
	return rec
}

// followBuild ticks the monitor, a minute of the clock a tick, until the
// template's one build is finished and its gallery step done, and says
// whether the VHD's copy was seen pending. The Image Builder template is
// never gone while the VHD's copy is not complete.
func (p *pipeline) followBuild(templateName string) (builds.Build, bool) {
	p.t.Helper()
	var b builds.Build
	sawPending := false
	for i := 0; i < 60; i++ {
		p.tick()
		var list []builds.Summary
		p.get("/api/builds?template="+templateName, &list)
		if len(list) == 1 {
			b = builds.Build{}
			p.get("/api/builds/"+list[0].ID, &b)
			cp, err := p.vhds.Container("vhds").Properties(context.Background(), templateName+"/"+b.ID+"/avd-win11-vhd.vhd")
			if err != nil {
				p.t.Fatal(err)
			}
			sawPending = sawPending || cp.Status == goldenpipe.CopyPending
			if p.sims.Builder.Calls("Create") > 0 && !slices.Contains(p.sims.Builder.Templates(), b.AIBName) && cp.Status != goldenpipe.CopySuccess {
				p.t.Fatalf("the Image Builder template is gone and the VHD's copy is %+v; build %s %s", cp, b.State, b.Error)
			}
			if builds.Terminal(b.State) && slices.Contains(b.Done, "gallery") {
				return b, sawPending
			}
		}
		p.clock.Advance(time.Minute)
	}
	p.t.Fatalf("the build is not done after 60 ticks: %s %s", b.State, b.Error)
	return b, false
}

// checkRescue checks the build's VHD: copied out of the staging account,
// seen pending, verified before the build finished, and the copy's bytes
// those Image Builder left in staging.
func (p *pipeline) checkRescue(b builds.Build, sawPending bool) {
	p.t.Helper()
	vhdName := b.AIBName + "-avd-win11-vhd.vhd"
	if len(b.Rescue) != 1 || b.Rescue[0].State != builds.CopyVerified || b.Rescue[0].Source != p.staging.URL()+"/vhds/"+vhdName ||
		b.Rescue[0].Destination != p.vhds.URL()+"/vhds/avd/"+b.ID+"/avd-win11-vhd.vhd" || b.Rescue[0].SourceLength != vhdSize ||
		b.Rescue[0].VerifiedAt.After(b.FinishedAt) || !sawPending {
		p.t.Fatalf("rescue %+v (pending seen: %v)", b.Rescue, sawPending)
	}
	copied, err := p.vhds.Read(context.Background(), b.Rescue[0].Destination)
	if err != nil {
		p.t.Fatal(err)
	}
	want := make([]byte, vhdSize)
	for _, pg := range simulator.SparsePages(vhdName, vhdSize) {
		copy(want[pg.Offset:], pg.Data)
	}
	if !bytes.Equal(copied, want) {
		p.t.Error("the VHD's copy differs from what Image Builder left in staging")
	}
}

// checkGallery checks the gallery: one version, latest, the build's
// SharedImage output and the template's gallery view naming it.
func (p *pipeline) checkGallery(b builds.Build) {
	p.t.Helper()
	versions := p.sims.Gallery.Versions(galleryImage)
	if len(versions) != 1 || p.sims.Gallery.Latest(galleryImage) != versions[0] {
		p.t.Fatalf("gallery versions %v, latest %q: want one, latest", versions, p.sims.Gallery.Latest(galleryImage))
	}
	i := slices.IndexFunc(b.Outputs, func(o goldenpipe.RunOutput) bool { return o.Name == "avd-win11-sig" })
	if i < 0 || !strings.EqualFold(b.Outputs[i].ArtifactID, galleryImage+"/versions/"+versions[0]) {
		p.t.Errorf("outputs %+v: want the gallery version %s", b.Outputs, versions[0])
	}
	var view gallery.View
	p.get("/api/templates/"+b.Template+"/gallery", &view)
	if len(view.Images) != 1 || view.Images[0].Latest != versions[0] {
		p.t.Errorf("gallery view %+v, want latest %s", view, versions[0])
	}
}

// checkEvents checks the events topic holds the build's lifecycle events.
func (p *pipeline) checkEvents(build string, want ...string) {
	p.t.Helper()
	var types []string
	for _, m := range p.sims.Bus.Topic(p.s.EventsTopic) {
		var ev builds.CloudEvent
		if err := json.Unmarshal(m.Body, &ev); err == nil && ev.Data.BuildID == build {
			types = append(types, ev.Type)
		}
	}
	for _, w := range want {
		if !slices.Contains(types, w) {
			p.t.Errorf("events %v lack %s", types, w)
		}
	}
}

// TestPipelineNeedsNoAzurite: this test binary links no Azurite launcher
// (internal/azurite, internal/devstorage), so no test of it can start one.
func TestPipelineNeedsNoAzurite(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-test", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps -test: %v", err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "github.com/goldenpipe/goldenpipe/inmem") {
		t.Fatalf("go list listed %d packages, without inmem", len(deps))
	}
	for _, d := range deps {
		if strings.Contains(d, "/internal/azurite") || strings.HasSuffix(d, "/internal/devstorage") {
			t.Errorf("the in-memory pipeline test links %s", d)
		}
	}
}
