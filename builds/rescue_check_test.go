package builds

import (
	"testing"

	"github.com/goldenpipe/goldenpipe"
)

func TestRescueCheck(t *testing.T) {
	runCopySteps(t, rescueCheck, []copyCase{
		{name: "a VHD at the uri: delivered, its version recorded", c: VHDCopy{State: CopyCheck}, ob: CopyObservation{Source: src}, decided: true, state: CopyDelivered, outHas: "at its uri",
			also: func(c VHDCopy) bool { return c.SourceETag == "e1" && c.SourceLength == 1<<30 && c.VerifiedAt.Equal(t0) }},
		{name: "an empty blob at the uri is no VHD", c: VHDCopy{State: CopyCheck}, ob: CopyObservation{Source: goldenpipe.BlobVersion{ETag: "e0"}}, decided: true, state: CopyGaveUp, outHas: "holds no VHD"},
		{name: "nothing at the uri", c: VHDCopy{State: CopyCheck}, ob: CopyObservation{SourceMissing: true}, decided: true, state: CopyGaveUp,
			also: func(c VHDCopy) bool { return c.Error == "the distributor's uri holds no VHD" }},
	})
}
