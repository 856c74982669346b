package builds

import "time"

// runActionFailed is the step after starting or canceling the run failed:
// refused (400, 403, 404) fails the build with Azure's message; a conflict
// (already running) is no failure: the run is looked at; anything else
// backs off, bounded, and a run that did not start is started again. It
// reports whether it decided.
func runActionFailed(d *Decision, last Outcome, now time.Time, cfg Config) bool {
	f := last.Failure()
	if f == FailNone || f == FailConflict {
		return false
	}
	what := "starting the run"
	if last.Action.Kind == ActCancel {
		what = "canceling the run"
	}
	if f.Terminal() {
		fail(d, now, "Image Builder refused "+what+": "+last.Message)
		return true
	}
	if last.Action.Kind == ActRun {
		d.Build.RunRequestedAt = time.Time{}
	}
	retry(d, now, cfg, what, last.Message)
	return true
}
