package handlers

import (
	"context"

	"github.com/goldenpipe/goldenpipe/host"
)

// nightlyRebuild runs the nightly plan (timer %REBUILD_SCHEDULE%).
func nightlyRebuild(svc Rebuilder) host.Func {
	return func(ctx context.Context, inv *host.Invocation) (host.Result, error) {
		t, err := tick(inv, "timer")
		if err != nil {
			return host.Result{}, err
		}
		outcome, err := svc.Nightly(ctx, t)
		if err == nil {
			inv.Log.Info("nightly rebuild planned", "pastDue", t.PastDue, "outcome", outcome)
		}
		return host.Result{}, err
	}
}
