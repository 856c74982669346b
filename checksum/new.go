package checksum

import (
	"log/slog"
	"time"
)

// Options are the checksum service's settings beyond its ports; zero
// values take the defaults.
type Options struct {
	// Listener hears of every change the catalog records (the template
	// catalog's re-planning, through the app's event path); nil: nobody.
	Listener ChangeListener
	Hasher   Hasher // how blobs are read and hashed (zero: the defaults)
	Log      *slog.Logger
	Now      func() time.Time // nil: the wall clock
}

// New returns the service that keeps catalog in step with the scripts
// container named container, read through blobs. It is the only place a
// Service's exported fields are set (fields_test.go).
func New(blobs Blobs, catalog *Catalog, container string, o Options) *Service {
	s := &Service{Blobs: blobs, Catalog: catalog, Container: container, Hasher: o.Hasher, Log: o.Log, Now: o.Now}
	if o.Listener != nil {
		s.Listeners = []ChangeListener{o.Listener}
	}
	return s
}
