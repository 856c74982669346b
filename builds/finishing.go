package builds

import (
	"strings"
	"time"
)

// reachedEvents lists the lifecycle events a build has reached, in order.
func reachedEvents(b *Build) []string {
	evs := []string{"requested"}
	if !b.StartedAt.IsZero() {
		evs = append(evs, "started")
	}
	for _, c := range b.Rescue {
		if c.State == CopyVerified {
			evs = append(evs, "vhd.copied:"+c.RunOutputName)
		}
	}
	switch b.State {
	case StateRescueFailed:
		evs = append(evs, "vhd.rescue_failed", "failed")
	case StateSucceeded, StatePartiallySucceeded:
		evs = append(evs, "succeeded")
	case StateFailed, StateTimedOut:
		evs = append(evs, "failed")
	case StateCanceled, StateSuperseded:
		evs = append(evs, "canceled")
	}
	return evs
}

// pendingEvent is the first event a build has reached but not published.
func pendingEvent(b *Build) *Action {
	for _, e := range reachedEvents(b) {
		if !b.did("event:" + e) {
			return &Action{Kind: ActPublish, Event: e}
		}
	}
	return nil
}

// decideFinished carries out, once each and in order, what follows a
// finished build: recording a success on its template, leaving the
// admission ledger, publishing its events, the recent list, deleting its
// Image Builder template (at once after a success, after KeepFailed after a
// failure, never when a VHD could not be rescued), and last dropping it
// from the builds in flight. A delete Image Builder keeps refusing
// (OperationNotAllowed) is given up after DeleteTimeout, with the template
// left for an operator, so no build stays in flight for ever.
func decideFinished(d *Decision, o Observation, now time.Time, cfg Config) {
	b := &d.Build
	steps := []Action{}
	if b.State == StateSucceeded || b.State == StatePartiallySucceeded {
		steps = append(steps, Action{Kind: ActRecord})
	}
	steps = append(steps, Action{Kind: ActRelease})
	if publishedToGallery(b) {
		// after the slot is released: the gallery's answers (a protected
		// version, a refused delete) never hold a build slot
		steps = append(steps, Action{Kind: ActGallery})
	}
	if e := pendingEvent(b); e != nil {
		steps = append(steps, *e)
	}
	steps = append(steps, Action{Kind: ActIndex})
	for _, st := range steps {
		if !b.did(st.Step()) {
			d.Step, d.Outcome = &st, st.Kind.String()+" "+st.Event
			return
		}
	}
	if !b.did("cleaned") {
		switch b.State {
		case StateSuperseded:
			b.mark("cleaned") // no template was made
			d.Changed = true
		case StateRescueFailed:
			b.mark("cleaned")
			b.History = append(b.History, Transition{State: b.State, At: now, Note: "template " + b.AIBName + " kept: a VHD could not be rescued; delete it by hand once the VHD is safe"})
			d.Changed = true
		default:
			decideCleanup(d, o, now, cfg)
			return
		}
	}
	if b.ManagedStagingGroup != "" && b.did("cleaned") && !b.did("group-deleted") && b.State != StateRescueFailed {
		d.Step, d.Outcome = &Action{Kind: ActDropGroup}, "deleting the staging group "+b.ManagedStagingGroup
		return
	}
	d.Step, d.Outcome = &Action{Kind: ActUnmark}, "finished: "+string(b.State)
	d.Result = Result{Done: true}
}

// publishedToGallery reports a build with an Azure Compute Gallery version
// among its outputs, or, when it did not succeed, one the version policy
// gave it (a cancel or a failure in distribution can leave that version
// behind without an output naming it).
func publishedToGallery(b *Build) bool {
	if len(b.GalleryVersions) > 0 && b.State != StateSucceeded && b.State != StatePartiallySucceeded && b.State != StateSuperseded && !b.StartedAt.IsZero() {
		return true
	}
	for _, o := range b.Outputs {
		id := strings.ToLower(o.ArtifactID)
		if strings.Contains(id, "/providers/microsoft.compute/galleries/") && strings.Contains(id, "/versions/") {
			return true
		}
	}
	return false
}

// cleanupDue reports a finished build whose Image Builder template is to
// be deleted now: every earlier after-step done, and for a failed build
// KeepFailed over. The shell then looks at the template.
func cleanupDue(b *Build, now time.Time, cfg Config) bool {
	if !Terminal(b.State) || b.did("cleaned") || b.State == StateSuperseded || b.State == StateRescueFailed || pendingEvent(b) != nil {
		return false
	}
	for _, st := range []string{"released", "indexed"} {
		if !b.did(st) {
			return false
		}
	}
	if (b.State == StateSucceeded || b.State == StatePartiallySucceeded) && !b.did("recorded") {
		return false
	}
	if b.State == StateSucceeded || b.State == StatePartiallySucceeded {
		return true
	}
	return !now.Before(b.FinishedAt.Add(cfg.withDefaults().KeepFailed))
}

// decideCleanup deletes the template by observation: the delete is an
// effect of the writer that won (one delete, however many instances look),
// and the build is clean once Image Builder no longer has the template.
func decideCleanup(d *Decision, o Observation, now time.Time, cfg Config) {
	b := &d.Build
	if !cleanupDue(b, now, cfg) {
		due := b.FinishedAt.Add(cfg.KeepFailed)
		d.Outcome = "template " + b.AIBName + " kept for debugging until " + due.Format(time.RFC3339)
		d.Result = Result{RequeueAfter: due.Sub(now)}
		return
	}
	if last := o.Last; last != nil && last.Action.Kind == ActCleanup && last.Failure() != FailNone {
		*d = cleanupRefused(*b, *last, now, cfg)
		return
	}
	if o.TemplateMissing {
		b.mark("cleaned")
		b.History = append(b.History, Transition{State: b.State, At: now, Note: "image template " + b.AIBName + " deleted"})
		d.Changed, d.Outcome = true, "image template deleted"
		return
	}
	if o.Template == nil {
		d.Outcome = "looking at the image template before deleting it"
		return
	}
	if waitBeforeReissue(d, b.CleanupRequestedAt, now, cfg, "waiting for the image template to go") {
		return
	}
	b.CleanupRequestedAt = now
	d.Changed, d.Effects, d.Outcome = true, []Action{{Kind: ActCleanup}}, "deleting the image template"
}

// cleanupRefused records that Image Builder refused (or could not yet
// take) the delete of a finished build's template: tried again on later
// ticks, given up after DeleteTimeout with the template left for an
// operator.
func cleanupRefused(b Build, out Outcome, now time.Time, cfg Config) Decision {
	cfg = cfg.withDefaults()
	d := Decision{Build: b.clone(), Changed: true}
	nb := &d.Build
	if nb.DeleteRefusedSince.IsZero() {
		nb.DeleteRefusedSince = now
	}
	// refused (400, 403): Azure answers so again; not found, busy or
	// throttled: a later tick, until DeleteTimeout
	if now.Sub(nb.DeleteRefusedSince) > cfg.DeleteTimeout || out.Failure() == FailRefused {
		nb.mark("cleaned")
		nb.History = append(nb.History, Transition{State: nb.State, At: now,
			Note: "could not delete the image template " + nb.AIBName + " (" + out.Message + "); it is left for an operator"})
		d.Outcome = "cleanup given up: " + out.Message
		return d
	}
	nb.LastError = "deleting the image template: " + out.Message
	d.Outcome = "the image template is busy; deleting it on a later tick"
	d.Result = Result{RequeueAfter: backoff(cfg, nb.ID, 1)}
	return d
}
