package builds

import (
	"fmt"
	"strings"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

// runSucceeded is the step of a run Succeeded or PartiallySucceeded: once
// its outputs are read, the VHDs among them are rescued (StateRescuing);
// a run with none ends the build.
func runSucceeded(d *Decision, o Observation, run *goldenpipe.AIBRun, now time.Time, cfg Config) {
	b := &d.Build
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
}
