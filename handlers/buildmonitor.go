package handlers

import "github.com/goldenpipe/goldenpipe/host"

// buildMonitor advances builds in flight (timer %MONITOR_SCHEDULE%).
func buildMonitor(svc Monitor) host.Func { return onTick(svc.Tick, "monitor tick done") }
