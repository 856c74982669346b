package goldenpipe

import (
	"context"
	"time"
)

// GalleryInUseTag, set on an Azure Compute Gallery image version (any
// value), keeps it from ever being deleted by a retention policy: host
// pools and scale sets still deployed from it.
const GalleryInUseTag = "goldenpipe.inUse"

// GalleryVersion is one version of an Azure Compute Gallery image
// definition, as the gallery reports it.
type GalleryVersion struct {
	ID                string            `json:"id"`   // .../galleries/<g>/images/<def>/versions/<x.y.z>
	Name              string            `json:"name"` // x.y.z
	ExcludeFromLatest bool              `json:"excludeFromLatest"`
	PublishedAt       time.Time         `json:"publishedAt,omitzero"`
	ProvisioningState string            `json:"provisioningState,omitempty"` // Creating, Updating, Succeeded, Failed, Deleting, ...
	Tags              map[string]string `json:"tags,omitempty"`
	// Regions are the regions the version is replicated to
	// (publishingProfile.targetRegions[].name); ExcludedIn those of them
	// where the version is hidden from `latest`: by that region's own
	// targetRegions[].excludeFromLatest (armcompute v8
	// TargetRegion.ExcludeFromLatest: "the flag setting to hide an image
	// when users specify version='latest'"), or, when the region sets no
	// flag of its own, by ExcludeFromLatest.
	Regions    []string `json:"regions,omitempty"`
	ExcludedIn []string `json:"excludedIn,omitempty"`
	// EndOfLife is publishingProfile.endOfLifeDate; BlockDeletion is
	// safetyProfile.blockDeletionBeforeEndOfLife: "whether or not the
	// deletion is blocked for this Gallery Image Version if its End Of
	// Life has not expired" (armcompute v8 GalleryImageVersionSafetyProfile).
	EndOfLife     time.Time `json:"endOfLife,omitzero"`
	BlockDeletion bool      `json:"blockDeletion,omitempty"`
}

// ProtectedAt reports a version Azure refuses to delete at now: deletion
// blocked before an end of life not yet reached.
func (v GalleryVersion) ProtectedAt(now time.Time) bool {
	return v.BlockDeletion && (v.EndOfLife.IsZero() || now.Before(v.EndOfLife))
}

// Gallery is the part of Azure Compute Gallery the app uses: the versions
// of an image definition, their excludeFromLatest flag, and deletion.
// Long-running operations are begun, never waited for; the next read
// observes them.
type Gallery interface {
	// Versions lists the versions of an image definition (its resource
	// id); ENOTFOUND when the definition does not exist.
	Versions(ctx context.Context, imageID string) ([]GalleryVersion, error)
	// SetExcludeFromLatest sets a version's excludeFromLatest flag, in
	// publishingProfile and in every targetRegions[] entry. The update is
	// begun, not waited for: the version reads Updating until Azure has
	// applied it.
	SetExcludeFromLatest(ctx context.Context, versionID string, exclude bool) error
	// DeleteVersion deletes a version; one already gone is not an error.
	DeleteVersion(ctx context.Context, versionID string) error
}
