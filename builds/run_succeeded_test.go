package builds

import (
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

func TestRunSucceeded(t *testing.T) {
	end := t0.Add(-5 * time.Minute)
	vhd := []goldenpipe.RunOutput{{Name: "avd-vhd", ArtifactURI: stagingVHD + "?sig=secret"}}
	runRunSteps(t, runSucceeded, []runCase{
		{name: "a partial run with a VHD: rescued, remembered as partial", b: running(), o: Observation{Outputs: vhd}, run: run(goldenpipe.RunPartiallySucceeded, "", "eastus failed", t0, end),
			want: check{state: StateRescuing, changed: true, errHas: "eastus failed", outHas: "rescuing"},
			also: func(b Build) bool {
				return b.PartialRun && len(b.Rescue) == 1 && b.Rescue[0].State == CopyNew && b.FinishedAt.IsZero()
			}},
		{name: "outputs read, none of them a VHD: finished at the run's end", b: running(), o: Observation{Outputs: []goldenpipe.RunOutput{}}, run: run(goldenpipe.RunSucceeded, "", "", t0, end),
			want: check{state: StateSucceeded, changed: true, outHas: "build succeeded"},
			also: func(b Build) bool { return b.FinishedAt.Equal(end) && len(b.Rescue) == 0 }},
		{name: "no end time reported: finished now", b: running(), o: Observation{Outputs: []goldenpipe.RunOutput{}}, run: run(goldenpipe.RunSucceeded, "", "", t0, time.Time{}), at: time.Minute,
			want: check{state: StateSucceeded, changed: true}, also: func(b Build) bool { return b.FinishedAt.Equal(t0.Add(time.Minute)) }},
		{name: "outputs not read: nothing written", b: running(), run: run(goldenpipe.RunPartiallySucceeded, "", "x", t0, end),
			want: check{state: StateRunning, outHas: "run partiallysucceeded; reading its outputs"}},
	})
}
