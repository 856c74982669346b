package builds

import (
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

func TestRunStart(t *testing.T) {
	never := running(func(b *Build) { b.RunRequestedAt = time.Time{} })
	runRunSteps(t, func(d *Decision, _ Observation, _ *goldenpipe.AIBRun, now time.Time, cfg Config) {
		runStart(d, now, cfg)
	}, []runCase{
		{name: "never asked for: started, the request time recorded", b: never,
			want: check{state: StateRunning, changed: true, effects: []ActionKind{ActRun}, outHas: "starting the run"},
			also: func(b Build) bool {
				return b.RunRequestedAt.Equal(t0) && b.History[len(b.History)-1].Note == "starting the run"
			}},
		{name: "asked for 10 s ago: looked at again in 20 s", b: running(func(b *Build) { b.RunRequestedAt = t0.Add(-10 * time.Second) }),
			want: check{state: StateRunning, requeue: true, outHas: "waiting for the run to start"}},
		{name: "asked for exactly ReissueAfter ago: asked again", b: running(func(b *Build) { b.RunRequestedAt = t0.Add(-30 * time.Second) }),
			want: check{state: StateRunning, changed: true, effects: []ActionKind{ActRun}, outHas: "starting it again"}},
	})
}
