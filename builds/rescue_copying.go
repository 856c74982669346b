package builds

import (
	"fmt"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

// rescueCopying is the step of a copy running (CopyCopying), by what
// storage reports of its destination: not this attempt's (the start may
// still be on its way, for ReissueAfter), pending (copyPending), success
// (copySucceeded), or failed or aborted (the attempt fails).
func rescueCopying(l copyLook) bool {
	c, dst := l.c, l.ob.Dest
	if !l.thisAttempt() {
		if l.now.Sub(c.StartedAt) < l.cfg.ReissueAfter {
			return false // the start may still be on its way
		}
		failAttempt(c, "the copy did not start", l.now, l.cfg)
		return l.decided(c.Error)
	}
	if c.CopyID == "" {
		c.CopyID, l.d.Changed = dst.ID, true
	}
	switch dst.Status {
	case goldenpipe.CopyPending:
		return copyPending(l)
	case goldenpipe.CopySuccess:
		return copySucceeded(l)
	}
	failAttempt(c, "the copy "+dst.Status+": "+dst.Description, l.now, l.cfg) // failed, aborted
	return l.decided(c.Error)
}

// copyPending records a pending copy's progress and its estimated end. A
// copy that moves is never aborted; one that stopped moving after its
// source SAS expired is aborted and started again with a fresh SAS.
func copyPending(l copyLook) bool {
	c, dst, now := l.c, l.ob.Dest, l.now
	if dst.Copied != c.Copied {
		c.Copied, c.Total, c.ProgressAt = dst.Copied, dst.Total, now
		if elapsed := now.Sub(c.StartedAt); elapsed > 0 && dst.Copied > 0 && dst.Total > dst.Copied {
			rate := float64(dst.Copied) / elapsed.Seconds()
			c.EstimatedDoneAt = now.Add(time.Duration(float64(dst.Total-dst.Copied) / rate * float64(time.Second)))
		}
		return l.decided(fmt.Sprintf("copying %s: %d of %d bytes", c.RunOutputName, dst.Copied, dst.Total))
	}
	if !now.After(c.SASExpiry) || now.Sub(c.ProgressAt) <= l.cfg.ReissueAfter {
		return false // no progress since the last look, but the SAS is valid or it moved lately
	}
	failAttempt(c, "the copy stopped making progress after its source SAS expired; restarting it with a fresh one", now, l.cfg)
	c.NextAttemptAt = now
	l.d.Effects = []Action{{Kind: ActAbortCopy, Index: l.i, CopyID: dst.ID}}
	return l.decided(c.Error)
}

// copySucceeded verifies a completed copy against its source; one that
// does not verify fails its attempt.
func copySucceeded(l copyLook) bool {
	c, dst := l.c, l.ob.Dest
	if ok, why := verify(c, dst, l.ob); !ok {
		failAttempt(c, "the copy did not verify: "+why, l.now, l.cfg)
		return l.decided(c.Error)
	}
	c.State, c.Copied, c.VerifiedAt, c.Error = CopyVerified, dst.Length, l.now, ""
	return l.decided(c.RunOutputName + " copied and verified")
}
