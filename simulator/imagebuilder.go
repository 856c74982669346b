package simulator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	aib "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/virtualmachineimagebuilder/armvirtualmachineimagebuilder/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/virtualmachineimagebuilder/armvirtualmachineimagebuilder/v2/fake"

	"github.com/goldenpipe/goldenpipe"
)

// Outcome is how a simulated build ends.
type Outcome struct {
	State   string // goldenpipe.RunSucceeded, RunPartiallySucceeded or RunFailed
	Message string
	// Validation says a failed run failed in its validate phase: with
	// validate.continueDistributeOnFailure the image is still distributed
	// (and the run still reported failed), as Image Builder documents.
	Validation bool
	// Distribution says a failed run failed in its distribute phase: its
	// gallery versions are created and left incomplete, as a cancel
	// during distribution leaves them.
	Distribution bool
	// Log holds the customization.log lines of the steps that ran before
	// the run ended (a failing customizer's among them), and PackerError
	// what Packer said when it stopped (customizer.go).
	Log         []string
	PackerError string
}

// TimeoutMessage is what Image Builder says when buildTimeoutInMinutes passes.
const TimeoutMessage = "[ERROR] Failed while waiting for packerizer: Timeout waiting for microservice to complete: 'context deadline exceeded'"

// ImageBuilder simulates Azure VM Image Builder as the reference describes
// it: templates are immutable (a PUT on an existing name is a Conflict),
// creation is a long-running operation that fails when a script cannot be
// fetched or its checksum differs, Run walks the sub-states and ends as
// configured, Cancel goes through Canceling, and Delete is refused while a
// build runs. Time is real, scaled by the phase durations.
type ImageBuilder struct {
	// CreateDuration is how long a template stays Creating (default 200 ms).
	CreateDuration time.Duration
	// PhaseDuration is the length of each run sub-state (default 200 ms).
	PhaseDuration time.Duration
	// Outcome decides how a run of a template ends (default: Succeeded).
	Outcome func(templateName string) Outcome
	// FetchScript returns a script's bytes for the checksum check at
	// creation; ENOTFOUND fails the creation. nil skips the check.
	FetchScript func(ctx context.Context, url string) ([]byte, error)
	// VHDOutput makes the VHD of a run output and returns its URL without
	// a SAS (a page blob in the staging account). nil gives a made-up URL.
	VHDOutput func(ctx context.Context, template, runOutputName string) (string, error)
	// RunLog writes a run's logs (nil: no log); it gets the template's
	// name, how the run will end and whether it validates, and returns the
	// customization.log's URL, which a failed run's message carries.
	RunLog func(ctx context.Context, template string, outcome Outcome, validates bool) (string, error)
	// Latency is added to every call.
	Latency time.Duration
	// Refuse, when set, is asked before Create ("Create") and Run ("Run")
	// are carried out; a Refusal is answered at once, as Azure answers a
	// request it refuses (a 403 for a missing role, a 429 when throttled),
	// and nothing is created or run.
	Refuse func(op, name string) *Refusal
	// Now is the simulator's clock (default time.Now): tests share one fake
	// clock between the simulator and the services.
	Now func() time.Time
	// Gallery, when set, receives the versions SharedImage distributors
	// publish, named as Image Builder names them. A version is created
	// when the run enters Distributing and replicated by its end; a
	// distribution to a version that exists fails the run in
	// Distributing.
	Gallery *Gallery
	// VersionNumbering is how a galleryImageId without a version is
	// numbered: NumberingLatest (default, as documented) or
	// NumberingObserved (see there).
	VersionNumbering string
	// Groups, when set, is the subscription's resource groups: a template
	// with a stagingResourceGroup is checked against it as Image Builder
	// checks (BadStagingResourceGroup otherwise).
	Groups *Groups

	mu        sync.Mutex
	templates map[string]*simTemplate
	calls     map[string]int
	submitted map[string]aib.ImageTemplate // every body accepted, by name, kept after deletion
}

type simTemplate struct {
	name      string
	tpl       aib.ImageTemplate
	created   time.Time
	createErr string
	run       *simRun
	// failure is how a run ends when a customizer plainly fails
	// (customizer.go), found when the template is created, as Image
	// Builder downloads the scripts then.
	failure *Outcome
}

type simRun struct {
	logURL          string
	start, cancelAt time.Time
	outcome         Outcome
	outputs         []goldenpipe.RunOutput
	outputsMade     bool
	making          chan struct{} // closed once the outputs are made (one maker)
	gallery         []simDist     // the SharedImage distributions, decided when the run starts
}

// simDist is one SharedImage distribution of a run.
type simDist struct {
	runOutputName, imageID, version, id string
	collided                            bool // the version existed: the distribution failed
}

var phases = []string{"Queued", "Building", "Customizing", "Optimizing", "Validating", "Distributing"}

// NewImageBuilder returns a simulator with the default durations.
func NewImageBuilder() *ImageBuilder {
	return &ImageBuilder{CreateDuration: 200 * time.Millisecond, PhaseDuration: 200 * time.Millisecond,
		templates: map[string]*simTemplate{}, calls: map[string]int{}}
}

func (b *ImageBuilder) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// refused answers a refusal the Refuse hook asks for.
func (b *ImageBuilder) refused(op, name string, errResp *azfake.ErrorResponder) bool {
	if b.Refuse == nil {
		return false
	}
	if r := b.Refuse(op, name); r != nil {
		errResp.SetError(armError(r.Status, r.Code, r.Message))
		return true
	}
	return false
}

// checkStaging does what Image Builder does with a given staging group: it
// must exist, be used by no other template (empty), and give the
// template's identity Contributor. Called with b.mu held.
func (b *ImageBuilder) checkStaging(t aib.ImageTemplate) string {
	g := t.Properties.StagingResourceGroup
	if g == nil || *g == "" || b.Groups == nil {
		return ""
	}
	name := strings.ToLower((*g)[strings.LastIndex(*g, "/")+1:])
	for _, other := range b.templates {
		if o := other.tpl.Properties.StagingResourceGroup; o != nil && strings.EqualFold(*o, *g) {
			return "BadStagingResourceGroup: the staging resource group " + *g + " is used by the image template " + other.name + "; give each template a group of its own, empty when the template is created"
		}
	}
	principal := ""
	if t.Identity != nil {
		for id := range t.Identity.UserAssignedIdentities {
			principal = PrincipalOf(id)
		}
	}
	exists, contributor := b.Groups.usable(name, principal)
	switch {
	case !exists:
		return "BadStagingResourceGroup: the staging resource group " + *g + " does not exist"
	case !contributor:
		return "BadStagingResourceGroup: the template's identity is not Contributor on the staging resource group " + *g
	}
	return ""
}

// validate refuses at submission what Image Builder refuses there (a
// template without identity, source or distributors), with its error shape.
func validate(t aib.ImageTemplate) *Refusal {
	switch {
	case t.Properties == nil:
		return &Refusal{http.StatusBadRequest, "InvalidParameter", "The parameter properties is required."}
	case t.Identity == nil || len(t.Identity.UserAssignedIdentities) == 0:
		return &Refusal{http.StatusBadRequest, "ValidationFailed", "Validation failed: identity is required: a user-assigned identity Image Builder runs as."}
	case t.Properties.Source == nil:
		return &Refusal{http.StatusBadRequest, "ValidationFailed", "Validation failed: 'properties.source' is required."}
	case len(t.Properties.Distribute) == 0:
		return &Refusal{http.StatusBadRequest, "ValidationFailed", "Validation failed: at least one distribution target is required in 'properties.distribute'."}
	}
	return nil
}

// Calls returns how many calls of an operation (Create, Get, Run, Cancel,
// Delete, RunOutputs) were answered.
func (b *ImageBuilder) Calls(op string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls[op]
}

// Templates returns the names of the templates that exist.
func (b *ImageBuilder) Templates() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, t := range b.templates {
		out = append(out, t.name)
	}
	return out
}

// Submitted returns the body a creation of the named template carried,
// as Image Builder received it (kept after the template is deleted), and
// whether one was accepted.
func (b *ImageBuilder) Submitted(name string) (aib.ImageTemplate, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.submitted[strings.ToLower(name)]
	return t, ok
}

// Runs returns how many runs a template has had (0 if it does not exist).
func (b *ImageBuilder) Runs(name string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t := b.templates[strings.ToLower(name)]; t != nil && t.run != nil {
		return 1
	}
	return 0
}

func (b *ImageBuilder) enter(ctx context.Context, op string) {
	if b.Latency > 0 {
		select {
		case <-time.After(b.Latency):
		case <-ctx.Done():
		}
	}
	b.mu.Lock()
	b.calls[op]++
}

// provisioning returns a template's provisioning state now.
func (t *simTemplate) provisioning(now time.Time, d time.Duration) (string, string) {
	switch {
	case now.Sub(t.created) < d:
		return goldenpipe.ProvisioningCreating, ""
	case t.createErr != "":
		return goldenpipe.ProvisioningFailed, t.createErr
	}
	return goldenpipe.ProvisioningSucceeded, ""
}

// status returns the run's state now.
func (r *simRun) status(now time.Time, phase time.Duration) (state, sub, msg string, end time.Time) {
	if !r.cancelAt.IsZero() {
		if now.Sub(r.cancelAt) < phase {
			return goldenpipe.RunCanceling, "", "", time.Time{}
		}
		return goldenpipe.RunCanceled, "", "canceled by the user", r.cancelAt.Add(phase)
	}
	elapsed := now.Sub(r.start)
	total := phase * time.Duration(len(phases))
	if elapsed < total {
		return goldenpipe.RunRunning, phases[int(elapsed/phase)], "", time.Time{}
	}
	text := r.outcome.Message
	switch {
	case r.outcome.State == goldenpipe.RunFailed && r.logURL != "" && text == PackerizerFailure:
		// the whole message of a customizer's failure, as the
		// troubleshooting page quotes it
		op := strings.TrimSuffix(strings.TrimSuffix(r.logURL, "/customization.log"), "/")
		op = op[strings.LastIndex(op, "/")+1:]
		text += " Image Build log location: " + r.logURL + ". OperationId: " + op + ". Use this operationId to search packer logs."
	case r.outcome.State == goldenpipe.RunFailed && r.logURL != "":
		text += "\nImage Build log location: " + r.logURL // as Image Builder words it
	}
	return r.outcome.State, "", text, r.start.Add(total)
}

func (b *ImageBuilder) view(t *simTemplate, now time.Time) aib.ImageTemplate {
	out := t.tpl
	props := *t.tpl.Properties
	out.Properties = &props
	out.ID = to.Ptr("/subscriptions/sim/resourceGroups/sim/providers/Microsoft.VirtualMachineImages/imageTemplates/" + t.name)
	out.Name, out.Type = to.Ptr(t.name), to.Ptr("Microsoft.VirtualMachineImages/imageTemplates")
	ps, perr := t.provisioning(now, b.CreateDuration)
	props.ProvisioningState = to.Ptr(aib.ProvisioningState(ps))
	props.ExactStagingResourceGroup = to.Ptr(StagingGroupID(t.name)) // a resource id, as Azure reports it
	if g := t.tpl.Properties.StagingResourceGroup; g != nil && *g != "" {
		props.ExactStagingResourceGroup = g
	}
	if perr != "" {
		code := aib.ProvisioningErrorCodeOther // a checksum that does not match
		switch {
		case strings.HasPrefix(perr, "Failed to download"):
			code = aib.ProvisioningErrorCodeNoCustomizerScript
		case strings.HasPrefix(perr, "BadStagingResourceGroup"):
			code = aib.ProvisioningErrorCodeBadStagingResourceGroup
		}
		props.ProvisioningError = &aib.ProvisioningError{Message: to.Ptr(perr), ProvisioningErrorCode: to.Ptr(code)}
	}
	if t.run != nil {
		state, sub, msg, end := t.run.status(now, b.PhaseDuration)
		lr := &aib.ImageTemplateLastRunStatus{RunState: to.Ptr(aib.RunState(state)), StartTime: to.Ptr(t.run.start), Message: to.Ptr(msg)}
		if sub != "" {
			lr.RunSubState = to.Ptr(aib.RunSubState(sub))
		}
		if !end.IsZero() {
			lr.EndTime = to.Ptr(end)
		}
		props.LastRunStatus = lr
	}
	return out
}

// find returns a template, or answers 404 as ARM does; called with b.mu held.
func (b *ImageBuilder) find(name string, errResp *azfake.ErrorResponder) *simTemplate {
	t, ok := b.templates[strings.ToLower(name)]
	if !ok {
		errResp.SetResponseError(http.StatusNotFound, "ResourceNotFound")
		return nil
	}
	return t
}

// checkScripts does what Image Builder does at creation: it downloads each
// script that has a checksum and compares.
func (b *ImageBuilder) checkScripts(ctx context.Context, t aib.ImageTemplate) string {
	if b.FetchScript == nil || t.Properties == nil {
		return ""
	}
	check := func(uri, sum *string) string {
		if uri == nil || sum == nil {
			return ""
		}
		data, err := b.FetchScript(ctx, *uri)
		if err != nil {
			return fmt.Sprintf("Failed to download customization script %s: %v", *uri, goldenpipe.ErrorMessage(err))
		}
		h := sha256.Sum256(data)
		if got := hex.EncodeToString(h[:]); got != *sum {
			return fmt.Sprintf("The checksum of %s is %s, not the sha256Checksum %s given in the template", *uri, got, *sum)
		}
		return ""
	}
	var steps []any
	for _, c := range t.Properties.Customize {
		steps = append(steps, c)
	}
	if v := t.Properties.Validate; v != nil { // validators' scripts are fetched at creation too
		for _, c := range v.InVMValidations {
			steps = append(steps, c)
		}
	}
	for _, c := range steps {
		if uri, sum := scriptOf(c); uri != nil {
			if msg := check(uri, sum); msg != "" {
				return msg
			}
		}
	}
	return ""
}

// Server returns the fake server of the Image Builder API: one method of
// ImageBuilder per operation.
func (b *ImageBuilder) Server() *fake.VirtualMachineImageTemplatesServer {
	return &fake.VirtualMachineImageTemplatesServer{
		BeginCreateOrUpdate:    b.createTemplate,
		Get:                    b.getTemplate,
		BeginRun:               b.runTemplate,
		BeginCancel:            b.cancelRun,
		BeginDelete:            b.deleteTemplate,
		NewListRunOutputsPager: b.listRunOutputs,
	}
}

// createTemplate answers BeginCreateOrUpdate: a new template (Image
// Builder refuses to update one), validated as Azure validates it, its
// scripts fetched as Image Builder fetches them at creation.
func (b *ImageBuilder) createTemplate(ctx context.Context, _, name string, params aib.ImageTemplate, _ *aib.VirtualMachineImageTemplatesClientBeginCreateOrUpdateOptions) (resp azfake.PollerResponder[aib.VirtualMachineImageTemplatesClientCreateOrUpdateResponse], errResp azfake.ErrorResponder) {
	scriptErr := b.checkScripts(ctx, params) // outside the lock: it downloads
	failure := customizerFailure(ctx, params, b.FetchScript, b.now())
	b.enter(ctx, "Create")
	defer b.mu.Unlock()
	key := strings.ToLower(name)
	if _, exists := b.templates[key]; exists {
		errResp.SetError(conflict("Conflict", "Update/Upgrade of image templates is currently not supported. Please change the name of the template you are submitting."))
		return
	}
	if r := validate(params); r != nil {
		errResp.SetError(armError(r.Status, r.Code, r.Message))
		return
	}
	if b.refused("Create", name, &errResp) {
		return
	}
	if scriptErr == "" {
		scriptErr = b.checkStaging(params)
	}
	t := &simTemplate{name: name, tpl: params, created: b.now(), createErr: scriptErr, failure: failure}
	b.templates[key] = t
	if b.submitted == nil {
		b.submitted = map[string]aib.ImageTemplate{}
	}
	b.submitted[key] = params
	resp.AddNonTerminalResponse(http.StatusCreated, nil)
	resp.SetTerminalResponse(http.StatusOK, aib.VirtualMachineImageTemplatesClientCreateOrUpdateResponse{ImageTemplate: b.view(t, b.now())}, nil)
	return
}

// getTemplate answers Get: the template as it stands now.
func (b *ImageBuilder) getTemplate(ctx context.Context, _, name string, _ *aib.VirtualMachineImageTemplatesClientGetOptions) (resp azfake.Responder[aib.VirtualMachineImageTemplatesClientGetResponse], errResp azfake.ErrorResponder) {
	b.withTemplate(ctx, "Get", name, &errResp, func(t *simTemplate) {
		resp.SetResponse(http.StatusOK, aib.VirtualMachineImageTemplatesClientGetResponse{ImageTemplate: b.view(t, b.now())}, nil)
	})
	return
}

// runTemplate answers BeginRun: a run of a provisioned template that is
// not running, with the outcome the test chose (or the failure of its
// scripts); its log is written after the lock is released.
func (b *ImageBuilder) runTemplate(ctx context.Context, _, name string, _ *aib.VirtualMachineImageTemplatesClientBeginRunOptions) (resp azfake.PollerResponder[aib.VirtualMachineImageTemplatesClientRunResponse], errResp azfake.ErrorResponder) {
	var writeLog func()
	defer func() { // after the lock is released: it writes to storage
		if writeLog != nil {
			writeLog()
		}
	}()
	b.withTemplate(ctx, "Run", name, &errResp, func(t *simTemplate) {
		if b.refused("Run", name, &errResp) {
			return
		}
		now := b.now()
		if ps, _ := t.provisioning(now, b.CreateDuration); ps != goldenpipe.ProvisioningSucceeded {
			errResp.SetError(conflict("Conflict", "the template is in provisioningState '"+ps+"'; it cannot run"))
			return
		}
		if b.busy(t, now) != "" {
			errResp.SetError(conflict("Conflict", "a build of this template is already running"))
			return
		}
		outcome := Outcome{State: goldenpipe.RunSucceeded}
		if b.Outcome != nil {
			outcome = b.Outcome(name)
		}
		if outcome.State == goldenpipe.RunSucceeded && t.failure != nil {
			outcome = *t.failure // a script that plainly fails fails the run
		}
		run := &simRun{start: now, outcome: outcome}
		b.distribute(t, run)
		t.run = run
		if b.RunLog != nil {
			validates := t.tpl.Properties.Validate != nil
			writeLog = func() {
				if u, err := b.RunLog(ctx, name, outcome, validates); err == nil {
					b.mu.Lock()
					run.logURL = u
					b.mu.Unlock()
				}
			}
		}
		accepted(&resp, aib.VirtualMachineImageTemplatesClientRunResponse{})
	})
	return
}

// cancelRun answers BeginCancel: a running build is canceled, and the
// gallery versions its distribution began stop.
func (b *ImageBuilder) cancelRun(ctx context.Context, _, name string, _ *aib.VirtualMachineImageTemplatesClientBeginCancelOptions) (resp azfake.PollerResponder[aib.VirtualMachineImageTemplatesClientCancelResponse], errResp azfake.ErrorResponder) {
	b.withTemplate(ctx, "Cancel", name, &errResp, func(t *simTemplate) {
		if t.run == nil {
			errResp.SetError(conflict("OperationNotAllowed", "Operation Microsoft.VirtualMachineImages/imageTemplates/cancel is not allowed: no build is running"))
			return
		}
		if state, _, _, _ := t.run.status(b.now(), b.PhaseDuration); state == goldenpipe.RunRunning {
			t.run.cancelAt = b.now()
			if b.Gallery != nil {
				for _, d := range t.run.gallery {
					if !d.collided {
						b.Gallery.stop(d.imageID, d.version, t.run.cancelAt)
					}
				}
			}
		}
		accepted(&resp, aib.VirtualMachineImageTemplatesClientCancelResponse{})
	})
	return
}

// deleteTemplate answers BeginDelete: a template whose build is running
// or canceling cannot be deleted.
func (b *ImageBuilder) deleteTemplate(ctx context.Context, _, name string, _ *aib.VirtualMachineImageTemplatesClientBeginDeleteOptions) (resp azfake.PollerResponder[aib.VirtualMachineImageTemplatesClientDeleteResponse], errResp azfake.ErrorResponder) {
	b.withTemplate(ctx, "Delete", name, &errResp, func(t *simTemplate) {
		if state := b.busy(t, b.now()); state != "" {
			// Azure: OperationNotAllowed, seen both as 405 and 409
			errResp.SetError(armError(http.StatusMethodNotAllowed, "OperationNotAllowed",
				"Operation Microsoft.VirtualMachineImages/imageTemplates/delete is not allowed in provisioning state: succeeded and run state: "+strings.ToLower(state)))
			return
		}
		delete(b.templates, strings.ToLower(name))
		accepted(&resp, aib.VirtualMachineImageTemplatesClientDeleteResponse{})
	})
	return
}

// withTemplate calls f with the named template, under the lock taken for
// op; when there is none, errResp says so and f is not called.
func (b *ImageBuilder) withTemplate(ctx context.Context, op, name string, errResp *azfake.ErrorResponder, f func(t *simTemplate)) {
	b.enter(ctx, op)
	defer b.mu.Unlock()
	if t := b.find(name, errResp); t != nil {
		f(t)
	}
}

// busy returns the run state of a template whose build is running or
// canceling, "" when it is neither.
func (b *ImageBuilder) busy(t *simTemplate, now time.Time) string {
	if t.run == nil {
		return ""
	}
	if state, _, _, _ := t.run.status(now, b.PhaseDuration); state == goldenpipe.RunRunning || state == goldenpipe.RunCanceling {
		return state
	}
	return ""
}

// accepted answers an operation Azure runs on: 202 Accepted, then 200 with
// the result.
func accepted[T any](resp *azfake.PollerResponder[T], result T) {
	resp.AddNonTerminalResponse(http.StatusAccepted, nil)
	resp.SetTerminalResponse(http.StatusOK, result, nil)
}

// listRunOutputs answers NewListRunOutputsPager: the outputs of a
// finished run, one page.
func (b *ImageBuilder) listRunOutputs(_, name string, _ *aib.VirtualMachineImageTemplatesClientListRunOutputsOptions) (resp azfake.PagerResponder[aib.VirtualMachineImageTemplatesClientListRunOutputsResponse]) {
	outputs, err := b.outputs(name)
	if err != nil {
		resp.AddResponseError(http.StatusNotFound, "ResourceNotFound")
		return
	}
	page := aib.VirtualMachineImageTemplatesClientListRunOutputsResponse{}
	for _, o := range outputs {
		state := aib.ProvisioningStateSucceeded
		if o.State != "" {
			state = aib.ProvisioningState(o.State)
		}
		ro := &aib.RunOutput{Name: to.Ptr(o.Name), Type: to.Ptr("Microsoft.VirtualMachineImages/imageTemplates/runOutputs"),
			Properties: &aib.RunOutputProperties{ProvisioningState: to.Ptr(state)}}
		if o.ArtifactURI != "" {
			ro.Properties.ArtifactURI = to.Ptr(o.ArtifactURI)
		}
		if o.ArtifactID != "" {
			ro.Properties.ArtifactID = to.Ptr(o.ArtifactID)
		}
		page.Value = append(page.Value, ro)
	}
	resp.AddPage(http.StatusOK, page, nil)
	return
}

// outputs makes (once) and returns the outputs of a finished run.
func (b *ImageBuilder) outputs(name string) ([]goldenpipe.RunOutput, error) {
	b.enter(context.Background(), "RunOutputs")
	t, ok := b.templates[strings.ToLower(name)]
	if !ok || t.run == nil {
		b.mu.Unlock()
		return nil, fmt.Errorf("not found")
	}
	state, _, _, _ := t.run.status(b.now(), b.PhaseDuration)
	if state != goldenpipe.RunSucceeded && state != goldenpipe.RunPartiallySucceeded && !distributesOnFailure(t, state) {
		// canceled, or failed: the gallery versions its distribution began
		// (left incomplete) are its outputs, with provisioningState Failed
		// (not documented: what runOutputs lists then)
		var outs []goldenpipe.RunOutput
		if state == goldenpipe.RunCanceled || state == goldenpipe.RunFailed {
			for _, d := range t.run.gallery {
				if !d.collided && b.Gallery != nil && b.Gallery.State(d.imageID, d.version) != "" {
					outs = append(outs, goldenpipe.RunOutput{Name: d.runOutputName, ArtifactID: d.id, State: "Failed"})
				}
			}
		}
		b.mu.Unlock()
		return outs, nil
	}
	if t.run.outputsMade {
		defer b.mu.Unlock()
		return t.run.outputs, nil
	}
	if wait := t.run.making; wait != nil { // another call makes them: one VHD per output, written once
		b.mu.Unlock()
		<-wait
		b.mu.Lock()
		defer b.mu.Unlock()
		return t.run.outputs, nil
	}
	run := t.run
	run.making = make(chan struct{})
	defer close(run.making)
	tpl := t.tpl
	b.mu.Unlock()
	var outs []goldenpipe.RunOutput
	for _, d := range tpl.Properties.Distribute {
		switch d := d.(type) {
		case *aib.ImageTemplateVhdDistributor:
			uri := "https://simstaging.blob.core.windows.net/vhds/" + name + "-" + *d.RunOutputName + ".vhd"
			if d.URI != nil {
				uri = *d.URI
			} else if b.VHDOutput != nil {
				u, err := b.VHDOutput(context.Background(), name, *d.RunOutputName)
				if err != nil {
					b.mu.Lock()
					run.making = nil // the next call tries again
					b.mu.Unlock()
					return nil, err
				}
				uri = u
			}
			outs = append(outs, goldenpipe.RunOutput{Name: *d.RunOutputName, ArtifactURI: uri, State: "Succeeded"})
		case *aib.ImageTemplateManagedImageDistributor:
			outs = append(outs, goldenpipe.RunOutput{Name: *d.RunOutputName, ArtifactID: *d.ImageID, State: "Succeeded"})
		case *aib.ImageTemplateSharedImageDistributor:
			for _, g := range run.gallery {
				if g.runOutputName == *d.RunOutputName && !g.collided {
					outs = append(outs, goldenpipe.RunOutput{Name: *d.RunOutputName, ArtifactID: g.id, State: "Succeeded"})
				}
			}
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !t.run.outputsMade {
		t.run.outputs, t.run.outputsMade = outs, true
	}
	return t.run.outputs, nil
}

// distribute decides, when a run starts, the gallery versions its
// SharedImage distributors publish, and has the gallery make them when the
// run reaches Distributing (and finish replicating them by its end). A
// version that exists fails the run in Distributing: "The image version ID
// needs to be distinct or different from any image versions that are in
// the existing Azure Compute Gallery" (MicrosoftDocs articles/virtual-
// machines/linux/image-builder-json.md, distribute SharedImage). The
// wording of the run's message then is not documented; it quotes that
// rule. Called with b.mu held.
func (b *ImageBuilder) distribute(t *simTemplate, run *simRun) {
	o := run.outcome
	completes := o.State == goldenpipe.RunSucceeded || o.State == goldenpipe.RunPartiallySucceeded ||
		o.State == goldenpipe.RunFailed && o.Validation && t.tpl.Properties.Validate != nil &&
			t.tpl.Properties.Validate.ContinueDistributeOnFailure != nil && *t.tpl.Properties.Validate.ContinueDistributeOnFailure
	partial := o.State == goldenpipe.RunFailed && o.Distribution
	if !completes && !partial {
		return // it fails before distributing
	}
	appears := run.start.Add(b.PhaseDuration * time.Duration(len(phases)-1))
	ready := run.start.Add(b.PhaseDuration * time.Duration(len(phases)))
	var collided []string
	for _, d := range t.tpl.Properties.Distribute {
		d, ok := d.(*aib.ImageTemplateSharedImageDistributor)
		if !ok || d.GalleryImageID == nil || d.RunOutputName == nil {
			continue
		}
		if b.Gallery == nil {
			id := *d.GalleryImageID + "/versions/0.1." + fmt.Sprint(run.start.Unix()%100000)
			run.gallery = append(run.gallery, simDist{runOutputName: *d.RunOutputName, id: id})
			continue
		}
		scheme, major := versioning(d.Versioning)
		imageID, version := b.Gallery.NextVersion(*d.GalleryImageID, scheme, major, sourceVersion(t.tpl), b.VersionNumbering)
		tags := map[string]string{}
		for k, v := range d.ArtifactTags {
			tags[k] = *v
		}
		var regions []Region
		for _, r := range d.TargetRegions {
			if r != nil && r.Name != nil {
				regions = append(regions, Region{Name: *r.Name})
			}
		}
		b.Gallery.mu.Lock()
		id, exists := b.Gallery.add(imageID, version, d.ExcludeFromLatest != nil && *d.ExcludeFromLatest, tags, regions, appears, ready)
		b.Gallery.mu.Unlock()
		run.gallery = append(run.gallery, simDist{runOutputName: *d.RunOutputName, imageID: imageID, version: version, id: id, collided: exists})
		if exists {
			collided = append(collided, id)
		} else if partial {
			b.Gallery.stop(imageID, version, appears)
		}
	}
	if len(collided) > 0 {
		run.outcome = Outcome{State: goldenpipe.RunFailed, Distribution: true,
			Message: "Distribution failed: the gallery image version " + strings.Join(collided, ", ") + " already exists. " +
				"The image version ID needs to be distinct or different from any image versions that are in the existing Azure Compute Gallery."}
	}
}

// sourceVersion is the version of a template's source image, when it
// names one (a platform image's version, a gallery version's name).
func sourceVersion(t aib.ImageTemplate) string {
	switch s := t.Properties.Source.(type) {
	case *aib.ImageTemplatePlatformImageSource:
		if s.Version != nil {
			return *s.Version
		}
	case *aib.ImageTemplateSharedImageVersionSource:
		if s.ImageVersionID != nil {
			return (*s.ImageVersionID)[strings.LastIndex(*s.ImageVersionID, "/")+1:]
		}
	}
	return ""
}

// distributesOnFailure reports a run that failed in validation and still
// distributes (validate.continueDistributeOnFailure); called with b.mu held.
func distributesOnFailure(t *simTemplate, state string) bool {
	v := t.tpl.Properties.Validate
	return state == goldenpipe.RunFailed && t.run.outcome.Validation && v != nil &&
		v.ContinueDistributeOnFailure != nil && *v.ContinueDistributeOnFailure
}

// versioning reads a SharedImage distributor's versioning: its scheme
// ("" when none) and major (-1 when unset).
func versioning(v aib.DistributeVersionerClassification) (scheme string, major int) {
	switch v := v.(type) {
	case *aib.DistributeVersionerLatest:
		major = -1
		if v.Major != nil {
			major = int(*v.Major)
		}
		return "Latest", major
	case *aib.DistributeVersionerSource:
		return "Source", -1
	}
	return "", -1
}

// Transport returns the transport an Image Builder client uses.
func (b *ImageBuilder) Transport() *fake.VirtualMachineImageTemplatesServerTransport {
	return fake.NewVirtualMachineImageTemplatesServerTransport(b.Server())
}

// StagingGroup is the staging resource group the simulator reports for a
// template, named as Image Builder names them: IT_<group>_<template>_<guid>.
func StagingGroup(template string) string {
	h := fmt.Sprintf("%x", sha256.Sum256([]byte(template)))
	return "IT_goldenpipe-simulated_" + template + "_" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// StagingGroupID is the staging group's resource id: what Image Builder
// reports in exactStagingResourceGroup.
func StagingGroupID(template string) string {
	return "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/" + StagingGroup(template)
}

// scriptOf returns the script (or file) a customizer or validator fetches,
// and its checksum; nil for the other kinds.
func scriptOf(step any) (uri, sum *string) {
	switch c := step.(type) {
	case *aib.ImageTemplateShellCustomizer:
		return c.ScriptURI, c.SHA256Checksum
	case *aib.ImageTemplatePowerShellCustomizer:
		return c.ScriptURI, c.SHA256Checksum
	case *aib.ImageTemplateFileCustomizer:
		return c.SourceURI, c.SHA256Checksum
	case *aib.ImageTemplateShellValidator:
		return c.ScriptURI, c.SHA256Checksum
	case *aib.ImageTemplatePowerShellValidator:
		return c.ScriptURI, c.SHA256Checksum
	case *aib.ImageTemplateFileValidator:
		return c.SourceURI, c.SHA256Checksum
	}
	return nil, nil
}
