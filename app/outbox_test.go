package app

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/template"
)

// gap is one handler process between "template record written" and
// "build request sent": from the write of the template's record on, every
// call to storage and to Service Bus is a numbered step, and at step at
// the process either dies (the step happens, nothing after it does) or
// meets a storage error (the step fails, the process goes on).
type gap struct {
	record string // the record whose write opens the gap
	openOn int    // which write of it opens the gap (0: the first)
	puts   int
	kill   bool
	at     int // 0 with kill: dies right after the record's write

	mu     sync.Mutex
	open   bool
	steps  []string
	dead   bool
	failed string
	sent   int // build requests that reached the bus
}

func (g *gap) step(name string, call func() error) error {
	g.mu.Lock()
	if g.dead {
		g.mu.Unlock()
		return errDead
	}
	if !g.open {
		g.mu.Unlock()
		err := call()
		g.mu.Lock()
		defer g.mu.Unlock()
		if err == nil && name == "put "+g.record {
			g.puts++
		}
		if err == nil && name == "put "+g.record && g.puts > g.openOn {
			g.open = true
			if g.kill && g.at == 0 {
				g.dead = true
			}
		}
		return err
	}
	g.steps = append(g.steps, name)
	n := len(g.steps)
	g.mu.Unlock()
	switch {
	case n == g.at && g.kill:
		err := call()
		g.mu.Lock()
		g.dead, g.failed = true, name
		g.mu.Unlock()
		if err != nil {
			return err
		}
		return errDead
	case n == g.at:
		g.mu.Lock()
		g.failed = name
		g.mu.Unlock()
		return goldenpipe.Errorf(goldenpipe.EUNAVAILABLE, "storage answered 503 at %s", name)
	}
	return call()
}

// gapDocs is the state store as the template catalog of the gap's process
// sees it.
type gapDocs struct {
	goldenpipe.Documents
	g *gap
}

func (d gapDocs) Get(ctx context.Context, key string, v any) (etag string, err error) {
	err = d.g.step("get "+key, func() (err error) { etag, err = d.Documents.Get(ctx, key, v); return err })
	return etag, err
}
func (d gapDocs) Put(ctx context.Context, key string, v any, ifMatch string) (etag string, err error) {
	err = d.g.step("put "+key, func() (err error) { etag, err = d.Documents.Put(ctx, key, v, ifMatch); return err })
	return etag, err
}
func (d gapDocs) Overwrite(ctx context.Context, key string, v any) (etag string, err error) {
	err = d.g.step("overwrite "+key, func() (err error) { etag, err = d.Documents.Overwrite(ctx, key, v); return err })
	return etag, err
}
func (d gapDocs) Delete(ctx context.Context, key, ifMatch string) error {
	return d.g.step("delete "+key, func() error { return d.Documents.Delete(ctx, key, ifMatch) })
}
func (d gapDocs) Keys(ctx context.Context, prefix string) (keys []string, err error) {
	err = d.g.step("keys "+prefix, func() (err error) { keys, err = d.Documents.Keys(ctx, prefix); return err })
	return keys, err
}

// gapBus is Service Bus as the gap's process sees it: a request that
// reaches it is counted (and goes no further: this process is the one
// under test, the next one is where builds are observed).
type gapBus struct{ g *gap }

func (b gapBus) Send(ctx context.Context, queue string, m goldenpipe.OutMessage) error {
	return b.g.step("send "+m.Subject, func() error {
		b.g.mu.Lock()
		defer b.g.mu.Unlock()
		b.g.sent++
		return nil
	})
}
func (b gapBus) Publish(ctx context.Context, topic string, m goldenpipe.OutMessage) error {
	return b.Send(ctx, topic, m)
}

// runGap uploads a template in a process with the gap g and returns the
// process (its script already in the catalog, so the upload's own steps
// are the template's).
func runGap(t *testing.T, prefix string, g *gap) *harness {
	first := newHarnessWith(t, prefix, fastSimulator())
	first.avdTemplate("avd", []byte("Write-Host outbox\r\n"))
	first.blobEvent("ScriptUploaded", first.s.ScriptsContainer, "avd/install-apps.ps1")
	g.record = template.RecordKey("avd")
	first.ports.templateDocs.Documents = gapDocs{first.ports.templateDocs.Documents, g}
	first.ports.bus.Bus = gapBus{g}
	first.invokeAllowFail("TemplateUploaded", templateEventBody(first, "avd.json"))
	return first
}

// The points of the gap: every step from the record's write to the end of
// the upload's invocation, as one uninterrupted upload makes them.
func gapSteps(t *testing.T) []string {
	t.Helper()
	g := &gap{at: -1}
	runGap(t, "gapdry", g)
	if !g.open || g.sent != 1 {
		t.Fatalf("the upload wrote no record or sent %d requests (steps %v)", g.sent, g.steps)
	}
	if !strings.HasPrefix(g.steps[len(g.steps)-1], "delete "+template.PendingPrefix) {
		t.Fatalf("the upload's last step is %q, want the pending entry's removal", g.steps[len(g.steps)-1])
	}
	return g.steps
}

// A crash or a storage error at every point between "template record
// written" and "build request sent" (and on to the request recorded as
// sent), then the event delivered again to another process, or only the
// monitor's tick: a build is requested each time.
func TestNoBuildRequestLostBetweenRecordAndSend(t *testing.T) {
	steps := gapSteps(t)
	t.Logf("the gap's steps: %q", steps)
	type point struct {
		name string
		kill bool
		at   int
	}
	points := []point{{"killed right after the record's write", true, 0}}
	for i, s := range steps {
		points = append(points, point{fmt.Sprintf("killed after step %d (%s)", i+1, s), true, i + 1},
			point{fmt.Sprintf("storage error at step %d (%s)", i+1, s), false, i + 1})
	}
	for _, recovery := range []string{"redelivery", "monitor tick"} {
		for i, p := range points {
			t.Run(recovery+"/"+p.name, func(t *testing.T) {
				prefix := fmt.Sprintf("gap%c%d", recovery[0], i)
				g := &gap{kill: p.kill, at: p.at}
				first := runGap(t, prefix, g)
				if !g.open {
					t.Fatalf("the record was never written")
				}
				if p.at > 0 && g.failed == "" {
					t.Fatalf("the upload never reached step %d", p.at)
				}
				// another process on the same storage: the event again, or a tick
				second := newHarnessWith(t, prefix, sims{Builder: first.sim, Images: first.images})
				if recovery == "redelivery" {
					second.blobEvent("TemplateUploaded", second.s.TemplatesContainer, "avd.json")
				} else {
					second.invoke("BuildMonitor", []byte(timerBody))
				}
				second.drain()
				var list []builds.Build
				second.getBuilds("/api/builds?template=avd", &list)
				if g.sent == 0 && len(list) != 1 {
					t.Fatalf("no request reached the bus before the fault at %q, and none after the %s: builds %v", g.failed, recovery, list)
				}
				if g.sent > 0 && len(list) > 1 {
					t.Errorf("%d builds of one change", len(list))
				}
				var rec template.Record
				second.get("/api/templates/avd", &rec)
				if g.sent == 0 && rec.Pending != nil {
					t.Errorf("the record still carries the request after it was sent: %+v", rec.Pending)
				}
				// nothing is left to send: the pending index is empty
				if keys, err := second.a.Templates.Docs.Keys(context.Background(), template.PendingPrefix); err != nil || (rec.Pending == nil && g.sent == 0 && len(keys) != 0) {
					t.Errorf("pending index after recovery: %v %v", keys, err)
				}
			})
		}
	}
}

// templateEventBody is the BlobCreated event of a template, as the host
// delivers it.
func templateEventBody(h *harness, name string) []byte {
	return blobEventBody(h, "TemplateUploaded", h.s.TemplatesContainer, name)
}

// The same on a script change: the template's record is written again
// with its new plan by the script's re-planning walk, and the process dies
// right after that write; the next monitor tick requests the build.
func TestNoBuildRequestLostOnAScriptChange(t *testing.T) {
	first := newHarnessWith(t, "gapscript", fastSimulator())
	first.avdTemplate("avd", []byte("Write-Host v1\r\n"))
	first.blobEvent("ScriptUploaded", first.s.ScriptsContainer, "avd/install-apps.ps1")
	first.blobEvent("TemplateUploaded", first.s.TemplatesContainer, "avd.json")
	if list := first.monitorUntilDone("avd"); len(list) != 1 || list[0].State != builds.StateSucceeded {
		t.Fatalf("the first build: %v", summarize(list))
	}
	// the walk marks the record stale (write 1), renders it again (write 2): killed after write 2
	g := &gap{record: template.RecordKey("avd"), openOn: 1, kill: true}
	first.ports.templateDocs.Documents = gapDocs{first.ports.templateDocs.Documents, g}
	first.ports.bus.Bus = gapBus{g}
	first.upload(first.s.ScriptsContainer, "avd/install-apps.ps1", []byte("Write-Host v2\r\n"))
	first.invokeAllowFail("ScriptUploaded", blobEventBody(first, "ScriptUploaded", first.s.ScriptsContainer, "avd/install-apps.ps1"))
	if !g.dead || g.sent != 0 {
		t.Fatalf("the process was not killed after the re-rendered record's write (dead %v, sent %d)", g.dead, g.sent)
	}
	second := newHarnessWith(t, "gapscript", sims{Builder: first.sim, Images: first.images})
	var rec template.Record
	second.get("/api/templates/avd", &rec)
	if rec.Pending == nil || rec.Stale {
		t.Fatalf("the record as the process left it: pending %+v, stale %v", rec.Pending, rec.Stale)
	}
	second.invoke("BuildMonitor", []byte(timerBody))
	second.drain()
	var list []builds.Build
	second.getBuilds("/api/builds?template=avd", &list)
	if len(list) != 2 || list[0].Fingerprint != rec.Pending.Fingerprint {
		t.Fatalf("after one tick: builds %v, want a second of fingerprint %s", summarize(list), rec.Pending.Fingerprint)
	}
}

// recordCounter counts the template records a process reads and lists.
type recordCounter struct {
	goldenpipe.Documents
	mu            sync.Mutex
	recordReads   int
	recordListing int
}

func (c *recordCounter) Get(ctx context.Context, key string, v any) (string, error) {
	if strings.HasPrefix(key, template.RecordPrefix) {
		c.mu.Lock()
		c.recordReads++
		c.mu.Unlock()
	}
	return c.Documents.Get(ctx, key, v)
}

func (c *recordCounter) Keys(ctx context.Context, prefix string) ([]string, error) {
	if strings.HasPrefix(prefix, template.RecordPrefix) || strings.HasPrefix(template.RecordPrefix, prefix) {
		c.mu.Lock()
		c.recordListing++
		c.mu.Unlock()
	}
	return c.Documents.Keys(ctx, prefix)
}

func (c *recordCounter) KeysPage(ctx context.Context, prefix, marker string, max int) ([]string, string, error) {
	if strings.HasPrefix(prefix, template.RecordPrefix) || strings.HasPrefix(template.RecordPrefix, prefix) {
		c.mu.Lock()
		c.recordListing++
		c.mu.Unlock()
	}
	return c.Documents.KeysPage(ctx, prefix, marker, max)
}

// The monitor finds the requests not sent through their index: with 20
// templates and one request pending, a tick reads that template's record
// (to send, then to clear) and lists no records.
func TestMonitorSendsPendingRequestsFromTheIndex(t *testing.T) {
	h := newHarnessTuned(t, "pendidx", fastSimulator(), nil, noBuildOnUpload) // these are not to be built
	h.avdTemplate("avd", []byte("Write-Host pending\r\n"))
	h.blobEvent("ScriptUploaded", h.s.ScriptsContainer, "avd/install-apps.ps1")
	resp, err := h.svc.NewContainerClient(h.s.TemplatesContainer).NewBlobClient("avd.json").DownloadStream(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for i := 0; i < 20; i++ {
		name := fmt.Sprintf("quiet%02d.json", i)
		h.upload(h.s.TemplatesContainer, name, raw)
		h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, name)
	}
	// avd's request is written, by a process whose uploads ask for
	// builds, and that process dies before sending it
	up := newHarnessWith(t, "pendidx", sims{Builder: h.sim, Images: h.images})
	g := &gap{record: template.RecordKey("avd"), kill: true}
	up.ports.templateDocs.Documents = gapDocs{up.ports.templateDocs.Documents, g}
	up.invokeAllowFail("TemplateUploaded", templateEventBody(up, "avd.json"))
	if !g.dead || g.sent != 0 {
		t.Fatalf("the process was not killed after the record's write")
	}

	second := newHarnessWith(t, "pendidx", sims{Builder: h.sim, Images: h.images})
	count := &recordCounter{Documents: second.ports.templateDocs.Documents}
	second.ports.templateDocs.Documents = count
	second.invoke("BuildMonitor", []byte(timerBody))
	second.drain()
	var list []builds.Build
	second.getBuilds("/api/builds?template=avd", &list)
	if len(list) != 1 {
		t.Fatalf("builds of avd after the tick: %v", summarize(list))
	}
	// the pending one's record: to send, to clear, and the build request's
	// own read of its template (a scan would read all 21)
	if count.recordListing != 0 || count.recordReads > 6 {
		t.Errorf("the tick listed the records %d times and read %d records (20 templates, 1 pending)", count.recordListing, count.recordReads)
	}
	t.Logf("the tick and the build it requested read %d template records", count.recordReads)
	for i := 0; i < 20; i++ {
		var q []builds.Build
		second.getBuilds(fmt.Sprintf("/api/builds?template=quiet%02d", i), &q)
		if len(q) != 0 {
			t.Errorf("quiet%02d was built", i)
		}
	}
}
