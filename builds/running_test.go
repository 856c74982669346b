package builds

import (
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

func running(mods ...func(*Build)) Build {
	return inState(StateRunning, append([]func(*Build){func(b *Build) { b.RunRequestedAt = t0.Add(-time.Minute) }}, mods...)...)
}

func run(state, sub, msg string, start, end time.Time) *goldenpipe.AIBRun {
	return &goldenpipe.AIBRun{State: state, SubState: sub, Message: msg, StartTime: start, EndTime: end}
}

func TestDecideRunning(t *testing.T) {
	started := func(b *Build) { b.StartedAt = t0.Add(-10 * time.Minute) }
	vhd := []goldenpipe.RunOutput{{Name: "avd-vhd", ArtifactURI: "https://staging.blob.core.windows.net/vhds/x.vhd"}}
	gallery := []goldenpipe.RunOutput{{Name: "sig", ArtifactID: "/subscriptions/s/…/versions/1.0.0"}}
	runRows(t, []row{
		{"started: the sub-state and start time recorded", running(), Observation{Template: tpl(goldenpipe.ProvisioningSucceeded, run(goldenpipe.RunRunning, "Building", "", t0.Add(-time.Minute), time.Time{}))}, t0,
			check{state: StateRunning, changed: true, outHas: "running: Building"}},
		{"unchanged: nothing to write", running(started, func(b *Build) { b.SubState = "Customizing" }),
			Observation{Template: tpl(goldenpipe.ProvisioningSucceeded, run(goldenpipe.RunRunning, "Customizing", "", t0.Add(-10*time.Minute), time.Time{}))}, t0,
			check{state: StateRunning, outHas: "running: Customizing"}},
		{"Optimizing is a sub-state like the others", running(started), Observation{Template: tpl(goldenpipe.ProvisioningSucceeded, run(goldenpipe.RunRunning, "Optimizing", "", t0.Add(-10*time.Minute), time.Time{}))}, t0,
			check{state: StateRunning, changed: true, outHas: "running: Optimizing"}},
		{"a run far past its timeout is canceled", running(func(b *Build) { b.StartedAt = t0.Add(-3 * time.Hour) }), Observation{Template: tpl(goldenpipe.ProvisioningSucceeded, run(goldenpipe.RunRunning, "Customizing", "", t0.Add(-3*time.Hour), time.Time{}))}, t0,
			check{state: StateCanceling, changed: true, effects: []ActionKind{ActCancel}, outHas: "canceling an overlong run"}},
		{"a cancel that does not end fails the build", inState(StateCanceling, started, func(b *Build) { b.CancelRequestedAt = t0.Add(-2 * time.Hour); b.SubState = "Canceling" }),
			Observation{Template: tpl(goldenpipe.ProvisioningSucceeded, run(goldenpipe.RunCanceling, "", "", t0.Add(-4*time.Hour), time.Time{}))}, t0,
			check{state: StateFailed, changed: true, errHas: "did not stop within 1h0m0s"}},
		{"our cancel ended: timed out", inState(StateCanceling, started, func(b *Build) { b.CancelRequestedAt = t0.Add(-time.Minute) }),
			Observation{Template: tpl(goldenpipe.ProvisioningSucceeded, run(goldenpipe.RunCanceled, "", "canceled", t0.Add(-4*time.Hour), t0))}, t0,
			check{state: StateTimedOut, changed: true, errHas: "was canceled"}},
		{"someone else canceled it", running(started), Observation{Template: tpl(goldenpipe.ProvisioningSucceeded, run(goldenpipe.RunCanceled, "", "canceled by the user", t0.Add(-time.Hour), t0))}, t0,
			check{state: StateCanceled, changed: true}},
		{"succeeded with a VHD: rescue it", running(started), Observation{Template: tpl(goldenpipe.ProvisioningSucceeded, run(goldenpipe.RunSucceeded, "", "", t0.Add(-time.Hour), t0)), Outputs: vhd}, t0,
			check{state: StateRescuing, changed: true, outHas: "rescuing VHDs"}},
		{"succeeded to a gallery: done", running(started), Observation{Template: tpl(goldenpipe.ProvisioningSucceeded, run(goldenpipe.RunSucceeded, "", "", t0.Add(-time.Hour), t0)), Outputs: gallery}, t0,
			check{state: StateSucceeded, changed: true}},
		{"partially succeeded", running(started), Observation{Template: tpl(goldenpipe.ProvisioningSucceeded, run(goldenpipe.RunPartiallySucceeded, "", "replication to eastus failed", t0.Add(-time.Hour), t0)), Outputs: gallery}, t0,
			check{state: StatePartiallySucceeded, changed: true, errHas: "replication"}},
		{"succeeded, outputs not read yet", running(started), Observation{Template: tpl(goldenpipe.ProvisioningSucceeded, run(goldenpipe.RunSucceeded, "", "", t0.Add(-time.Hour), t0))}, t0,
			check{state: StateRunning, outHas: "reading its outputs"}},
		{"failed: the log tail kept", running(started), Observation{Template: tpl(goldenpipe.ProvisioningSucceeded, run(goldenpipe.RunFailed, "", "customizer exited 1", t0.Add(-30*time.Minute), t0)), LogTail: "…exit 1"}, t0,
			check{state: StateFailed, changed: true, errHas: "exited 1"}},
		{"failed at buildTimeoutInMinutes: timed out", running(started), Observation{Template: tpl(goldenpipe.ProvisioningSucceeded, run(goldenpipe.RunFailed, "", "[ERROR] Failed while waiting for packerizer: Timeout waiting for microservice to complete: 'context deadline exceeded'", t0.Add(-time.Hour), t0))}, t0,
			check{state: StateTimedOut, changed: true, errHas: "context deadline exceeded"}},
		{"failed after as long as its timeout: timed out", running(started), Observation{Template: tpl(goldenpipe.ProvisioningSucceeded, run(goldenpipe.RunFailed, "", "build step failed", t0.Add(-time.Hour), t0))}, t0,
			check{state: StateTimedOut, changed: true, errHas: "build step failed"}},
		{"no run seen yet, just started", running(func(b *Build) { b.RunRequestedAt = t0.Add(-time.Second) }), Observation{Template: tpl(goldenpipe.ProvisioningSucceeded, nil)}, t0,
			check{state: StateRunning, requeue: true, outHas: "waiting for the run to start"}},
		{"no run seen long after: run again", running(), Observation{Template: tpl(goldenpipe.ProvisioningSucceeded, nil)}, t0,
			check{state: StateRunning, changed: true, effects: []ActionKind{ActRun}, outHas: "starting it again"}},
		{"run refused with 403: failed with Azure's message", running(), Observation{Last: outcome(ActRun, goldenpipe.EFORBIDDEN, "starting a run of image template x failed: AuthorizationFailed: the identity lacks Microsoft.VirtualMachineImages/imageTemplates/run/action")}, t0,
			check{state: StateFailed, changed: true, errHas: "Image Builder refused starting the run: starting a run of image template x failed: AuthorizationFailed"}},
		{"run throttled: back off", running(), Observation{Last: outcome(ActRun, goldenpipe.EUNAVAILABLE, "TooManyRequests")}, t0,
			check{state: StateRunning, changed: true, attempts: 1, lastHas: "starting the run: TooManyRequests", requeue: true, outHas: "backing off"}},
		{"run answered conflict: already running", running(started), Observation{Last: outcome(ActRun, goldenpipe.ECONFLICT, "running"), Template: tpl(goldenpipe.ProvisioningSucceeded, run(goldenpipe.RunRunning, "Queued", "", t0, time.Time{}))}, t0,
			check{state: StateRunning, changed: true, outHas: "running: Queued"}},
		{"cancel throttled: back off", inState(StateCanceling, started, func(b *Build) { b.CancelRequestedAt = t0 }), Observation{Last: outcome(ActCancel, goldenpipe.EUNAVAILABLE, "TooManyRequests")}, t0,
			check{state: StateCanceling, changed: true, attempts: 1, lastHas: "canceling the run", requeue: true, outHas: "backing off"}},
		{"the template vanished mid-run", running(started), Observation{TemplateMissing: true}, t0,
			check{state: StateFailed, changed: true, errHas: "disappeared while the build ran"}},
		{"reading it failed: back off", running(started), Observation{Failed: &Outcome{Code: goldenpipe.EUNAVAILABLE, Message: "GatewayTimeout"}}, t0,
			check{state: StateRunning, changed: true, attempts: 1, lastHas: "GatewayTimeout", requeue: true, outHas: "backing off"}},
		{"reading it forbidden: failed", running(started), Observation{Failed: &Outcome{Code: goldenpipe.EFORBIDDEN, Message: "AuthorizationFailed"}}, t0,
			check{state: StateFailed, changed: true, errHas: "AuthorizationFailed"}},
		{"progress after transient failures resets the count", running(started, func(b *Build) { b.Attempts, b.LastError, b.SubState = 2, "x", "Building" }),
			Observation{Template: tpl(goldenpipe.ProvisioningSucceeded, run(goldenpipe.RunRunning, "Building", "", t0.Add(-10*time.Minute), time.Time{}))}, t0,
			check{state: StateRunning, changed: true, outHas: "running: Building"}},
		{"an unknown run state waits", running(started), Observation{Template: tpl(goldenpipe.ProvisioningSucceeded, run("Paused", "", "", t0, time.Time{}))}, t0,
			check{state: StateRunning, outHas: "run state Paused"}},
	})
}

func TestBuildTimeoutOfTheRenderedTemplate(t *testing.T) {
	if buildTimeout([]byte(`{"properties":{"buildTimeoutInMinutes":90}}`)) != 90*time.Minute || buildTimeout([]byte(`{}`)) != 4*time.Hour {
		t.Error("buildTimeout")
	}
}

// runCase is a row of a run step's table test: the build, what was
// observed besides the run, the run, when, and what the decision holds.
type runCase struct {
	name string
	b    Build
	o    Observation
	run  *goldenpipe.AIBRun
	at   time.Duration // after t0
	want check
	also func(Build) bool // a further check of the record (nil: none)
}

// runRunSteps runs a run step on each row with the test configuration.
func runRunSteps(t *testing.T, step runStep, cases []runCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := Decision{Build: tc.b.clone()}
			step(&d, tc.o, tc.run, t0.Add(tc.at), testCfg.withDefaults())
			tc.want.verify(t, d)
			if tc.also != nil && !tc.also(d.Build) {
				t.Errorf("record after the step: %+v", d.Build)
			}
		})
	}
}

// Every run state Image Builder documents (lastRunStatus.runState) has a
// step; the dispatcher sends a state it does not know to none.
func TestRunStepsCoverEveryRunState(t *testing.T) {
	for _, s := range []string{goldenpipe.RunRunning, goldenpipe.RunCanceling, goldenpipe.RunSucceeded, goldenpipe.RunPartiallySucceeded, goldenpipe.RunFailed, goldenpipe.RunCanceled} {
		if runSteps[s] == nil {
			t.Errorf("no step for run state %s", s)
		}
	}
	if len(runSteps) != 6 {
		t.Errorf("%d run steps", len(runSteps))
	}
}
