package app

import (
	"context"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/checksum"
	"github.com/goldenpipe/goldenpipe/template"
)

// staleMarker tells the template catalog of checksum changes.
type staleMarker struct{ templates *template.Service }

func (m staleMarker) ScriptChanged(ctx context.Context, c checksum.Change) error {
	return m.templates.ScriptChanged(ctx, c.Name)
}

// monitor is the BuildMonitor tick: the builds in flight, then the
// re-planning of templates after script changes, each within its budget.
type monitor struct {
	builds    *builds.Service
	templates *template.Service
}

func (m monitor) Tick(ctx context.Context, t goldenpipe.Tick) (string, error) {
	out, err := m.builds.Tick(ctx, t)
	if err != nil {
		return out, err
	}
	replans, err := m.templates.ContinueReplans(ctx, template.DefaultTickBudget)
	if replans != "" {
		out += "; " + replans
	}
	return out, err
}
