package simulator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8/fake"
)

// Gallery simulates the image versions of Azure Compute Gallery image
// definitions, behind armcompute's fake GalleryImageVersionsServer: the
// versions Image Builder publishes, their excludeFromLatest flag and tags,
// updates (PUT of the whole version, as `az sig image-version update`
// sends) and deletes. Lists come two versions a page, so clients must
// follow nextLink. Safe for concurrent use.
type Gallery struct {
	// Now is the gallery's clock (default time.Now).
	Now func() time.Time

	mu     sync.Mutex
	images map[string]map[string]*armcompute.GalleryImageVersion // lower image id → version name → version
	calls  map[string]int
}

// pageSize is how many versions one list page holds.
const pageSize = 2

// NewGallery returns an empty gallery (image definitions appear with their
// first version).
func NewGallery() *Gallery {
	return &Gallery{images: map[string]map[string]*armcompute.GalleryImageVersion{}, calls: map[string]int{}}
}

func (g *Gallery) now() time.Time {
	if g.Now != nil {
		return g.Now().UTC()
	}
	return time.Now().UTC()
}

// galleryKey is the key of an image definition: its resource group,
// gallery and name, in lower case (ARM names are case-insensitive, and the
// fake server is not told the subscription).
func galleryKey(rg, gallery, image string) string {
	return strings.ToLower(rg + "/" + gallery + "/" + image)
}

// keyOf is the key of an image definition's resource id.
func keyOf(imageID string) string {
	parts := strings.Split(strings.Trim(imageID, "/"), "/")
	var rg, gallery, image string
	for i := 0; i+1 < len(parts); i += 2 {
		switch strings.ToLower(parts[i]) {
		case "resourcegroups":
			rg = parts[i+1]
		case "galleries":
			gallery = parts[i+1]
		case "images":
			image = parts[i+1]
		}
	}
	return galleryKey(rg, gallery, image)
}

// Publish adds a version to an image definition (its resource id) as
// Image Builder's distribution does, and returns the version's id.
func (g *Gallery) Publish(imageID, version string, excludeFromLatest bool, tags map[string]string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	key := keyOf(imageID)
	if g.images[key] == nil {
		g.images[key] = map[string]*armcompute.GalleryImageVersion{}
	}
	id := strings.TrimRight(imageID, "/") + "/versions/" + version
	v := &armcompute.GalleryImageVersion{ID: to.Ptr(id), Name: to.Ptr(version), Type: to.Ptr("Microsoft.Compute/galleries/images/versions"),
		Location: to.Ptr("westeurope"), Tags: map[string]*string{},
		Properties: &armcompute.GalleryImageVersionProperties{ProvisioningState: to.Ptr(armcompute.GalleryProvisioningStateSucceeded),
			PublishingProfile: &armcompute.GalleryImageVersionPublishingProfile{ExcludeFromLatest: to.Ptr(excludeFromLatest), PublishedDate: to.Ptr(g.now())},
			StorageProfile:    &armcompute.GalleryImageVersionStorageProfile{}}}
	for k, val := range tags {
		v.Tags[k] = to.Ptr(val)
	}
	g.images[key][version] = v
	return id
}

// Versions returns the names of an image definition's versions, oldest
// first (numeric order).
func (g *Gallery) Versions(imageID string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.sorted(keyOf(imageID))
}

// sorted is called with g.mu held.
func (g *Gallery) sorted(key string) []string {
	var names []string
	for n := range g.images[key] {
		names = append(names, n)
	}
	slices.SortFunc(names, compareVersions)
	return names
}

// Excluded reports whether a version is excluded from latest.
func (g *Gallery) Excluded(imageID, version string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	v := g.images[keyOf(imageID)][version]
	return v != nil && *v.Properties.PublishingProfile.ExcludeFromLatest
}

// Latest is what a VM made from the image definition with version
// "latest" gets: the highest version number not excluded from latest.
func (g *Gallery) Latest(imageID string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	key := keyOf(imageID)
	names := g.sorted(key)
	for i := len(names) - 1; i >= 0; i-- {
		if !*g.images[key][names[i]].Properties.PublishingProfile.ExcludeFromLatest {
			return names[i]
		}
	}
	return ""
}

// Tag sets a tag on a version (an operator marking it in use).
func (g *Gallery) Tag(imageID, version, key, value string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if v := g.images[keyOf(imageID)][version]; v != nil {
		v.Tags[key] = to.Ptr(value)
	}
}

// Calls returns how many calls of an operation ("Get", "List", "Update",
// "Delete") the gallery answered.
func (g *Gallery) Calls(op string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[op]
}

// NextVersion is the version Image Builder gives a SharedImage
// distribution: the version the galleryImageId names; with versioning
// Latest, one patch above the highest version (within major, when major is
// not -1); otherwise one made from the time, 0.<yyDDD>.<seconds of the
// day>, the shape of the versions Image Builder generates.
func (g *Gallery) NextVersion(galleryImageID, scheme string, major int) (imageID, version string) {
	if i := strings.LastIndex(strings.ToLower(galleryImageID), "/versions/"); i >= 0 {
		return galleryImageID[:i], galleryImageID[i+len("/versions/"):]
	}
	imageID = strings.TrimRight(galleryImageID, "/")
	if scheme == "Latest" {
		g.mu.Lock()
		names := g.sorted(keyOf(imageID))
		g.mu.Unlock()
		best := []int{max(major, 0), 0, -1}
		for _, n := range names {
			var p [3]int
			if k, _ := fmt.Sscanf(n, "%d.%d.%d", &p[0], &p[1], &p[2]); k != 3 || major >= 0 && p[0] != major {
				continue
			}
			if compareVersions(n, fmt.Sprintf("%d.%d.%d", best[0], best[1], best[2])) > 0 {
				best = p[:]
			}
		}
		return imageID, fmt.Sprintf("%d.%d.%d", best[0], best[1], best[2]+1)
	}
	now := g.now()
	v := fmt.Sprintf("0.%02d%03d.%d", now.Year()%100, now.YearDay(), now.Hour()*3600+now.Minute()*60+now.Second())
	g.mu.Lock()
	defer g.mu.Unlock()
	for taken := g.images[keyOf(imageID)]; taken[v] != nil; {
		now = now.Add(time.Second) // two runs in one second: the next second's version
		v = fmt.Sprintf("0.%02d%03d.%d", now.Year()%100, now.YearDay(), now.Hour()*3600+now.Minute()*60+now.Second())
	}
	return imageID, v
}

// clone is a deep copy of a version: answers are serialized after the
// gallery's lock is released, while later updates change the original.
func clone(v *armcompute.GalleryImageVersion) armcompute.GalleryImageVersion {
	var out armcompute.GalleryImageVersion
	b, err := json.Marshal(v)
	if err == nil {
		err = json.Unmarshal(b, &out)
	}
	if err != nil {
		panic("simulator: copying a gallery version: " + err.Error())
	}
	return out
}

// compareVersions orders x.y.z names by number.
func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		var x, y int
		fmt.Sscan(pa[i], &x)
		fmt.Sscan(pb[i], &y)
		if x != y {
			return x - y
		}
	}
	return len(pa) - len(pb)
}

func (g *Gallery) count(op string) {
	g.mu.Lock()
	g.calls[op]++
	g.mu.Unlock()
}

// Transport returns the transport an armcompute GalleryImageVersionsClient
// uses to reach the gallery.
func (g *Gallery) Transport() *fake.GalleryImageVersionsServerTransport {
	return fake.NewGalleryImageVersionsServerTransport(&fake.GalleryImageVersionsServer{
		Get: func(ctx context.Context, rg, gallery, image, version string, _ *armcompute.GalleryImageVersionsClientGetOptions) (resp azfake.Responder[armcompute.GalleryImageVersionsClientGetResponse], errResp azfake.ErrorResponder) {
			g.count("Get")
			g.mu.Lock()
			defer g.mu.Unlock()
			v := g.images[galleryKey(rg, gallery, image)][version]
			if v == nil {
				errResp.SetResponseError(http.StatusNotFound, "ResourceNotFound")
				return
			}
			resp.SetResponse(http.StatusOK, armcompute.GalleryImageVersionsClientGetResponse{GalleryImageVersion: clone(v)}, nil)
			return
		},
		NewListByGalleryImagePager: func(rg, gallery, image string, _ *armcompute.GalleryImageVersionsClientListByGalleryImageOptions) (resp azfake.PagerResponder[armcompute.GalleryImageVersionsClientListByGalleryImageResponse]) {
			g.count("List")
			g.mu.Lock()
			defer g.mu.Unlock()
			key := galleryKey(rg, gallery, image)
			if _, ok := g.images[key]; !ok {
				resp.AddResponseError(http.StatusNotFound, "ResourceNotFound")
				return
			}
			names := g.sorted(key)
			if len(names) == 0 {
				resp.AddPage(http.StatusOK, armcompute.GalleryImageVersionsClientListByGalleryImageResponse{}, nil)
			}
			for i := 0; i < len(names); i += pageSize {
				var page armcompute.GalleryImageVersionsClientListByGalleryImageResponse
				for _, n := range names[i:min(i+pageSize, len(names))] {
					c := clone(g.images[key][n])
					page.Value = append(page.Value, &c)
				}
				resp.AddPage(http.StatusOK, page, nil)
			}
			return
		},
		BeginCreateOrUpdate: func(ctx context.Context, rg, gallery, image, version string, body armcompute.GalleryImageVersion, _ *armcompute.GalleryImageVersionsClientBeginCreateOrUpdateOptions) (resp azfake.PollerResponder[armcompute.GalleryImageVersionsClientCreateOrUpdateResponse], errResp azfake.ErrorResponder) {
			g.count("Update")
			g.mu.Lock()
			defer g.mu.Unlock()
			v := g.images[galleryKey(rg, gallery, image)][version]
			if v == nil {
				// the app never creates versions; Image Builder does
				errResp.SetResponseError(http.StatusNotFound, "ResourceNotFound")
				return
			}
			if body.Properties != nil && body.Properties.PublishingProfile != nil && body.Properties.PublishingProfile.ExcludeFromLatest != nil {
				v.Properties.PublishingProfile.ExcludeFromLatest = to.Ptr(*body.Properties.PublishingProfile.ExcludeFromLatest)
			}
			if body.Tags != nil {
				v.Tags = body.Tags
			}
			resp.AddNonTerminalResponse(http.StatusOK, nil)
			resp.SetTerminalResponse(http.StatusOK, armcompute.GalleryImageVersionsClientCreateOrUpdateResponse{GalleryImageVersion: clone(v)}, nil)
			return
		},
		BeginDelete: func(ctx context.Context, rg, gallery, image, version string, _ *armcompute.GalleryImageVersionsClientBeginDeleteOptions) (resp azfake.PollerResponder[armcompute.GalleryImageVersionsClientDeleteResponse], errResp azfake.ErrorResponder) {
			g.count("Delete")
			g.mu.Lock()
			defer g.mu.Unlock()
			vs := g.images[galleryKey(rg, gallery, image)]
			if vs[version] == nil {
				resp.SetTerminalResponse(http.StatusNoContent, armcompute.GalleryImageVersionsClientDeleteResponse{}, nil)
				return
			}
			delete(vs, version)
			resp.AddNonTerminalResponse(http.StatusAccepted, nil)
			resp.SetTerminalResponse(http.StatusOK, armcompute.GalleryImageVersionsClientDeleteResponse{}, nil)
			return
		},
	})
}
