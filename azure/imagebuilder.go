package azure

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
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
		return ARMError(err, "creating image template %s failed", name)
	}
	return nil
}

// Get returns what Image Builder reports of a template; ENOTFOUND if none.
func (b *ImageBuilder) Get(ctx context.Context, name string) (goldenpipe.AIBTemplate, error) {
	ctx, cancel := b.call(ctx)
	defer cancel()
	resp, err := b.client.Get(ctx, b.rg, name, nil)
	if err != nil {
		return goldenpipe.AIBTemplate{}, ARMError(err, "reading image template %s failed", name)
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
		return ARMError(err, "starting a run of image template %s failed", name)
	}
	return nil
}

// Cancel asks a running build to stop.
func (b *ImageBuilder) Cancel(ctx context.Context, name string) error {
	ctx, cancel := b.call(ctx)
	defer cancel()
	if _, err := b.client.BeginCancel(ctx, b.rg, name, nil); err != nil {
		return ARMError(err, "canceling the run of image template %s failed", name)
	}
	return nil
}

// Delete removes a template (and with it the staging resource group). A
// template already gone is not an error; a running one answers ECONFLICT.
func (b *ImageBuilder) Delete(ctx context.Context, name string) error {
	ctx, cancel := b.call(ctx)
	defer cancel()
	_, err := b.client.BeginDelete(ctx, b.rg, name, nil)
	if err = ARMError(err, "deleting image template %s failed", name); goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
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
			return nil, ARMError(err, "listing the run outputs of image template %s failed", name)
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

// probeName is an image template name the app never creates: reading it
// checks that Image Builder answers and that the resource group exists.
const probeName = "goldenpipe-health-probe"

// Probe reads a template that never exists: Image Builder answering
// ResourceNotFound is healthy; ResourceGroupNotFound (the app's group is
// gone or misnamed), 403 (no role) or no answer is not.
func (b *ImageBuilder) Probe(ctx context.Context) error {
	ctx, cancel := b.call(ctx)
	defer cancel()
	_, err := b.client.Get(ctx, b.rg, probeName, nil)
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusNotFound && re.ErrorCode != "ResourceGroupNotFound" {
		return nil
	}
	if err == nil {
		return nil
	}
	return ARMError(err, "reading image templates in resource group %s failed", b.rg)
}

// ARMError classifies an Azure Resource Manager error and keeps Azure's own
// code and message (the REST error body's error.code and error.message),
// which is what an operator needs to fix a refused template:
//
//   - 400 (ValidationFailed, InvalidParameter, unknown fields): EINVALID,
//     Azure will refuse the same request again;
//   - 401/403 (a missing role): EFORBIDDEN, refused until someone grants it;
//   - 404: ENOTFOUND;
//   - 409, and 405 or 409 OperationNotAllowed (delete or cancel while a build
//     runs): ECONFLICT, "not now";
//   - 429, 5xx, timeouts and network errors: EUNAVAILABLE, worth retrying.
func ARMError(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf(format, args...)
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return StorageError(err, "%s", msg)
	}
	code, text := re.ErrorCode, armMessage(re)
	detail := fmt.Errorf("HTTP %d %s", re.StatusCode, code)
	if text != "" {
		msg += ": " + code + ": " + goldenpipe.RedactSAS(text)
	} else if code != "" {
		msg += ": " + code
	}
	switch {
	case re.StatusCode == http.StatusBadRequest:
		return goldenpipe.Wrap(goldenpipe.EINVALID, detail, "%s", msg)
	case re.StatusCode == http.StatusUnauthorized || re.StatusCode == http.StatusForbidden:
		return goldenpipe.Wrap(goldenpipe.EFORBIDDEN, detail, "%s", msg)
	case re.StatusCode == http.StatusNotFound:
		return goldenpipe.Wrap(goldenpipe.ENOTFOUND, detail, "%s", msg)
	case re.StatusCode == http.StatusConflict, re.StatusCode == http.StatusMethodNotAllowed && code == "OperationNotAllowed":
		return goldenpipe.Wrap(goldenpipe.ECONFLICT, detail, "%s", msg)
	case re.StatusCode == http.StatusMethodNotAllowed:
		return goldenpipe.Wrap(goldenpipe.EINVALID, detail, "%s", msg)
	}
	return goldenpipe.Wrap(goldenpipe.EUNAVAILABLE, detail, "%s", msg)
}

// armMessage reads error.message from an ARM error response's body (or,
// when the body was read already, from the error's text, which holds it).
func armMessage(re *azcore.ResponseError) string {
	var b []byte
	if re.RawResponse != nil && re.RawResponse.Body != nil {
		b, _ = io.ReadAll(io.LimitReader(re.RawResponse.Body, 64<<10))
		re.RawResponse.Body = io.NopCloser(bytes.NewReader(b))
	}
	if len(bytes.TrimSpace(b)) == 0 {
		text := re.Error()
		if i, j := strings.Index(text, "{"), strings.LastIndex(text, "}"); i >= 0 && j > i {
			b = []byte(text[i : j+1])
		}
	}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &body) != nil {
		return ""
	}
	m := strings.TrimSpace(body.Error.Message)
	if len(m) > 2000 {
		m = m[:2000] + "…"
	}
	return m
}
