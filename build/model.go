package build

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

// States of a build.
const (
	StateRequested          = "requested"  // recorded; waits for its template's lane and a build slot
	StateQueued             = "queued"     // another build of the template is in flight; this one is next
	StateSuperseded         = "superseded" // a newer request for the template replaced it while queued
	StateCreating           = "creating"   // the Image Builder template is being created
	StateRunning            = "running"    // the build runs (SubState says where)
	StateRescuing           = "rescuing"   // the run succeeded; its VHDs are being copied out of the staging group
	StateRescueFailed       = "rescue_failed"
	StateSucceeded          = "succeeded"
	StatePartiallySucceeded = "partially_succeeded"
	StateFailed             = "failed"
	StateCanceled           = "canceled"
	StateTimedOut           = "timed_out"
	defaultReissueAfter     = 30 * time.Second // a create or run recorded but not seen in Image Builder is issued again after this
	defaultMaxConcurrent    = 5
	maxAttempts             = 8
	keyBuilds, keyActive    = "builds/", "builds-active/"
	keyLanes, keyRejected   = "builds-lanes/", "builds-rejected/"
	keySlots                = "builds-slots.json"
	keyRecent               = "builds-recent.json"
	recentKept              = 50
)

// Terminal reports whether a state is final.
func Terminal(state string) bool {
	switch state {
	case StateSuperseded, StateSucceeded, StatePartiallySucceeded, StateFailed, StateCanceled, StateTimedOut, StateRescueFailed:
		return true
	}
	return false
}

// Transition is one entry of a build's state history.
type Transition struct {
	State    string    `json:"state"`
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

	AIBName string `json:"aibTemplateName"`
	AIBID   string `json:"aibTemplateId,omitempty"`
	// StagingResourceGroup is Image Builder's group for this build.
	StagingResourceGroup string `json:"stagingResourceGroup,omitempty"`

	State    string                 `json:"state"`
	SubState string                 `json:"subState,omitempty"`
	History  []Transition           `json:"history"`
	Outputs  []goldenpipe.RunOutput `json:"outputs,omitempty"`
	// Rescue follows the copy of each VHD output out of the staging group.
	Rescue []VHDCopy `json:"rescue,omitempty"`
	// PartialRun is set when the run partially succeeded.
	PartialRun bool   `json:"partialRun,omitempty"`
	Error      string `json:"error,omitempty"`
	LogTail    string `json:"logTail,omitempty"`

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
func (b *Build) moveTo(state, sub, note string, now time.Time) {
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

func buildKey(id string) string  { return keyBuilds + id + ".json" }
func activeKey(id string) string { return keyActive + id }
func laneKey(template string) string {
	return keyLanes + hashOf(template)[:40] + ".json"
}

// lane serializes the builds of one template: one in flight, one queued.
type lane struct {
	Template string `json:"template"`
	InFlight string `json:"inFlight,omitempty"`
	Queued   string `json:"queued,omitempty"`
}

// slots bounds the builds in flight across all templates.
type slots struct {
	Builds []string `json:"builds"`
}

// recent lists the newest finished builds, newest first.
type recent struct {
	IDs []string `json:"ids"`
}

// Rejection is a request message that was refused, kept for operators.
type Rejection struct {
	MessageID     string    `json:"messageId"`
	DeliveryCount int       `json:"deliveryCount"`
	Reason        string    `json:"reason"`
	Body          string    `json:"body"`
	At            time.Time `json:"at"`
}

// String summarizes a build for logs and test failures.
func (b Build) String() string {
	s := b.ID + " " + b.State
	if b.SubState != "" {
		s += "/" + b.SubState
	}
	if b.Error != "" {
		s += ": " + b.Error
	}
	return s
}
