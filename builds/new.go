package builds

import (
	"log/slog"
	"time"
)

// Ports are what the builds service reaches. Store, AIB, Bus and Templates
// are required; the others are optional (nil: see Service).
type Ports struct {
	Store     Store
	AIB       ImageBuilder
	Bus       Bus
	Templates Templates
	Logs      LogTail
	Gallery   GalleryKeeper
	// Source and Destination rescue VHDs (Destination nil: VHD outputs
	// end in rescue_failed with the template kept).
	Source      VHDSource
	Destination VHDDestination
	Staging     StagingGroups
}

// Options are the builds service's settings beyond its ports and the
// lifecycle's bounds.
type Options struct {
	Queue, Topic  string // the build queue; the topic of lifecycle events
	MaxConcurrent int    // builds in flight at once (0: the default)
	EventSource   string // CloudEvents source of lifecycle events
	Log           *slog.Logger
	Now           func() time.Time // nil: the wall clock
}

// New returns the service that requests, starts and follows builds
// through p, within the lifecycle's bounds cfg (zero values: the
// defaults; cfg.DestinationURL and cfg.ManagedStaging follow from
// p.Destination and p.Staging and are ignored here). It is the only place
// a Service's exported fields are set (fields_test.go).
func New(p Ports, cfg Config, o Options) *Service {
	return &Service{
		Store: p.Store, AIB: p.AIB, Bus: p.Bus, Templates: p.Templates, Logs: p.Logs, Gallery: p.Gallery,
		Source: p.Source, Destination: p.Destination, Staging: p.Staging,
		Queue: o.Queue, Topic: o.Topic, MaxConcurrent: o.MaxConcurrent, EventSource: o.EventSource, Log: o.Log, Now: o.Now,
		ReissueAfter: cfg.ReissueAfter, MaxAttempts: cfg.MaxAttempts, BackoffBase: cfg.BackoffBase, KeepFailed: cfg.KeepFailed,
		SASTTL: cfg.SASTTL, CopyAttempts: cfg.CopyAttempts, CopyBackoff: cfg.CopyBackoff,
	}
}
