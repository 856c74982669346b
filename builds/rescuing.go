package builds

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
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
func decideRescuing(d *Decision, o Observation, now time.Time, cfg Config) {
	b := &d.Build
	if last := o.Last; last != nil && last.Action.Kind == ActStartCopy && last.Code != "" {
		i := last.Action.Index
		if i < len(b.Rescue) && b.Rescue[i].State == CopyCopying && b.Rescue[i].Attempts == last.Action.Attempt {
			failAttempt(&b.Rescue[i], "starting the copy failed: "+last.Message, now, cfg)
			d.Changed, d.Outcome = true, b.Rescue[i].Error
		}
		return
	}
	for i := range b.Rescue {
		c := &b.Rescue[i]
		if c.final() {
			continue
		}
		ob, seen := o.Copies[i]
		if !seen {
			continue
		}
		if c.State == CopyCheck {
			if !ob.SourceMissing && ob.Source.Size > 0 {
				c.State, c.SourceETag, c.SourceLength, c.VerifiedAt = CopyDelivered, ob.Source.ETag, ob.Source.Size, now
				d.Changed, d.Outcome = true, c.RunOutputName+" is at its uri"
			} else {
				c.State, c.Error = CopyGaveUp, "the distributor's uri holds no VHD"
				d.Changed, d.Outcome = true, c.Error
			}
			return
		}
		if cfg.DestinationURL == nil {
			c.State, c.Error = CopyGaveUp, "VHD_DESTINATION is not set: the VHD cannot be copied out of the staging resource group"
			d.Changed, d.Outcome = true, c.Error
			return
		}
		dst := ob.Dest
		ours := dst.Exists && dst.Metadata[metaPrefix+"build"] == b.ID
		switch c.State {
		case CopyNew, CopyWaiting:
			if ours && dst.Status == goldenpipe.CopySuccess {
				// already copied (an earlier attempt, or another instance): verify it
				if ok, why := verify(c, dst, ob); ok {
					c.State, c.CopyID, c.VerifiedAt, c.Error = CopyVerified, dst.ID, now, ""
					d.Changed, d.Outcome = true, c.RunOutputName+" verified"
					return
				} else if c.State == CopyNew {
					c.Error = why
				}
			}
			if ours && dst.Status == goldenpipe.CopyPending && dst.Metadata[metaPrefix+"attempt"] == strconv.Itoa(c.Attempts) && c.Attempts > 0 {
				c.State, c.CopyID = CopyCopying, dst.ID // started, then the record was lost
				d.Changed, d.Outcome = true, c.RunOutputName+" copy adopted"
				return
			}
			if c.State == CopyWaiting && now.Before(c.NextAttemptAt) {
				continue
			}
			if c.Attempts >= cfg.CopyAttempts {
				c.State = CopyGaveUp
				d.Changed, d.Outcome = true, c.RunOutputName+" gave up after "+strconv.Itoa(c.Attempts)+" attempts"
				return
			}
			if ob.SourceMissing {
				c.State, c.Error = CopyGaveUp, "the staging VHD is gone"
				d.Changed, d.Outcome = true, c.Error
				return
			}
			c.Attempts++
			c.State, c.StartedAt, c.CopyID, c.Copied, c.ProgressAt = CopyCopying, now, "", 0, now
			c.SourceETag, c.SourceLength = ob.Source.ETag, ob.Source.Size
			c.SASExpiry = now.Add(sasTTL(cfg, ob.Source.Size, c.Attempts))
			d.Changed = true
			d.Effects = []Action{{Kind: ActStartCopy, Index: i, Attempt: c.Attempts}}
			d.Outcome = fmt.Sprintf("copying %s (attempt %d)", c.RunOutputName, c.Attempts)
			return

		case CopyCopying:
			if !ours || dst.Metadata[metaPrefix+"attempt"] != strconv.Itoa(c.Attempts) {
				if now.Sub(c.StartedAt) < cfg.ReissueAfter {
					continue // the start may still be on its way
				}
				failAttempt(c, "the copy did not start", now, cfg)
				d.Changed, d.Outcome = true, c.Error
				return
			}
			if c.CopyID == "" {
				c.CopyID, d.Changed = dst.ID, true
			}
			switch dst.Status {
			case goldenpipe.CopyPending:
				if dst.Copied != c.Copied {
					c.Copied, c.Total, c.ProgressAt = dst.Copied, dst.Total, now
					if elapsed := now.Sub(c.StartedAt); elapsed > 0 && dst.Copied > 0 && dst.Total > dst.Copied {
						rate := float64(dst.Copied) / elapsed.Seconds()
						c.EstimatedDoneAt = now.Add(time.Duration(float64(dst.Total-dst.Copied) / rate * float64(time.Second)))
					}
					d.Changed, d.Outcome = true, fmt.Sprintf("copying %s: %d of %d bytes", c.RunOutputName, dst.Copied, dst.Total)
					return
				}
				// no progress since the last look: only a copy that stopped
				// moving after its SAS expired is given up and started again
				if now.After(c.SASExpiry) && now.Sub(c.ProgressAt) > cfg.ReissueAfter {
					failAttempt(c, "the copy stopped making progress after its source SAS expired; restarting it with a fresh one", now, cfg)
					c.NextAttemptAt = now
					d.Changed, d.Outcome = true, c.Error
					d.Effects = []Action{{Kind: ActAbortCopy, Index: i, CopyID: dst.ID}}
					return
				}
				continue
			case goldenpipe.CopySuccess:
				ok, why := verify(c, dst, ob)
				if !ok {
					failAttempt(c, "the copy did not verify: "+why, now, cfg)
					d.Changed, d.Outcome = true, c.Error
					return
				}
				c.State, c.Copied, c.VerifiedAt, c.Error = CopyVerified, dst.Length, now, ""
				d.Changed, d.Outcome = true, c.RunOutputName+" copied and verified"
				return
			default: // failed, aborted
				failAttempt(c, "the copy "+dst.Status+": "+dst.Description, now, cfg)
				d.Changed, d.Outcome = true, c.Error
				return
			}
		}
	}
	if !allFinal(b.Rescue) {
		d.Outcome = "rescuing"
		return
	}
	var failed []string
	for _, c := range b.Rescue {
		if c.State == CopyGaveUp {
			failed = append(failed, c.RunOutputName+": "+c.Error)
		}
	}
	if len(failed) > 0 {
		reason := "VHD rescue failed (the Image Builder template is kept): " + strings.Join(failed, "; ")
		finish(d, StateRescueFailed, now, reason)
		b.Error, d.Outcome = reason, reason
		return
	}
	state := StateSucceeded
	if b.PartialRun {
		state = StatePartiallySucceeded
	}
	finish(d, state, now, "outputs safe")
	d.Outcome = "build " + string(state) + "; outputs safe"
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
