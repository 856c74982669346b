package builds

import (
	"fmt"
	"strconv"

	"github.com/goldenpipe/goldenpipe"
)

// What the steps of a copy not running (rescueNew, rescueWaiting) look at
// before they start one: a copy already made, a copy started whose record
// was lost, and the bounds of a new attempt.

// verifiedEarlier verifies a destination this build's copy completed (an
// earlier attempt, or another instance) and, when it holds, records the
// copy verified: done. Otherwise why says why it did not verify ("" when
// no completed copy of this build is there).
func (l copyLook) verifiedEarlier() (done bool, why string) {
	c, dst := l.c, l.ob.Dest
	if !l.ours() || dst.Status != goldenpipe.CopySuccess {
		return false, ""
	}
	if ok, why := verify(c, dst, l.ob); !ok {
		return false, why
	}
	c.State, c.CopyID, c.VerifiedAt, c.Error = CopyVerified, dst.ID, l.now, ""
	return l.decided(c.RunOutputName + " verified"), ""
}

// adopt takes over a copy the current attempt started whose record was
// lost (the start went out, the write of the decision did not).
func (l copyLook) adopt() bool {
	c, dst := l.c, l.ob.Dest
	if c.Attempts == 0 || !l.thisAttempt() || dst.Status != goldenpipe.CopyPending {
		return false
	}
	c.State, c.CopyID = CopyCopying, dst.ID
	return l.decided(c.RunOutputName + " copy adopted")
}

// startAttempt starts the next attempt at the copy (the effect
// ActStartCopy, with a source SAS sized to the VHD), or gives the copy up
// when its attempts are spent or the staging VHD is gone.
func (l copyLook) startAttempt() bool {
	c, src := l.c, l.ob.Source
	switch {
	case c.Attempts >= l.cfg.CopyAttempts:
		c.State = CopyGaveUp
		return l.decided(c.RunOutputName + " gave up after " + strconv.Itoa(c.Attempts) + " attempts")
	case l.ob.SourceMissing:
		c.State, c.Error = CopyGaveUp, "the staging VHD is gone"
		return l.decided(c.Error)
	}
	c.Attempts++
	c.State, c.StartedAt, c.CopyID, c.Copied, c.ProgressAt = CopyCopying, l.now, "", 0, l.now
	c.SourceETag, c.SourceLength = src.ETag, src.Size
	c.SASExpiry = l.now.Add(sasTTL(l.cfg, src.Size, c.Attempts))
	l.d.Effects = []Action{{Kind: ActStartCopy, Index: l.i, Attempt: c.Attempts}}
	return l.decided(fmt.Sprintf("copying %s (attempt %d)", c.RunOutputName, c.Attempts))
}
