package builds

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"

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

// CopyState is where the rescue of one VHD output is.
type CopyState string

// Rescue states of one VHD output.
const (
	CopyNew       CopyState = "new"       // not started
	CopyCopying   CopyState = "copying"   // a server-side copy runs
	CopyWaiting   CopyState = "waiting"   // an attempt failed; the next starts at NextAttemptAt
	CopyVerified  CopyState = "verified"  // the copy is complete and checked
	CopyCheck     CopyState = "check"     // the distributor wrote the VHD to its own uri: check it is there
	CopyDelivered CopyState = "delivered" // the VHD is at the distributor's uri
	CopyGaveUp    CopyState = "failed"    // attempts exhausted: the template is kept
)

// VHDCopy is the rescue of one VHD run output.
type VHDCopy struct {
	RunOutputName string    `json:"runOutputName"`
	Source        string    `json:"source"`      // the staging blob, no SAS
	Destination   string    `json:"destination"` // no SAS
	State         CopyState `json:"state"`
	CopyID        string    `json:"copyId,omitempty"`
	SourceETag    string    `json:"sourceEtag,omitempty"`
	SourceLength  int64     `json:"sourceLength,omitempty"`
	Copied        int64     `json:"copied,omitempty"`
	Total         int64     `json:"total,omitempty"`
	ProgressAt    time.Time `json:"progressAt,omitempty"` // when Copied last moved
	// EstimatedDoneAt is when the copy should end at its speed so far.
	EstimatedDoneAt time.Time `json:"estimatedDoneAt,omitempty"`
	Attempts        int       `json:"attempts"`
	StartedAt       time.Time `json:"startedAt,omitempty"`
	SASExpiry       time.Time `json:"sasExpiry,omitempty"`
	NextAttemptAt   time.Time `json:"nextAttemptAt,omitempty"`
	VerifiedAt      time.Time `json:"verifiedAt,omitempty"`
	Error           string    `json:"error,omitempty"`
}

func (c *VHDCopy) final() bool {
	return c.State == CopyVerified || c.State == CopyDelivered || c.State == CopyGaveUp
}

// Rescue defaults.
const (
	// maxSASTTL is the longest a source SAS may live: the 7 days a user
	// delegation key may last, less a margin for clock skew.
	maxSASTTL = 7*24*time.Hour - 15*time.Minute
	// minSASTTL is the shortest: a copy may start late (Copy Blob is best
	// effort) and a small VHD still needs time.
	minSASTTL = 6 * time.Hour
	// copyRateFloor is the copy speed a SAS's lifetime is sized for, twice
	// over: slower than Azure's server-side copies between accounts run.
	copyRateFloor       = 50 << 20 // bytes a second
	defaultCopyAttempts = 5
	defaultCopyBackoff  = time.Minute
	metaPrefix          = "goldenpipe_"
)

// destinationName is where a build's VHD goes in the destination container.
func destinationName(b *Build, runOutput string) string {
	return b.Template + "/" + b.ID + "/" + runOutput + ".vhd"
}

// ScriptsDigest is the sha256 of a build's scripts (name → sha256, as the
// JSON of the map, its keys sorted), in hex: what a VHD copy's metadata
// carries of them.
func ScriptsDigest(scripts map[string]string) string {
	b, _ := json.Marshal(scripts) // maps marshal with sorted keys
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// startCopy signs a fresh read-only SAS and starts the server-side copy of
// the i-th output; the next look adopts the copy's id from the destination.
func (s *Service) startCopy(ctx context.Context, b Build, i int) error {
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
	// the scripts as a digest and a count, not the list: "The total size
	// of the metadata, including both the name and value together, may not
	// exceed 8 KB in size" (Blob service, Setting and retrieving
	// properties and metadata), and a list grows with the template (about
	// 70 scripts passed it). The full list is in the build record.
	md[metaPrefix+"scripts_sha256"], md[metaPrefix+"scripts_count"] = ScriptsDigest(b.Scripts), strconv.Itoa(len(b.Scripts))
	ttl := c.SASExpiry.Sub(c.StartedAt) // decided with the attempt: as short as the copy allows
	if ttl <= 0 {
		ttl = minSASTTL
	}
	sasURL, _, err := s.Source.SignRead(ctx, c.Source, ttl)
	if err != nil {
		return goldenpipe.Wrap(goldenpipe.ErrorCode(err), err, "signing the source of %s: %s", c.RunOutputName, goldenpipe.RedactSAS(goldenpipe.ErrorMessage(err)))
	}
	if _, err := s.Destination.StartCopy(ctx, destinationName(&b, c.RunOutputName), sasURL, md); err != nil {
		return goldenpipe.Wrap(goldenpipe.ErrorCode(err), err, "%s", goldenpipe.RedactSAS(goldenpipe.ErrorMessage(err)))
	}
	return nil
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
