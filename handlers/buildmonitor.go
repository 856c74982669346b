package handlers

import (
	"context"

	"github.com/goldenpipe/goldenpipe/host"
)

// buildMonitor advances builds in flight (timer %MONITOR_SCHEDULE%).
func buildMonitor(svc Monitor) host.Func {
	return func(ctx context.Context, inv *host.Invocation) (host.Result, error) {
		t, err := tick(inv, "timer")
		if err != nil {
			return host.Result{}, err
		}
		outcome, err := svc.Tick(ctx, t)
		if err == nil {
			inv.Log.Info("monitor tick done", "pastDue", t.PastDue, "outcome", outcome)
		}
		return host.Result{}, err
	}
}
