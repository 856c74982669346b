package builds

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

const stagingVHD = "https://staging.blob.core.windows.net/vhds/x.vhd"

func rescuing(c VHDCopy, mods ...func(*Build)) Build {
	c.RunOutputName, c.Source = "avd-vhd", stagingVHD
	if c.Destination == "" && c.State != CopyCheck {
		c.Destination = "https://dst.blob.core.windows.net/vhds/avd/avd-0123456789ab/avd-vhd.vhd"
	}
	return inState(StateRescuing, append([]func(*Build){func(b *Build) {
		b.StartedAt = t0.Add(-2 * time.Hour)
		b.Rescue = []VHDCopy{c}
	}}, mods...)...)
}

func dest(status string, attempt int, copied int64, mods ...func(*goldenpipe.CopyState)) goldenpipe.CopyState {
	d := goldenpipe.CopyState{Exists: true, Status: status, ID: "copy-1", Copied: copied, Total: 1 << 30, Length: 1 << 30,
		Metadata: map[string]string{metaPrefix + "build": "avd-0123456789ab", metaPrefix + "attempt": strconv.Itoa(attempt), metaPrefix + "source_etag": "e1"}}
	for _, m := range mods {
		m(&d)
	}
	return d
}

var src = goldenpipe.BlobVersion{ETag: "e1", Size: 1 << 30}

func copies(ob CopyObservation) Observation {
	return Observation{Copies: map[int]CopyObservation{0: ob}}
}

func TestDecideRescuing(t *testing.T) {
	copying := VHDCopy{State: CopyCopying, Attempts: 1, CopyID: "copy-1", StartedAt: t0.Add(-time.Hour), ProgressAt: t0.Add(-time.Minute), Copied: 100, SASExpiry: t0.Add(5 * time.Hour), SourceETag: "e1", SourceLength: 1 << 30}
	runRows(t, []row{
		{"a new copy starts", rescuing(VHDCopy{State: CopyNew}), copies(CopyObservation{Source: src}), t0,
			check{state: StateRescuing, changed: true, effects: []ActionKind{ActStartCopy}, outHas: "copying avd-vhd (attempt 1)"}},
		{"the staging VHD is gone before the copy", rescuing(VHDCopy{State: CopyNew}), copies(CopyObservation{SourceMissing: true}), t0,
			check{state: StateRescuing, changed: true, outHas: "the staging VHD is gone"}},
		{"already copied by another instance: verified", rescuing(VHDCopy{State: CopyNew}), copies(CopyObservation{Dest: dest(goldenpipe.CopySuccess, 1, 1<<30), Source: src}), t0,
			check{state: StateRescuing, changed: true, outHas: "verified"}},
		{"a copy started but not recorded: adopted", rescuing(VHDCopy{State: CopyWaiting, Attempts: 1, NextAttemptAt: t0.Add(time.Hour)}), copies(CopyObservation{Dest: dest(goldenpipe.CopyPending, 1, 10), Source: src}), t0,
			check{state: StateRescuing, changed: true, outHas: "adopted"}},
		{"waiting for the next attempt", rescuing(VHDCopy{State: CopyWaiting, Attempts: 1, NextAttemptAt: t0.Add(time.Hour)}), copies(CopyObservation{Source: src}), t0,
			check{state: StateRescuing, outHas: "rescuing"}},
		{"attempts spent: given up", rescuing(VHDCopy{State: CopyWaiting, Attempts: 3, NextAttemptAt: t0.Add(-time.Minute)}), copies(CopyObservation{Source: src}), t0,
			check{state: StateRescuing, changed: true, outHas: "gave up after 3 attempts"}},
		{"pending and moving: progress recorded", rescuing(copying), copies(CopyObservation{Dest: dest(goldenpipe.CopyPending, 1, 500), Source: src}), t0,
			check{state: StateRescuing, changed: true, outHas: "500 of"}},
		{"pending past its SAS expiry but still moving: never aborted", rescuing(copying, func(b *Build) { b.Rescue[0].SASExpiry = t0.Add(-24 * time.Hour) }),
			copies(CopyObservation{Dest: dest(goldenpipe.CopyPending, 1, 900), Source: src}), t0.Add(30 * time.Hour),
			check{state: StateRescuing, changed: true, outHas: "900 of"}},
		{"pending, no progress, SAS valid: wait", rescuing(copying), copies(CopyObservation{Dest: dest(goldenpipe.CopyPending, 1, 100), Source: src}), t0,
			check{state: StateRescuing, outHas: "rescuing"}},
		{"stopped moving after its SAS expired: aborted and restarted", rescuing(copying, func(b *Build) {
			b.Rescue[0].SASExpiry = t0.Add(-time.Hour)
			b.Rescue[0].ProgressAt = t0.Add(-2 * time.Hour)
		}),
			copies(CopyObservation{Dest: dest(goldenpipe.CopyPending, 1, 100), Source: src}), t0,
			check{state: StateRescuing, changed: true, effects: []ActionKind{ActAbortCopy}, outHas: "stopped making progress"}},
		{"done and verified", rescuing(copying), copies(CopyObservation{Dest: dest(goldenpipe.CopySuccess, 1, 1<<30), Source: src}), t0,
			check{state: StateRescuing, changed: true, outHas: "copied and verified"}},
		{"done but the source changed: another attempt", rescuing(copying), copies(CopyObservation{Dest: dest(goldenpipe.CopySuccess, 1, 1<<30), Source: goldenpipe.BlobVersion{ETag: "e2", Size: 1 << 30}}), t0,
			check{state: StateRescuing, changed: true, outHas: "the source changed"}},
		{"done but short: another attempt", rescuing(copying), copies(CopyObservation{Dest: dest(goldenpipe.CopySuccess, 1, 1<<30, func(d *goldenpipe.CopyState) { d.Length = 10 }), Source: src}), t0,
			check{state: StateRescuing, changed: true, outHas: "length 10 differs"}},
		{"the copy failed: another attempt", rescuing(copying), copies(CopyObservation{Dest: dest(goldenpipe.CopyFailed, 1, 0, func(d *goldenpipe.CopyState) { d.Description = "500 InternalError" }), Source: src}), t0,
			check{state: StateRescuing, changed: true, outHas: "the copy failed: 500 InternalError"}},
		{"the copy never started: another attempt", rescuing(copying), copies(CopyObservation{Source: src}), t0,
			check{state: StateRescuing, changed: true, outHas: "the copy did not start"}},
		{"the start may still be on its way", rescuing(copying, func(b *Build) { b.Rescue[0].StartedAt = t0.Add(-time.Second) }), copies(CopyObservation{Source: src}), t0,
			check{state: StateRescuing, outHas: "rescuing"}},
		{"starting the copy failed: another attempt later", rescuing(copying), Observation{Last: &Outcome{Action: Action{Kind: ActStartCopy, Index: 0, Attempt: 1}, Code: goldenpipe.EFORBIDDEN, Message: "AuthorizationPermissionMismatch"}}, t0,
			check{state: StateRescuing, changed: true, outHas: "AuthorizationPermissionMismatch"}},
		{"the VHD at the distributor's own uri", rescuing(VHDCopy{State: CopyCheck}), copies(CopyObservation{Source: src}), t0,
			check{state: StateRescuing, changed: true, outHas: "is at its uri"}},
		{"nothing at the distributor's own uri", rescuing(VHDCopy{State: CopyCheck}), copies(CopyObservation{SourceMissing: true}), t0,
			check{state: StateRescuing, changed: true, outHas: "holds no VHD"}},
		{"every copy verified: succeeded", rescuing(VHDCopy{State: CopyVerified}), Observation{}, t0,
			check{state: StateSucceeded, changed: true, outHas: "outputs safe"}},
		{"a partial run, copies verified: partially succeeded", rescuing(VHDCopy{State: CopyVerified}, func(b *Build) { b.PartialRun = true }), Observation{}, t0,
			check{state: StatePartiallySucceeded, changed: true, outHas: "outputs safe"}},
		{"a copy given up: rescue failed, template kept", rescuing(VHDCopy{State: CopyGaveUp, Error: "x"}), Observation{}, t0,
			check{state: StateRescueFailed, changed: true, errHas: "VHD rescue failed (the Image Builder template is kept)"}},
	})
	t.Run("no destination configured", func(t *testing.T) {
		cfg := testCfg
		cfg.DestinationURL = nil
		d := Decide(rescuing(VHDCopy{State: CopyNew}), copies(CopyObservation{Source: src}), t0, cfg)
		if d.Build.Rescue[0].State != CopyGaveUp {
			t.Errorf("%+v", d.Build.Rescue[0])
		}
	})
}

func TestPlanRescue(t *testing.T) {
	b := inState(StateRunning, func(b *Build) {
		b.Rendered = []byte(`{"properties":{"distribute":[{"type":"VHD","runOutputName":"own","uri":"https://mine.blob.core.windows.net/vhds/own.vhd"},{"type":"VHD","runOutputName":"staged"}]}}`)
		b.Outputs = []goldenpipe.RunOutput{{Name: "own", ArtifactURI: "https://mine.blob.core.windows.net/vhds/own.vhd"},
			{Name: "staged", ArtifactURI: stagingVHD + "?sv=1&sig=secret"}, {Name: "sig", ArtifactID: "/x"}}
	})
	plan := planRescue(&b, testCfg)
	if len(plan) != 2 || plan[0].State != CopyCheck || plan[1].State != CopyNew || !strings.HasPrefix(plan[1].Source, stagingVHD) || strings.Contains(plan[1].Source, "secret") ||
		plan[1].Destination != "https://dst.blob.core.windows.net/vhds/avd/avd-0123456789ab/staged.vhd" {
		t.Errorf("%+v", plan)
	}
}

// The source SAS is as short as the copy allows: sized to the VHD at a
// conservative speed, at least 6 h, doubled for each new attempt, never
// past the 7 days a user delegation key lasts.
func TestSASLifetimeFitsTheCopy(t *testing.T) {
	var cfg Config
	tests := []struct {
		size    int64
		attempt int
		want    time.Duration
	}{
		{64 << 20, 1, 6 * time.Hour},
		{1 << 40, 1, 2 * time.Duration((1<<40)/copyRateFloor) * time.Second}, // 1 TiB: about 11.7 h
		{1 << 40, 2, 4 * time.Duration((1<<40)/copyRateFloor) * time.Second},
		{64 << 20, 9, maxSASTTL},
		{64 << 40, 1, maxSASTTL},
	}
	for _, tt := range tests {
		if got := sasTTL(cfg, tt.size, tt.attempt); got != tt.want {
			t.Errorf("size %d attempt %d: %s, want %s", tt.size, tt.attempt, got, tt.want)
		}
	}
}

// copyCase is a row of a copy step's table test: the copy, what storage
// reports of it, when, and what the step makes of it.
type copyCase struct {
	name    string
	c       VHDCopy
	ob      CopyObservation
	at      time.Duration // after t0
	decided bool
	state   CopyState
	outHas  string
	effect  ActionKind         // 0: none
	also    func(VHDCopy) bool // a further check of the copy after the step (nil: none)
}

// runCopySteps runs a copy step on each row's copy, the first of a
// rescuing build, with the test configuration.
func runCopySteps(t *testing.T, step func(copyLook) bool, cases []copyCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := Decision{Build: rescuing(tc.c)}
			l := copyLook{d: &d, c: &d.Build.Rescue[0], ob: tc.ob, now: t0.Add(tc.at), cfg: testCfg.withDefaults()}
			got, c := step(l), d.Build.Rescue[0]
			if got != tc.decided || got && !d.Changed {
				t.Errorf("decided %v (changed %v), want %v", got, d.Changed, tc.decided)
			}
			if c.State != tc.state || !strings.Contains(d.Outcome, tc.outHas) {
				t.Errorf("copy %s, outcome %q; want %s, %q", c.State, d.Outcome, tc.state, tc.outHas)
			}
			if n := len(d.Effects); tc.effect == 0 && n > 0 || tc.effect != 0 && (n != 1 || d.Effects[0].Kind != tc.effect || d.Effects[0].Index != 0) {
				t.Errorf("effects %+v, want %s", d.Effects, tc.effect)
			}
			if tc.also != nil && !tc.also(c) {
				t.Errorf("copy after the step: %+v", c)
			}
		})
	}
}

// A copy's state picks its step; a VHD at the distributor's uri is checked
// even without a destination, and a final copy has no step.
func TestRescueStepDispatch(t *testing.T) {
	noDest := testCfg.withDefaults()
	noDest.DestinationURL = nil
	tests := []struct {
		state   CopyState
		cfg     Config
		decided bool
		want    CopyState
	}{
		{CopyCheck, noDest, true, CopyDelivered},
		{CopyNew, noDest, true, CopyGaveUp},
		{CopyCopying, noDest, true, CopyGaveUp},
		{CopyNew, testCfg, true, CopyCopying},
		{CopyVerified, testCfg, false, CopyVerified},
		{CopyState("unknown"), testCfg, false, CopyState("unknown")},
	}
	for _, tt := range tests {
		d := Decision{Build: rescuing(VHDCopy{State: tt.state})}
		got := rescueStep(copyLook{d: &d, c: &d.Build.Rescue[0], ob: CopyObservation{Source: src}, now: t0, cfg: tt.cfg})
		if got != tt.decided || d.Build.Rescue[0].State != tt.want {
			t.Errorf("%s (destination %v): decided %v, copy %s; want %v, %s", tt.state, tt.cfg.DestinationURL != nil, got, d.Build.Rescue[0].State, tt.decided, tt.want)
		}
	}
}
