package azure

import (
	"context"
	"encoding/json"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	aib "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/virtualmachineimagebuilder/armvirtualmachineimagebuilder/v2"

	"github.com/goldenpipe/goldenpipe"
)

// ImageBuilder drives Azure VM Image Builder templates in one resource
// group. Long-running operations are begun, never waited for: builds last
// hours, so their progress is observed with Get.
type ImageBuilder struct {
	client *aib.VirtualMachineImageTemplatesClient
	rg     string
	calls  atomic.Int64
}

// NewImageBuilder returns an Image Builder client for a subscription and
// resource group.
func NewImageBuilder(subscriptionID, resourceGroup string, cred azcore.TokenCredential, opts *arm.ClientOptions) (*ImageBuilder, error) {
	c, err := aib.NewVirtualMachineImageTemplatesClient(subscriptionID, cred, opts)
	if err != nil {
		return nil, err
	}
	return &ImageBuilder{client: c, rg: resourceGroup}, nil
}

// Calls returns how many ARM calls were made.
func (b *ImageBuilder) Calls() int64 { return b.calls.Load() }

func (b *ImageBuilder) call(ctx context.Context) (context.Context, context.CancelFunc) {
	b.calls.Add(1)
	return context.WithTimeout(ctx, armCallTimeout)
}

// Create submits a template (API 2024-02-01 JSON). An existing template of
// that name answers ECONFLICT: templates are immutable.
func (b *ImageBuilder) Create(ctx context.Context, name string, body []byte) error {
	var tpl aib.ImageTemplate
	if err := json.Unmarshal(body, &tpl); err != nil {
		return goldenpipe.Wrap(goldenpipe.EINTERNAL, err, "decoding the rendered template for %s", name)
	}
	ctx, cancel := b.call(ctx)
	defer cancel()
	if _, err := b.client.BeginCreateOrUpdate(ctx, b.rg, name, tpl, nil); err != nil {
		return StorageError(err, "creating image template %s failed", name)
	}
	return nil
}

// Get returns what Image Builder reports of a template; ENOTFOUND if none.
func (b *ImageBuilder) Get(ctx context.Context, name string) (goldenpipe.AIBTemplate, error) {
	ctx, cancel := b.call(ctx)
	defer cancel()
	resp, err := b.client.Get(ctx, b.rg, name, nil)
	if err != nil {
		return goldenpipe.AIBTemplate{}, StorageError(err, "reading image template %s failed", name)
	}
	out := goldenpipe.AIBTemplate{ID: deref(resp.ID)}
	if p := resp.Properties; p != nil {
		if p.ProvisioningState != nil {
			out.ProvisioningState = string(*p.ProvisioningState)
		}
		if p.ProvisioningError != nil {
			out.ProvisioningError = deref(p.ProvisioningError.Message)
		}
		out.StagingResourceGroup = deref(p.ExactStagingResourceGroup)
		if r := p.LastRunStatus; r != nil {
			run := &goldenpipe.AIBRun{Message: deref(r.Message)}
			if r.RunState != nil {
				run.State = string(*r.RunState)
			}
			if r.RunSubState != nil {
				run.SubState = string(*r.RunSubState)
			}
			if r.StartTime != nil {
				run.StartTime = *r.StartTime
			}
			if r.EndTime != nil {
				run.EndTime = *r.EndTime
			}
			out.Run = run
		}
	}
	return out, nil
}

// Run starts a build. A build already running answers ECONFLICT.
func (b *ImageBuilder) Run(ctx context.Context, name string) error {
	ctx, cancel := b.call(ctx)
	defer cancel()
	if _, err := b.client.BeginRun(ctx, b.rg, name, nil); err != nil {
		return StorageError(err, "starting a run of image template %s failed", name)
	}
	return nil
}

// Cancel asks a running build to stop.
func (b *ImageBuilder) Cancel(ctx context.Context, name string) error {
	ctx, cancel := b.call(ctx)
	defer cancel()
	if _, err := b.client.BeginCancel(ctx, b.rg, name, nil); err != nil {
		return StorageError(err, "canceling the run of image template %s failed", name)
	}
	return nil
}

// Delete removes a template (and with it the staging resource group). A
// template already gone is not an error; a running one answers ECONFLICT.
func (b *ImageBuilder) Delete(ctx context.Context, name string) error {
	ctx, cancel := b.call(ctx)
	defer cancel()
	_, err := b.client.BeginDelete(ctx, b.rg, name, nil)
	if err = StorageError(err, "deleting image template %s failed", name); goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
		return nil
	}
	return err
}

// RunOutputs lists the outputs of the last run.
func (b *ImageBuilder) RunOutputs(ctx context.Context, name string) ([]goldenpipe.RunOutput, error) {
	ctx, cancel := b.call(ctx)
	defer cancel()
	var out []goldenpipe.RunOutput
	pager := b.client.NewListRunOutputsPager(b.rg, name, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, StorageError(err, "listing the run outputs of image template %s failed", name)
		}
		for _, ro := range page.Value {
			o := goldenpipe.RunOutput{Name: deref(ro.Name)}
			if p := ro.Properties; p != nil {
				o.ArtifactID, o.ArtifactURI = deref(p.ArtifactID), goldenpipe.RedactSAS(deref(p.ArtifactURI))
				if p.ProvisioningState != nil {
					o.State = string(*p.ProvisioningState)
				}
			}
			out = append(out, o)
		}
	}
	return out, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
