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
	"strconv"
	"time"

	"github.com/goldenpipe/goldenpipe/azure"
	"github.com/goldenpipe/goldenpipe/checksum"
	"github.com/goldenpipe/goldenpipe/config"
	"github.com/goldenpipe/goldenpipe/handlers"
	"github.com/goldenpipe/goldenpipe/host"
	"github.com/goldenpipe/goldenpipe/simulator"
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
	Ready func(addr string)
}

// Run loads the settings, starts the handler on 127.0.0.1 and serves until
// ctx is cancelled, then shuts down gracefully.
func Run(ctx context.Context, o Options) error {
	settings, err := config.Load(o.Lookup)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(o.Stdout, &slog.HandlerOptions{Level: settings.LogLevel}))

	srv, err := Build(ctx, settings, logger)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(settings.Port)))
	if err != nil {
		return fmt.Errorf("listening on port %d: %w", settings.Port, err)
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       time.Minute,
		WriteTimeout:      settings.InvocationTimeout + 30*time.Second,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	addr := "http://" + l.Addr().String()
	logger.Info("handler listening", "addr", addr, "version", Version,
		"scripts", settings.Scripts.String(), "state", settings.State.String(), "serviceBus", settings.ServiceBus.String())
	if o.Ready != nil {
		o.Ready(addr)
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
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}

// Build creates the adapters and domain services and returns the server
// with every function registered.
func Build(ctx context.Context, s config.Settings, logger *slog.Logger) (*host.Server, error) {
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

	docs := azure.NewDocStore(stateSvc, s.StateContainer)
	scriptBlobs := azure.NewBlobs(scriptsSvc, s.ScriptsContainer)
	catalog := checksum.NewCatalog(docs)
	checksums := &checksum.Service{Blobs: scriptBlobs, Catalog: catalog, Container: s.ScriptsContainer, Log: logger}
	versions, err := imageVersions(s)
	if err != nil {
		return nil, err
	}
	templates := &template.Service{Blobs: azure.NewBlobs(scriptsSvc, s.TemplatesContainer), Docs: docs,
		Container: s.TemplatesContainer, ScriptsURL: scriptBlobs.ContainerURL(), Checksums: checksums, Versions: versions, Log: logger}
	checksums.Listeners = append(checksums.Listeners, staleMarker{templates})
	pending := notReady{}
	health := []handlers.HealthCheck{
		{Name: "state storage", Check: func(ctx context.Context) error {
			_, err := stateSvc.NewContainerClient(s.StateContainer).GetProperties(ctx, nil)
			return azure.StorageError(err, "reading container %s failed", s.StateContainer)
		}},
		{Name: "scripts storage", Check: func(ctx context.Context) error {
			_, err := scriptsSvc.NewContainerClient(s.ScriptsContainer).GetProperties(ctx, nil)
			return azure.StorageError(err, "reading container %s failed", s.ScriptsContainer)
		}},
	}
	srv := host.NewServer(host.Options{Logger: logger, Level: slog.LevelInfo,
		MaxRequestBytes: s.MaxRequestBytes, InvocationTimeout: s.InvocationTimeout})
	handlers.Register(srv, handlers.Deps{
		Scripts:   checksums,
		Templates: templates,
		Nightly:   nightlyPlan{templates},
		Builds:    pending,
		Monitor:   pending,
		API:       handlers.NewAPI(handlers.APIDeps{Version: Version, Health: health, Checksums: catalog, Templates: templates}),
	})
	return srv, nil
}

// imageVersions returns the marketplace version lister: armcompute, or the
// simulator's marketplace in local runs.
func imageVersions(s config.Settings) (*azure.ImageVersions, error) {
	if s.Simulator {
		return azure.NewImageVersions("00000000-0000-0000-0000-000000000000", simulator.TokenCredential(),
			azure.ARMClientOptions(simulator.NewImages().Transport()))
	}
	cred, err := azure.Credential(s.ARM)
	if err != nil {
		return nil, fmt.Errorf("ARM credential: %w", err)
	}
	return azure.NewImageVersions(s.SubscriptionID, cred, azure.ARMClientOptions(nil))
}
