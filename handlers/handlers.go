// Package handlers holds one file per function: each decodes its invocation
// with the host package, calls the domain, and encodes the answer. No
// decisions are made here.
package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/host"
)

// Function names, as the folders under functions/ name them.
const (
	FuncScriptUploaded   = "ScriptUploaded"
	FuncTemplateUploaded = "TemplateUploaded"
	FuncNightlyRebuild   = "NightlyRebuild"
	FuncBuildRequested   = "BuildRequested"
	FuncBuildMonitor     = "BuildMonitor"
	FuncAPI              = "Api"
)

// BlobEvents reacts to blob events of one container.
type BlobEvents interface {
	HandleBlobEvent(ctx context.Context, ev goldenpipe.BlobEvent) (outcome string, err error)
}

// Rebuilder plans the nightly rebuild.
type Rebuilder interface {
	Nightly(ctx context.Context, t goldenpipe.Tick) (outcome string, err error)
}

// BuildRequests takes build request messages.
type BuildRequests interface {
	Request(ctx context.Context, m goldenpipe.Message) (outcome string, err error)
}

// Monitor advances builds in flight.
type Monitor interface {
	Tick(ctx context.Context, t goldenpipe.Tick) (outcome string, err error)
}

// Deps are the domain services the functions call.
type Deps struct {
	Scripts   BlobEvents
	Templates BlobEvents
	Nightly   Rebuilder
	Builds    BuildRequests
	Monitor   Monitor
	API       http.Handler // the routes under /api/
}

// Register adds every function to s.
func Register(s *host.Server, d Deps) {
	s.Handle(FuncScriptUploaded, scriptUploaded(d.Scripts))
	s.Handle(FuncTemplateUploaded, templateUploaded(d.Templates))
	s.Handle(FuncNightlyRebuild, nightlyRebuild(d.Nightly))
	s.Handle(FuncBuildRequested, buildRequested(d.Builds))
	s.Handle(FuncBuildMonitor, buildMonitor(d.Monitor))
	s.HandleAPI(FuncAPI, d.API)
}

// tick decodes a timer invocation into a domain Tick.
func tick(inv *host.Invocation, binding string) (goldenpipe.Tick, error) {
	raw, err := inv.Binding(binding)
	if err != nil {
		return goldenpipe.Tick{}, err
	}
	t, err := host.DecodeTimer(raw)
	if err != nil {
		return goldenpipe.Tick{}, goldenpipe.Wrap(goldenpipe.EINVALID, err, "decoding the timer failed")
	}
	// sys.UtcNow is informational, and the host writes DateTime values by
	// culture: a tick is never lost to it; the wall clock stands in
	sys, err := inv.Sys()
	scheduled := sys.UtcNow.Time
	if err != nil || scheduled.IsZero() {
		if err != nil && inv.Log != nil {
			inv.Log.Warn("the invocation's sys metadata did not parse; the wall clock stands in for UtcNow", "err", err.Error())
		}
		scheduled = time.Now().UTC()
	}
	out := goldenpipe.Tick{Scheduled: scheduled, PastDue: t.IsPastDue}
	if t.ScheduleStatus != nil {
		out.Last = t.ScheduleStatus.Last.Time
	}
	return out, nil
}
