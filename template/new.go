package template

import (
	"log/slog"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

// ServiceOptions are the template service's settings beyond its ports; zero
// values take the defaults.
type ServiceOptions struct {
	Container  string // the templates container
	ScriptsURL string // the scripts container's URL
	// Checksums gives the scripts' checksums; Versions lists the
	// marketplace's image versions.
	Checksums ChecksumSource
	Versions  VersionLister
	// Deployment is the scope ARM deployment templates are evaluated in.
	Deployment Deployment
	// Listener hears of every template rendered after an upload or a
	// script change whose plan asks for a build (the builds, through the
	// app's event path); nil: nobody, and no build is asked for then.
	Listener PlanListener
	// ReplanBudget and ReplanLimit bound the re-planning one invocation
	// does (Service.ReplanBudget, Service.ReplanLimit).
	ReplanBudget time.Duration
	ReplanLimit  int
	Log          *slog.Logger
	Now          func() time.Time // nil: the wall clock
}

// New returns the service that keeps the template catalog, in docs, in
// step with the templates container read through blobs. It is the only
// place a Service's exported fields are set (fields_test.go).
func New(blobs Blobs, docs goldenpipe.Documents, o ServiceOptions) *Service {
	s := &Service{Blobs: blobs, Docs: docs, Container: o.Container, ScriptsURL: o.ScriptsURL,
		Checksums: o.Checksums, Versions: o.Versions, Deployment: o.Deployment,
		ReplanBudget: o.ReplanBudget, ReplanLimit: o.ReplanLimit, Log: o.Log, Now: o.Now}
	if o.Listener != nil {
		s.Listeners = []PlanListener{o.Listener}
	}
	return s
}

// NewRenderer returns a renderer of templates whose scripts are in the
// container at scriptsURL. checksums and versions may be nil (offline:
// resolved at build time).
func NewRenderer(scriptsURL string, checksums ChecksumSource, versions *Resolver) *Renderer {
	return &Renderer{ScriptsURL: scriptsURL, Checksums: checksums, Versions: versions}
}
