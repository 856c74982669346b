package builds

import (
	"encoding/json"
	"fmt"
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
func decideRunning(d *Decision, o Observation, now time.Time, cfg Config) {
	b := &d.Build
	if last := o.Last; last != nil && last.Code != "" && last.Code != goldenpipe.ECONFLICT {
		what := "starting the run"
		if last.Action.Kind == ActCancel {
			what = "canceling the run"
		}
		if terminalCode(last.Code) {
			fail(d, now, "Image Builder refused "+what+": "+last.Message)
			return
		}
		if last.Action.Kind == ActRun {
			b.RunRequestedAt = time.Time{}
		}
		retry(d, now, cfg, what, last.Message)
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
		if waitBeforeReissue(d, b.RunRequestedAt, now, cfg, "waiting for the run to start") {
			return
		}
		note := "no run seen; starting it again"
		if b.RunRequestedAt.IsZero() {
			note = "starting the run"
		}
		b.RunRequestedAt = now
		b.History = append(b.History, Transition{State: b.State, At: now, Note: note})
		d.Changed, d.Effects, d.Outcome = true, []Action{{Kind: ActRun}}, note
		return
	}
	if b.StartedAt.IsZero() && !run.StartTime.IsZero() {
		b.StartedAt, d.Changed = run.StartTime.UTC(), true
	}
	if b.Attempts > 0 {
		progressed(b)
		d.Changed = true
	}
	switch run.State {
	case goldenpipe.RunRunning, goldenpipe.RunCanceling:
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
	case goldenpipe.RunSucceeded, goldenpipe.RunPartiallySucceeded:
		if o.Outputs == nil {
			d.Outcome = "run " + strings.ToLower(run.State) + "; reading its outputs"
			return
		}
		b.Outputs = o.Outputs
		if run.State == goldenpipe.RunPartiallySucceeded {
			b.PartialRun, b.Error = true, run.Message
		}
		b.Rescue = planRescue(b, cfg)
		d.Changed = true
		if len(b.Rescue) > 0 {
			b.moveTo(StateRescuing, "", fmt.Sprintf("run %s; rescuing %d VHD(s)", strings.ToLower(run.State), len(b.Rescue)), now)
			d.Outcome = "rescuing VHDs"
			return
		}
		state := StateSucceeded
		if b.PartialRun {
			state = StatePartiallySucceeded
		}
		finish(d, state, now, run.Message)
		b.FinishedAt = ended(run, now)
		d.Outcome = "build " + string(state)
	case goldenpipe.RunFailed:
		state := StateFailed
		if timedOut(b, run) {
			state = StateTimedOut
		}
		b.LogTail, b.ValidationLogTail = o.LogTail, o.ValidationLogTail
		b.Outputs = o.Outputs // distributed all the same when validation failed with continueDistributeOnFailure, or partly when it failed distributing
		finish(d, state, now, run.Message)
		b.Error, b.FinishedAt = run.Message, ended(run, now)
		d.Outcome = "build " + string(state) + ": " + run.Message
	case goldenpipe.RunCanceled:
		b.Outputs = o.Outputs // a cancel during distribution can leave a version
		if b.State == StateCanceling {
			finish(d, StateTimedOut, now, "canceled after going on past its timeout")
			b.Error = "the run went on past buildTimeoutInMinutes and was canceled"
		} else {
			finish(d, StateCanceled, now, run.Message)
		}
		b.FinishedAt = ended(run, now)
		d.Outcome = "build " + string(b.State)
	default:
		d.Outcome = "run state " + run.State
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
