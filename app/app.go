// Package app wires the handler together: settings, adapters, domain
// services and the host server. It makes no decisions of its own.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/azure"
	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/checksum"
	"github.com/goldenpipe/goldenpipe/config"
	"github.com/goldenpipe/goldenpipe/gallery"
	"github.com/goldenpipe/goldenpipe/handlers"
	"github.com/goldenpipe/goldenpipe/host"
	"github.com/goldenpipe/goldenpipe/internal/defaults"
	"github.com/goldenpipe/goldenpipe/statuspage"
	"github.com/goldenpipe/goldenpipe/template"
)

// Version is set at build time (-ldflags "-X .../app.Version=...").
var Version = "dev"

// Server timeouts. Invocations carry their own deadline (INVOCATION_TIMEOUT).
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
	shutdownTimeout   = 25 * time.Second // below the host's 30 s grace on SIGTERM
	startupTimeout    = 15 * time.Second // start-up calls to storage
)

// Options are what Run needs from its caller.
type Options struct {
	Lookup config.Lookup
	Stdout io.Writer
	// Ready, if set, is called with the listening address once the handler
	// accepts connections.
	Ready func(addr string, a *App)
	// Overrides replace adapters (the dev runner's slower simulator).
	Overrides Overrides
}

// Run loads the settings, starts the handler on 127.0.0.1 and serves until
// ctx is cancelled, then shuts down gracefully.
func Run(ctx context.Context, o Options) error {
	settings, err := config.Load(o.Lookup)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(o.Stdout, &slog.HandlerOptions{Level: settings.LogLevel}))

	a, err := Build(ctx, settings, logger, o.Overrides)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(settings.Port)))
	if err != nil {
		return fmt.Errorf("listening on port %d: %w", settings.Port, err)
	}
	hs := &http.Server{
		Handler:           a.Server,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       time.Minute,
		WriteTimeout:      settings.InvocationTimeout + 30*time.Second,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	addr := "http://" + l.Addr().String()
	logger.Info("handler listening", "addr", addr, "version", Version,
		"scripts", settings.Scripts.String(), "state", settings.State.String(), "serviceBus", settings.ServiceBus.String(),
		"simulator", settings.Simulator)
	if o.Ready != nil {
		o.Ready(addr, a)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down: finishing invocations in flight", "timeout", shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := a.Close(sctx); err != nil {
		logger.Warn("closing", "err", err.Error())
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}

// Overrides put simulated Azure in place of the real one (internal/local:
// scripts/devrun, the benchmarks, the tests). The handler binary has none:
// it reaches Azure, or a simulator served over HTTP (AIB_SIMULATOR=<url>).
type Overrides struct {
	// ARM replaces Azure Resource Manager: the marketplace and Image Builder.
	ARM func(s config.Settings, scripts *azure.Blobs) (*azure.ImageVersions, *azure.ImageBuilder, error)
	// ServiceBus replaces Service Bus; attach connects its deliveries to
	// the handler once it exists.
	ServiceBus func(s config.Settings) (bus builds.Bus, attach func(*host.Server), closer func(context.Context) error, err error)
	// StagingGroups replaces the resource groups of ARM (AIB_STAGING_GROUPS=managed).
	StagingGroups func(s config.Settings) (*azure.StagingGroups, error)
	// Gallery, when set, replaces Azure Compute Gallery (the simulator).
	Gallery func(s config.Settings) (goldenpipe.Gallery, error)
	// LoopbackOnly refuses requests from other hosts and sites
	// (host.Options.LoopbackOnly): a local run, with no function keys.
	LoopbackOnly bool
}

// App is the handler and the services behind it.
type App struct {
	Server    *host.Server
	Checksums *checksum.Service
	Templates *template.Service
	Builds    *builds.Service
	Gallery   *gallery.Service
	closers   []func(context.Context) error
	attach    func(*host.Server)
}

// Close releases connections and waits for in-process deliveries.
func (a *App) Close(ctx context.Context) error {
	var errs []error
	for _, c := range a.closers {
		errs = append(errs, c(ctx))
	}
	return errors.Join(errs...)
}

// Build creates the adapters and domain services and returns the app with
// every function registered.
func Build(ctx context.Context, s config.Settings, logger *slog.Logger, o Overrides) (*App, error) {
	a := &App{}
	logger = slog.New(goldenpipe.RedactingHandler(logger.Handler())) // no SAS or key in a log line
	scriptsSvc, err := azure.NewBlobService(s.Scripts)
	if err != nil {
		return nil, err
	}
	stateSvc, err := azure.NewBlobService(s.State)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	if err := azure.EnsureContainer(sctx, stateSvc, s.StateContainer); err != nil {
		// not fatal: the host must see the handler listening; health says why
		logger.Warn("state container not ready at start", "container", s.StateContainer, "err", err.Error())
	}

	tableSvc, err := azure.NewTableService(s.State)
	if err != nil {
		return nil, err
	}
	docs := azure.NewStore(stateSvc, tableSvc, s.StateContainer, StateKinds)
	scriptBlobs := azure.NewBlobs(scriptsSvc, s.ScriptsContainer)
	catalog := checksum.NewCatalog(docs)
	a.Checksums = &checksum.Service{Blobs: scriptBlobs, Catalog: catalog, Container: s.ScriptsContainer, Log: logger}

	versions, aib, err := a.arm(s, o, scriptBlobs)
	if err != nil {
		return nil, err
	}
	a.Templates = &template.Service{Blobs: azure.NewBlobs(scriptsSvc, s.TemplatesContainer), Docs: docs,
		Container: s.TemplatesContainer, ScriptsURL: scriptBlobs.ContainerURL(), Checksums: a.Checksums, Versions: versions, Log: logger,
		Deployment: deploymentScope(s)}
	a.Checksums.Listeners = append(a.Checksums.Listeners, staleMarker{a.Templates})

	bus, err := a.bus(s, o)
	if err != nil {
		return nil, err
	}
	hostname, _ := os.Hostname()
	a.Builds = &builds.Service{Docs: docs, AIB: aib, Bus: bus, Templates: a.Templates, Queue: s.BuildQueue, Topic: s.EventsTopic,
		MaxConcurrent: s.MaxConcurrentBuilds, EventSource: "/goldenpipe/" + hostname, Log: logger}
	a.Templates.Listeners = append(a.Templates.Listeners, a.Builds)
	if aib != nil {
		// records hold stand-ins for a user's secrets; Image Builder gets them
		a.Builds.AIB = secretsRestorer{ImageBuilder: aib, templates: a.Templates, builds: a.Builds}
	}
	g, err := a.gallery(s, o)
	if err != nil {
		return nil, err
	}
	a.Gallery = &gallery.Service{Gallery: g, Templates: a.Templates, Docs: docs, Bus: bus, Topic: s.EventsTopic,
		EventSource: a.Builds.EventSource, Log: logger}
	a.Builds.Gallery = a.Gallery
	if s.ManagedStagingGroups {
		g, err := a.stagingGroups(s, o)
		if err != nil {
			return nil, err
		}
		a.Builds.Staging = g
	}
	if err := a.rescue(sctx, s, logger); err != nil {
		return nil, err
	}

	health := []handlers.HealthCheck{
		{Name: "state storage", Check: func(ctx context.Context) error {
			_, err := stateSvc.NewContainerClient(s.StateContainer).GetProperties(ctx, nil)
			return azure.StorageError(err, "reading container %s failed", s.StateContainer)
		}},
		{Name: "scripts storage", Check: func(ctx context.Context) error {
			_, err := scriptsSvc.NewContainerClient(s.ScriptsContainer).GetProperties(ctx, nil)
			return azure.StorageError(err, "reading container %s failed", s.ScriptsContainer)
		}},
		// a templates container that does not exist makes every night do
		// nothing: health says so (TEMPLATES_CONTAINER)
		{Name: "templates storage", Check: func(ctx context.Context) error {
			_, err := scriptsSvc.NewContainerClient(s.TemplatesContainer).GetProperties(ctx, nil)
			return azure.StorageError(err, "reading container %s (%s) failed", s.TemplatesContainer, config.SettingTemplatesContain)
		}},
	}
	if aib != nil {
		name := "Image Builder"
		if s.Simulator {
			name = "Image Builder (simulator)"
		}
		health = append(health, handlers.HealthCheck{Name: name, Check: aib.Probe})
	}
	if p, ok := bus.(interface {
		Probe(context.Context, string) error
	}); ok {
		health = append(health, handlers.HealthCheck{Name: "Service Bus", Check: func(ctx context.Context) error { return p.Probe(ctx, s.BuildQueue) }})
	}
	a.Server = host.NewServer(host.Options{Logger: logger, Level: slog.LevelInfo,
		MaxRequestBytes: s.MaxRequestBytes, InvocationTimeout: s.InvocationTimeout, LoopbackOnly: o.LoopbackOnly})
	handlers.Register(a.Server, handlers.Deps{
		Scripts:   a.Checksums,
		Templates: a.Templates,
		Nightly:   a.Builds,
		Builds:    a.Builds,
		Monitor:   monitor{a.Builds, a.Templates, docs},
		API: handlers.NewAPI(handlers.APIDeps{Version: Version, Health: health, Checksums: catalog, Templates: a.Templates,
			Builds: a.Builds, Gallery: a.Gallery, Status: statuspage.Handler(statuspage.Sources{Now: func() time.Time { return defaults.NowUTC(a.Builds.Now) }, Templates: a.Templates, Template: a.Templates, Builds: a.Builds, Gallery: a.Gallery,
				Checksums: catalog, Version: Version, Simulated: simulated(s)})}),
	})
	if a.attach != nil {
		a.attach(a.Server)
	}
	return a, nil
}

// simulated names what stands in for Azure, for the status page's banner.
func simulated(s config.Settings) []string {
	var out []string
	if s.Simulator {
		out = append(out, "Image Builder (simulator)")
	}
	if s.ServiceBus.InProcess {
		out = append(out, "Service Bus (in-process)")
	}
	return out
}

// arm returns the marketplace and Image Builder: Azure's, a simulator's
// served at AIB_SIMULATOR=<url>, or the one the overrides put in place.
func (a *App) arm(s config.Settings, o Overrides, scripts *azure.Blobs) (*azure.ImageVersions, *azure.ImageBuilder, error) {
	switch {
	case o.ARM != nil:
		return o.ARM(s, scripts)
	case s.Simulator && s.SimulatorURL != "":
		opts, cred := azure.ARMEndpointOptions(s.SimulatorURL), azure.LocalCredential{}
		v, err := azure.NewImageVersions("00000000-0000-0000-0000-000000000000", cred, opts)
		if err != nil {
			return nil, nil, err
		}
		b, err := azure.NewImageBuilder("00000000-0000-0000-0000-000000000000", s.ResourceGroup, cred, opts)
		return v, b, err
	case s.Simulator:
		return nil, nil, fmt.Errorf("%s=true is the in-process simulator of `make run` (scripts/devrun); the handler binary reaches Azure, or a simulator served over HTTP with %s=<loopback URL>",
			config.SettingSimulator, config.SettingSimulator)
	}
	cred, err := azure.Credential(s.ARM)
	if err != nil {
		return nil, nil, fmt.Errorf("ARM credential: %w", err)
	}
	v, err := azure.NewImageVersions(s.SubscriptionID, cred, azure.ARMClientOptions(nil))
	if err != nil {
		return nil, nil, err
	}
	b, err := azure.NewImageBuilder(s.SubscriptionID, s.ResourceGroup, cred, azure.ARMClientOptions(nil))
	return v, b, err
}

// rescue gives the builds where VHDs are read from and copied to.
// gallery returns Azure Compute Gallery: the override's (the simulator),
// the served simulator's, or Azure's with the app's identity.
func (a *App) gallery(s config.Settings, o Overrides) (goldenpipe.Gallery, error) {
	switch {
	case o.Gallery != nil:
		return o.Gallery(s)
	case s.Simulator && s.SimulatorURL != "":
		return azure.NewGalleryVersions(azure.LocalCredential{}, azure.ARMEndpointOptions(s.SimulatorURL)), nil
	}
	cred, err := azure.Credential(s.ARM)
	if err != nil {
		return nil, fmt.Errorf("ARM credential: %w", err)
	}
	return azure.NewGalleryVersions(cred, azure.ARMClientOptions(nil)), nil
}

func (a *App) rescue(ctx context.Context, s config.Settings, logger *slog.Logger) error {
	var cred azcore.TokenCredential
	if s.Staging == nil || (s.VHDDestination != "" && s.VHDStorage == nil) {
		c, err := azure.Credential(s.ARM)
		if err != nil {
			return fmt.Errorf("credential for the VHD rescue: %w", err)
		}
		cred = c
	}
	src, err := azure.NewVHDSource(cred, s.Staging)
	if err != nil {
		return err
	}
	a.Builds.Source = src
	a.Builds.KeepFailed = s.KeepFailed
	switch {
	case s.Staging != nil: // local runs: the staging account is known
		a.Builds.Logs = &azure.CustomizationLogs{Accounts: azure.FixedAccounts{s.Staging.ServiceURL}, Source: src}
	case !s.Simulator:
		accounts, err := azure.NewARMStorageAccounts(s.SubscriptionID, cred, azure.ARMClientOptions(nil))
		if err != nil {
			return err
		}
		a.Builds.Logs = &azure.CustomizationLogs{Accounts: accounts, Source: src}
	}
	if s.VHDDestination != "" {
		dst, err := azure.NewVHDDestination(s.VHDDestination, s.VHDStorage, cred)
		if err != nil {
			return err
		}
		a.Builds.Destination = dst
		if err := dst.Ensure(ctx); err != nil {
			logger.Warn("VHD destination container not ready at start", "err", err.Error())
		}
	}
	return nil
}

// stagingGroups returns the resource groups the app makes staging groups
// in: the subscription's, or the simulator's.
func (a *App) stagingGroups(s config.Settings, o Overrides) (*azure.StagingGroups, error) {
	switch {
	case o.StagingGroups != nil:
		return o.StagingGroups(s)
	case s.Simulator && s.SimulatorURL != "":
		return azure.NewStagingGroups("00000000-0000-0000-0000-000000000000", azure.LocalCredential{}, azure.ARMEndpointOptions(s.SimulatorURL))
	}
	cred, err := azure.Credential(s.ARM)
	if err != nil {
		return nil, fmt.Errorf("ARM credential: %w", err)
	}
	return azure.NewStagingGroups(s.SubscriptionID, cred, azure.ARMClientOptions(nil))
}

// bus returns the Service Bus: a namespace's, or the one the overrides put
// in place (the in-process bus of local runs).
func (a *App) bus(s config.Settings, o Overrides) (builds.Bus, error) {
	if o.ServiceBus != nil {
		b, attach, closer, err := o.ServiceBus(s)
		if err != nil {
			return nil, err
		}
		a.attach, a.closers = attach, append(a.closers, closer)
		return b, nil
	}
	if s.ServiceBus.InProcess {
		return nil, fmt.Errorf("ServiceBus=inprocess is the in-process bus of `make run` (scripts/devrun); under the Functions host give a Service Bus namespace")
	}
	sb, err := azure.NewServiceBus(s.ServiceBus)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, sb.Close)
	return sb, nil
}

// deploymentScope is what subscription() and resourceGroup() give in the
// ARM deployment templates of the templates container: where the app
// creates Image Builder templates.
func deploymentScope(s config.Settings) template.Deployment {
	sub := s.SubscriptionID
	if sub == "" && s.Simulator {
		sub = "00000000-0000-0000-0000-000000000000"
	}
	return template.Deployment{SubscriptionID: sub, ResourceGroup: s.ResourceGroup, Location: s.Location,
		Where: "app settings " + config.SettingSubscription + ", " + config.SettingResourceGroup + ", " + config.SettingLocation}
}
