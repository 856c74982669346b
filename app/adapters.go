package app

import (
	"context"

	"github.com/goldenpipe/goldenpipe/checksum"
	"github.com/goldenpipe/goldenpipe/template"
)

// staleMarker tells the template catalog of checksum changes.
type staleMarker struct{ templates *template.Service }

func (m staleMarker) ScriptChanged(ctx context.Context, c checksum.Change) error {
	return m.templates.ScriptChanged(ctx, c.Name)
}
