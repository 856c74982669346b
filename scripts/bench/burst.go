package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/azure"
	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/config"
	"github.com/goldenpipe/goldenpipe/internal/azurite"
	"github.com/goldenpipe/goldenpipe/internal/blobwatch"
	"github.com/goldenpipe/goldenpipe/template"
)

// Issue 24's benchmarks: bursts of build requests.
//
//   - burst-tick: in this process, on Azurite, the app's builds service with
//     5 slots taken and 1,000 then -burst-waiting builds waiting: the
//     storage calls (counted at the client) and time of one build request,
//     and of a monitor tick.
//   - burst, burst-10k: 1,000 (10,000) templates uploaded at once to a
//     handler process (devrun -handler: the in-process bus under host.json's
//     limits, the simulator), their Event Grid events delivered 8 at a time,
//     the monitor ticking every -burst-tick-every: TemplateUploaded and
//     BuildRequested p50/p99 (the handler's own "invocation done" times),
//     the time until every build is queued, the handler's peak RSS, and the
//     status page's p99 during the burst and after it.
var (
	burstWaiting   = flag.Int("burst-waiting", 10000, "burst-tick bench: builds waiting in its second round")
	burstRequests  = flag.Int("burst-requests", 50, "burst-tick bench: requests timed and counted per round")
	burstTemplates = flag.Int("burst-templates", 1000, "burst bench: templates uploaded at once (burst-10k: 10,000)")
	burstTickEvery = flag.Duration("burst-tick-every", 10*time.Second, "burst bench: the monitor's ticks during a burst (stands in for its schedule; 0: none)")
)

const (
	burstEvents = 8 // events delivered at once
	burstSlots  = 5
	burstStall  = 2 * time.Minute
)

// burstCatalog is a template catalog where every template is valid with a
// fingerprint of its own (the request path reads one record).
type burstCatalog struct{}

func (burstCatalog) Get(_ context.Context, name string) (template.Record, error) {
	sum := sha256.Sum256([]byte(name))
	return template.Record{Name: name, Valid: true, Rendered: &template.Rendered{JSON: monitorBody, Fingerprint: hex.EncodeToString(sum[:]), SourceVersion: "22.04.202411190"}}, nil
}
func (burstCatalog) RecordBuild(context.Context, string, template.BuildSummary) error { return nil }
func (burstCatalog) Refresh(context.Context) ([]template.Record, error)               { return nil, nil }

// burstApp is localApp with its state in stateContainer, and the blob
// service of that state; stop Azurite with az.Stop.
func burstApp(ctx context.Context, stateContainer string) (az *azurite.Server, conn string, s config.Settings, svc *service.Client, err error) {
	if az, conn, s, err = localApp(ctx, map[string]string{"STATE_CONTAINER": stateContainer}); err != nil {
		return nil, "", s, nil, err
	}
	if svc, err = azure.NewBlobService(s.State); err != nil {
		az.Stop()
		return nil, "", s, nil, err
	}
	return az, conn, s, svc, nil
}

func benchBurstTick(ctx context.Context, _ *workspace) error {
	az, _, s, svc, err := burstApp(ctx, "burst-tick")
	if err != nil {
		return err
	}
	defer az.Stop()
	svcB, docs, err := benchBuilds(s, svc, burstCatalog{}, burstSlots) // the slot holders stay creating
	if err != nil {
		return err
	}
	if _, err := svcB.Tick(ctx, goldenpipe.Tick{}); err != nil { // the migrations, once
		return err
	}
	// the slots taken, through the request path
	for i := 0; i < burstSlots; i++ {
		if _, err := svcB.Request(ctx, goldenpipe.Message{ID: fmt.Sprintf("hold-%d", i), Body: []byte(fmt.Sprintf(`{"template":"hold-%d"}`, i))}); err != nil {
			return err
		}
	}
	start := time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC)
	seeded := 0
	type round struct {
		waiting        int
		tick           tickResult
		reqCalls       float64
		reqP50, reqP99 time.Duration
		// the storage requests (HTTP, as the account bills them) of a
		// request on average and of the tick
		reqRequests  float64
		tickRequests int64
	}
	var rounds []round
	for _, waiting := range []int{1000, *burstWaiting} {
		if waiting < seeded {
			continue
		}
		// the waiting builds, recorded as the request path records them
		g := make(chan struct{}, scaleWorkers)
		var wg sync.WaitGroup
		var seedErr atomic.Value
		for i := seeded; i < waiting; i++ {
			wg.Add(1)
			g <- struct{}{}
			go func() {
				defer func() { <-g; wg.Done() }()
				id := fmt.Sprintf("wait-%05d-000000000000", i)
				b := builds.Build{ID: id, Template: fmt.Sprintf("wait-%05d", i), State: builds.StateRequested, AIBName: builds.AIBName(id),
					RequestedAt: start.Add(time.Duration(i) * time.Millisecond), Rendered: monitorBody, Done: []string{"event:requested"}}
				if err := svcB.Seed(ctx, b); err != nil {
					seedErr.Store(err)
				}
			}()
		}
		wg.Wait()
		if err, _ := seedErr.Load().(error); err != nil {
			return err
		}
		seeded = waiting
		if _, err := svcB.Tick(ctx, goldenpipe.Tick{}); err != nil { // settles what the seeding changed
			return err
		}
		h0 := storageRequests()
		tk, err := timedTick(ctx, svcB, docs)
		if err != nil {
			return err
		}
		tickRequests := storageRequests() - h0
		// requests: each a template of its own, every slot taken
		var took []time.Duration
		docs.reset()
		h0 = storageRequests()
		for i := 0; i < *burstRequests; i++ {
			name := fmt.Sprintf("new-%d-%03d", waiting, i)
			t0 := time.Now()
			if _, err := svcB.Request(ctx, goldenpipe.Message{ID: "m-" + name, Body: []byte(`{"template":"` + name + `"}`)}); err != nil {
				return err
			}
			took = append(took, time.Since(t0))
		}
		calls := float64(docs.total()) / float64(*burstRequests)
		requests := float64(storageRequests()-h0) / float64(*burstRequests)
		sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
		rounds = append(rounds, round{waiting, tk, calls, took[len(took)/2], took[(len(took)*99)/100], requests, tickRequests})
	}
	for _, r := range rounds {
		figure(fmt.Sprintf("burst.request_%d_waiting.storage_calls_per_request", r.waiting), r.reqCalls, "calls")
		figure(fmt.Sprintf("burst.request_%d_waiting.storage_requests_per_request", r.waiting), r.reqRequests, "requests (HTTP, as billed)")
		figure(fmt.Sprintf("burst.request_%d_waiting.p50", r.waiting), r.reqP50.Seconds(), "s")
		figure(fmt.Sprintf("burst.request_%d_waiting.p99", r.waiting), r.reqP99.Seconds(), "s")
		figure(fmt.Sprintf("burst.tick_%d_waiting_%d_slots.seconds", r.waiting, burstSlots), r.tick.d.Seconds(), "s")
		figure(fmt.Sprintf("burst.tick_%d_waiting_%d_slots.storage_calls", r.waiting, burstSlots), float64(r.tick.calls), "calls")
		figure(fmt.Sprintf("burst.tick_%d_waiting_%d_slots.storage_requests", r.waiting, burstSlots), float64(r.tickRequests), "requests (HTTP, as billed)")
	}
	if len(rounds) == 2 {
		figure("burst.request.storage_calls_ratio_large_vs_1000", rounds[1].reqCalls/rounds[0].reqCalls, "ratio")
		figure("burst.tick.storage_calls_ratio_large_vs_1000", float64(rounds[1].tick.calls)/float64(rounds[0].tick.calls), "ratio")
	}
	return nil
}

// storageRequests is how many storage requests this process sent so far.
func storageRequests() int64 {
	return azure.Transactions.Reads.Load() + azure.Transactions.Writes.Load()
}

func benchBurst1000(ctx context.Context, w *workspace) error  { return benchBurst(ctx, w, 1000) }
func benchBurst10000(ctx context.Context, w *workspace) error { return benchBurst(ctx, w, 10000) }

// invocationTimes collects, from the handler's JSON log, each function's
// "invocation done" times (ms).
type invocationTimes struct {
	mu     sync.Mutex
	ms     map[string][]float64
	failed map[string]int
	done   map[string]*atomic.Int64
}

func (t *invocationTimes) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(`"invocation `)) {
			continue
		}
		var e struct {
			Msg      string  `json:"msg"`
			Function string  `json:"function"`
			MS       float64 `json:"ms"`
		}
		if json.Unmarshal(line, &e) != nil {
			continue
		}
		t.mu.Lock()
		switch e.Msg {
		case "invocation done":
			t.ms[e.Function] = append(t.ms[e.Function], e.MS)
			if c := t.done[e.Function]; c != nil {
				c.Add(1)
			}
		default:
			t.failed[e.Function]++
		}
		t.mu.Unlock()
	}
}

func (t *invocationTimes) quantiles(fn string) (n int, p50, p99 float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v := append([]float64(nil), t.ms[fn]...)
	if len(v) == 0 {
		return 0, 0, 0
	}
	sort.Float64s(v)
	return len(v), v[len(v)/2], v[(len(v)*99)/100]
}

// benchBurst uploads n templates at once and delivers their events to a
// handler process 8 at a time.
func benchBurst(ctx context.Context, w *workspace, n int) error {
	az, conn, s, svc, err := burstApp(ctx, fmt.Sprintf("burst-%d", n))
	if err != nil {
		return err
	}
	defer az.Stop()
	scripts, err := burstScripts(ctx, svc, s)
	if err != nil {
		return err
	}

	// the handler, its log read for the invocations' times
	h, times, err := startBurstHandler(ctx, w, conn, s.StateContainer)
	if err != nil {
		return err
	}
	defer h.stop()

	// the templates, uploaded at once (before any event is delivered)
	templates := svc.NewContainerClient(s.TemplatesContainer)
	etags, err := uploadBurstTemplates(ctx, templates, scripts.URL(), n)
	if err != nil {
		return err
	}

	// the status page, read by one viewer all along
	viewer := viewStatusPage(ctx, h.base)
	// the monitor's ticks
	stopTicks := tickMonitor(ctx, h.base)

	// the events, 8 at a time
	burstStart := time.Now()
	failed := deliverBurstEvents(h.base, templates, s.TemplatesContainer, etags)
	delivered := time.Since(burstStart)
	// every build queued: one BuildRequested done per template
	waitAllQueued(ctx, times, n)
	queued := time.Since(burstStart)
	burstEnd := time.Now()
	stopTicks()
	time.Sleep(5 * time.Second) // after the burst: the status page alone
	pages := viewer.stop()
	rss, err := peakRSS(h.cmd.Process.Pid)
	if err != nil {
		return err
	}

	prefix := fmt.Sprintf("burst.%d_templates.", n)
	printInvocations(prefix, times)
	figure(prefix+"events_undelivered", float64(failed), "events")
	figure(prefix+"events_delivered.seconds", delivered.Seconds(), "s")
	figure(prefix+"all_queued.seconds", queued.Seconds(), "s")
	figure(prefix+"builds_queued", float64(times.done["BuildRequested"].Load()), "builds")
	figure(prefix+"handler_peak_rss", rss, "MiB")
	printStatusPages(prefix, pages, burstEnd)
	return nil
}

// burstScripts makes the state, scripts and templates containers and
// uploads the scripts the burst's templates use; it returns the scripts'
// container.
func burstScripts(ctx context.Context, svc *service.Client, s config.Settings) (*container.Client, error) {
	for _, c := range []string{s.StateContainer, s.ScriptsContainer, s.TemplatesContainer} {
		if err := azure.EnsureContainer(ctx, svc, c); err != nil {
			return nil, err
		}
	}
	scripts := svc.NewContainerClient(s.ScriptsContainer)
	for i := 0; i < benchScripts; i++ {
		if _, err := scripts.NewBlockBlobClient(fmt.Sprintf("linux/step-%02d.sh", i)).UploadBuffer(ctx, []byte(fmt.Sprintf("echo step %d\n", i)), nil); err != nil {
			return nil, err
		}
	}
	if _, err := scripts.NewBlockBlobClient("linux/common.sh").UploadBuffer(ctx, []byte("echo common v1\n"), nil); err != nil {
		return nil, err
	}
	return scripts, nil
}

// startBurstHandler starts the handler of the burst benches, its log read
// for the invocations' times, and waits until it answers.
func startBurstHandler(ctx context.Context, w *workspace, conn, stateContainer string) (*handlerProcess, *invocationTimes, error) {
	port, err := freePort()
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.CommandContext(ctx, w.handler, "-handler")
	cmd.Env = append(os.Environ(), fmt.Sprintf("FUNCTIONS_CUSTOMHANDLER_PORT=%d", port), "ServiceBus=inprocess", "LOG_LEVEL=info",
		"Scripts="+conn, "State="+conn, "AIB_SIMULATOR=true", "STATE_CONTAINER="+stateContainer)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	cmd.Stderr = io.Discard // the simulator's and Azurite's chatter
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	h := &handlerProcess{cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	times := &invocationTimes{ms: map[string][]float64{}, failed: map[string]int{}, done: map[string]*atomic.Int64{"BuildRequested": {}}}
	go times.read(out)
	if err := waitHTTP(ctx, h.base+"/api/health"); err != nil {
		h.stop()
		return nil, nil, err
	}
	return h, times, nil
}

// uploadBurstTemplates uploads n templates at once, 16 together, and
// returns their ETags.
func uploadBurstTemplates(ctx context.Context, templates *container.Client, scriptsURL string, n int) ([]string, error) {
	etags := make([]string, n)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			body := fmt.Sprintf(`{
  "type": "Microsoft.VirtualMachineImages/imageTemplates", "apiVersion": "2022-07-01", "location": "westeurope",
  "identity": {"type": "UserAssigned", "userAssignedIdentities": {"/subscriptions/0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/aib": {}}},
  "properties": {
    "source": {"type": "PlatformImage", "publisher": "Canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts-gen2", "version": "latest"},
    "customize": [
      {"type": "Shell", "name": "a", "scriptUri": "%s/linux/step-%02d.sh"},
      {"type": "Shell", "name": "c", "inline": ["echo template %d"]},
      {"type": "Shell", "name": "common", "scriptUri": "%s/linux/common.sh"}
    ],
    "distribute": [{"type": "VHD", "runOutputName": "vhd"}]
  }
}`, scriptsURL, i%benchScripts, i, scriptsURL)
			resp, err := templates.NewBlockBlobClient(fmt.Sprintf("tpl-%05d.json", i)).UploadBuffer(ctx, []byte(body), nil)
			if err == nil && resp.ETag != nil {
				etags[i] = string(*resp.ETag)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	return etags, errors.Join(errs...)
}

// pageSample is one answer of the status page: when it was asked, how
// long it took, and its Server-Timing (what each section's reads took).
type pageSample struct {
	at     time.Time
	d      time.Duration
	timing string
}

// pageViewer reads the status page every 200 ms until stopped.
type pageViewer struct {
	mu     sync.Mutex
	pages  []pageSample
	cancel context.CancelFunc
	done   chan struct{}
}

func viewStatusPage(ctx context.Context, base string) *pageViewer {
	viewCtx, cancel := context.WithCancel(ctx)
	v := &pageViewer{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(v.done)
		for viewCtx.Err() == nil {
			t0 := time.Now()
			resp, err := http.Get(base + "/api/")
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				v.mu.Lock()
				v.pages = append(v.pages, pageSample{t0, time.Since(t0), resp.Header.Get("Server-Timing")})
				v.mu.Unlock()
			}
			select {
			case <-viewCtx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return v
}

// stop ends the viewing and returns the answers.
func (v *pageViewer) stop() []pageSample {
	v.cancel()
	<-v.done
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.pages
}

// tickMonitor invokes BuildMonitor every -burst-tick-every until the
// returned stop is called (which waits for the ticking to end).
func tickMonitor(ctx context.Context, base string) (stop func()) {
	tickCtx, stopTicks := context.WithCancel(ctx)
	ticking := make(chan struct{})
	go func() {
		defer close(ticking)
		if *burstTickEvery <= 0 {
			return
		}
		t := time.NewTicker(*burstTickEvery)
		defer t.Stop()
		for {
			select {
			case <-tickCtx.Done():
				return
			case <-t.C:
				_ = postInvocation(base, "BuildMonitor", []byte(`{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{"sys":{"UtcNow":"`+time.Now().UTC().Format(time.RFC3339)+`"}}}`))
			}
		}
	}()
	return func() { stopTicks(); <-ticking }
}

// deliverBurstEvents delivers the templates' BlobCreated events to
// TemplateUploaded, burstEvents at once, each retried as Event Grid
// retries, and returns how many were never delivered.
func deliverBurstEvents(base string, templates *container.Client, templatesContainer string, etags []string) int64 {
	account := "devstoreaccount1"
	topic := "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/Microsoft.Storage/storageAccounts/" + account
	sem := make(chan struct{}, burstEvents)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range etags {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			name := fmt.Sprintf("tpl-%05d.json", i)
			length := int64(600)
			ev := blobwatch.Event{ID: fmt.Sprintf("burst-%d", i), Topic: topic, EventType: goldenpipe.BlobCreated, EventTime: time.Now().UTC(),
				Subject: "/blobServices/default/containers/" + templatesContainer + "/blobs/" + name,
				Data: blobwatch.EventData{API: "PutBlob", ETag: etags[i], ContentType: "application/json", ContentLength: &length, BlobType: "BlockBlob",
					URL: blobURLOf(templates, name), Sequencer: fmt.Sprintf("%032x", i)}, MetadataVersion: "1"}
			raw, _ := json.Marshal(ev)
			body, _ := json.Marshal(map[string]any{"Data": map[string]any{"event": json.RawMessage(raw)},
				"Metadata": map[string]any{"sys": map[string]string{"MethodName": strconv.Quote("TemplateUploaded"), "UtcNow": strconv.Quote(time.Now().UTC().Format(time.RFC3339Nano))}}})
			for attempt := 0; attempt < 5; attempt++ { // Event Grid retries a failed delivery
				if postInvocation(base, "TemplateUploaded", body) == nil {
					return
				}
			}
			failed.Add(1)
		}()
	}
	wg.Wait()
	return failed.Load()
}

// waitAllQueued waits until n BuildRequested invocations are done (a
// burst that stops making progress for burstStall is reported as it is).
func waitAllQueued(ctx context.Context, times *invocationTimes, n int) {
	last, lastAt := int64(-1), time.Now()
	for ctx.Err() == nil {
		got := times.done["BuildRequested"].Load()
		if got >= int64(n) {
			return
		}
		if got != last {
			last, lastAt = got, time.Now()
		} else if time.Since(lastAt) > burstStall {
			fmt.Fprintf(os.Stderr, "bench burst: %d of %d builds queued, none more for %s\n", got, n, burstStall)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// printInvocations prints the invocations, p50, p99 and failures of the
// burst's functions.
func printInvocations(prefix string, times *invocationTimes) {
	for _, fn := range []string{"TemplateUploaded", "BuildRequested"} {
		count, p50, p99 := times.quantiles(fn)
		figure(prefix+fn+".invocations", float64(count), "invocations")
		figure(prefix+fn+".p50", p50/1000, "s")
		figure(prefix+fn+".p99", p99/1000, "s")
		times.mu.Lock()
		figure(prefix+fn+".failed", float64(times.failed[fn]), "invocations")
		times.mu.Unlock()
	}
}

// printStatusPages prints the status page's answers and p99 during the
// burst (asked before burstEnd) and after it, and the slowest answers
// with what each section's reads took.
func printStatusPages(prefix string, pages []pageSample, burstEnd time.Time) {
	var during, after []pageSample
	for _, p := range pages {
		if p.at.Before(burstEnd) {
			during = append(during, p)
		} else {
			after = append(after, p)
		}
	}
	for _, set := range []struct {
		name string
		ds   []pageSample
	}{{"during", during}, {"after", after}} {
		if len(set.ds) == 0 {
			continue
		}
		sort.Slice(set.ds, func(i, j int) bool { return set.ds[i].d < set.ds[j].d })
		figure(prefix+"status_page_"+set.name+".answers", float64(len(set.ds)), "answers")
		figure(prefix+"status_page_"+set.name+".p99", set.ds[(len(set.ds)*99)/100].d.Seconds(), "s")
		// the slowest answers with what each section's reads took
		for i := len(set.ds) - 1; i >= 0 && i >= len(set.ds)-3; i-- {
			fmt.Printf("# %sstatus_page_%s slow answer %.3f s: %s\n", prefix, set.name, set.ds[i].d.Seconds(), set.ds[i].timing)
		}
	}
}

// postInvocation calls a function of the handler as the host does.
func postInvocation(base, function string, body []byte) error {
	req, err := http.NewRequest(http.MethodPost, base+"/"+function, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("X-Azure-Functions-InvocationId", "bench")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d", function, resp.StatusCode)
	}
	return nil
}

func blobURLOf(c *container.Client, name string) string { return c.URL() + "/" + name }
