package builds

import (
	"testing"

	"github.com/goldenpipe/goldenpipe"
)

func TestRunActionFailed(t *testing.T) {
	tests := []struct {
		name    string
		last    *Outcome
		decided bool
		want    State
		errHas  string
		rerun   bool // RunRequestedAt cleared: the run is started again
	}{
		{"the run answered conflict: already running, look at it", outcome(ActRun, goldenpipe.ECONFLICT, "running"), false, StateRunning, "", false},
		{"the run answered: no failure", outcome(ActRun, "", ""), false, StateRunning, "", false},
		{"the template went before the run (404): failed", outcome(ActRun, goldenpipe.ENOTFOUND, "ResourceNotFound"), true, StateFailed, "refused starting the run: ResourceNotFound", false},
		{"a cancel refused (400): failed, saying it was the cancel", outcome(ActCancel, goldenpipe.EINVALID, "BadRequest"), true, StateFailed, "refused canceling the run: BadRequest", false},
		{"a run that failed unexpectedly: backs off, started again after", outcome(ActRun, goldenpipe.EINTERNAL, "EOF"), true, StateRunning, "", true},
		{"a cancel throttled: backs off, the run's request kept", outcome(ActCancel, goldenpipe.EUNAVAILABLE, "TooManyRequests"), true, StateRunning, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := running()
			d := Decision{Build: b.clone()}
			got := runActionFailed(&d, *tt.last, t0, testCfg.withDefaults())
			nb := d.Build
			if got != tt.decided || nb.State != tt.want || tt.errHas != "" && nb.Error != "Image Builder "+tt.errHas {
				t.Errorf("decided %v, %s %q", got, nb.State, nb.Error)
			}
			if nb.RunRequestedAt.IsZero() != tt.rerun || tt.decided && tt.want == StateRunning && (nb.Attempts != 1 || d.Result.RequeueAfter <= 0) {
				t.Errorf("run requested at %s, attempts %d, requeue %s", nb.RunRequestedAt, nb.Attempts, d.Result.RequeueAfter)
			}
		})
	}
}
