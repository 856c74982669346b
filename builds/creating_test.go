package builds

import (
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

func creating(mods ...func(*Build)) Build {
	return inState(StateCreating, append([]func(*Build){func(b *Build) { b.CreateRequestedAt = t0.Add(-time.Minute) }}, mods...)...)
}

func TestDecideCreating(t *testing.T) {
	refused := "creating image template x failed: ValidationFailed: Unmarshalling entity encountered error: unknown field \"buildTimeout\""
	runRows(t, []row{
		{"created: start the run", creating(), Observation{Template: tpl(goldenpipe.ProvisioningSucceeded, nil)}, t0,
			check{state: StateRunning, changed: true, effects: []ActionKind{ActRun}, outHas: "starting the run"}},
		{"still creating", creating(func(b *Build) { b.AIBID = tpl("", nil).ID }), Observation{Template: tpl(goldenpipe.ProvisioningCreating, nil)}, t0,
			check{state: StateCreating, outHas: "template creating"}},
		{"creating past the deadline", creating(func(b *Build) { b.CreateRequestedAt = t0.Add(-2 * time.Hour) }), Observation{Template: tpl(goldenpipe.ProvisioningCreating, nil)}, t0,
			check{state: StateFailed, changed: true, errHas: "stayed Creating for more than 1h0m0s"}},
		{"creation failed (a script's checksum)", creating(), Observation{Template: &goldenpipe.AIBTemplate{ProvisioningState: goldenpipe.ProvisioningFailed, ProvisioningError: "checksum mismatch"}}, t0,
			check{state: StateFailed, changed: true, errHas: "creating the image template failed: checksum mismatch"}},
		{"create refused by Azure (400): failed at once with its message", creating(), Observation{Last: outcome(ActCreate, goldenpipe.EINVALID, refused)}, t0,
			check{state: StateFailed, changed: true, errHas: "Image Builder refused the template: " + refused}},
		{"create forbidden (403): failed", creating(), Observation{Last: outcome(ActCreate, goldenpipe.EFORBIDDEN, "AuthorizationFailed")}, t0,
			check{state: StateFailed, changed: true, errHas: "AuthorizationFailed"}},
		{"create throttled (429): back off", creating(), Observation{Last: outcome(ActCreate, goldenpipe.EUNAVAILABLE, "TooManyRequests")}, t0,
			check{state: StateCreating, changed: true, lastHas: "TooManyRequests", attempts: 1, requeue: true, outHas: "backing off"}},
		{"create throttled once too often: failed after the bound", creating(func(b *Build) { b.Attempts = 3 }), Observation{Last: outcome(ActCreate, goldenpipe.EUNAVAILABLE, "TooManyRequests")}, t0,
			check{state: StateFailed, changed: true, errHas: "failed 4 times in a row; giving up: TooManyRequests", attempts: 4}},
		{"create answered conflict: it exists, look at it", creating(), Observation{Last: outcome(ActCreate, goldenpipe.ECONFLICT, "exists"), Template: tpl(goldenpipe.ProvisioningCreating, nil)}, t0,
			check{state: StateCreating, changed: true, outHas: "template creating"}},
		{"backing off: hold", creating(func(b *Build) { b.RetryAt, b.Attempts, b.LastError = t0.Add(time.Minute), 1, "x" }), Observation{TemplateMissing: true}, t0,
			check{state: StateCreating, attempts: 1, lastHas: "x", requeue: true, outHas: "backing off"}},
		{"not found yet, just sent", creating(func(b *Build) { b.CreateRequestedAt = t0.Add(-time.Second) }), Observation{TemplateMissing: true}, t0,
			check{state: StateCreating, requeue: true, outHas: "waiting for the template to appear"}},
		{"not found long after it was sent: create again", creating(), Observation{TemplateMissing: true}, t0,
			check{state: StateCreating, changed: true, effects: []ActionKind{ActCreate}, outHas: "creating it again"}},
		{"never sent (a create that backed off): create", creating(func(b *Build) { b.CreateRequestedAt = time.Time{} }), Observation{TemplateMissing: true}, t0,
			check{state: StateCreating, changed: true, effects: []ActionKind{ActCreate}, outHas: "creating image template"}},
		{"reading the template failed (503): back off", creating(), Observation{Failed: &Outcome{Code: goldenpipe.EUNAVAILABLE, Message: "ServiceUnavailable"}}, t0,
			check{state: StateCreating, changed: true, attempts: 1, lastHas: "ServiceUnavailable", requeue: true, outHas: "backing off"}},
		{"reading the template forbidden: failed", creating(), Observation{Failed: &Outcome{Code: goldenpipe.EFORBIDDEN, Message: "AuthorizationFailed"}}, t0,
			check{state: StateFailed, changed: true, errHas: "AuthorizationFailed"}},
	})
}
