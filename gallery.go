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
	ProvisioningState string            `json:"provisioningState,omitempty"` // Creating, Succeeded, Failed, Deleting, ...
	Tags              map[string]string `json:"tags,omitempty"`
}

// Gallery is the part of Azure Compute Gallery the app uses: the versions
// of an image definition, their excludeFromLatest flag, and deletion.
// Long-running operations are begun, never waited for; the next read
// observes them.
type Gallery interface {
	// Versions lists the versions of an image definition (its resource
	// id); ENOTFOUND when the definition does not exist.
	Versions(ctx context.Context, imageID string) ([]GalleryVersion, error)
	// SetExcludeFromLatest sets a version's excludeFromLatest flag.
	SetExcludeFromLatest(ctx context.Context, versionID string, exclude bool) error
	// DeleteVersion deletes a version; one already gone is not an error.
	DeleteVersion(ctx context.Context, versionID string) error
}
