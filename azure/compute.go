package azure

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
)

// armCallTimeout bounds one ARM call (its retries included).
const armCallTimeout = 60 * time.Second

// ARMClientOptions are the options every ARM client of the app uses;
// transport, when set, replaces the network (the simulator).
func ARMClientOptions(transport policy.Transporter) *arm.ClientOptions {
	o := &arm.ClientOptions{ClientOptions: azcore.ClientOptions{
		Retry:     policy.RetryOptions{MaxRetries: 4, TryTimeout: 30 * time.Second, RetryDelay: time.Second, MaxRetryDelay: 10 * time.Second},
		Telemetry: policy.TelemetryOptions{ApplicationID: "goldenpipe"},
	}}
	if transport != nil {
		o.Transport = transport
		o.Retry.RetryDelay = time.Millisecond
	}
	return o
}

// ARMEndpointOptions are client options for an ARM endpoint other than
// Azure's (the simulator served on loopback).
func ARMEndpointOptions(endpoint string) *arm.ClientOptions {
	o := ARMClientOptions(nil)
	o.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: "https://login.microsoftonline.com/",
		Services: map[cloud.ServiceName]cloud.ServiceConfiguration{cloud.ResourceManager: {Endpoint: endpoint, Audience: "https://management.azure.com"}}}
	o.InsecureAllowCredentialWithHTTP = true
	o.Retry.RetryDelay = 10 * time.Millisecond
	return o
}

// ImageVersions lists marketplace image versions with armcompute.
type ImageVersions struct {
	client *armcompute.VirtualMachineImagesClient
	calls  atomic.Int64
}

// NewImageVersions returns a lister for a subscription.
func NewImageVersions(subscriptionID string, cred azcore.TokenCredential, opts *arm.ClientOptions) (*ImageVersions, error) {
	c, err := armcompute.NewVirtualMachineImagesClient(subscriptionID, cred, opts)
	if err != nil {
		return nil, err
	}
	return &ImageVersions{client: c}, nil
}

// ListVersions returns every version of an image (in the service's order,
// which sorts as text; callers compare numerically). ENOTFOUND when the
// image does not exist in the location.
func (v *ImageVersions) ListVersions(ctx context.Context, location, publisher, offer, sku string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, armCallTimeout)
	defer cancel()
	v.calls.Add(1)
	resp, err := v.client.List(ctx, location, publisher, offer, sku, nil)
	if err != nil {
		return nil, StorageError(err, "listing versions of %s:%s:%s in %s failed", publisher, offer, sku, location)
	}
	out := make([]string, 0, len(resp.VirtualMachineImageResourceArray))
	for _, r := range resp.VirtualMachineImageResourceArray {
		if r != nil && r.Name != nil {
			out = append(out, *r.Name)
		}
	}
	return out, nil
}

// Calls returns how many ARM calls the lister made.
func (v *ImageVersions) Calls() int64 { return v.calls.Load() }
