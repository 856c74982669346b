package builds

import (
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

func TestRescueWaiting(t *testing.T) {
	waiting := VHDCopy{State: CopyWaiting, Attempts: 2, NextAttemptAt: t0.Add(time.Minute), Error: "the copy failed"}
	runCopySteps(t, rescueWaiting, []copyCase{
		{name: "before its next attempt: no decision", c: waiting, ob: CopyObservation{Source: src}, decided: false, state: CopyWaiting,
			also: func(c VHDCopy) bool { return c.Attempts == 2 && c.Error == "the copy failed" }},
		{name: "at its next attempt: started, attempt 3", c: waiting, ob: CopyObservation{Source: src}, at: time.Minute, decided: true, state: CopyCopying, effect: ActStartCopy, outHas: "attempt 3"},
		{name: "a pending copy of an older attempt is not adopted", c: waiting, ob: CopyObservation{Dest: dest(goldenpipe.CopyPending, 1, 10), Source: src}, decided: false, state: CopyWaiting},
		{name: "a pending copy of this attempt is adopted with its id", c: waiting, ob: CopyObservation{Dest: dest(goldenpipe.CopyPending, 2, 10), Source: src}, decided: true, state: CopyCopying, outHas: "adopted",
			also: func(c VHDCopy) bool { return c.CopyID == "copy-1" && c.Attempts == 2 }},
		{name: "a completed copy that verifies ends the wait at once", c: waiting, ob: CopyObservation{Dest: dest(goldenpipe.CopySuccess, 2, 1<<30), Source: src}, decided: true, state: CopyVerified,
			also: func(c VHDCopy) bool { return c.Error == "" && c.VerifiedAt.Equal(t0) }},
		{name: "the staging VHD gone at the next attempt: given up", c: waiting, ob: CopyObservation{SourceMissing: true}, at: time.Hour, decided: true, state: CopyGaveUp, outHas: "staging VHD is gone"},
	})
}
