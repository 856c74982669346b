package build

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	aib "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/virtualmachineimagebuilder/armvirtualmachineimagebuilder/v2"

	"github.com/goldenpipe/goldenpipe"
)

// VHDSource reads VHDs where Image Builder leaves them and signs read-only
// SAS for them (the result is a secret: it goes to the copy request only).
type VHDSource interface {
	Properties(ctx context.Context, blobURL string) (goldenpipe.BlobVersion, error)
	SignRead(ctx context.Context, blobURL string, ttl time.Duration) (sasURL string, expiry time.Time, err error)
}

// VHDDestination is the container VHDs are rescued into.
type VHDDestination interface {
	URL(name string) string
	Properties(ctx context.Context, name string) (goldenpipe.CopyState, error)
	StartCopy(ctx context.Context, name, source string, metadata map[string]string) (copyID string, err error)
	Abort(ctx context.Context, name, copyID string) error
}

// Rescue states of one VHD output.
const (
	CopyNew       = "new"       // not started
	CopyCopying   = "copying"   // a server-side copy runs
	CopyWaiting   = "waiting"   // an attempt failed; the next starts at NextAttemptAt
	CopyVerified  = "verified"  // the copy is complete and checked
	CopyCheck     = "check"     // the distributor wrote the VHD to its own uri: check it is there
	CopyDelivered = "delivered" // the VHD is at the distributor's uri
	CopyGaveUp    = "failed"    // attempts exhausted: the template is kept
)

// VHDCopy is the rescue of one VHD run output.
type VHDCopy struct {
	RunOutputName string    `json:"runOutputName"`
	Source        string    `json:"source"`      // the staging blob, no SAS
	Destination   string    `json:"destination"` // no SAS
	State         string    `json:"state"`
	CopyID        string    `json:"copyId,omitempty"`
	SourceETag    string    `json:"sourceEtag,omitempty"`
	SourceLength  int64     `json:"sourceLength,omitempty"`
	Copied        int64     `json:"copied,omitempty"`
	Attempts      int       `json:"attempts"`
	StartedAt     time.Time `json:"startedAt,omitempty"`
	SASExpiry     time.Time `json:"sasExpiry,omitempty"`
	NextAttemptAt time.Time `json:"nextAttemptAt,omitempty"`
	VerifiedAt    time.Time `json:"verifiedAt,omitempty"`
	Error         string    `json:"error,omitempty"`
}

func (c *VHDCopy) final() bool {
	return c.State == CopyVerified || c.State == CopyDelivered || c.State == CopyGaveUp
}

// Rescue defaults.
const (
	defaultSASTTL       = 6 * time.Hour // covers a copy of hundreds of GiB; an expired one is restarted
	defaultCopyAttempts = 5
	defaultCopyBackoff  = time.Minute
	sasExpiryMargin     = 2 * time.Minute
	metaPrefix          = "goldenpipe_"
)

func (s *Service) sasTTL() time.Duration {
	if s.SASTTL > 0 {
		return s.SASTTL
	}
	return defaultSASTTL
}

func (s *Service) copyAttempts() int {
	if s.CopyAttempts > 0 {
		return s.CopyAttempts
	}
	return defaultCopyAttempts
}

func (s *Service) backoff(attempt int) time.Duration {
	d := s.CopyBackoff
	if d <= 0 {
		d = defaultCopyBackoff
	}
	for i := 1; i < attempt && d < time.Hour; i++ {
		d *= 2
	}
	return d
}

// destinationName is where a build's VHD goes in the destination container.
func destinationName(b *Build, runOutput string) string {
	return b.Template + "/" + b.ID + "/" + runOutput + ".vhd"
}

// planRescue lists the VHD outputs to rescue once a run succeeded; outputs
// written to the distributor's own uri are only checked.
func (s *Service) planRescue(b *Build) []VHDCopy {
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
		} else if s.Destination != nil {
			c.Destination = s.Destination.URL(destinationName(b, o.Name))
		}
		out = append(out, c)
	}
	return out
}

// stepRescue moves the rescue of one VHD on. It returns whether the record
// changed and the effect to carry out once that is written.
func (s *Service) stepRescue(ctx context.Context, b *Build) (string, bool, effect, error) {
	now := s.now()
	for i := range b.Rescue {
		c := &b.Rescue[i]
		if c.final() {
			continue
		}
		if c.State == CopyCheck {
			v, err := s.Source.Properties(ctx, c.Source)
			switch {
			case err == nil && v.Size > 0:
				c.State, c.SourceETag, c.SourceLength, c.VerifiedAt = CopyDelivered, v.ETag, v.Size, now
				return c.RunOutputName + " is at its uri", true, nil, nil
			case goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND || err == nil:
				c.State, c.Error = CopyGaveUp, "the distributor's uri holds no VHD"
				return c.Error, true, nil, nil
			}
			return "", false, nil, err
		}
		if s.Destination == nil {
			c.State, c.Error = CopyGaveUp, "VHD_DESTINATION is not set: the VHD cannot be copied out of the staging resource group"
			return c.Error, true, nil, nil
		}
		name := destinationName(b, c.RunOutputName)
		dst, err := s.Destination.Properties(ctx, name)
		if err != nil {
			return "", false, nil, err
		}
		ours := dst.Exists && dst.Metadata[metaPrefix+"build"] == b.ID
		switch c.State {
		case CopyNew, CopyWaiting:
			if ours && dst.Status == goldenpipe.CopySuccess {
				// already copied (an earlier attempt, or another instance): verify it
				if ok, why, err := s.verify(ctx, c, dst); err != nil {
					return "", false, nil, err
				} else if ok {
					c.State, c.CopyID, c.VerifiedAt, c.Error = CopyVerified, dst.ID, now, ""
					return c.RunOutputName + " verified", true, nil, nil
				} else if c.State == CopyNew {
					c.Error = why
				}
			}
			if ours && dst.Status == goldenpipe.CopyPending && dst.Metadata[metaPrefix+"attempt"] == strconv.Itoa(c.Attempts) && c.Attempts > 0 {
				c.State, c.CopyID = CopyCopying, dst.ID // started, then the record was lost
				return c.RunOutputName + " copy adopted", true, nil, nil
			}
			if c.State == CopyWaiting && now.Before(c.NextAttemptAt) {
				continue
			}
			if c.Attempts >= s.copyAttempts() {
				c.State = CopyGaveUp
				return c.RunOutputName + " gave up after " + strconv.Itoa(c.Attempts) + " attempts", true, nil, nil
			}
			src, err := s.Source.Properties(ctx, c.Source)
			if err != nil {
				if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
					c.State, c.Error = CopyGaveUp, "the staging VHD is gone"
					return c.Error, true, nil, nil
				}
				return "", false, nil, err
			}
			c.Attempts++
			c.State, c.StartedAt, c.CopyID, c.Copied = CopyCopying, now, "", 0
			c.SourceETag, c.SourceLength = src.ETag, src.Size
			c.SASExpiry = now.Add(s.sasTTL())
			return fmt.Sprintf("copying %s (attempt %d)", c.RunOutputName, c.Attempts), true, s.startCopy(b, i), nil

		case CopyCopying:
			if !ours || dst.Metadata[metaPrefix+"attempt"] != strconv.Itoa(c.Attempts) {
				if now.Sub(c.StartedAt) < s.reissueAfter() {
					continue // the start may still be on its way
				}
				s.failAttempt(c, "the copy did not start", now)
				return c.Error, true, nil, nil
			}
			if c.CopyID == "" {
				c.CopyID = dst.ID
			}
			switch dst.Status {
			case goldenpipe.CopyPending:
				if now.After(c.SASExpiry.Add(-sasExpiryMargin)) {
					s.failAttempt(c, "the source SAS is expiring before the copy finished; restarting with a fresh one", now)
					c.NextAttemptAt = now
					id := dst.ID
					return c.Error, true, func(ctx context.Context) error { return s.Destination.Abort(ctx, name, id) }, nil
				}
				if dst.Copied != c.Copied {
					c.Copied = dst.Copied
					return fmt.Sprintf("copying %s: %d of %d bytes", c.RunOutputName, dst.Copied, dst.Total), true, nil, nil
				}
				continue
			case goldenpipe.CopySuccess:
				ok, why, err := s.verify(ctx, c, dst)
				if err != nil {
					return "", false, nil, err
				}
				if !ok {
					s.failAttempt(c, "the copy did not verify: "+why, now)
					return c.Error, true, nil, nil
				}
				c.State, c.Copied, c.VerifiedAt, c.Error = CopyVerified, dst.Length, now, ""
				return c.RunOutputName + " copied and verified", true, nil, nil
			default: // failed, aborted
				s.failAttempt(c, "the copy "+dst.Status+": "+dst.Description, now)
				return c.Error, true, nil, nil
			}
		}
	}
	// every output is final: the build ends
	var failed []string
	for _, c := range b.Rescue {
		if c.State == CopyGaveUp {
			failed = append(failed, c.RunOutputName+": "+c.Error)
		}
	}
	if len(failed) > 0 {
		b.Error = "VHD rescue failed (the Image Builder template is kept): " + strings.Join(failed, "; ")
		b.moveTo(StateRescueFailed, "", b.Error, now)
		b.FinishedAt = now
		return b.Error, true, nil, nil
	}
	if len(b.Rescue) > 0 && !allFinal(b.Rescue) {
		return "rescuing", false, nil, nil
	}
	if len(b.Rescue) > 0 && !b.allVerified() {
		return "rescuing", false, nil, nil
	}
	b.moveTo(StateSucceeded, "", "outputs safe", now)
	b.FinishedAt = now
	return "build succeeded; outputs safe", true, nil, nil
}

func allFinal(cs []VHDCopy) bool {
	for _, c := range cs {
		if !c.final() {
			return false
		}
	}
	return true
}

func (b *Build) allVerified() bool {
	for _, c := range b.Rescue {
		if c.State != CopyVerified && c.State != CopyDelivered {
			return false
		}
	}
	return true
}

// failAttempt records a failed copy attempt and schedules the next.
func (s *Service) failAttempt(c *VHDCopy, why string, now time.Time) {
	c.Error = why
	if c.Attempts >= s.copyAttempts() {
		c.State = CopyGaveUp
		return
	}
	c.State, c.NextAttemptAt = CopyWaiting, now.Add(s.backoff(c.Attempts))
}

// verify checks a finished copy against its source: the copy id, the
// source's ETag unchanged since the copy started, and the length.
func (s *Service) verify(ctx context.Context, c *VHDCopy, dst goldenpipe.CopyState) (bool, string, error) {
	src, err := s.Source.Properties(ctx, c.Source)
	if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
		return false, "the staging VHD is gone", nil
	}
	if err != nil {
		return false, "", err
	}
	switch {
	case !dst.Exists || dst.Status != goldenpipe.CopySuccess:
		return false, "the copy is not complete", nil
	case c.CopyID != "" && dst.ID != c.CopyID:
		return false, "the copy id differs from the one started", nil
	case dst.Metadata[metaPrefix+"source_etag"] != src.ETag || (c.SourceETag != "" && c.SourceETag != src.ETag):
		return false, "the source changed since the copy started", nil
	case dst.Length != src.Size:
		return false, fmt.Sprintf("length %d differs from the source's %d", dst.Length, src.Size), nil
	}
	if c.SourceETag == "" {
		c.SourceETag, c.SourceLength = src.ETag, src.Size
	}
	return true, "", nil
}

// startCopy signs a fresh read-only SAS and starts the server-side copy of
// the i-th output; the outcome is written back to the record.
func (s *Service) startCopy(b *Build, i int) effect {
	c := b.Rescue[i]
	md := map[string]string{
		metaPrefix + "template":       b.Template,
		metaPrefix + "build":          b.ID,
		metaPrefix + "run_output":     c.RunOutputName,
		metaPrefix + "fingerprint":    b.Fingerprint,
		metaPrefix + "source_version": b.SourceVersion,
		metaPrefix + "source_etag":    c.SourceETag,
		metaPrefix + "attempt":        strconv.Itoa(c.Attempts),
	}
	if scripts, err := json.Marshal(b.Scripts); err == nil {
		md[metaPrefix+"scripts"] = url.QueryEscape(string(scripts)) // metadata is ASCII
	}
	id := b.ID
	name := destinationName(b, c.RunOutputName)
	return func(ctx context.Context) error {
		sasURL, _, err := s.Source.SignRead(ctx, c.Source, s.sasTTL())
		var copyID string
		if err == nil {
			copyID, err = s.Destination.StartCopy(ctx, name, sasURL, md)
		}
		now := s.now()
		return s.patch(ctx, id, func(b *Build) bool {
			if i >= len(b.Rescue) || b.Rescue[i].Attempts != c.Attempts || b.Rescue[i].State != CopyCopying {
				return false
			}
			if err != nil {
				s.failAttempt(&b.Rescue[i], "starting the copy failed: "+goldenpipe.RedactSAS(err.Error()), now)
			} else {
				b.Rescue[i].CopyID = copyID
			}
			return true
		})
	}
}

// patch applies fn to a build's record with a conditional write.
func (s *Service) patch(ctx context.Context, id string, fn func(*Build) bool) error {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		var b Build
		etag, err := s.Docs.Get(ctx, buildKey(id), &b)
		if err != nil {
			return err
		}
		if !fn(&b) {
			return nil
		}
		if _, err := s.Docs.Put(ctx, buildKey(id), b, etag); err == nil || goldenpipe.ErrorCode(err) != goldenpipe.ECONFLICT {
			return err
		}
	}
	return goldenpipe.Errorf(goldenpipe.ECONFLICT, "build %s kept changing", id)
}

// safeToDelete checks again, against storage, that every VHD of a build is
// where its record says, complete, before its Image Builder template (and
// with it the staging resource group) is deleted.
func (s *Service) safeToDelete(ctx context.Context, b *Build) (bool, string, error) {
	if b.State != StateSucceeded {
		return false, "the build did not succeed", nil
	}
	for _, c := range b.Rescue {
		switch c.State {
		case CopyDelivered:
			continue
		case CopyVerified:
		default:
			return false, c.RunOutputName + " is not verified", nil
		}
		dst, err := s.Destination.Properties(ctx, destinationName(b, c.RunOutputName))
		if err != nil {
			return false, "", err
		}
		if !dst.Exists || dst.Status != goldenpipe.CopySuccess || dst.Length != c.SourceLength || (c.CopyID != "" && dst.ID != c.CopyID) {
			return false, c.RunOutputName + " is no longer complete at " + c.Destination, nil
		}
	}
	return true, "", nil
}
