// Package local puts simulated Azure in place of the real one for local
// runs, benchmarks and tests: the Image Builder simulator, its marketplace
// and the in-process Service Bus. scripts/devrun, scripts/bench and the
// tests inject it into app.Build; the handler binary (cmd/goldenpipe)
// never links it (a test checks that).
package local

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/azure"
	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/config"
	"github.com/goldenpipe/goldenpipe/handlers"
	"github.com/goldenpipe/goldenpipe/host"
	"github.com/goldenpipe/goldenpipe/inmem"
	"github.com/goldenpipe/goldenpipe/simulator"
)

// Local is the simulated Azure of one app; nil fields are made on Build.
type Local struct {
	Builder *simulator.ImageBuilder
	Images  *simulator.Images
	// VHDSize is the size of the simulator's VHDs (default 64 MiB).
	VHDSize int64
	// Bus is the in-process Service Bus, made when the settings ask for it
	// (ServiceBus=inprocess).
	Bus *inmem.Bus
	// Groups is the simulated subscription's resource groups
	// (AIB_STAGING_GROUPS=managed).
	Groups *simulator.Groups
	// Gallery is the simulated Azure Compute Gallery Image Builder
	// publishes SharedImage outputs to.
	Gallery *simulator.Gallery
}

// GalleryVersions returns the simulated gallery behind armcompute's
// client, and has the Image Builder simulator publish to it (on its clock).
func (l *Local) GalleryVersions(s config.Settings) (goldenpipe.Gallery, error) {
	if s.SimulatorURL != "" {
		// the served simulator's gallery, the one its builder publishes to
		return azure.NewGalleryVersions(simulator.TokenCredential(), azure.ARMEndpointOptions(s.SimulatorURL)), nil
	}
	if l.Gallery == nil {
		l.Gallery = simulator.NewGallery()
	}
	if l.Builder != nil {
		l.Builder.Gallery = l.Gallery
		if l.Gallery.Now == nil {
			l.Gallery.Now = l.Builder.Now
		}
	}
	return azure.NewGalleryVersions(simulator.TokenCredential(), azure.ARMClientOptions(l.Gallery.Transport())), nil
}

// StagingGroups returns the simulated subscription's resource groups, which
// the Image Builder simulator checks templates' staging groups against.
func (l *Local) StagingGroups(s config.Settings) (*azure.StagingGroups, error) {
	if l.Groups == nil {
		l.Groups = simulator.NewGroups()
	}
	if l.Builder != nil {
		l.Builder.Groups = l.Groups
	}
	return azure.NewStagingGroups("00000000-0000-0000-0000-000000000000", simulator.TokenCredential(), azure.ARMClientOptions(l.Groups))
}

// ARM returns the marketplace and Image Builder of the simulator: the one
// in this process, or (AIB_SIMULATOR=<url>) the one served there; its
// Image Builder fetches scripts with fetchScript.
func (l *Local) ARM(s config.Settings, fetchScript func(ctx context.Context, url string) ([]byte, error)) (*azure.ImageVersions, *azure.ImageBuilder, error) {
	cred := simulator.TokenCredential()
	if s.SimulatorURL != "" {
		opts := azure.ARMEndpointOptions(s.SimulatorURL)
		v, err := azure.NewImageVersions("00000000-0000-0000-0000-000000000000", cred, opts)
		if err != nil {
			return nil, nil, err
		}
		b, err := azure.NewImageBuilder("00000000-0000-0000-0000-000000000000", s.ResourceGroup, cred, opts)
		return v, b, err
	}
	if l.Images == nil {
		l.Images = simulator.NewImages()
	}
	if s.SimulatorImages != "" {
		b, err := os.ReadFile(s.SimulatorImages)
		if err == nil {
			err = l.Images.Load(b)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", config.SettingSimulatorImages, err)
		}
	}
	if l.Builder == nil {
		l.Builder = simulator.NewImageBuilder()
	}
	if l.Builder.FetchScript == nil {
		l.Builder.FetchScript = fetchScript
	}
	if l.Builder.VHDOutput == nil && s.Staging != nil {
		svc, err := azure.NewBlobService(*s.Staging)
		if err != nil {
			return nil, nil, err
		}
		st := &simulator.Staging{Container: svc.NewContainerClient("vhds"), Logs: svc.NewContainerClient("packerlogs"), Size: l.VHDSize}
		l.Builder.VHDOutput = st.VHD
		if l.Builder.RunLog == nil {
			l.Builder.RunLog = st.Log
		}
	}
	v, err := azure.NewImageVersions("00000000-0000-0000-0000-000000000000", cred, azure.ARMClientOptions(l.Images.Transport()))
	if err != nil {
		return nil, nil, err
	}
	b, err := azure.NewImageBuilder("00000000-0000-0000-0000-000000000000", s.ResourceGroup, cred, azure.ARMClientOptions(l.Builder.Transport()))
	return v, b, err
}

// ServiceBus returns the in-process bus that delivers build requests to
// the handler's BuildRequested function, with the host's semantics.
func (l *Local) ServiceBus(s config.Settings) (builds.Bus, func(*host.Server), func(context.Context) error, error) {
	l.Bus = inmem.NewBus(map[string]inmem.Route{s.BuildQueue: {Function: handlers.FuncBuildRequested, Binding: "message"}})
	// as one host instance runs the trigger: host.json's limits, and the
	// build queue's lock (deploy/main.bicep: lockDuration PT5M)
	limits, err := inmem.ReadHostLimits(goldenpipe.HostJSON)
	if err != nil {
		return nil, nil, nil, err
	}
	l.Bus.Apply(limits)
	l.Bus.LockDuration = 5 * time.Minute
	return l.Bus, func(h *host.Server) { l.Bus.Attach(h) }, l.Bus.Close, nil
}

// InMemoryVHDs makes the VHDs of the Image Builder simulator's runs in an
// in-memory staging account, as simulator.Staging makes them on Azurite:
// sparse page blobs of size bytes (simulator.SparsePages) in its vhds
// container, named for the template and the run output. Set it as the
// simulator's VHDOutput.
func InMemoryVHDs(staging *inmem.Account, size int64) func(ctx context.Context, template, runOutput string) (string, error) {
	return func(ctx context.Context, template, runOutput string) (string, error) {
		name := template + "-" + runOutput + ".vhd"
		pages := map[int64][]byte{}
		for _, p := range simulator.SparsePages(name, size) {
			pages[p.Offset] = p.Data
		}
		return staging.PutPageBlob(ctx, "vhds", name, size, pages)
	}
}
