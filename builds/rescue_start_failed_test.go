package builds

import (
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

func TestRescueStartFailed(t *testing.T) {
	started := VHDCopy{State: CopyCopying, Attempts: 2, StartedAt: t0}
	refused := func(index, attempt int) Outcome {
		return Outcome{Action: Action{Kind: ActStartCopy, Index: index, Attempt: attempt}, Code: goldenpipe.EFORBIDDEN, Message: "AuthorizationPermissionMismatch"}
	}
	tests := []struct {
		name    string
		c       VHDCopy
		last    Outcome
		changed bool
		want    CopyState
		next    time.Duration // NextAttemptAt after t0, for a copy waiting
	}{
		{"the attempt it started fails; the next waits, doubled", started, refused(0, 2), true, CopyWaiting, 2 * time.Minute},
		{"an older attempt's outcome changes nothing", started, refused(0, 1), false, CopyCopying, 0},
		{"an outcome for a copy the build does not have changes nothing", started, refused(3, 2), false, CopyCopying, 0},
		{"the last attempt failing to start gives the copy up", VHDCopy{State: CopyCopying, Attempts: 3}, refused(0, 3), true, CopyGaveUp, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decision{Build: rescuing(tt.c)}
			rescueStartFailed(&d, tt.last, t0, testCfg.withDefaults())
			c := d.Build.Rescue[0]
			if d.Changed != tt.changed || c.State != tt.want || tt.want == CopyWaiting && !c.NextAttemptAt.Equal(t0.Add(tt.next)) {
				t.Errorf("changed %v, copy %+v", d.Changed, c)
			}
			if tt.changed && c.Error != "starting the copy failed: AuthorizationPermissionMismatch" {
				t.Errorf("error %q", c.Error)
			}
		})
	}
}
