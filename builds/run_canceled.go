package builds

import (
	"time"

	"github.com/goldenpipe/goldenpipe"
)

// runCanceled is the step of a run Canceled: timed out when the build
// canceled it for going on too long, canceled when someone else did;
// outputs are kept (a cancel during distribution can leave a version).
func runCanceled(d *Decision, o Observation, run *goldenpipe.AIBRun, now time.Time, _ Config) {
	b := &d.Build
	b.Outputs = o.Outputs
	if b.State == StateCanceling {
		finish(d, StateTimedOut, now, "canceled after going on past its timeout")
		b.Error = "the run went on past buildTimeoutInMinutes and was canceled"
	} else {
		finish(d, StateCanceled, now, run.Message)
	}
	b.FinishedAt = ended(run, now)
	d.Outcome = "build " + string(b.State)
}
