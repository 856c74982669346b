package simulator

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	aib "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/virtualmachineimagebuilder/armvirtualmachineimagebuilder/v2"

	"github.com/goldenpipe/goldenpipe/internal/clock"
)

func client(t *testing.T, b *ImageBuilder) *aib.VirtualMachineImageTemplatesClient {
	t.Helper()
	c, err := aib.NewVirtualMachineImageTemplatesClient("00000000-0000-0000-0000-000000000000", TokenCredential(),
		&arm.ClientOptions{ClientOptions: policy.ClientOptions{Transport: b.Transport(), Retry: policy.RetryOptions{MaxRetries: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func valid() aib.ImageTemplate {
	return aib.ImageTemplate{Location: to.Ptr("westeurope"),
		Identity: &aib.ImageTemplateIdentity{Type: to.Ptr(aib.ResourceIdentityTypeUserAssigned),
			UserAssignedIdentities: map[string]*aib.UserAssignedIdentity{"/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/aib": {}}},
		Properties: &aib.ImageTemplateProperties{
			Source:     &aib.ImageTemplatePlatformImageSource{Type: to.Ptr("PlatformImage"), Publisher: to.Ptr("Canonical"), Offer: to.Ptr("ubuntu-24_04-lts"), SKU: to.Ptr("server"), Version: to.Ptr("24.04.202411030")},
			Distribute: []aib.ImageTemplateDistributorClassification{&aib.ImageTemplateVhdDistributor{Type: to.Ptr("VHD"), RunOutputName: to.Ptr("vhd")}}}}
}

// The simulator refuses at once what Image Builder refuses at submission,
// with ARM's error shape, and creates nothing.
func TestSimulatorRefusesAnInvalidPUTAtOnce(t *testing.T) {
	b := NewImageBuilder()
	tpl := valid()
	tpl.Identity = nil
	_, err := client(t, b).BeginCreateOrUpdate(context.Background(), "rg", "t", tpl, nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest || re.ErrorCode != "ValidationFailed" || !strings.Contains(re.Error(), "identity is required") {
		t.Fatalf("err = %v", err)
	}
	if len(b.Templates()) != 0 {
		t.Errorf("a refused PUT created %v", b.Templates())
	}
}

// Delete and cancel while a build runs are refused with OperationNotAllowed
// (405 and 409, as both have been seen); once the run ended, the delete goes.
func TestSimulatorRefusesDeleteWhileRunning(t *testing.T) {
	c := clock.NewFake(time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC))
	b := NewImageBuilder()
	b.Now, b.CreateDuration, b.PhaseDuration = c.Now, time.Minute, time.Minute
	cl := client(t, b)
	ctx := context.Background()
	if _, err := cl.BeginCreateOrUpdate(ctx, "rg", "t", valid(), nil); err != nil {
		t.Fatal(err)
	}
	c.Advance(2 * time.Minute)
	if _, err := cl.BeginRun(ctx, "rg", "t", nil); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Minute)
	_, err := cl.BeginDelete(ctx, "rg", "t", nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusMethodNotAllowed || re.ErrorCode != "OperationNotAllowed" {
		t.Fatalf("delete while running: %v", err)
	}
	c.Advance(time.Hour)
	if _, err := cl.BeginDelete(ctx, "rg", "t", nil); err != nil {
		t.Fatalf("delete after the run: %v", err)
	}
	if _, err := cl.BeginCancel(ctx, "rg", "gone", nil); err == nil {
		t.Error("cancel of a missing template succeeded")
	}
}
