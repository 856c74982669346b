package gallery

import (
	"log/slog"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

// Options are the gallery service's settings beyond its ports.
type Options struct {
	Topic       string // where lifecycle events are published
	EventSource string // CloudEvents source of those events
	Log         *slog.Logger
	Now         func() time.Time // nil: the wall clock
}

// New returns the service that carries out the gallery decisions on g,
// reading the template catalog through templates, keeping its records in
// docs and publishing through bus. It is the only place a Service's
// exported fields are set (fields_test.go).
func New(g goldenpipe.Gallery, templates Templates, docs goldenpipe.Documents, bus Publisher, o Options) *Service {
	return &Service{Gallery: g, Templates: templates, Docs: docs, Bus: bus,
		Topic: o.Topic, EventSource: o.EventSource, Log: o.Log, Now: o.Now}
}
