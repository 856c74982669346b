package builds

import (
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

// The start of an attempt, shared by rescueNew and rescueWaiting.
func TestRescueStartAttempt(t *testing.T) {
	unsized := testCfg.withDefaults()
	unsized.SASTTL = 0 // sized to the VHD: 6 h for 1 GiB, doubled per attempt
	d := Decision{Build: rescuing(VHDCopy{State: CopyWaiting, Attempts: 1, Copied: 9, CopyID: "old"})}
	l := copyLook{d: &d, c: &d.Build.Rescue[0], ob: CopyObservation{Source: src}, now: t0, cfg: unsized}
	if !l.startAttempt() {
		t.Fatal("not started")
	}
	c := d.Build.Rescue[0]
	if c.Attempts != 2 || c.CopyID != "" || c.Copied != 0 || !c.SASExpiry.Equal(t0.Add(12*time.Hour)) || d.Effects[0].Attempt != 2 {
		t.Errorf("%+v %+v", c, d.Effects)
	}

	// adopt and verifiedEarlier look only at this build's destination
	for _, tt := range []struct {
		name    string
		dst     goldenpipe.CopyState
		adopted bool
	}{
		{"pending, this attempt", dest(goldenpipe.CopyPending, 1, 5), true},
		{"pending, no attempt recorded", dest(goldenpipe.CopyPending, 0, 5), false},
		{"failed, this attempt", dest(goldenpipe.CopyFailed, 1, 5), false},
		{"absent", goldenpipe.CopyState{}, false},
	} {
		for _, attempts := range []int{0, 1} {
			d := Decision{Build: rescuing(VHDCopy{State: CopyWaiting, Attempts: attempts})}
			l := copyLook{d: &d, c: &d.Build.Rescue[0], ob: CopyObservation{Dest: tt.dst, Source: src}, now: t0, cfg: testCfg}
			want := tt.adopted && attempts == 1
			if got := l.adopt(); got != want || d.Changed != want {
				t.Errorf("%s, attempts %d: adopted %v, want %v", tt.name, attempts, got, want)
			}
			if done, why := l.verifiedEarlier(); done || why != "" {
				t.Errorf("%s: verified %v (%q) with no completed copy", tt.name, done, why)
			}
		}
	}
}
