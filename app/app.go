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
	// It gets how scripts are read from the scripts container.
	ARM func(s config.Settings, fetchScript func(ctx context.Context, url string) ([]byte, error)) (*azure.ImageVersions, *azure.ImageBuilder, error)
	// ServiceBus replaces Service Bus; attach connects its deliveries to
	// the handler once it exists.
	ServiceBus func(s config.Settings) (bus builds.Bus, attach func(*host.Server), closer func(context.Context) error, err error)
	// StagingGroups replaces the resource groups of ARM (AIB_STAGING_GROUPS=managed).
	StagingGroups func(s config.Settings) (*azure.StagingGroups, error)
	// Gallery, when set, replaces Azure Compute Gallery (the simulator).
	Gallery func(s config.Settings) (goldenpipe.Gallery, error)
	// Storage, when set, replaces Azure Storage: the state, the scripts and
	// templates containers and the VHD rescue's accounts (storage.go).
	Storage func(s config.Settings) (Storage, error)
	// LoopbackOnly refuses requests from other hosts and sites
	// (host.Options.LoopbackOnly): a local run, with no function keys.
	LoopbackOnly bool
	// Tuning changes the services' clocks and bounds, and wraps their
	// ports, at construction (tests and benches).
	Tuning Tuning
}

// Tuning is what tests and benches change of the services, given to their
// constructors: nothing is set on a service once it is built. The zero
// value is production's.
type Tuning struct {
	// Now is the builds' clock (and the status page's); GalleryNow the
	// gallery service's. nil: the wall clock.
	Now, GalleryNow func() time.Time
	// Builds are the build lifecycle's bounds (zero values: the
	// defaults); a KeepFailed above 0 replaces KEEP_FAILED_TEMPLATE.
	Builds builds.Config
	// MaxConcurrent, above 0, replaces MAX_CONCURRENT_BUILDS.
	MaxConcurrent int
	// ReplanLimit, above 0, bounds the templates one invocation re-plans.
	ReplanLimit int
	// NoBuildOnUpload: templates rendered after an upload or a script
	// change ask for no build (the caller requests builds itself).
	NoBuildOnUpload bool
	// Hooks wrap a port before it is handed to its service (fault and
	// crash injection): nil leaves it as it is. AIB gets Image Builder as
	// the builds see it (secretsRestorer, when there is one).
	AIB            func(builds.ImageBuilder) builds.ImageBuilder
	BuildTemplates func(builds.Templates) builds.Templates
	BuildDocs      func(goldenpipe.Documents) goldenpipe.Documents
	TemplateDocs   func(goldenpipe.Documents) goldenpipe.Documents
	Bus            func(builds.Bus) builds.Bus
	Source         func(builds.VHDSource) builds.VHDSource
	Destination    func(builds.VHDDestination) builds.VHDDestination
}

// wrap applies a hook, if any.
func wrap[T any](v T, hook func(T) T) T {
	if hook == nil {
		return v
	}
	return hook(v)
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
	sctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	st, err := storage(sctx, s, o, logger)
	if err != nil {
		return nil, err
	}
	docs, scriptBlobs := st.Docs, st.Scripts
	versions, aib, err := a.arm(s, o, scriptBlobs.Fetch)
	if err != nil {
		return nil, err
	}
	bus, err := a.bus(s, o)
	if err != nil {
		return nil, err
	}
	g, err := a.gallery(s, o)
	if err != nil {
		return nil, err
	}
	var staging builds.StagingGroups
	if s.ManagedStagingGroups {
		g, err := a.stagingGroups(s, o)
		if err != nil {
			return nil, err
		}
		staging = g
	}
	vhds, err := rescuePorts(sctx, s, logger, st)
	if err != nil {
		return nil, err
	}

	// The event path, wired once and one way: a script's checksum changed
	// → the templates that use it are re-planned → the builds their plans
	// ask for are requested → a finished build's gallery versions are
	// kept. Each service is built after the ones it calls; the only
	// forward reference, the builds' hearing of plans, goes through the
	// pipeline, which is given the builds once they exist.
	tu := o.Tuning
	events := &pipeline{}
	catalog := checksum.NewCatalog(docs)
	a.Checksums = checksum.New(scriptBlobs, catalog, s.ScriptsContainer, checksum.Options{Listener: events, Log: logger})
	var planned template.PlanListener = events
	if tu.NoBuildOnUpload {
		planned = nil
	}
	a.Templates = template.New(st.Templates, wrap[goldenpipe.Documents](docs, tu.TemplateDocs), template.ServiceOptions{
		Container: s.TemplatesContainer, ScriptsURL: scriptBlobs.ContainerURL(), Checksums: a.Checksums, Versions: versions,
		Deployment: deploymentScope(s), Listener: planned, ReplanLimit: tu.ReplanLimit, Log: logger})
	events.templates = a.Templates
	hostname, _ := os.Hostname()
	source := "/goldenpipe/" + hostname
	a.Gallery = gallery.New(g, a.Templates, docs, bus, gallery.Options{Topic: s.EventsTopic, EventSource: source, Log: logger, Now: tu.GalleryNow})

	var imageBuilder builds.ImageBuilder = aib
	var restorer *secretsRestorer
	if aib != nil {
		// records hold stand-ins for a user's secrets; Image Builder gets them
		restorer = &secretsRestorer{ImageBuilder: aib, templates: a.Templates}
		imageBuilder = restorer
	}
	cfg := tu.Builds
	if cfg.KeepFailed <= 0 {
		cfg.KeepFailed = s.KeepFailed
	}
	maxConcurrent := s.MaxConcurrentBuilds
	if tu.MaxConcurrent > 0 {
		maxConcurrent = tu.MaxConcurrent
	}
	a.Builds = builds.New(builds.Ports{
		Store:       buildsStore(wrap[goldenpipe.Documents](docs, tu.BuildDocs), tu.Now),
		AIB:         wrap(imageBuilder, tu.AIB),
		Bus:         wrap(bus, tu.Bus),
		Templates:   wrap[builds.Templates](a.Templates, tu.BuildTemplates),
		Logs:        vhds.logs,
		Gallery:     a.Gallery,
		Source:      wrap[builds.VHDSource](vhds.source, tu.Source),
		Destination: wrap(vhds.destination, tu.Destination),
		Staging:     staging,
	}, cfg, builds.Options{Queue: s.BuildQueue, Topic: s.EventsTopic, MaxConcurrent: maxConcurrent, EventSource: source, Log: logger, Now: tu.Now})
	events.builds = a.Builds
	if restorer != nil {
		restorer.builds = a.Builds // it reads the builds in flight, for the template a body is sent for
	}

	health := st.Health
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
		Monitor:   monitor{a.Builds, a.Templates, migratorOf(docs)},
		API: handlers.NewAPI(handlers.APIDeps{Version: Version, Health: health, Checksums: catalog, Templates: a.Templates,
			Builds: a.Builds, Gallery: a.Gallery, Status: statuspage.Handler(statuspage.Sources{Now: func() time.Time { return defaults.NowUTC(tu.Now) }, Templates: a.Templates, Template: a.Templates, Builds: a.Builds, Gallery: a.Gallery,
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
func (a *App) arm(s config.Settings, o Overrides, fetchScript func(context.Context, string) ([]byte, error)) (*azure.ImageVersions, *azure.ImageBuilder, error) {
	switch {
	case o.ARM != nil:
		return o.ARM(s, fetchScript)
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

// vhdPorts are where the builds read VHDs and their customization logs
// from, and copy VHDs to.
type vhdPorts struct {
	source      builds.VHDSource
	destination builds.VHDDestination // nil: no VHD_DESTINATION
	logs        builds.LogTail        // nil: none known (the simulator's ARM)
}

// rescuePorts gives the builds where VHDs are read from and copied to.
func rescuePorts(ctx context.Context, s config.Settings, logger *slog.Logger, st Storage) (vhdPorts, error) {
	var p vhdPorts
	if st.VHDSource != nil { // the overrides' accounts (in-memory)
		p.source, p.destination = st.VHDSource, st.VHDDestination
		return p, nil
	}
	var cred azcore.TokenCredential
	if s.Staging == nil || (s.VHDDestination != "" && s.VHDStorage == nil) {
		c, err := azure.Credential(s.ARM)
		if err != nil {
			return p, fmt.Errorf("credential for the VHD rescue: %w", err)
		}
		cred = c
	}
	src, err := azure.NewVHDSource(cred, s.Staging)
	if err != nil {
		return p, err
	}
	p.source = src
	switch {
	case s.Staging != nil: // local runs: the staging account is known
		p.logs = &azure.CustomizationLogs{Accounts: azure.FixedAccounts{s.Staging.ServiceURL}, Source: src}
	case !s.Simulator:
		accounts, err := azure.NewARMStorageAccounts(s.SubscriptionID, cred, azure.ARMClientOptions(nil))
		if err != nil {
			return p, err
		}
		p.logs = &azure.CustomizationLogs{Accounts: accounts, Source: src}
	}
	if s.VHDDestination != "" {
		dst, err := azure.NewVHDDestination(s.VHDDestination, s.VHDStorage, cred)
		if err != nil {
			return p, err
		}
		p.destination = dst
		if err := dst.Ensure(ctx); err != nil {
			logger.Warn("VHD destination container not ready at start", "err", err.Error())
		}
	}
	return p, nil
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
