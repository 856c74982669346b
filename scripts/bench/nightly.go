package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/app"
	"github.com/goldenpipe/goldenpipe/azure"
	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/config"
	"github.com/goldenpipe/goldenpipe/internal/local"
	"github.com/goldenpipe/goldenpipe/simulator"
)

var (
	nightlyTemplates = flag.Int("nightly-templates", 10000, "nightly bench: templates")
	nightlyImages    = flag.Int("nightly-images", 100, "nightly bench: distinct base images")
)

const (
	benchScripts    = 50
	benchARMLatency = 100 * time.Millisecond
)

// countingBus counts the build requests the nightly run sends, and the
// distinct message ids among them (what duplicate detection keeps).
type countingBus struct {
	sent atomic.Int64
	mu   sync.Mutex
	ids  map[string]bool
}

func (b *countingBus) Send(_ context.Context, _ string, m goldenpipe.OutMessage) error {
	b.sent.Add(1)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ids == nil {
		b.ids = map[string]bool{}
	}
	b.ids[m.ID] = true
	return nil
}
func (b *countingBus) Publish(context.Context, string, goldenpipe.OutMessage) error { return nil }

// benchNightly runs the nightly plan over 1,000 templates drawn from 20
// base images, with latency injected into every simulated ARM call, and
// reports the ARM calls and the wall time.
func benchNightly(ctx context.Context, w *workspace) error {
	az, _, s, err := localApp(ctx, map[string]string{"LOG_LEVEL": "warn"})
	if err != nil {
		return err
	}
	defer az.Stop()
	images := simulator.NewImages()
	for i := 0; i < *nightlyImages; i++ {
		var versions []string
		for v := 0; v < 30; v++ {
			versions = append(versions, fmt.Sprintf("%d.%d.%d", 20348+i, v, 240000+v))
		}
		images.Set("Canonical", "bench-os", fmt.Sprintf("sku-%03d", i), versions...)
	}
	images.Latency = benchARMLatency
	sims := &local.Local{Images: images}
	bus := &countingBus{}
	a, err := app.Build(ctx, s, slog.New(slog.DiscardHandler), app.Overrides{ARM: sims.ARM, ServiceBus: sims.ServiceBus, StagingGroups: sims.StagingGroups, Gallery: sims.GalleryVersions,
		Tuning: app.Tuning{Bus: func(builds.Bus) builds.Bus { return bus }}})
	if err != nil {
		return err
	}
	defer a.Close(ctx)
	svc, err := azure.NewBlobService(s.Scripts)
	if err != nil {
		return err
	}
	for _, c := range []string{s.ScriptsContainer, s.TemplatesContainer} {
		if err := azure.EnsureContainer(ctx, svc, c); err != nil {
			return err
		}
	}
	scripts := svc.NewContainerClient(s.ScriptsContainer)
	for i := 0; i < benchScripts; i++ {
		if _, err := scripts.NewBlockBlobClient(fmt.Sprintf("linux/step-%02d.sh", i)).UploadBuffer(ctx, []byte(fmt.Sprintf("echo step %d\n", i)), nil); err != nil {
			return err
		}
	}
	if _, err := scripts.NewBlockBlobClient("linux/common.sh").UploadBuffer(ctx, []byte("echo common v1\n"), nil); err != nil {
		return err
	}
	if err := uploadTemplates(ctx, svc, s, scripts.URL()); err != nil {
		return err
	}

	tick := goldenpipe.Tick{Scheduled: time.Now()}
	var outcome string
	var reads, writes int64
	run := func() (time.Duration, int, error) {
		before := images.Calls()
		r0, w0 := azure.Transactions.Reads.Load(), azure.Transactions.Writes.Load()
		start := time.Now()
		var err error
		outcome, err = a.Builds.Nightly(ctx, tick)
		reads, writes = azure.Transactions.Reads.Load()-r0, azure.Transactions.Writes.Load()-w0
		return time.Since(start), images.Calls() - before, err
	}
	firstTime, firstCalls, err := run()
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "#", outcome)
	if !strings.HasPrefix(outcome, fmt.Sprintf("%d templates planned: %d builds requested", *nightlyTemplates, *nightlyTemplates)) {
		return fmt.Errorf("unexpected first plan: %s", outcome)
	}
	secondTime, secondCalls, err := run()
	if err != nil {
		return err
	}
	n := *nightlyTemplates
	name := fmt.Sprintf("nightly_%d_templates_", n)
	figure(name+"first_run_seconds", firstTime.Seconds(), "s (reads every template blob)")
	figure(name+"seconds", secondTime.Seconds(), "s (steady state; target <= 30)")
	figure(name+"version_lookups", float64(secondCalls), fmt.Sprintf("ARM calls (target <= %d: one per base image)", *nightlyImages))
	figure(name+"first_run_version_lookups", float64(firstCalls), "ARM calls")
	figure(name+"quiet_night_storage_reads", float64(reads), "storage transactions (GET, HEAD; counted at the storage client)")
	figure(name+"quiet_night_storage_writes", float64(writes), "storage transactions (target 0)")
	figure(name+"quiet_night_storage_transactions_per_template", float64(reads+writes)/float64(n), "transactions")
	figure(name+"requests_sent", float64(bus.sent.Load()), "messages over both runs (nothing was built in between)")
	figure(name+"distinct_message_ids", float64(len(bus.ids)), "(Service Bus duplicate detection keeps one per template)")
	figure("nightly_arm_calls_ratio_vs_lookup_per_template", float64(secondCalls)/float64(n), fmt.Sprintf("(a per-template lookup makes %d)", n))
	figure("nightly_arm_latency_ms", float64(benchARMLatency.Milliseconds()), "ms injected per ARM call")
	return benchFanout(ctx, a, scripts.URL(), svc, s)
}

// benchFanout changes the script every one of the templates uses: the
// upload's invocation re-plans what its budget allows and answers; the
// monitor's ticks re-plan the rest.
func benchFanout(ctx context.Context, a *app.App, scriptsURL string, svc *service.Client, s config.Settings) error {
	if _, err := svc.NewContainerClient(s.ScriptsContainer).NewBlockBlobClient("linux/common.sh").UploadBuffer(ctx, []byte("echo common v2\n"), nil); err != nil {
		return err
	}
	ev := goldenpipe.BlobEvent{ID: "bench", Type: goldenpipe.BlobCreated, URL: scriptsURL + "/linux/common.sh",
		Subject: "/blobServices/default/containers/" + s.ScriptsContainer + "/blobs/linux/common.sh"}
	start := time.Now()
	if _, err := a.Checksums.HandleBlobEvent(ctx, ev); err != nil {
		return err
	}
	answered := time.Since(start)
	left := func() (int, error) {
		keys, err := a.Templates.Docs.Keys(ctx, "replans/")
		return len(keys), err
	}
	ticks := 0
	for {
		n, err := left()
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		if ticks == 20 {
			return fmt.Errorf("the re-planning did not end in 20 ticks")
		}
		if _, err := a.Templates.ContinueReplans(ctx, 0); err != nil {
			return err
		}
		ticks++
	}
	total := time.Since(start)
	stale := 0
	list, err := a.Templates.List(ctx)
	if err != nil {
		return err
	}
	for _, r := range list {
		if r.Rendered == nil || r.Rendered.Scripts["linux/common.sh"] != sha256Hex("echo common v2\n") {
			stale++
		}
	}
	if stale != 0 {
		return fmt.Errorf("%d templates were not re-planned with the new script", stale)
	}
	name := fmt.Sprintf("fanout_%d_templates_", *nightlyTemplates)
	figure(name+"upload_answer_seconds", answered.Seconds(), "s: the script's upload event answers (target < 5; its budget is 2 s)")
	figure(name+"monitor_ticks", float64(ticks), "monitor ticks (a minute of walking each) to re-plan the rest")
	figure(name+"all_replanned_seconds", total.Seconds(), "s of work from the upload until every template was re-planned (on the 2-minute schedule: within ticks × 2 min)")
	return nil
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// uploadTemplates uploads the templates, 16 at a time.
func uploadTemplates(ctx context.Context, svc *service.Client, s config.Settings, scriptsURL string) error {
	c := svc.NewContainerClient(s.TemplatesContainer)
	errs := make([]error, *nightlyTemplates)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := 0; i < *nightlyTemplates; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			body := fmt.Sprintf(`{
  "type": "Microsoft.VirtualMachineImages/imageTemplates", "apiVersion": "2022-07-01", "location": "westeurope",
  "identity": {"type": "UserAssigned", "userAssignedIdentities": {"/subscriptions/0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/aib": {}}},
  "properties": {
    "source": {"type": "PlatformImage", "publisher": "Canonical", "offer": "bench-os", "sku": "sku-%03d", "version": "latest"},
    "customize": [
      {"type": "Shell", "name": "a", "scriptUri": "%s/linux/step-%02d.sh"},
      {"type": "Shell", "name": "b", "scriptUri": "%s/linux/step-%02d.sh"},
      {"type": "Shell", "name": "c", "inline": ["echo template %d"]},
      {"type": "Shell", "name": "common", "scriptUri": "%s/linux/common.sh"}
    ],
    "distribute": [{"type": "VHD", "runOutputName": "vhd"}]
  }
}`, i%*nightlyImages, scriptsURL, i%benchScripts, scriptsURL, (i+7)%benchScripts, i, scriptsURL)
			_, errs[i] = c.NewBlockBlobClient(fmt.Sprintf("tpl-%05d.json", i)).UploadBuffer(ctx, []byte(body), nil)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
