package template

import (
	"context"
	"fmt"
	"math/big"
	"strings"
	"sync"

	"github.com/goldenpipe/goldenpipe"
)

// CompareVersions compares two dot-separated image versions part by part as
// numbers (8.10.2024 is newer than 8.9.2024, which a text sort gets wrong).
// Parts that are not numbers compare as text after all numeric parts; a
// version with more parts is newer when the common parts are equal.
func CompareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		if c := comparePart(pa[i], pb[i]); c != 0 {
			return c
		}
	}
	switch {
	case len(pa) < len(pb):
		return -1
	case len(pa) > len(pb):
		return 1
	}
	return 0
}

func comparePart(a, b string) int {
	na, okA := new(big.Int).SetString(a, 10)
	nb, okB := new(big.Int).SetString(b, 10)
	switch {
	case okA && okB:
		return na.Cmp(nb)
	case okA:
		return 1 // numbers beat labels
	case okB:
		return -1
	}
	return strings.Compare(a, b)
}

// Newest returns the newest of versions by CompareVersions.
func Newest(versions []string) string {
	best := ""
	for _, v := range versions {
		if best == "" || CompareVersions(v, best) > 0 {
			best = v
		}
	}
	return best
}

// VersionLister lists the versions of a marketplace image (armcompute's
// VirtualMachineImagesClient.List).
type VersionLister interface {
	ListVersions(ctx context.Context, location, publisher, offer, sku string) ([]string, error)
}

// Resolver resolves "latest" to an exact version, looking each distinct
// (location, publisher, offer, sku) up once: make one per run.
type Resolver struct {
	Lister VersionLister

	mu    sync.Mutex
	cache map[string]*resolution
}

type resolution struct {
	done    chan struct{}
	version string
	err     error
}

// Latest returns the newest version of an image.
func (r *Resolver) Latest(ctx context.Context, location, publisher, offer, sku string) (string, error) {
	key := imageKey(location, publisher, offer, sku)
	r.mu.Lock()
	if r.cache == nil {
		r.cache = map[string]*resolution{}
	}
	res, ok := r.cache[key]
	if !ok {
		res = &resolution{done: make(chan struct{})}
		r.cache[key] = res
	}
	r.mu.Unlock()
	if ok {
		<-res.done
		return res.version, res.err
	}
	versions, err := r.Lister.ListVersions(ctx, location, publisher, offer, sku)
	switch {
	case goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND:
		res.err = goldenpipe.Errorf(goldenpipe.ENOTFOUND, "image %s:%s:%s is not in the marketplace of %s (Azure answered not found): "+
			"check the publisher, offer and SKU with `az vm image list --location %s --publisher %s --offer %s --sku %s --all`",
			publisher, offer, sku, location, location, publisher, offer, sku)
	case err != nil:
		res.err = fmt.Errorf("listing versions of %s:%s:%s in %s: %w", publisher, offer, sku, location, err)
	case len(versions) == 0:
		res.err = goldenpipe.Errorf(goldenpipe.ENOTFOUND, "image %s:%s:%s has no versions in %s", publisher, offer, sku, location)
	default:
		res.version = Newest(versions)
	}
	if res.err != nil && goldenpipe.ErrorCode(res.err) != goldenpipe.ENOTFOUND {
		// a transient failure is not cached: the next caller tries again
		r.mu.Lock()
		delete(r.cache, key)
		r.mu.Unlock()
	}
	close(res.done)
	return res.version, res.err
}

// imageKey names a platform image as Azure does: case and the location's
// spaces aside.
func imageKey(location, publisher, offer, sku string) string {
	return strings.ToLower(strings.ReplaceAll(location, " ", "") + "/" + publisher + "/" + offer + "/" + sku)
}
