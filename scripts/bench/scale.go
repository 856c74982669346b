package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/azure"
	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/checksum"
	"github.com/goldenpipe/goldenpipe/internal/local"
	"github.com/goldenpipe/goldenpipe/template"
)

var (
	scaleTemplates = flag.Int("scale-templates", 10000, "scale bench: template records")
	scaleFinished  = flag.Int("scale-finished", 100000, "scale bench: finished builds")
	scaleInFlight  = flag.Int("scale-inflight", 1000, "scale bench: builds in flight")
	scaleRequests  = flag.Int("scale-requests", 1000, "scale bench: GETs per route (a p99 of n answers is the n/100th slowest: one pause of the store slows every answer in flight at once)")
)

// scaleWorkers is how many writes seed the store at once; scaleClients how
// many GETs are in flight at once.
const (
	scaleWorkers = 32
	scaleClients = 4
	scaleScripts = 200
)

// benchScale seeds a store with the product's own records (templates,
// finished and in-flight builds in the layout before the builds index,
// checksums), indexes the builds with the product's migration, then
// measures the status pages and the list routes of a handler process at
// that scale, with this process as the load generator.
func benchScale(ctx context.Context, w *workspace) error {
	az, conn, s, err := localApp(ctx, map[string]string{"STATE_CONTAINER": "scale-state"})
	if err != nil {
		return err
	}
	defer az.Stop()
	svc, err := azure.NewBlobService(s.State)
	if err != nil {
		return err
	}
	for _, c := range []string{s.StateContainer, s.ScriptsContainer, s.TemplatesContainer} {
		if err := azure.EnsureContainer(ctx, svc, c); err != nil {
			return err
		}
	}
	docs, err := stateStore(s)
	if err != nil {
		return err
	}

	start := time.Now()
	var written atomic.Int64
	put := func(g *errgroup.Group, key string, v any) {
		g.Go(func() error {
			_, err := docs.Overwrite(ctx, key, v)
			written.Add(1)
			return err
		})
	}
	g := new(errgroup.Group)
	g.SetLimit(scaleWorkers)
	t0 := time.Date(2023, 1, 1, 2, 0, 0, 0, time.UTC)
	rendered := json.RawMessage(`{"type":"Microsoft.VirtualMachineImages/imageTemplates","apiVersion":"2024-02-01","location":"westeurope","properties":{"source":{"type":"PlatformImage","publisher":"Canonical","offer":"ubuntu-24_04-lts","sku":"server","version":"24.04.202411140"},"customize":[{"type":"Shell","name":"a","scriptUri":"https://goldenscripts.blob.core.windows.net/scripts/linux/a.sh","sha256Checksum":"` + strings.Repeat("ab", 32) + `"}],"distribute":[{"type":"VHD","runOutputName":"vhd"}]}}`)
	for i := 0; i < *scaleTemplates; i++ {
		name := fmt.Sprintf("tpl-%05d", i)
		rec := template.Record{Name: name, Blob: name + ".json", Valid: i%50 != 0, ETag: `"0x1"`, ProcessedAt: t0,
			Source: string(rendered), Notes: []string{"apiVersion 2022-07-01 → 2024-02-01"},
			Rendered: &template.Rendered{JSON: rendered, Fingerprint: fmt.Sprintf("%064x", i), SourceVersion: "24.04.202411140", Scripts: map[string]string{"linux/a.sh": strings.Repeat("ab", 32)}},
			Plan:     &template.Plan{Reason: "up to date with build " + name + "-000000000000"}}
		if !rec.Valid {
			rec.Problems = []template.Problem{{Path: "properties.customize[0].scriptUri", Message: "the script does not exist in the scripts container"}}
		}
		put(g, template.RecordKey(name), rec)
	}
	for i := 0; i < scaleScripts; i++ {
		name := fmt.Sprintf("linux/step-%03d.sh", i)
		put(g, checksum.RecordKey(name), goldenpipe.Checksum{Name: name, SHA256: fmt.Sprintf("%064x", i), Size: 2048, ETag: `"0x1"`, ComputedAt: t0})
	}
	build := func(i int, state builds.State) builds.Build {
		tpl := fmt.Sprintf("tpl-%05d", i%*scaleTemplates)
		at := t0.Add(time.Duration(i) * time.Minute)
		b := builds.Build{ID: fmt.Sprintf("%s-%012x", tpl, i), Template: tpl, Reason: "nightly: policy: rebuild every night", RequestedBy: "NightlyRebuild",
			Fingerprint: fmt.Sprintf("%064x", i), SourceVersion: "24.04.202411140", Rendered: rendered, AIBName: fmt.Sprintf("gp-%s-%012x", tpl, i),
			State: state, RequestedAt: at}
		for _, st := range []builds.State{builds.StateRequested, builds.StateCreating, builds.StateRunning, state} {
			b.History = append(b.History, builds.Transition{State: st, At: at})
		}
		if builds.Terminal(state) {
			b.FinishedAt = at.Add(50 * time.Minute)
		}
		return b
	}
	for i := 0; i < *scaleFinished; i++ {
		state := builds.StateSucceeded
		if i%20 == 0 {
			state = builds.StateFailed
		}
		put(g, azure.BuildRecordKey(fmt.Sprintf("tpl-%05d-%012x", i%*scaleTemplates, i)), build(i, state))
	}
	if err := g.Wait(); err != nil {
		return err
	}
	seeded := time.Since(start)
	fmt.Fprintf(os.Stderr, "# seeded %d records in %s\n", written.Load(), seeded.Round(time.Second))

	// the product's migration indexes the builds recorded before the index
	bs := builds.New(builds.Ports{Store: azure.NewBuilds[builds.Build, builds.Summary](docs, nil)}, builds.Config{}, builds.Options{Log: slog.New(slog.DiscardHandler)})
	start = time.Now()
	for failures := 0; ; {
		note, err := bs.IndexOld(ctx, time.Now().Add(time.Hour))
		if err != nil { // as the monitor does: the next tick goes on from the recorded marker
			if failures++; failures > 20 {
				return err
			}
			fmt.Fprintln(os.Stderr, "# indexing old builds, tried again:", err)
			continue
		}
		if strings.HasPrefix(note, "indexed the") {
			fmt.Fprintln(os.Stderr, "#", note)
			break
		}
	}
	migrated := time.Since(start)

	// the monitor over that history: a tick with nothing in flight, then
	// with 100 and with 1,000 builds waiting for 100 slots (records and
	// markers as the request path wrote them before summaries; the tick
	// refreshes their summaries, admits, and creates in the simulator)
	counted := &countingDocs{Documents: docs}
	sims := &local.Local{}
	_, aib, err := sims.ARM(s, azure.NewBlobs(svc, s.ScriptsContainer).Fetch)
	if err != nil {
		return err
	}
	bus, _, _, _ := sims.ServiceBus(s)
	sims.Builder.CreateDuration = time.Hour
	mon := builds.New(builds.Ports{Store: azure.NewBuilds[builds.Build, builds.Summary](counted, nil), AIB: aib, Bus: bus}, builds.Config{}, builds.Options{MaxConcurrent: 100, Log: slog.New(slog.DiscardHandler)})
	seeded0 := *scaleFinished
	for _, n := range []int{0, 100, *scaleInFlight} {
		g := new(errgroup.Group)
		g.SetLimit(scaleWorkers)
		for i := seeded0; i < *scaleFinished+n; i++ {
			b := build(i, builds.StateRequested)
			b.History, b.Rendered, b.Done = b.History[:1], monitorBody, []string{"event:requested"}
			g.Go(func() error {
				if _, err := docs.Overwrite(ctx, azure.BuildMarkerKey(b.ID), map[string]time.Time{"at": b.RequestedAt}); err != nil {
					return err
				}
				_, err := docs.Put(ctx, azure.BuildRecordKey(b.ID), b, "")
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		seeded0 = *scaleFinished + n
		tk, err := timedTick(ctx, mon, counted)
		if err != nil {
			return err
		}
		name := fmt.Sprintf("scale_monitor_tick_%d_in_flight", n)
		figure(name+"_seconds", tk.d.Seconds(), fmt.Sprintf("s (budget 240) over %d finished builds", *scaleFinished))
		figure(name+"_storage_calls", float64(tk.calls), "calls")
	}

	h, err := startHandler(ctx, w, "Scripts="+conn, "State="+conn, "AIB_SIMULATOR=true", "STATE_CONTAINER="+s.StateContainer)
	if err != nil {
		return err
	}
	defer h.stop()
	if err := measureRoutes(ctx, h.base); err != nil {
		return err
	}
	rss, err := peakRSS(h.cmd.Process.Pid)
	if err != nil {
		return err
	}
	figure("scale_handler_peak_rss_mib", rss, "MiB (target <= 64)")
	figure("scale_seeded_records", float64(written.Load()), fmt.Sprintf("records written in %.0f s: %d templates, %d finished and %d in-flight builds, %d checksums",
		seeded.Seconds(), *scaleTemplates, *scaleFinished, *scaleInFlight, scaleScripts))
	figure("scale_migration_seconds", migrated.Seconds(), "s: the monitor's one-time indexing of the builds recorded before the index")
	return nil
}

// measureRoutes GETs each route of the status pages and lists, from one
// client then from scaleClients at once, and prints their latencies and
// the status page's sections.
func measureRoutes(ctx context.Context, base string) error {
	routes := []struct{ name, path string }{
		{"status_page", "/api/"},
		{"templates", "/api/templates"},
		{"builds", "/api/builds"},
		{"builds_of_a_template", "/api/builds?template=tpl-00042"},
		{"checksums", "/api/checksums"},
		{"template_page", "/api/view/templates/tpl-00042"},
		{"build_page", "/api/view/builds/tpl-00042-" + fmt.Sprintf("%012x", 42)},
	}
	client := &http.Client{Timeout: time.Minute}
	for _, clients := range []int{1, scaleClients} {
		for _, rt := range routes {
			lat, sections, shared, err := loadRoute(ctx, client, base+rt.path, clients, *scaleRequests)
			if err != nil {
				return err
			}
			p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
			name := "scale_" + rt.name
			if clients > 1 {
				name += fmt.Sprintf("_%d_clients", clients)
			}
			figure(name+"_p50_ms", p(0.50), fmt.Sprintf("ms (%d client(s) at once)", clients))
			figure(name+"_p99_ms", p(0.99), fmt.Sprintf("ms (%d client(s) at once; target <= 150)", clients))
			slow := len(lat) - sort.Search(len(lat), func(i int) bool { return lat[i] > 150*time.Millisecond })
			figure(name+"_max_ms", p(1), fmt.Sprintf("ms (the slowest of %d answers; %d took over 150 ms)", len(lat), slow))
			for _, sec := range slices.Sorted(maps.Keys(sections)) {
				d := sections[sec]
				slices.Sort(d)
				figure(name+"_reads_"+sec+"_p50_ms", d[len(d)/2], "ms (Server-Timing: that section's reads, at once with the others)")
			}
			if rt.path == "/api/" {
				figure(name+"_shared_answers", float64(shared), fmt.Sprintf("of %d answers shared the reads of a request under way (Server-Timing: shared)", len(lat)))
			}
		}
	}
	return nil
}

// loadRoute GETs url n times from clients goroutines at once and returns
// the latencies, sorted, the durations the answers' Server-Timing headers
// name, and how many answers say they shared another request's reads.
func loadRoute(ctx context.Context, client *http.Client, url string, clients, n int) ([]time.Duration, map[string][]float64, int, error) {
	lat := make([]time.Duration, n)
	timing := make([]string, n) // each answer's Server-Timing, for the slowest
	var mu sync.Mutex
	sections := map[string][]float64{}
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	shared := 0
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(lat) || ctx.Err() != nil {
					return
				}
				t := time.Now()
				resp, err := client.Get(url)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("%s: HTTP %d", url, resp.StatusCode)
					}
					mu.Lock()
					timing[i] = resp.Header.Get("Server-Timing")
					if strings.Contains(timing[i], "shared;") {
						shared++
					}
					for _, part := range strings.Split(timing[i], ",") {
						name, dur, ok := strings.Cut(strings.TrimSpace(part), ";dur=")
						var ms float64
						if _, perr := fmt.Sscan(dur, &ms); ok && perr == nil {
							sections[name] = append(sections[name], ms)
						}
					}
					mu.Unlock()
				}
				if err != nil {
					failed.Store(err)
				}
				lat[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return nil, nil, 0, err
	}
	// the slowest answers, in the order they were asked, with their sections
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return lat[order[a]] > lat[order[b]] })
	for _, i := range order[:min(3, n)] {
		fmt.Fprintf(os.Stderr, "# %s, %d client(s): request %d of %d took %.1f ms (Server-Timing: %s)\n", url[strings.Index(url, "/api"):], clients, i+1, n, float64(lat[i].Microseconds())/1000, timing[i])
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat, sections, shared, nil
}
