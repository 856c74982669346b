package builds

import (
	"time"

	"github.com/goldenpipe/goldenpipe"
)

// runFailed is the step of a run Failed: the build fails (timed out when
// buildTimeoutInMinutes ended it) with Image Builder's message and the
// logs' tails, keeping what the run distributed all the same (validation
// failed with continueDistributeOnFailure, or a failure while
// distributing).
func runFailed(d *Decision, o Observation, run *goldenpipe.AIBRun, now time.Time, _ Config) {
	b := &d.Build
	state := StateFailed
	if timedOut(b, run) {
		state = StateTimedOut
	}
	b.LogTail, b.ValidationLogTail = o.LogTail, o.ValidationLogTail
	b.Outputs = o.Outputs
	finish(d, state, now, run.Message)
	b.Error, b.FinishedAt = run.Message, ended(run, now)
	d.Outcome = "build " + string(state) + ": " + run.Message
}
