package handlers

import (
	"context"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/host"
)

// nightlyRebuild runs the nightly plan (timer %REBUILD_SCHEDULE%).
func nightlyRebuild(svc Rebuilder) host.Func { return onTick(svc.Nightly, "nightly rebuild planned") }

// onTick decodes a timer invocation and hands the tick to fn.
func onTick(fn func(context.Context, goldenpipe.Tick) (string, error), done string) host.Func {
	return func(ctx context.Context, inv *host.Invocation) (host.Result, error) {
		t, err := tick(inv, "timer")
		if err != nil {
			return host.Result{}, err
		}
		outcome, err := fn(ctx, t)
		if err == nil {
			inv.Log.Info(done, "pastDue", t.PastDue, "outcome", outcome)
		}
		return host.Result{}, err
	}
}
