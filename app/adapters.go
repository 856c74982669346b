package app

import (
	"context"
	"fmt"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/checksum"
	"github.com/goldenpipe/goldenpipe/template"
)

// staleMarker tells the template catalog of checksum changes.
type staleMarker struct{ templates *template.Service }

func (m staleMarker) ScriptChanged(ctx context.Context, c checksum.Change) error {
	return m.templates.ScriptChanged(ctx, c.Name)
}

// nightlyPlan renders every template again and stores its plan. Enqueueing
// the builds the plans ask for comes with the builds.
type nightlyPlan struct{ templates *template.Service }

func (n nightlyPlan) Nightly(ctx context.Context, _ goldenpipe.Tick) (string, error) {
	list, err := n.templates.Refresh(ctx)
	if err != nil {
		return "", err
	}
	rebuild, invalid := 0, 0
	for _, t := range list {
		switch {
		case !t.Valid:
			invalid++
		case t.Plan != nil && t.Plan.Rebuild:
			rebuild++
		}
	}
	return fmt.Sprintf("%d templates planned: %d need a build, %d invalid", len(list), rebuild, invalid), nil
}
