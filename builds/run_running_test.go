package builds

import (
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

func TestRunGoingOn(t *testing.T) {
	long := func(b *Build) { b.StartedAt = t0.Add(-3 * time.Hour) }
	canceling := inState(StateCanceling, long, func(b *Build) { b.CancelRequestedAt, b.SubState = t0.Add(-30*time.Minute), "Canceling" })
	runRunSteps(t, runGoingOn, []runCase{
		{name: "a new sub-state goes into the history", b: running(func(b *Build) { b.SubState = "Queued" }), run: run(goldenpipe.RunRunning, "Distributing", "", t0, time.Time{}),
			want: check{state: StateRunning, changed: true, outHas: "running: Distributing"},
			also: func(b Build) bool { return b.SubState == "Distributing" && len(b.History) == 2 }},
		{name: "an overlong run whose start was never seen is not canceled", b: running(), run: run(goldenpipe.RunRunning, "", "", time.Time{}, time.Time{}), at: 10 * time.Hour,
			want: check{state: StateRunning, outHas: "running: "}},
		{name: "canceling within CancelTimeout: wait", b: canceling, run: run(goldenpipe.RunCanceling, "Customizing", "", t0, time.Time{}),
			want: check{state: StateCanceling, outHas: "running: Canceling"}},
		{name: "Image Builder canceling a run the build did not cancel: followed, not failed", b: running(long, func(b *Build) { b.Rendered = []byte(`{"properties":{"buildTimeoutInMinutes":600}}`) }),
			run:  run(goldenpipe.RunCanceling, "", "", t0, time.Time{}),
			want: check{state: StateRunning, changed: true, outHas: "Canceling"}},
		{name: "the cancel is recorded when it is asked for", b: running(long), run: run(goldenpipe.RunRunning, "Customizing", "", t0, time.Time{}),
			want: check{state: StateCanceling, changed: true, effects: []ActionKind{ActCancel}},
			also: func(b Build) bool { return b.CancelRequestedAt.Equal(t0) }},
	})
}
