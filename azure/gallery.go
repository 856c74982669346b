package azure

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"

	"github.com/goldenpipe/goldenpipe"
)

// GalleryVersions is goldenpipe.Gallery on armcompute's
// GalleryImageVersionsClient: one client per subscription (image
// definitions may live in any subscription the identity can reach).
// Updates are a read-modify-write of the whole version, as
// `az sig image-version update` does; deletes and updates are begun and
// never waited for.
type GalleryVersions struct {
	cred    azcore.TokenCredential
	opts    *arm.ClientOptions
	mu      sync.Mutex
	clients map[string]*armcompute.GalleryImageVersionsClient
	calls   atomic.Int64
}

// NewGalleryVersions returns the gallery adapter.
func NewGalleryVersions(cred azcore.TokenCredential, opts *arm.ClientOptions) *GalleryVersions {
	return &GalleryVersions{cred: cred, opts: opts, clients: map[string]*armcompute.GalleryImageVersionsClient{}}
}

// Calls returns how many ARM calls the adapter made.
func (g *GalleryVersions) Calls() int64 { return g.calls.Load() }

// galleryRef is an image definition or version id, split.
type galleryRef struct {
	sub, rg, gallery, image, version string
}

// parseGalleryID reads /subscriptions/<s>/resourceGroups/<rg>/providers/
// Microsoft.Compute/galleries/<g>/images/<def>[/versions/<v>].
func parseGalleryID(id string) (galleryRef, error) {
	parts := strings.Split(strings.Trim(id, "/"), "/")
	var r galleryRef
	for i := 0; i+1 < len(parts); i += 2 {
		switch strings.ToLower(parts[i]) {
		case "subscriptions":
			r.sub = parts[i+1]
		case "resourcegroups":
			r.rg = parts[i+1]
		case "galleries":
			r.gallery = parts[i+1]
		case "images":
			r.image = parts[i+1]
		case "versions":
			r.version = parts[i+1]
		}
	}
	if r.sub == "" || r.rg == "" || r.gallery == "" || r.image == "" {
		return r, goldenpipe.Errorf(goldenpipe.EINVALID, "%q is not an Azure Compute Gallery image id (/subscriptions/…/resourceGroups/…/providers/Microsoft.Compute/galleries/…/images/…)", id)
	}
	return r, nil
}

func (g *GalleryVersions) client(sub string) (*armcompute.GalleryImageVersionsClient, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, ok := g.clients[sub]; ok {
		return c, nil
	}
	c, err := armcompute.NewGalleryImageVersionsClient(sub, g.cred, g.opts)
	if err != nil {
		return nil, err
	}
	g.clients[sub] = c
	return c, nil
}

// ref resolves an id to its parts and its subscription's client, and
// counts the call about to be made.
func (g *GalleryVersions) ref(id string) (galleryRef, *armcompute.GalleryImageVersionsClient, error) {
	r, err := parseGalleryID(id)
	if err != nil {
		return r, nil, err
	}
	c, err := g.client(r.sub)
	g.calls.Add(1)
	return r, c, err
}

// Versions lists an image definition's versions, following nextLink.
func (g *GalleryVersions) Versions(ctx context.Context, imageID string) ([]goldenpipe.GalleryVersion, error) {
	r, c, err := g.ref(imageID)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, armCallTimeout)
	defer cancel()
	var out []goldenpipe.GalleryVersion
	pager := c.NewListByGalleryImagePager(r.rg, r.gallery, r.image, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, ARMError(err, "listing the versions of %s/%s failed", r.gallery, r.image)
		}
		for _, v := range page.Value {
			if v != nil {
				out = append(out, galleryVersion(v))
			}
		}
	}
	return out, nil
}

func galleryVersion(v *armcompute.GalleryImageVersion) goldenpipe.GalleryVersion {
	out := goldenpipe.GalleryVersion{ID: deref(v.ID), Name: deref(v.Name)}
	for k, val := range v.Tags {
		if out.Tags == nil {
			out.Tags = map[string]string{}
		}
		out.Tags[k] = deref(val)
	}
	if p := v.Properties; p != nil {
		if p.ProvisioningState != nil {
			out.ProvisioningState = string(*p.ProvisioningState)
		}
		if pp := p.PublishingProfile; pp != nil {
			out.ExcludeFromLatest = pp.ExcludeFromLatest != nil && *pp.ExcludeFromLatest
			if pp.PublishedDate != nil {
				out.PublishedAt = pp.PublishedDate.UTC()
			}
			// publishingProfile.endOfLifeDate (armcompute v8
			// GalleryImageVersionPublishingProfile.EndOfLifeDate)
			if pp.EndOfLifeDate != nil {
				out.EndOfLife = pp.EndOfLifeDate.UTC()
			}
			// targetRegions[].excludeFromLatest (armcompute v8
			// TargetRegion): a region's own flag; without one, the
			// version-wide flag applies there
			for _, r := range pp.TargetRegions {
				if r == nil || r.Name == nil {
					continue
				}
				out.Regions = append(out.Regions, *r.Name)
				if r.ExcludeFromLatest != nil && *r.ExcludeFromLatest || r.ExcludeFromLatest == nil && out.ExcludeFromLatest {
					out.ExcludedIn = append(out.ExcludedIn, *r.Name)
				}
			}
		}
		// safetyProfile.blockDeletionBeforeEndOfLife (armcompute v8
		// GalleryImageVersionSafetyProfile): "whether or not the deletion
		// is blocked for this Gallery Image Version if its End Of Life has
		// not expired"
		if sp := p.SafetyProfile; sp != nil && sp.BlockDeletionBeforeEndOfLife != nil {
			out.BlockDeletion = *sp.BlockDeletionBeforeEndOfLife
		}
	}
	return out
}

// SetExcludeFromLatest reads the version and writes it back with the flag
// set, version-wide and in each targetRegions[] entry that carries a flag
// of its own (a region's flag decides for that region, armcompute v8
// TargetRegion.ExcludeFromLatest); nothing is written when all are so
// already. The PUT is a long-running operation, begun and not waited for.
func (g *GalleryVersions) SetExcludeFromLatest(ctx context.Context, versionID string, exclude bool) error {
	r, c, err := g.ref(versionID)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, armCallTimeout)
	defer cancel()
	resp, err := c.Get(ctx, r.rg, r.gallery, r.image, r.version, nil)
	if err != nil {
		return ARMError(err, "reading gallery image version %s of %s/%s failed", r.version, r.gallery, r.image)
	}
	v := resp.GalleryImageVersion
	if v.Properties == nil {
		v.Properties = &armcompute.GalleryImageVersionProperties{}
	}
	if v.Properties.PublishingProfile == nil {
		v.Properties.PublishingProfile = &armcompute.GalleryImageVersionPublishingProfile{}
	}
	pp := v.Properties.PublishingProfile
	same := pp.ExcludeFromLatest != nil && *pp.ExcludeFromLatest == exclude || pp.ExcludeFromLatest == nil && !exclude
	for _, r := range pp.TargetRegions {
		if r != nil && r.ExcludeFromLatest != nil && *r.ExcludeFromLatest != exclude {
			r.ExcludeFromLatest, same = to.Ptr(exclude), false
		}
	}
	if same {
		return nil
	}
	pp.ExcludeFromLatest = to.Ptr(exclude)
	g.calls.Add(1)
	if _, err := c.BeginCreateOrUpdate(ctx, r.rg, r.gallery, r.image, r.version, v, nil); err != nil {
		return ARMError(err, "updating gallery image version %s of %s/%s failed", r.version, r.gallery, r.image)
	}
	return nil
}

// DeleteVersion begins deleting a version; one already gone is not an
// error.
func (g *GalleryVersions) DeleteVersion(ctx context.Context, versionID string) error {
	r, c, err := g.ref(versionID)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, armCallTimeout)
	defer cancel()
	_, err = c.BeginDelete(ctx, r.rg, r.gallery, r.image, r.version, nil)
	if err = ARMError(err, "deleting gallery image version %s of %s/%s failed", r.version, r.gallery, r.image); goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
		return nil
	}
	return err
}
