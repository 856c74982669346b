package builds

import (
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

func TestRescueCopying(t *testing.T) {
	started := VHDCopy{State: CopyCopying, Attempts: 1, StartedAt: t0.Add(-100 * time.Second), ProgressAt: t0.Add(-100 * time.Second), SASExpiry: t0.Add(time.Hour), SourceETag: "e1"}
	expired := started
	expired.SASExpiry, expired.CopyID, expired.Copied = t0.Add(-time.Hour), "copy-1", 100
	runCopySteps(t, rescueCopying, []copyCase{
		{name: "the first progress: the copy id recorded and its end estimated", c: started, ob: CopyObservation{Dest: dest(goldenpipe.CopyPending, 1, 1<<29), Source: src},
			decided: true, state: CopyCopying, outHas: "536870912 of 1073741824",
			also: func(c VHDCopy) bool { return c.CopyID == "copy-1" && c.EstimatedDoneAt.Equal(t0.Add(100*time.Second)) }},
		{name: "stalled, SAS expired, but it moved lately: wait", c: expired, ob: CopyObservation{Dest: dest(goldenpipe.CopyPending, 1, 100), Source: src},
			decided: false, state: CopyCopying, at: -90 * time.Second},
		{name: "stalled past ReissueAfter with the SAS expired: aborted, the next attempt at once", c: expired, ob: CopyObservation{Dest: dest(goldenpipe.CopyPending, 1, 100), Source: src},
			decided: true, state: CopyWaiting, effect: ActAbortCopy, also: func(c VHDCopy) bool { return c.NextAttemptAt.Equal(t0) }},
		{name: "aborted by someone: the attempt fails with storage's words", c: started, ob: CopyObservation{Dest: dest(goldenpipe.CopyAborted, 1, 0, func(d *goldenpipe.CopyState) { d.Description = "aborted by user" }), Source: src},
			decided: true, state: CopyWaiting, outHas: "the copy aborted: aborted by user"},
		{name: "a destination of another attempt, past ReissueAfter: the start was lost", c: started, ob: CopyObservation{Dest: dest(goldenpipe.CopyPending, 7, 0), Source: src},
			decided: true, state: CopyWaiting, outHas: "did not start"},
		{name: "completed from a source that was replaced: not verified", c: started, ob: CopyObservation{Dest: dest(goldenpipe.CopySuccess, 1, 1<<30), SourceMissing: true},
			decided: true, state: CopyWaiting, outHas: "did not verify: the staging VHD is gone"},
		{name: "completed on the last attempt but short: given up", c: VHDCopy{State: CopyCopying, Attempts: 3, StartedAt: t0, SourceETag: "e1"},
			ob:      CopyObservation{Dest: dest(goldenpipe.CopySuccess, 3, 1<<30, func(d *goldenpipe.CopyState) { d.Length = 1 }), Source: src},
			decided: true, state: CopyGaveUp, outHas: "length 1 differs"},
	})
}
