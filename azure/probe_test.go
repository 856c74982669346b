package azure

import (
	"context"
	"net/http"
	"strings"
	"testing"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	aib "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/virtualmachineimagebuilder/armvirtualmachineimagebuilder/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/virtualmachineimagebuilder/armvirtualmachineimagebuilder/v2/fake"
)

// TestImageBuilderProbe: the health probe reads a template that never
// exists; Image Builder saying so is healthy, a missing resource group or a
// missing role is not.
func TestImageBuilderProbe(t *testing.T) {
	tests := []struct {
		status  int
		code    string
		healthy bool
	}{
		{http.StatusNotFound, "ResourceNotFound", true},
		{http.StatusNotFound, "ResourceGroupNotFound", false},
		{http.StatusForbidden, "AuthorizationFailed", false},
		{http.StatusServiceUnavailable, "ServiceUnavailable", false},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			srv := &fake.VirtualMachineImageTemplatesServer{
				Get: func(ctx context.Context, rg, name string, _ *aib.VirtualMachineImageTemplatesClientGetOptions) (resp azfake.Responder[aib.VirtualMachineImageTemplatesClientGetResponse], errResp azfake.ErrorResponder) {
					errResp.SetResponseError(tt.status, tt.code)
					return
				},
			}
			opts := ARMClientOptions(fake.NewVirtualMachineImageTemplatesServerTransport(srv))
			opts.Retry.MaxRetries = -1
			b, err := NewImageBuilder("00000000-0000-0000-0000-000000000000", "rg-images", &azfake.TokenCredential{}, opts)
			if err != nil {
				t.Fatal(err)
			}
			err = b.Probe(context.Background())
			if (err == nil) != tt.healthy || err != nil && !strings.Contains(err.Error(), tt.code) {
				t.Errorf("Probe = %v, healthy %v", err, tt.healthy)
			}
		})
	}
}
