package builds

import "time"

// rescueStartFailed is the step after a copy's start failed (whatever the
// class: a refused start, 403 AuthorizationPermissionMismatch on the
// source SAS, may pass once the role assignment lands): the attempt it
// started fails and the next is scheduled, bounded by CopyAttempts. An
// outcome of an older attempt, or of a copy that moved on, changes nothing.
func rescueStartFailed(d *Decision, last Outcome, now time.Time, cfg Config) {
	b := &d.Build
	i := last.Action.Index
	if i >= len(b.Rescue) || b.Rescue[i].State != CopyCopying || b.Rescue[i].Attempts != last.Action.Attempt {
		return
	}
	failAttempt(&b.Rescue[i], "starting the copy failed: "+last.Message, now, cfg)
	d.Changed, d.Outcome = true, b.Rescue[i].Error
}
