package builds

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

// The lifecycle's table tests run on a fixed clock: no sleeps, no I/O.

var t0 = time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC)

var testCfg = Config{ReissueAfter: 30 * time.Second, MaxAttempts: 4, BackoffBase: 10 * time.Second, BackoffMax: time.Minute,
	CreateTimeout: time.Hour, RunGrace: time.Hour, CancelTimeout: time.Hour, KeepFailed: time.Hour, DeleteTimeout: 2 * time.Hour,
	SASTTL: 6 * time.Hour, CopyAttempts: 3, CopyBackoff: time.Minute,
	DestinationURL: func(name string) string { return "https://dst.blob.core.windows.net/vhds/" + name }}

// inState is a build in a state, with every event it reached published.
func inState(state State, mods ...func(*Build)) Build {
	b := Build{ID: "avd-0123456789ab", Template: "avd", AIBName: "gp-avd-0123456789ab-00000000", State: state,
		StagingResourceGroup: "/subscriptions/s/resourceGroups/IT_rg_t_1234",
		RequestedAt:          t0.Add(-time.Hour), Rendered: []byte(`{"properties":{"buildTimeoutInMinutes":60}}`)}
	b.History = []Transition{{State: StateRequested, At: b.RequestedAt}}
	for _, m := range mods {
		m(&b)
	}
	for _, e := range reachedEvents(&b) {
		if !Terminal(state) || e == "requested" || e == "started" {
			b.mark("event:" + e)
		}
	}
	return b
}

func tpl(provisioning string, run *goldenpipe.AIBRun) *goldenpipe.AIBTemplate {
	return &goldenpipe.AIBTemplate{ID: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.VirtualMachineImages/imageTemplates/t",
		ProvisioningState: provisioning, StagingResourceGroup: "/subscriptions/s/resourceGroups/IT_rg_t_1234", Run: run}
}

func outcome(kind ActionKind, code, msg string) *Outcome {
	return &Outcome{Action: Action{Kind: kind}, Code: code, Message: msg}
}

// check is what a table row expects of a decision.
type check struct {
	state    State
	changed  bool
	effects  []ActionKind
	step     ActionKind
	errHas   string // in Build.Error
	lastHas  string // in Build.LastError
	outHas   string // in the Outcome
	attempts int
	requeue  bool // a RequeueAfter > 0
}

func (c check) verify(t *testing.T, d Decision) {
	t.Helper()
	if d.Build.State != c.state {
		t.Errorf("state %s, want %s (%s)", d.Build.State, c.state, d.Outcome)
	}
	if d.Changed != c.changed {
		t.Errorf("changed %v, want %v (%s)", d.Changed, c.changed, d.Outcome)
	}
	var kinds []ActionKind
	for _, a := range d.Effects {
		kinds = append(kinds, a.Kind)
	}
	if len(kinds) != len(c.effects) || len(kinds) > 0 && kinds[0] != c.effects[0] {
		t.Errorf("effects %v, want %v", kinds, c.effects)
	}
	switch {
	case c.step == 0 && d.Step != nil:
		t.Errorf("step %s, want none", d.Step.Kind)
	case c.step != 0 && (d.Step == nil || d.Step.Kind != c.step):
		t.Errorf("step %v, want %s", d.Step, c.step)
	}
	if !strings.Contains(d.Build.Error, c.errHas) || c.errHas == "" && d.Build.Error != "" && !Terminal(c.state) {
		t.Errorf("error %q, want %q", d.Build.Error, c.errHas)
	}
	if !strings.Contains(d.Build.LastError, c.lastHas) {
		t.Errorf("last error %q, want %q", d.Build.LastError, c.lastHas)
	}
	if !strings.Contains(d.Outcome, c.outHas) {
		t.Errorf("outcome %q, want %q", d.Outcome, c.outHas)
	}
	if d.Build.Attempts != c.attempts {
		t.Errorf("attempts %d, want %d", d.Build.Attempts, c.attempts)
	}
	if (d.Result.RequeueAfter > 0) != c.requeue {
		t.Errorf("requeue after %s, want a requeue: %v", d.Result.RequeueAfter, c.requeue)
	}
	if Terminal(d.Build.State) && d.Changed && !Terminal(c.state) {
		t.Errorf("finished unexpectedly")
	}
}

type row struct {
	name string
	b    Build
	o    Observation
	now  time.Time
	want check
}

func runRows(t *testing.T, rows []row) {
	t.Helper()
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			now := r.now
			if now.IsZero() {
				now = t0
			}
			before := r.b.clone()
			d := Decide(r.b, r.o, now, testCfg)
			r.want.verify(t, d)
			if len(r.b.History) != len(before.History) || r.b.State != before.State {
				t.Error("Decide changed its input")
			}
		})
	}
}

func TestBackoffGrowsWithJitterAndIsBounded(t *testing.T) {
	cfg := testCfg.withDefaults()
	prev := time.Duration(0)
	for attempt := 1; attempt <= 8; attempt++ {
		d := backoff(cfg, "b", attempt)
		base := min(cfg.BackoffBase<<(attempt-1), cfg.BackoffMax)
		if d < base*8/10 || d > base*12/10 {
			t.Errorf("attempt %d: %s outside %s ±20%%", attempt, d, base)
		}
		if attempt <= 3 && d <= prev {
			t.Errorf("attempt %d: %s does not grow from %s", attempt, d, prev)
		}
		prev = d
	}
	if backoff(cfg, "a", 1) == backoff(cfg, "b", 1) && backoff(cfg, "c", 1) == backoff(cfg, "d", 1) {
		t.Error("no jitter between builds")
	}
	if backoff(cfg, "a", 2) != backoff(cfg, "a", 2) {
		t.Error("the backoff is not a pure function")
	}
}

func TestDecideUnknownStateFails(t *testing.T) {
	d := Decide(inState("exploded"), Observation{}, t0, testCfg)
	if d.Build.State != StateFailed || !strings.Contains(d.Build.Error, "unknown state") {
		t.Errorf("%+v", d.Build)
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.ReissueAfter != defaultReissueAfter || c.MaxAttempts != 6 || c.SASTTL != 0 || c.CopyAttempts != defaultCopyAttempts {
		t.Errorf("%+v", c)
	}
	if Action(Action{Kind: ActRun}).Kind.String() != "run" || (Action{Kind: ActRun}).Step() != "" {
		t.Error("action names")
	}
}

// Every host code has one class, and the class decides for every phase:
// what Azure refuses fails the build, what is busy or throttled backs off.
func TestFailureClasses(t *testing.T) {
	tests := []struct {
		code     string
		want     Failure
		terminal bool
	}{
		{"", FailNone, false},
		{goldenpipe.EINVALID, FailRefused, true},
		{goldenpipe.EFORBIDDEN, FailRefused, true},
		{goldenpipe.ENOTFOUND, FailMissing, true},
		{goldenpipe.ECONFLICT, FailConflict, false},
		{goldenpipe.EUNAVAILABLE, FailTransient, false},
		{goldenpipe.EINTERNAL, FailTransient, false},
		{"something new", FailTransient, false},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			f := (Outcome{Code: tt.code}).Failure()
			if f != tt.want || f.Terminal() != tt.terminal || terminalCode(tt.code) != tt.terminal {
				t.Errorf("%q: %s (terminal %v), want %s (terminal %v)", tt.code, f, f.Terminal(), tt.want, tt.terminal)
			}
		})
	}
	wrapped := fmt.Errorf("starting the run: %w", goldenpipe.Errorf(goldenpipe.EFORBIDDEN, "AuthorizationFailed"))
	if FailureOf(wrapped) != FailRefused || FailureOf(nil) != FailNone || FailureOf(errors.New("EOF")) != FailTransient {
		t.Error("FailureOf does not classify through the chain")
	}
	if Failure(99).String() != "unknown" || FailConflict.String() != "conflict" {
		t.Error("failure names")
	}
}
