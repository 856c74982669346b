package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/azure"
	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/checksum"
	"github.com/goldenpipe/goldenpipe/config"
	"github.com/goldenpipe/goldenpipe/handlers"
	"github.com/goldenpipe/goldenpipe/template"
)

// Storage is where the app keeps its state and reads what users upload:
// Azure Storage from the settings (Scripts, State, StagingStorage,
// VHD_DESTINATION), or what Overrides.Storage puts in its place (the
// in-memory store and containers of inmem, for a pipeline test without
// Azurite).
type Storage struct {
	// Docs is the app's state: records, lists and summaries.
	Docs goldenpipe.Documents
	// Scripts is the scripts container and Templates the templates one.
	Scripts   ScriptBlobs
	Templates template.Blobs
	// VHDSource and VHDDestination, when set, are the staging accounts
	// VHDs are rescued from and the container they are copied into, in
	// place of StagingStorage and VHD_DESTINATION.
	VHDSource      builds.VHDSource
	VHDDestination builds.VHDDestination
	// Health checks the storage for /api/health.
	Health []handlers.HealthCheck
}

// ScriptBlobs is the scripts container as the app uses it: the checksum
// service reads it, the template catalog names its URL, and Image Builder
// (the simulator) fetches scripts from it.
type ScriptBlobs interface {
	checksum.Blobs
	Fetch(ctx context.Context, blobURL string) ([]byte, error)
}

// storage returns the overrides' storage, or Azure Storage's from the
// settings: the state container is created if it is missing (a failure is
// logged, not fatal: health says why).
func storage(ctx context.Context, s config.Settings, o Overrides, logger *slog.Logger) (Storage, error) {
	if o.Storage != nil {
		return o.Storage(s)
	}
	scriptsSvc, err := azure.NewBlobService(s.Scripts)
	if err != nil {
		return Storage{}, err
	}
	stateSvc, err := azure.NewBlobService(s.State)
	if err != nil {
		return Storage{}, err
	}
	if err := azure.EnsureContainer(ctx, stateSvc, s.StateContainer); err != nil {
		// not fatal: the host must see the handler listening; health says why
		logger.Warn("state container not ready at start", "container", s.StateContainer, "err", err.Error())
	}
	tableSvc, err := azure.NewTableService(s.State)
	if err != nil {
		return Storage{}, err
	}
	return Storage{
		Docs:      azure.NewStore(stateSvc, tableSvc, s.StateContainer, StateKinds),
		Scripts:   azure.NewBlobs(scriptsSvc, s.ScriptsContainer),
		Templates: azure.NewBlobs(scriptsSvc, s.TemplatesContainer),
		Health: []handlers.HealthCheck{
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
		},
	}, nil
}

// migratorOf is the store's one-time move of blobs to tables, which
// azure.Store has and a store that never kept blobs (inmem.Docs) does not
// need.
func migratorOf(d goldenpipe.Documents) migrator {
	if m, ok := d.(migrator); ok {
		return m
	}
	return noMigration{}
}

type noMigration struct{}

func (noMigration) Migrate(context.Context, time.Time) (bool, int, error) { return true, 0, nil }
