package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/azure"
	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/config"
	"github.com/goldenpipe/goldenpipe/internal/azurite"
	"github.com/goldenpipe/goldenpipe/internal/local"
)

// countingDocs counts the storage calls of the state store.
type countingDocs struct {
	goldenpipe.Documents
	gets, puts, keys, deletes atomic.Int64
}

func (c *countingDocs) Get(ctx context.Context, key string, v any) (string, error) {
	c.gets.Add(1)
	return c.Documents.Get(ctx, key, v)
}
func (c *countingDocs) Put(ctx context.Context, key string, v any, ifMatch string) (string, error) {
	c.puts.Add(1)
	return c.Documents.Put(ctx, key, v, ifMatch)
}
func (c *countingDocs) Overwrite(ctx context.Context, key string, v any) (string, error) {
	c.puts.Add(1)
	return c.Documents.Overwrite(ctx, key, v)
}
func (c *countingDocs) Delete(ctx context.Context, key, ifMatch string) error {
	c.deletes.Add(1)
	return c.Documents.Delete(ctx, key, ifMatch)
}
func (c *countingDocs) KeysPage(ctx context.Context, prefix, marker string, max int) ([]string, string, error) {
	c.keys.Add(1)
	return c.Documents.KeysPage(ctx, prefix, marker, max)
}
func (c *countingDocs) ListPage(ctx context.Context, prefix, marker string, max int) ([]goldenpipe.Listed, string, error) {
	c.keys.Add(1)
	return c.Documents.ListPage(ctx, prefix, marker, max)
}
func (c *countingDocs) Keys(ctx context.Context, prefix string) ([]string, error) {
	c.keys.Add(1)
	return c.Documents.Keys(ctx, prefix)
}
func (c *countingDocs) total() int64 {
	return c.gets.Load() + c.puts.Load() + c.keys.Load() + c.deletes.Load()
}
func (c *countingDocs) reset() { c.gets.Store(0); c.puts.Store(0); c.keys.Store(0); c.deletes.Store(0) }

// monitorBody is the rendered template of the benches' builds in flight.
var monitorBody = []byte(`{"location":"westeurope","identity":{"type":"UserAssigned","userAssignedIdentities":{"/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/aib":{}}},"properties":{"source":{"type":"PlatformImage","publisher":"Canonical","offer":"0001-com-ubuntu-server-jammy","sku":"22_04-lts-gen2","version":"22.04.202411190"},"distribute":[{"type":"ManagedImage","imageId":"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/images/x","location":"westeurope","runOutputName":"x"}]}}`)

// benchMonitor: 1,000 builds waiting for 100 slots (recorded as the
// request path records them: Service.Seed), then monitor ticks:
// the storage calls and time of the tick that admits 100 builds, and of a
// tick with nothing to do; and a tick with nothing in flight.
func benchMonitor(ctx context.Context, _ *workspace) error {
	az, err := azurite.Start(ctx, azurite.Options{})
	if err != nil {
		return err
	}
	defer az.Stop()
	conn := az.ConnectionString(azurite.Account{})
	s, err := config.Load(config.MapLookup(map[string]string{"Scripts": conn, "State": conn, "ServiceBus": "inprocess", "AIB_SIMULATOR": "true"}))
	if err != nil {
		return err
	}
	svc, err := azure.NewBlobService(s.State)
	if err != nil {
		return err
	}
	if err := azure.EnsureContainer(ctx, svc, "bench-monitor"); err != nil {
		return err
	}
	s.StateContainer = "bench-monitor"
	// admitted builds stay creating: the tick's work is the admission
	svcB, docs, err := benchBuilds(s, svc, nil, 100)
	if err != nil {
		return err
	}

	empty, err := timedTick(ctx, svcB, docs)
	if err != nil {
		return err
	}
	figure("monitor.tick_0_in_flight.storage_calls", float64(empty.calls), "calls")

	start := time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC)
	body := monitorBody
	sem := make(chan struct{}, 16)
	errs := make(chan error, 1000)
	for i := 0; i < 1000; i++ {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			id := fmt.Sprintf("load-%04d-000000000000", 999-i) // ids against request order
			b := builds.Build{ID: id, Template: fmt.Sprintf("load-%04d", 999-i), State: builds.StateRequested, AIBName: builds.AIBName(id),
				RequestedAt: start.Add(time.Duration(i) * time.Second), Rendered: body, Done: []string{"event:requested"}}
			errs <- svcB.Seed(ctx, b) // as the request path records it
		}()
	}
	for i := 0; i < 1000; i++ {
		if err := <-errs; err != nil {
			return err
		}
	}
	admit, err := timedTick(ctx, svcB, docs)
	if err != nil {
		return err
	}
	figure("monitor.tick_admitting_100_of_1000_waiting.seconds", admit.d.Seconds(), "s")
	figure("monitor.tick_admitting_100_of_1000_waiting.storage_calls", float64(admit.calls), "calls")
	figure("monitor.tick_admitting_100_of_1000_waiting.storage_calls_per_build", float64(admit.calls)/1000, "calls")
	quiet, err := timedTick(ctx, svcB, docs)
	if err != nil {
		return err
	}
	figure("monitor.tick_1000_waiting_100_creating.seconds", quiet.d.Seconds(), "s")
	figure("monitor.tick_1000_waiting_100_creating.storage_calls", float64(quiet.calls), "calls")
	inFlight, err := svcB.InFlight(ctx)
	if err != nil {
		return err
	}
	admitted := 0
	for i, b := range inFlight { // oldest request first
		if b.State == builds.StateCreating {
			admitted++
			if i >= 100 {
				return fmt.Errorf("build %s (request %d) was admitted before older requests", b.ID, i)
			}
		}
	}
	figure("monitor.admitted_in_request_order", float64(admitted), "builds")
	return nil
}

type tickResult struct {
	d     time.Duration
	calls int64
}

func timedTick(ctx context.Context, s *builds.Service, docs *countingDocs) (tickResult, error) {
	docs.reset()
	start := time.Now()
	_, err := s.Tick(ctx, goldenpipe.Tick{})
	return tickResult{time.Since(start), docs.total()}, err
}

// benchBuilds is the builds service of the monitor benches: on the state
// store s names (its calls counted), with the simulator's Image Builder,
// where a created template stays creating (a slot holder holds its slot),
// and the in-process bus.
func benchBuilds(s config.Settings, svc *service.Client, templates builds.Templates, slots int) (*builds.Service, *countingDocs, error) {
	store, err := stateStore(s)
	if err != nil {
		return nil, nil, err
	}
	docs := &countingDocs{Documents: store}
	sims := &local.Local{}
	_, aib, err := sims.ARM(s, azure.NewBlobs(svc, "bench-scripts").Fetch)
	if err != nil {
		return nil, nil, err
	}
	bus, _, _, _ := sims.ServiceBus(s)
	sims.Builder.CreateDuration = time.Hour
	return builds.New(builds.Ports{Store: azure.NewBuilds[builds.Build, builds.Summary](docs, nil), AIB: aib, Bus: bus, Templates: templates}, builds.Config{},
		builds.Options{MaxConcurrent: slots, Log: slog.New(slog.DiscardHandler)}), docs, nil
}
