package builds

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

// decideRunning follows a run: sub-states as Image Builder reports them,
// outputs once it succeeded (then the rescue of VHDs), the log tail once
// it failed. A run refused with 400/403/404 fails the build with Azure's
// message; transient failures back off, bounded. A run going on past
// buildTimeoutInMinutes + RunGrace is canceled, and a cancel that does not
// end within CancelTimeout fails the build (the template is kept).
//
// It is a dispatcher: what the last action answered (runActionFailed), a
// template without a run (runStart), then the run's state names its step
// (runSteps), one file each (run_<state>.go, with its table test).
func decideRunning(d *Decision, o Observation, now time.Time, cfg Config) {
	b := &d.Build
	if last := o.Last; last != nil && runActionFailed(d, *last, now, cfg) {
		return
	}
	if readFailed(d, o, now, cfg) || waitingForRetry(d, now) {
		return
	}
	if o.TemplateMissing || o.Template == nil {
		fail(d, now, "the image template "+b.AIBName+" disappeared while the build ran")
		return
	}
	t := o.Template
	if b.StagingResourceGroup == "" && t.StagingResourceGroup != "" {
		b.StagingResourceGroup, d.Changed = t.StagingResourceGroup, true
	}
	run := t.Run
	if run == nil {
		runStart(d, now, cfg)
		return
	}
	runSeen(d, run)
	step := runSteps[run.State]
	if step == nil {
		d.Outcome = "run state " + run.State
		return
	}
	step(d, o, run, now, cfg)
}

// runStep is the step of a run in one state.
type runStep func(d *Decision, o Observation, run *goldenpipe.AIBRun, now time.Time, cfg Config)

// runSteps names the step of each run state Image Builder reports
// (lastRunStatus.runState); another state waits.
var runSteps = map[string]runStep{
	goldenpipe.RunRunning:            runGoingOn,
	goldenpipe.RunCanceling:          runGoingOn,
	goldenpipe.RunSucceeded:          runSucceeded,
	goldenpipe.RunPartiallySucceeded: runSucceeded,
	goldenpipe.RunFailed:             runFailed,
	goldenpipe.RunCanceled:           runCanceled,
}

// runSeen records what any run seen tells: when it started, and that the
// build progressed (transient failures before it are forgotten).
func runSeen(d *Decision, run *goldenpipe.AIBRun) {
	b := &d.Build
	if b.StartedAt.IsZero() && !run.StartTime.IsZero() {
		b.StartedAt, d.Changed = run.StartTime.UTC(), true
	}
	if b.Attempts > 0 {
		progressed(b)
		d.Changed = true
	}
}

// timeoutMessage is the message Image Builder ends a run with when
// buildTimeoutInMinutes passes.
const timeoutMessage = "Timeout waiting for microservice to complete"

// timedOut tells a run that ended because buildTimeoutInMinutes passed:
// by its duration, or by Image Builder's message for it.
func timedOut(b *Build, run *goldenpipe.AIBRun) bool {
	if !run.StartTime.IsZero() && !run.EndTime.IsZero() && run.EndTime.Sub(run.StartTime) >= buildTimeout(b.Rendered)-time.Minute {
		return true
	}
	return strings.Contains(run.Message, timeoutMessage)
}

// distributesOnFailure reports a rendered template whose images are
// distributed even when validation fails (validate.continueDistributeOnFailure):
// its failed runs have outputs.
func distributesOnFailure(rendered []byte) bool {
	var t struct {
		Properties struct {
			Validate struct {
				ContinueDistributeOnFailure bool `json:"continueDistributeOnFailure"`
			} `json:"validate"`
		} `json:"properties"`
	}
	_ = json.Unmarshal(rendered, &t)
	return t.Properties.Validate.ContinueDistributeOnFailure
}

// buildTimeout is the rendered template's buildTimeoutInMinutes (0: 240).
func buildTimeout(rendered []byte) time.Duration {
	var t struct {
		Properties struct {
			BuildTimeoutInMinutes int `json:"buildTimeoutInMinutes"`
		} `json:"properties"`
	}
	_ = json.Unmarshal(rendered, &t)
	if m := t.Properties.BuildTimeoutInMinutes; m > 0 {
		return time.Duration(m) * time.Minute
	}
	return 240 * time.Minute
}

func ended(run *goldenpipe.AIBRun, now time.Time) time.Time {
	if !run.EndTime.IsZero() {
		return run.EndTime.UTC()
	}
	return now
}
