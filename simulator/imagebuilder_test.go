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
	c, cl := created(t)
	ctx := context.Background()
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

// A staging group given to a template must exist, give the template's
// identity Contributor, and be used by no other template: the simulator
// fails the creation with BadStagingResourceGroup otherwise, as Image
// Builder does.
func TestSimulatorChecksStagingGroups(t *testing.T) {
	b := NewImageBuilder()
	b.CreateDuration = 0
	b.Groups = NewGroups()
	cl := client(t, b)
	ctx := context.Background()
	group := "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/stg-1"
	withGroup := func() aib.ImageTemplate {
		tpl := valid()
		tpl.Properties.StagingResourceGroup = to.Ptr(group)
		return tpl
	}
	state := func(name string) (string, string) {
		r, err := cl.Get(ctx, "rg", name, nil)
		if err != nil {
			t.Fatal(err)
		}
		msg := ""
		if r.Properties.ProvisioningError != nil {
			msg = *r.Properties.ProvisioningError.Message
		}
		return string(*r.Properties.ProvisioningState), msg
	}
	if _, err := cl.BeginCreateOrUpdate(ctx, "rg", "missing-group", withGroup(), nil); err != nil {
		t.Fatal(err)
	}
	if s, msg := state("missing-group"); s != "Failed" || !strings.Contains(msg, "does not exist") {
		t.Errorf("a missing group: %s %s", s, msg)
	}
	if _, err := cl.BeginDelete(ctx, "rg", "missing-group", nil); err != nil {
		t.Fatal(err)
	}
	transport := b.Groups
	req := func(method, path, body string) {
		r, _ := http.NewRequest(method, "https://management.azure.com"+path, strings.NewReader(body))
		if resp, err := transport.Do(r); err != nil || resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %v %v", method, path, resp, err)
		}
	}
	req(http.MethodPut, group+"?api-version=2021-04-01", `{"location":"westeurope"}`)
	var identity string
	for id := range valid().Identity.UserAssignedIdentities {
		identity = id
	}
	req(http.MethodPut, group+"/providers/Microsoft.Authorization/roleAssignments/x?api-version=2022-04-01",
		`{"properties":{"principalId":"`+PrincipalOf(identity)+`"}}`)
	if _, err := cl.BeginCreateOrUpdate(ctx, "rg", "first", withGroup(), nil); err != nil {
		t.Fatal(err)
	}
	if s, msg := state("first"); s != "Succeeded" {
		t.Errorf("a group of its own: %s %s", s, msg)
	}
	if _, err := cl.BeginCreateOrUpdate(ctx, "rg", "second", withGroup(), nil); err != nil {
		t.Fatal(err)
	}
	if s, msg := state("second"); s != "Failed" || !strings.Contains(msg, "BadStagingResourceGroup") || !strings.Contains(msg, "used by the image template first") {
		t.Errorf("a shared group: %s %s", s, msg)
	}
}

// A run walks Image Builder's sub-states, Optimizing included.
func TestSimulatorRunWalksTheSubStates(t *testing.T) {
	c, cl := created(t)
	ctx := context.Background()
	c.Advance(time.Minute)
	if _, err := cl.BeginRun(ctx, "rg", "t", nil); err != nil {
		t.Fatal(err)
	}
	var seen []string
	for i := 0; i < 8; i++ {
		r, err := cl.Get(ctx, "rg", "t", nil)
		if err != nil {
			t.Fatal(err)
		}
		if s := r.Properties.LastRunStatus; s != nil && s.RunSubState != nil {
			seen = append(seen, string(*s.RunSubState))
		}
		c.Advance(time.Minute)
	}
	if got := strings.Join(seen, ","); got != "Queued,Building,Customizing,Optimizing,Validating,Distributing" {
		t.Errorf("sub-states %s", got)
	}
}

// Validators' scripts are fetched at creation like customizers': a
// checksum that does not match fails the template.
func TestSimulatorChecksValidatorScripts(t *testing.T) {
	b := NewImageBuilder()
	b.CreateDuration = 0
	b.FetchScript = func(context.Context, string) ([]byte, error) { return []byte("test -f /x\n"), nil }
	tpl := valid()
	tpl.Properties.Validate = &aib.ImageTemplatePropertiesValidate{InVMValidations: []aib.ImageTemplateInVMValidatorClassification{
		&aib.ImageTemplateShellValidator{Type: to.Ptr("Shell"), Name: to.Ptr("v"), ScriptURI: to.Ptr("https://s.blob.core.windows.net/scripts/v.sh"),
			SHA256Checksum: to.Ptr(strings.Repeat("0", 64))}}}
	cl := client(t, b)
	if _, err := cl.BeginCreateOrUpdate(context.Background(), "rg", "t", tpl, nil); err != nil {
		t.Fatal(err)
	}
	r, err := cl.Get(context.Background(), "rg", "t", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *r.Properties.ProvisioningState != aib.ProvisioningStateFailed || !strings.Contains(*r.Properties.ProvisioningError.Message, "v.sh") {
		t.Errorf("%s %v", *r.Properties.ProvisioningState, r.Properties.ProvisioningError)
	}
}

// created returns a simulator on a fake clock, one-minute phases, with
// template "t" of group "rg" created through the SDK's client.
func created(t *testing.T) (*clock.Fake, *aib.VirtualMachineImageTemplatesClient) {
	t.Helper()
	c := clock.NewFake(time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC))
	b := NewImageBuilder()
	b.Now, b.CreateDuration, b.PhaseDuration = c.Now, time.Minute, time.Minute
	cl := client(t, b)
	if _, err := cl.BeginCreateOrUpdate(context.Background(), "rg", "t", valid(), nil); err != nil {
		t.Fatal(err)
	}
	return c, cl
}
