package builds

import (
	"strings"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

// decideCreating follows the creation of the build's Image Builder
// template. A PUT Image Builder refuses (400, 403, 404) fails the build at
// once with Azure's message: the same body cannot succeed. Transient
// failures back off, bounded; a template not seen after ReissueAfter is
// created again (the PUT is idempotent: an existing template answers
// Conflict); one that stays Creating past CreateTimeout fails the build.
func decideCreating(d *Decision, o Observation, now time.Time, cfg Config) {
	b := &d.Build
	if last := o.Last; last != nil && last.Action.Kind == ActCreate {
		switch f := last.Failure(); {
		case f == FailNone || f == FailConflict: // created, or it exists: look at it
		case f.Terminal():
			fail(d, now, "Image Builder refused the template: "+last.Message)
			return
		default:
			b.CreateRequestedAt = time.Time{}
			retry(d, now, cfg, "creating the image template", last.Message)
			return
		}
	}
	if readFailed(d, o, now, cfg) || waitingForRetry(d, now) {
		return
	}
	if o.TemplateMissing || o.Template == nil {
		if waitBeforeReissue(d, b.CreateRequestedAt, now, cfg, "waiting for the template to appear") {
			return
		}
		note := "template not found; creating it again"
		if b.CreateRequestedAt.IsZero() {
			note = "creating image template " + b.AIBName
		}
		b.CreateRequestedAt = now
		b.History = append(b.History, Transition{State: b.State, At: now, Note: note})
		d.Changed, d.Effects, d.Outcome = true, []Action{{Kind: ActCreate}}, note
		return
	}
	t := o.Template
	if t.ID != "" && b.AIBID != t.ID {
		b.AIBID, d.Changed = t.ID, true
	}
	switch t.ProvisioningState {
	case goldenpipe.ProvisioningSucceeded:
		progressed(b)
		b.moveTo(StateRunning, "", "template created; starting the run", now)
		b.RunRequestedAt = now
		d.Changed, d.Effects, d.Outcome = true, []Action{{Kind: ActRun}}, "starting the run"
	case goldenpipe.ProvisioningFailed, goldenpipe.ProvisioningCanceled:
		fail(d, now, "creating the image template failed: "+t.ProvisioningError)
	default:
		if !b.CreateRequestedAt.IsZero() && now.Sub(b.CreateRequestedAt) > cfg.CreateTimeout {
			fail(d, now, "the image template stayed "+t.ProvisioningState+" for more than "+cfg.CreateTimeout.String()+"; it is kept for KEEP_FAILED_HOURS, then deleted")
			return
		}
		d.Outcome = "template " + strings.ToLower(t.ProvisioningState)
	}
}

// applyVersionPlan records the version policy's plan on a build about to
// be sent (once): the body sent, and sent again, publishes the versions
// recorded here. False when the gallery could not be read: the build is
// not sent this time.
func applyVersionPlan(d *Decision, o Observation, now time.Time) bool {
	b := &d.Build
	if b.VersionsPlanned {
		return true
	}
	if o.VersionsFailed != nil {
		d.Outcome = "reading the gallery's versions for the version policy failed (" + o.VersionsFailed.Message + "); not sent until they can be read"
		return false
	}
	if p := o.Versions; p != nil && p.Note != "" {
		b.VersionsPlanned = true
		b.History = append(b.History, Transition{State: b.State, At: now, Note: p.Note})
	} else if p != nil {
		b.VersionsPlanned, b.Rendered, b.GalleryVersions = true, p.Rendered, p.Assigned
		for _, a := range p.Assigned {
			b.History = append(b.History, Transition{State: b.State, At: now,
				Note: "gallery version " + a.Version + " of " + a.Image[strings.LastIndex(a.Image, "/")+1:] + ": " + a.Why})
		}
	}
	return true
}
