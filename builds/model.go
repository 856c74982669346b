package builds

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/gallery"
)

// State is where a build is in its lifecycle.
type State string

// States of a build.
const (
	StateRequested          State = "requested"  // recorded; waits for its template's lane and a build slot
	StateQueued             State = "queued"     // another build of the template is in flight; this one is next
	StateSuperseded         State = "superseded" // a newer request for the template replaced it while queued
	StateCreating           State = "creating"   // the Image Builder template is being created
	StateRunning            State = "running"    // the build runs (SubState says where)
	StateCanceling          State = "canceling"  // the run went on far past its timeout; it is being canceled
	StateRescuing           State = "rescuing"   // the run succeeded; its VHDs are being copied out of the staging group
	StateRescueFailed       State = "rescue_failed"
	StateSucceeded          State = "succeeded"
	StatePartiallySucceeded State = "partially_succeeded"
	StateFailed             State = "failed"
	StateCanceled           State = "canceled"
	StateTimedOut           State = "timed_out"
)

const (
	defaultReissueAfter  = 30 * time.Second // a create or run recorded but not seen in Image Builder is issued again after this
	defaultMaxConcurrent = 5
	maxAttempts          = 8
)

// Terminal reports whether a state is final.
func Terminal(state State) bool {
	switch state {
	case StateSuperseded, StateSucceeded, StatePartiallySucceeded, StateFailed, StateCanceled, StateTimedOut, StateRescueFailed:
		return true
	}
	return false
}

// Transition is one entry of a build's state history.
type Transition struct {
	State    State     `json:"state"`
	SubState string    `json:"subState,omitempty"`
	At       time.Time `json:"at"`
	Note     string    `json:"note,omitempty"`
}

// Build is the record of one build.
type Build struct {
	ID            string `json:"id"`
	Template      string `json:"template"`
	Reason        string `json:"reason"`
	Force         bool   `json:"force"`
	RequestedBy   string `json:"requestedBy,omitempty"`
	CorrelationID string `json:"correlationId,omitempty"`
	MessageID     string `json:"messageId,omitempty"` // the request message that created it

	Fingerprint   string            `json:"fingerprint"`
	SourceVersion string            `json:"sourceVersion"`
	Scripts       map[string]string `json:"scripts"`
	Rendered      json.RawMessage   `json:"renderedTemplate"`

	// GalleryVersions are the gallery versions the version policy gave
	// the build before it was sent (VersionsPlanned once decided).
	GalleryVersions []gallery.Assigned `json:"galleryVersions,omitempty"`
	VersionsPlanned bool               `json:"versionsPlanned,omitempty"`

	AIBName string `json:"aibTemplateName"`
	AIBID   string `json:"aibTemplateId,omitempty"`
	// StagingResourceGroup is Image Builder's group for this build.
	StagingResourceGroup string `json:"stagingResourceGroup,omitempty"`
	// ManagedStagingGroup is the staging group the app made for this
	// build's template (AIB_STAGING_GROUPS=managed), deleted after it.
	ManagedStagingGroup string `json:"managedStagingGroup,omitempty"`

	State    State                  `json:"state"`
	SubState string                 `json:"subState,omitempty"`
	History  []Transition           `json:"history"`
	Outputs  []goldenpipe.RunOutput `json:"outputs,omitempty"`
	// Rescue follows the copy of each VHD output out of the staging group.
	Rescue []VHDCopy `json:"rescue,omitempty"`
	// PartialRun is set when the run partially succeeded.
	PartialRun bool   `json:"partialRun,omitempty"`
	Error      string `json:"error,omitempty"`
	LogTail    string `json:"logTail,omitempty"`
	// ValidationLogTail is the end of validation.log, when the template
	// validates.
	ValidationLogTail string `json:"validationLogTail,omitempty"`

	// Attempts counts the transient failures in a row of the current step;
	// RetryAt is when it is tried again; LastError says what failed.
	Attempts  int       `json:"attempts,omitempty"`
	RetryAt   time.Time `json:"retryAt,omitempty"`
	LastError string    `json:"lastError,omitempty"`
	// CancelRequestedAt is when a run past its timeout was canceled;
	// DeleteRefusedSince when Image Builder first refused to delete the
	// finished build's template.
	CancelRequestedAt  time.Time `json:"cancelRequestedAt,omitempty"`
	CleanupRequestedAt time.Time `json:"cleanupRequestedAt,omitempty"`
	DeleteRefusedSince time.Time `json:"deleteRefusedSince,omitempty"`

	RequestedAt       time.Time `json:"requestedAt"`
	CreateRequestedAt time.Time `json:"createRequestedAt,omitempty"`
	RunRequestedAt    time.Time `json:"runRequestedAt,omitempty"`
	StartedAt         time.Time `json:"startedAt,omitempty"`
	FinishedAt        time.Time `json:"finishedAt,omitempty"`
	SupersededBy      string    `json:"supersededBy,omitempty"`

	// Done lists the after-steps of a finished build already carried out
	// ("released", "recorded", "event:succeeded" ...), so a crash between
	// them repeats none and skips none.
	Done []string `json:"done,omitempty"`
}

func (b *Build) did(step string) bool {
	for _, d := range b.Done {
		if d == step {
			return true
		}
	}
	return false
}

func (b *Build) mark(step string) {
	if !b.did(step) {
		b.Done = append(b.Done, step)
	}
}

// moveTo records a state change in the history.
func (b *Build) moveTo(state State, sub, note string, now time.Time) {
	b.State, b.SubState = state, sub
	b.History = append(b.History, Transition{State: state, SubState: sub, At: now, Note: note})
}

func hashOf(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// BaseID is the id of the first build of a template at a fingerprint.
func BaseID(template, fingerprint string) string {
	return template + "-" + fingerprint[:12]
}

// AIBName is the Image Builder template name of a build: deterministic, so
// a retried create finds the template instead of making another, and within
// the 64 characters ARM allows.
func AIBName(buildID string) string {
	name := buildID
	if len(name) > 45 {
		name = strings.TrimRight(name[:45], "-_.")
	}
	return "gp-" + name + "-" + hashOf(buildID)[:8]
}

// MessageID is the message id of a request for a template at a fingerprint,
// so Service Bus duplicate detection drops repeated requests.
func MessageID(template, fingerprint, scope string) string {
	return "build-" + hashOf(template, fingerprint, scope)[:32]
}

// BuildHead says how the store files the build: by its id, template,
// request time, and stage (waiting in the line, in flight, finished).
func (b Build) BuildHead() goldenpipe.BuildHead {
	stage := goldenpipe.BuildInFlight
	switch {
	case waitingState(b.State):
		stage = goldenpipe.BuildWaiting
	case Terminal(b.State):
		stage = goldenpipe.BuildFinished
	}
	return goldenpipe.BuildHead{ID: b.ID, Template: b.Template, RequestedAt: b.RequestedAt, FinishedAt: b.FinishedAt, Stage: stage}
}

// BuildSummary is the build's summary, as its store keeps it in its lists.
func (b Build) BuildSummary() Summary { return b.Summarize() }

// Requested is when the summarized build was requested.
func (s Summary) Requested() time.Time { return s.RequestedAt }

// Rejection is a request message that was refused, kept for operators:
// the start of its body (at most rejectedBodyKept bytes).
type Rejection = goldenpipe.Rejection

// rejectedBodyKept bounds the body a rejection keeps; rejectedListed the
// rejections GET /api/builds/rejected answers (the newest).
const (
	rejectedBodyKept = 4 << 10
	rejectedListed   = 100
)

// String summarizes a build for logs and test failures.
func (b Build) String() string {
	s := b.ID + " " + string(b.State)
	if b.SubState != "" {
		s += "/" + b.SubState
	}
	if b.Error != "" {
		s += ": " + b.Error
	}
	return s
}

// Summary is what lists show of a build: kept in its list entries and its
// in-flight marker, refreshed with each write of its record, so a page of
// builds is one listing. The record (GET /api/builds/{id}) has the rest.
type Summary struct {
	ID            string    `json:"id"`
	Template      string    `json:"template"`
	Reason        string    `json:"reason"`
	RequestedBy   string    `json:"requestedBy,omitempty"`
	SourceVersion string    `json:"sourceVersion"`
	State         State     `json:"state"`
	SubState      string    `json:"subState,omitempty"`
	PartialRun    bool      `json:"partialRun,omitempty"`
	Error         string    `json:"error,omitempty"`
	LastError     string    `json:"lastError,omitempty"`
	RetryAt       time.Time `json:"retryAt,omitzero"`
	Rescue        []VHDCopy `json:"rescue,omitempty"`
	// LogTail and ValidationLogTail are the last summaryText bytes of the
	// record's tails of customization.log and validation.log.
	LogTail           string `json:"logTail,omitempty"`
	ValidationLogTail string `json:"validationLogTail,omitempty"`
	// Outputs are the run outputs, as Image Builder reported them.
	Outputs      []goldenpipe.RunOutput `json:"outputs,omitempty"`
	RequestedAt  time.Time              `json:"requestedAt"`
	StartedAt    time.Time              `json:"startedAt,omitzero"`
	FinishedAt   time.Time              `json:"finishedAt,omitzero"`
	SupersededBy string                 `json:"supersededBy,omitempty"`
}

// tailOf returns the last n bytes of s, from a line's start when one is near.
func tailOf(s string, n int) string {
	if len(s) <= n {
		return s
	}
	t := s[len(s)-n:]
	if i := strings.IndexByte(t, '\n'); i >= 0 && i < n/4 {
		t = t[i+1:]
	}
	return "…" + strings.ToValidUTF8(t, "")
}

// summaryText bounds a message in a summary (the record keeps it whole).
const summaryText = 1000

// Summarize returns the build's summary.
func (b *Build) Summarize() Summary {
	return Summary{ID: b.ID, Template: b.Template, Reason: clipTo(b.Reason, summaryText), RequestedBy: b.RequestedBy,
		SourceVersion: b.SourceVersion, State: b.State, SubState: b.SubState, PartialRun: b.PartialRun,
		Error: clipTo(b.Error, summaryText), LastError: clipTo(b.LastError, summaryText), RetryAt: b.RetryAt,
		LogTail: tailOf(b.LogTail, summaryText), ValidationLogTail: tailOf(b.ValidationLogTail, summaryText),
		Rescue: b.Rescue, Outputs: b.Outputs, RequestedAt: b.RequestedAt, StartedAt: b.StartedAt, FinishedAt: b.FinishedAt, SupersededBy: b.SupersededBy}
}

// RejectedListed is how many refused messages GET /api/builds/rejected
// answers, newest first.
const RejectedListed = rejectedListed
