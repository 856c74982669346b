package builds

import "time"

// runStart is the step of a template without a run: the run is started,
// and started again when ReissueAfter passed without Image Builder showing
// it (POST …/run answers Conflict while one runs).
func runStart(d *Decision, now time.Time, cfg Config) {
	b := &d.Build
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
}
