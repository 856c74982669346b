package builds

import (
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

func TestRunFailed(t *testing.T) {
	sig := []goldenpipe.RunOutput{{Name: "sig", ArtifactID: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/avd/versions/1.0.9"}}
	runRunSteps(t, runFailed, []runCase{
		{name: "validation failed, distributed all the same: outputs and both tails kept", b: running(),
			o:    Observation{Outputs: sig, LogTail: "build ok", ValidationLogTail: "validation exit 1"},
			run:  run(goldenpipe.RunFailed, "", "validation failed", t0.Add(-10*time.Minute), t0.Add(-time.Minute)),
			want: check{state: StateFailed, changed: true, errHas: "validation failed"},
			also: func(b Build) bool {
				return len(b.Outputs) == 1 && b.LogTail == "build ok" && b.ValidationLogTail == "validation exit 1" && b.FinishedAt.Equal(t0.Add(-time.Minute))
			}},
		{name: "a short run with another message is no timeout", b: running(), run: run(goldenpipe.RunFailed, "", "script exited 2", t0.Add(-58*time.Minute), t0),
			want: check{state: StateFailed, changed: true, errHas: "exited 2", outHas: "build failed: script exited 2"}},
		{name: "as long as the timeout less a minute: timed out", b: running(), run: run(goldenpipe.RunFailed, "", "step failed", t0.Add(-59*time.Minute), t0),
			want: check{state: StateTimedOut, changed: true, errHas: "step failed"}},
	})
}
