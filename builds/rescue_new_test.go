package builds

import (
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

func TestRescueNew(t *testing.T) {
	other := func(d *goldenpipe.CopyState) { d.Metadata[metaPrefix+"build"] = "avd-other" }
	runCopySteps(t, rescueNew, []copyCase{
		{name: "the first attempt starts with a SAS of the configured lifetime", c: VHDCopy{State: CopyNew}, ob: CopyObservation{Source: src}, decided: true, state: CopyCopying, effect: ActStartCopy,
			also: func(c VHDCopy) bool {
				return c.Attempts == 1 && c.SASExpiry.Equal(t0.Add(6*time.Hour)) && c.StartedAt.Equal(t0) && c.SourceETag == "e1"
			}},
		{name: "another build's copy at the destination is not ours to verify", c: VHDCopy{State: CopyNew}, ob: CopyObservation{Dest: dest(goldenpipe.CopySuccess, 0, 1<<30, other), Source: src},
			decided: true, state: CopyCopying, effect: ActStartCopy, outHas: "attempt 1"},
		{name: "our completed copy verified takes the copy id", c: VHDCopy{State: CopyNew}, ob: CopyObservation{Dest: dest(goldenpipe.CopySuccess, 0, 1<<30), Source: src},
			decided: true, state: CopyVerified, also: func(c VHDCopy) bool { return c.CopyID == "copy-1" && c.Attempts == 0 }},
		{name: "a completed copy that does not verify: started again, saying why", c: VHDCopy{State: CopyNew}, ob: CopyObservation{Dest: dest(goldenpipe.CopySuccess, 0, 1<<30), Source: goldenpipe.BlobVersion{ETag: "e9", Size: 1 << 30}},
			decided: true, state: CopyCopying, effect: ActStartCopy, also: func(c VHDCopy) bool { return c.Error == "the source changed since the copy started" }},
		{name: "attempts spent before the start: given up, keeping why", c: VHDCopy{State: CopyNew, Attempts: 3}, ob: CopyObservation{Dest: dest(goldenpipe.CopySuccess, 3, 1<<30, func(d *goldenpipe.CopyState) { d.Length = 7 }), Source: src},
			decided: true, state: CopyGaveUp, outHas: "gave up after 3", also: func(c VHDCopy) bool { return c.Error == "length 7 differs from the source's 1073741824" }},
	})
}
