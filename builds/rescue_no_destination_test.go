package builds

import "testing"

func TestRescueNoDestination(t *testing.T) {
	runCopySteps(t, rescueNoDestination, []copyCase{
		{name: "a copy never started is given up, saying which setting is missing", c: VHDCopy{State: CopyNew}, ob: CopyObservation{Source: src}, decided: true, state: CopyGaveUp, outHas: "VHD_DESTINATION is not set"},
		{name: "so is one waiting for its next attempt", c: VHDCopy{State: CopyWaiting, Attempts: 1}, ob: CopyObservation{Source: src}, decided: true, state: CopyGaveUp,
			also: func(c VHDCopy) bool { return c.Attempts == 1 && c.Error != "" }},
	})
}
