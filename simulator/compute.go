// Package simulator stands in for Azure's control plane in tests and local
// runs. It is built on the SDK's fake servers, so requests go through the
// SDK's real serialization, and it behaves as the reference says Azure does.
package simulator

import (
	"context"
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

// NewImages returns a marketplace holding the images local runs use.
func NewImages() *Images {
	m := &Images{versions: map[string][]string{}}
	m.Set("Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2", "22.04.202410020", "22.04.202411190", "22.04.202409300")
	m.Set("Canonical", "UbuntuServer", "18.04-LTS", "18.04.202306070", "18.04.202401161")
	m.Set("MicrosoftWindowsDesktop", "office-365", "win11-23h2-avd-m365", "22631.4460.241106", "22631.4317.241009", "22631.3880.240709")
	m.Set("MicrosoftWindowsDesktop", "windows-11", "win11-24h2-avd", "26100.2314.241107", "26100.2033.241004")
	m.Set("MicrosoftWindowsServer", "WindowsServer", "2022-datacenter-azure-edition", "20348.2849.241106", "20348.2762.241009", "20348.2700.240911")
	m.Set("RedHat", "RHEL", "8-lvm-gen2", "8.9.2024020215", "8.10.2024070513", "8.8.2023112114")
	return m
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
