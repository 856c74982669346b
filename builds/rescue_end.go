package builds

import (
	"strings"
	"time"
)

// rescueEnd is the step once no copy decided: the build waits while a copy
// is not final; then it succeeded (partially, after a partial run) when
// every VHD is safe, or rescue-failed, with its template kept, when one
// was given up.
func rescueEnd(d *Decision, now time.Time) {
	b := &d.Build
	if !allFinal(b.Rescue) {
		d.Outcome = "rescuing"
		return
	}
	var failed []string
	for _, c := range b.Rescue {
		if c.State == CopyGaveUp {
			failed = append(failed, c.RunOutputName+": "+c.Error)
		}
	}
	if len(failed) > 0 {
		reason := "VHD rescue failed (the Image Builder template is kept): " + strings.Join(failed, "; ")
		finish(d, StateRescueFailed, now, reason)
		b.Error, d.Outcome = reason, reason
		return
	}
	state := StateSucceeded
	if b.PartialRun {
		state = StatePartiallySucceeded
	}
	finish(d, state, now, "outputs safe")
	d.Outcome = "build " + string(state) + "; outputs safe"
}
