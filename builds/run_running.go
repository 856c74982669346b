package builds

import (
	"fmt"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

// runGoingOn is the step of a run Running or Canceling: its sub-state is
// recorded as Image Builder reports it; a run going on past
// buildTimeoutInMinutes + RunGrace is canceled, and a cancel that does not
// end within CancelTimeout fails the build (the template is kept).
func runGoingOn(d *Decision, _ Observation, run *goldenpipe.AIBRun, now time.Time, cfg Config) {
	b := &d.Build
	sub := run.SubState
	if run.State == goldenpipe.RunCanceling {
		sub = "Canceling"
	}
	if sub != b.SubState {
		b.moveTo(b.State, sub, "", now)
		d.Changed = true
	}
	d.Outcome = "running: " + sub
	limit := buildTimeout(b.Rendered) + cfg.RunGrace
	switch {
	case b.State == StateRunning && !b.StartedAt.IsZero() && now.Sub(b.StartedAt) > limit:
		b.moveTo(StateCanceling, "", fmt.Sprintf("the run went on for more than %s (buildTimeoutInMinutes and a grace of %s); canceling it", limit, cfg.RunGrace), now)
		b.CancelRequestedAt = now
		d.Changed, d.Effects, d.Outcome = true, []Action{{Kind: ActCancel}}, "canceling an overlong run"
	case b.State == StateCanceling && now.Sub(b.CancelRequestedAt) > cfg.CancelTimeout:
		fail(d, now, fmt.Sprintf("the run did not stop within %s of being canceled; the template %s is kept for an operator", cfg.CancelTimeout, b.AIBName))
	}
}
