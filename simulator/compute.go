// Package simulator stands in for Azure's control plane in tests and local
// runs. It is built on the SDK's fake servers, so requests go through the
// SDK's real serialization, and it behaves as the reference says Azure does.
package simulator

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8/fake"
)

// Images is a simulated marketplace: versions by publisher/offer/sku, the
// same in every location. Safe for concurrent use.
type Images struct {
	mu       sync.Mutex
	versions map[string][]string
	// Latency is added to every call, to make ARM's round trips visible.
	Latency time.Duration
	calls   int
}

func imageKey(publisher, offer, sku string) string {
	return strings.ToLower(publisher + "/" + offer + "/" + sku)
}

//go:embed marketplace.json
var marketplace []byte

// marketplaceFile is the shape of marketplace.json and of the files
// AIB_SIMULATOR_IMAGES names.
type marketplaceFile struct {
	Images []struct {
		Publisher, Offer, SKU string
		Versions              []string
	} `json:"images"`
}

// NewImages returns a marketplace holding the images platform teams build
// from (marketplace.json beside this file).
func NewImages() *Images {
	m := &Images{versions: map[string][]string{}}
	if err := m.Load(marketplace); err != nil {
		panic("simulator: marketplace.json: " + err.Error())
	}
	return m
}

// Load adds the images of a marketplace file (the shape of
// marketplace.json); an image already known gets the file's versions.
func (m *Images) Load(b []byte) error {
	var f marketplaceFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&struct {
		Comment string `json:"//"`
		*marketplaceFile
	}{marketplaceFile: &f}); err != nil {
		return fmt.Errorf("reading the marketplace: %w", err)
	}
	for i, im := range f.Images {
		if im.Publisher == "" || im.Offer == "" || im.SKU == "" || len(im.Versions) == 0 {
			return fmt.Errorf("image %d: publisher, offer, sku and at least one version are required", i)
		}
		m.Set(im.Publisher, im.Offer, im.SKU, im.Versions...)
	}
	return nil
}

// Set replaces the versions of an image.
func (m *Images) Set(publisher, offer, sku string, versions ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.versions[imageKey(publisher, offer, sku)] = append([]string(nil), versions...)
}

// Publish adds a newer version of an image.
func (m *Images) Publish(publisher, offer, sku, version string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := imageKey(publisher, offer, sku)
	m.versions[k] = append(m.versions[k], version)
}

// Calls returns how many List calls the marketplace answered.
func (m *Images) Calls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}

// Transport returns the transport an armcompute client uses to reach the
// marketplace.
func (m *Images) Transport() *fake.VirtualMachineImagesServerTransport {
	return fake.NewVirtualMachineImagesServerTransport(&fake.VirtualMachineImagesServer{
		List: func(ctx context.Context, location, publisher, offer, skus string, _ *armcompute.VirtualMachineImagesClientListOptions) (azfake.Responder[armcompute.VirtualMachineImagesClientListResponse], azfake.ErrorResponder) {
			var resp azfake.Responder[armcompute.VirtualMachineImagesClientListResponse]
			var errResp azfake.ErrorResponder
			if m.Latency > 0 {
				select {
				case <-time.After(m.Latency):
				case <-ctx.Done():
				}
			}
			m.mu.Lock()
			m.calls++
			versions, ok := m.versions[imageKey(publisher, offer, skus)]
			m.mu.Unlock()
			if !ok {
				errResp.SetResponseError(http.StatusNotFound, "NotFound")
				return resp, errResp
			}
			arr := make([]*armcompute.VirtualMachineImageResource, 0, len(versions))
			for _, v := range versions {
				arr = append(arr, &armcompute.VirtualMachineImageResource{Name: to.Ptr(v), Location: to.Ptr(location),
					ID: to.Ptr("/Subscriptions/sim/Providers/Microsoft.Compute/Locations/" + location + "/Publishers/" + publisher +
						"/ArtifactTypes/VMImage/Offers/" + offer + "/Skus/" + skus + "/Versions/" + v)})
			}
			resp.SetResponse(http.StatusOK, armcompute.VirtualMachineImagesClientListResponse{VirtualMachineImageResourceArray: arr}, nil)
			return resp, errResp
		},
	})
}

// TokenCredential is the credential simulated clients use.
func TokenCredential() *azfake.TokenCredential { return &azfake.TokenCredential{} }
