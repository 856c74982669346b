package handlers

import (
	"context"

	"github.com/goldenpipe/goldenpipe/host"
)

// templateUploaded handles Event Grid blob events of the templates
// container: the domain reads, validates, renders and records the template.
func templateUploaded(svc BlobEvents) host.Func {
	return func(ctx context.Context, inv *host.Invocation) (host.Result, error) {
		ev, err := blobEvent(inv, "event")
		if err != nil {
			return host.Result{}, err
		}
		outcome, err := svc.HandleBlobEvent(ctx, ev)
		if err == nil {
			inv.Log.Info("template event handled", "eventId", ev.ID, "subject", ev.Subject, "outcome", outcome)
		}
		return host.Result{}, err
	}
}
