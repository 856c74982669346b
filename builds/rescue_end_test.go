package builds

import (
	"strings"
	"testing"
)

func TestRescueEnd(t *testing.T) {
	two := func(a, b VHDCopy) Build {
		bd := rescuing(a)
		b.RunOutputName = "second"
		bd.Rescue = append(bd.Rescue, b)
		return bd
	}
	tests := []struct {
		name    string
		b       Build
		want    State
		changed bool
		errHas  string
	}{
		{"a copy still going: the build waits", two(VHDCopy{State: CopyVerified}, VHDCopy{State: CopyCopying}), StateRescuing, false, ""},
		{"a VHD delivered at its uri and one copied: succeeded", two(VHDCopy{State: CopyVerified}, VHDCopy{State: CopyDelivered}), StateSucceeded, true, ""},
		{"only the copy given up is named", two(VHDCopy{State: CopyVerified}, VHDCopy{State: CopyGaveUp, Error: "the staging VHD is gone"}), StateRescueFailed, true, "second: the staging VHD is gone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decision{Build: tt.b.clone()}
			rescueEnd(&d, t0)
			if d.Build.State != tt.want || d.Changed != tt.changed || !strings.Contains(d.Build.Error, tt.errHas) || strings.Contains(d.Build.Error, "avd-vhd") {
				t.Errorf("%s changed %v error %q (%s)", d.Build.State, d.Changed, d.Build.Error, d.Outcome)
			}
			if tt.changed && !d.Build.FinishedAt.Equal(t0) {
				t.Errorf("finished at %s", d.Build.FinishedAt)
			}
		})
	}
}
