package builds

import (
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

func TestRunCanceled(t *testing.T) {
	runRunSteps(t, runCanceled, []runCase{
		{name: "canceled by the build for its timeout: timed out, outputs kept", b: inState(StateCanceling), o: Observation{Outputs: withGallery(Build{}).Outputs}, run: run(goldenpipe.RunCanceled, "", "", t0, t0.Add(-time.Second)),
			want: check{state: StateTimedOut, changed: true, errHas: "past buildTimeoutInMinutes", outHas: "build timed"},
			also: func(b Build) bool { return len(b.Outputs) == 1 && b.FinishedAt.Equal(t0.Add(-time.Second)) }},
		{name: "canceled by someone else: Image Builder's words in the history", b: running(), run: run(goldenpipe.RunCanceled, "", "canceled by ops", t0, time.Time{}),
			want: check{state: StateCanceled, changed: true, outHas: "build canceled"},
			also: func(b Build) bool {
				return b.History[len(b.History)-1].Note == "canceled by ops" && b.FinishedAt.Equal(t0)
			}},
	})
}
