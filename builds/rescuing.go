package builds

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	aib "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/virtualmachineimagebuilder/armvirtualmachineimagebuilder/v2"

	"github.com/goldenpipe/goldenpipe"
)

// planRescue lists the VHD outputs to rescue once a run succeeded; outputs
// written to the distributor's own uri are only checked.
func planRescue(b *Build, cfg Config) []VHDCopy {
	own := map[string]string{}
	var tpl aib.ImageTemplate
	if json.Unmarshal(b.Rendered, &tpl) == nil && tpl.Properties != nil {
		for _, d := range tpl.Properties.Distribute {
			if v, ok := d.(*aib.ImageTemplateVhdDistributor); ok && v.URI != nil && v.RunOutputName != nil {
				own[*v.RunOutputName] = *v.URI
			}
		}
	}
	var out []VHDCopy
	for _, o := range b.Outputs {
		if o.ArtifactURI == "" {
			continue // managed image or gallery version: recorded as it is
		}
		c := VHDCopy{RunOutputName: o.Name, Source: goldenpipe.RedactSAS(o.ArtifactURI), State: CopyNew}
		if _, ok := own[o.Name]; ok {
			c.State, c.Destination = CopyCheck, c.Source
		} else if cfg.DestinationURL != nil {
			c.Destination = cfg.DestinationURL(destinationName(b, o.Name))
		}
		out = append(out, c)
	}
	return out
}

// decideRescuing moves the copies of a build's VHD outputs out of the
// staging group on, one change per decision, and ends the build once every
// copy is final. A copy that is making progress is never aborted, however
// long it takes (Copy Blob promises no completion time); a failed or
// stalled one is started again, a bounded number of times.
//
// It is a dispatcher, in the manner of packer-plugin-azure's steps: a
// copy's state names its step (rescueSteps), one file each
// (rescue_<state>.go, with its table test); a step returns whether it
// decided, and the first copy whose step decides ends the decision.
func decideRescuing(d *Decision, o Observation, now time.Time, cfg Config) {
	if last := o.Last; last != nil && last.Action.Kind == ActStartCopy && last.Failure() != FailNone {
		rescueStartFailed(d, *last, now, cfg)
		return
	}
	for i := range d.Build.Rescue {
		c := &d.Build.Rescue[i]
		ob, seen := o.Copies[i]
		if c.final() || !seen {
			continue
		}
		if rescueStep(copyLook{d: d, i: i, c: c, ob: ob, now: now, cfg: cfg}) {
			return
		}
	}
	rescueEnd(d, now)
}

// copyLook is one copy as its step sees it: the decision it adds to, the
// copy (in the decision's record) and what storage reports of it.
type copyLook struct {
	d   *Decision
	i   int // the copy's index in Build.Rescue
	c   *VHDCopy
	ob  CopyObservation
	now time.Time
	cfg Config
}

// rescueSteps names the step of each copy state not final; rescueCheck
// and rescueNoDestination come first (see rescueStep).
var rescueSteps = map[CopyState]func(copyLook) bool{
	CopyNew:     rescueNew,
	CopyWaiting: rescueWaiting,
	CopyCopying: rescueCopying,
}

// rescueStep runs the step of a copy's state: a VHD at the distributor's
// own uri is only checked; any other needs a destination.
func rescueStep(l copyLook) bool {
	switch {
	case l.c.State == CopyCheck:
		return rescueCheck(l)
	case l.cfg.DestinationURL == nil:
		return rescueNoDestination(l)
	}
	step := rescueSteps[l.c.State]
	return step != nil && step(l)
}

// decided records that the copy changed, and why; a step returns it.
func (l copyLook) decided(outcome string) bool {
	l.d.Changed, l.d.Outcome = true, outcome
	return true
}

// ours reports a destination blob this build's copy wrote.
func (l copyLook) ours() bool {
	dst := l.ob.Dest
	return dst.Exists && dst.Metadata[metaPrefix+"build"] == l.d.Build.ID
}

// thisAttempt reports a destination blob written by the copy's current
// attempt.
func (l copyLook) thisAttempt() bool {
	return l.ours() && l.ob.Dest.Metadata[metaPrefix+"attempt"] == strconv.Itoa(l.c.Attempts)
}

func allFinal(cs []VHDCopy) bool {
	for _, c := range cs {
		if !c.final() {
			return false
		}
	}
	return true
}

// failAttempt records a failed copy attempt and schedules the next.
func failAttempt(c *VHDCopy, why string, now time.Time, cfg Config) {
	c.Error = why
	if c.Attempts >= cfg.CopyAttempts {
		c.State = CopyGaveUp
		return
	}
	wait := cfg.CopyBackoff
	for i := 1; i < c.Attempts && wait < time.Hour; i++ {
		wait *= 2
	}
	c.State, c.NextAttemptAt = CopyWaiting, now.Add(wait)
}

// verify checks a finished copy against its source: the copy id, the
// source's ETag unchanged since the copy started, and the length.
func verify(c *VHDCopy, dst goldenpipe.CopyState, ob CopyObservation) (bool, string) {
	switch {
	case ob.SourceMissing:
		return false, "the staging VHD is gone"
	case !dst.Exists || dst.Status != goldenpipe.CopySuccess:
		return false, "the copy is not complete"
	case c.CopyID != "" && dst.ID != c.CopyID:
		return false, "the copy id differs from the one started"
	case dst.Metadata[metaPrefix+"source_etag"] != ob.Source.ETag || (c.SourceETag != "" && c.SourceETag != ob.Source.ETag):
		return false, "the source changed since the copy started"
	case dst.Length != ob.Source.Size:
		return false, fmt.Sprintf("length %d differs from the source's %d", dst.Length, ob.Source.Size)
	}
	if c.SourceETag == "" {
		c.SourceETag, c.SourceLength = ob.Source.ETag, ob.Source.Size
	}
	return true, ""
}

// sasTTL is the lifetime of the source SAS of a copy's attempt: the
// destination keeps the SAS (x-ms-copy-source), so it is as short as the
// copy allows: twice the time the VHD takes at copyRateFloor, at least
// minSASTTL, doubled with each attempt (an attempt restarts only a copy
// that stopped moving after its SAS expired), at most maxSASTTL. Config's
// SASTTL, when set, is used as it is.
func sasTTL(cfg Config, size int64, attempt int) time.Duration {
	if cfg.SASTTL > 0 {
		return cfg.SASTTL
	}
	ttl := max(minSASTTL, 2*time.Duration(size/copyRateFloor)*time.Second)
	for i := 1; i < attempt && ttl < maxSASTTL; i++ {
		ttl *= 2
	}
	return min(ttl, maxSASTTL)
}
