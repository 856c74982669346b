package builds

import (
	"fmt"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/gallery"
)

// The build lifecycle as a pure decision, in the spirit of
// controller-runtime's Reconcile: given a build's record, what was observed
// (Image Builder's template and run, the VHD copies, the admission pass, the
// outcome of the last action) and the time, Decide returns the new record,
// the actions to take and when to look again. It does no I/O; reconcile.go
// is the one shell around it that reads, writes conditionally and acts.
// One file per phase: admission.go, creating.go, running.go, rescuing.go,
// finishing.go, each with its table test. The running and rescuing phases
// dispatch on the state Azure reports (the run's, the copy's) to one step
// per file, each with its own table test: run_<state>.go, rescue_<state>.go.
// Errors reach the decisions as Outcome codes, classified once (classify).

// ActionKind is something the shell does for a build.
type ActionKind int

// Actions. Effects (Create … AbortCopy) are carried out by the instance
// whose conditional write of the decision won; steps (Publish … Unmark) are
// carried out first and then marked done in the record, so each happens at
// least once and a crash between two repeats none.
const (
	ActCreate    ActionKind = iota + 1 // create the Image Builder template (PUT)
	ActRun                             // start its run (POST …/run)
	ActCancel                          // cancel the run
	ActStartCopy                       // start the server-side copy of VHD output Index
	ActAbortCopy                       // abort copy CopyID into output Index's destination
	ActPublish                         // publish lifecycle event Event
	ActRecord                          // record a successful build on its template
	ActRelease                         // leave the admission ledger (the lane and slot)
	ActIndex                           // put the build at the head of the recent builds
	ActUnmark                          // drop the build from the builds in flight
	ActCleanup                         // effect: delete the Image Builder template (and its staging group)
	ActDropGroup                       // step: delete the staging group the app made for the template
	ActGallery                         // step: keep the gallery (retention after a success, exclude a failed build's version)
)

var actionNames = map[ActionKind]string{ActCreate: "create", ActRun: "run", ActCancel: "cancel", ActStartCopy: "start copy",
	ActAbortCopy: "abort copy", ActPublish: "publish", ActRecord: "record", ActRelease: "release", ActIndex: "index",
	ActCleanup: "cleanup", ActUnmark: "unmark", ActDropGroup: "drop staging group", ActGallery: "gallery"}

func (k ActionKind) String() string { return actionNames[k] }

// Action is one thing to do.
type Action struct {
	Kind    ActionKind
	Index   int    // ActStartCopy, ActAbortCopy: the VHD output
	CopyID  string // ActAbortCopy
	Event   string // ActPublish: "requested", "started", "vhd.copied:<output>" …
	Attempt int    // ActStartCopy: the attempt it starts
}

// Step is the name an after-step is marked done with.
func (a Action) Step() string {
	switch a.Kind {
	case ActPublish:
		return "event:" + a.Event
	case ActRecord:
		return "recorded"
	case ActRelease:
		return "released"
	case ActIndex:
		return "indexed"
	case ActDropGroup:
		return "group-deleted"
	case ActGallery:
		return "gallery"
	}
	return ""
}

// Outcome is how an action the shell carried out ended: Code is a
// goldenpipe error code ("" for success), Message Azure's words.
type Outcome struct {
	Action  Action
	Code    string
	Message string
}

// Observation is what the shell saw of a build's world this time.
type Observation struct {
	// Admission is the admission pass's verdict on a waiting build.
	Admission Verdict
	// Template is Image Builder's template (nil when not looked at);
	// TemplateMissing when Image Builder answered not found.
	Template        *goldenpipe.AIBTemplate
	TemplateMissing bool
	// Outputs are the run's outputs (read once the run ended, whatever
	// its state: a failed or canceled run may have published a version).
	Outputs []goldenpipe.RunOutput
	// Versions is the version policy's plan for a build about to be sent
	// (nil when none is needed); VersionsFailed says the gallery could
	// not be read for it.
	Versions       *VersionPlan
	VersionsFailed *Outcome
	// LogTail and ValidationLogTail are the ends of customization.log and
	// validation.log (read when the run failed).
	LogTail           string
	ValidationLogTail string
	// Copies holds, for each VHD output being rescued, the destination and
	// the source as storage reports them.
	Copies map[int]CopyObservation
	// Failed is a read that failed (transient): the decision backs off.
	Failed *Outcome
	// Last is the outcome of an effect this decision's predecessor asked for.
	Last *Outcome
}

// VersionPlan is the template to send once the version policy gave each
// gallery distributor its version.
type VersionPlan struct {
	Rendered []byte
	Assigned []gallery.Assigned
	// Note says why the template goes as written (the gallery refused to
	// be read: no role, no definition).
	Note string
}

// CopyObservation is one VHD copy as storage reports it.
type CopyObservation struct {
	Dest          goldenpipe.CopyState
	Source        goldenpipe.BlobVersion
	SourceMissing bool
}

// Config holds the lifecycle's bounds; zero values take the defaults.
type Config struct {
	ReissueAfter  time.Duration // a create or run recorded but not seen in Image Builder is issued again after this (30 s)
	MaxAttempts   int           // transient failures of one step before the build fails (6)
	BackoffBase   time.Duration // first wait after a transient failure (30 s), doubled each time up to BackoffMax
	BackoffMax    time.Duration // (30 min)
	CreateTimeout time.Duration // how long a template may stay Creating (2 h)
	RunGrace      time.Duration // past buildTimeoutInMinutes, how long a run may go on before it is canceled (1 h)
	CancelTimeout time.Duration // how long a cancel may take before the build is failed with the template kept (2 h)
	KeepFailed    time.Duration // how long a failed build's template is kept for debugging
	DeleteTimeout time.Duration // how long deletes may be refused before the template is left for an operator (24 h)
	SASTTL        time.Duration // lifetime of a copy's source SAS (0: sized to the VHD, see sasTTL)
	CopyAttempts  int           // attempts at one VHD copy (5)
	CopyBackoff   time.Duration // first wait after a failed copy (1 min)
	// DestinationURL names where a VHD output is rescued to (nil: no
	// VHD destination is configured).
	DestinationURL func(name string) string
	// ManagedStaging gives each build's template a staging group of its own.
	ManagedStaging bool
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.ReissueAfter, defaultReissueAfter)
	def(&c.BackoffBase, 30*time.Second)
	def(&c.BackoffMax, 30*time.Minute)
	def(&c.CreateTimeout, 2*time.Hour)
	def(&c.RunGrace, time.Hour)
	def(&c.CancelTimeout, 2*time.Hour)
	def(&c.DeleteTimeout, 24*time.Hour)
	def(&c.CopyBackoff, defaultCopyBackoff)
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 6
	}
	if c.CopyAttempts <= 0 {
		c.CopyAttempts = defaultCopyAttempts
	}
	return c
}

// Result says when to look at the build again. The shell (reconcile)
// hands RequeueAfter to settle, which files a finished build in the due
// list at now+RequeueAfter (a failed build's template kept for
// KeepFailed, a delete in flight or refused); a build in flight holds a
// slot and is looked at every tick, so for it RequeueAfter is the soonest
// look worth having (a backoff, a create or run not yet visible), and
// reconcile's RetryAt guard keeps a tick in between from calling Azure.
type Result struct {
	RequeueAfter time.Duration // 0: no sooner than the next tick
	Done         bool          // finished, every after-step carried out
}

// Decision is what Decide returns.
type Decision struct {
	Build   Build    // the new record
	Changed bool     // it differs from the old: write it (conditionally)
	Effects []Action // carried out by the writer that won, after the write
	Step    *Action  // an after-step: carried out, then marked done and written
	Result  Result
	Outcome string // one line for the logs
}

// Decide is the lifecycle: pure, total over every state and observation.
func Decide(b Build, o Observation, now time.Time, cfg Config) Decision {
	cfg = cfg.withDefaults()
	d := Decision{Build: b.clone()}
	nb := &d.Build
	if Terminal(nb.State) {
		decideFinished(&d, o, now, cfg)
		return d
	}
	if step := pendingEvent(nb); step != nil { // events a build in flight has reached go out first
		d.Step, d.Outcome = step, "publishing "+step.Event
		return d
	}
	switch nb.State {
	case StateRequested, StateQueued:
		decideAdmission(&d, o, now, cfg)
	case StateCreating:
		decideCreating(&d, o, now, cfg)
	case StateRunning, StateCanceling:
		decideRunning(&d, o, now, cfg)
	case StateRescuing:
		decideRescuing(&d, o, now, cfg)
	default:
		fail(&d, now, fmt.Sprintf("unknown state %q", nb.State))
	}
	return d
}

// fail ends a build as failed with a reason.
func fail(d *Decision, now time.Time, reason string) {
	finish(d, StateFailed, now, reason)
	d.Build.Error = reason
	d.Outcome = "failed: " + reason
}

// finish moves a build to a final state.
func finish(d *Decision, state State, now time.Time, note string) {
	d.Build.moveTo(state, "", note, now)
	d.Build.FinishedAt = now
	d.Build.RetryAt, d.Build.LastError = time.Time{}, ""
	d.Changed = true
	d.Result = Result{}
}

// Failure is how an action or a read the shell carried out ended, as the
// decisions see it. classify is the one place where the host's error codes
// (goldenpipe.E*, which the Azure adapters give Azure's answers: 400 →
// EINVALID, 403 → EFORBIDDEN, 404 → ENOTFOUND, 409 → ECONFLICT, 429/5xx →
// EUNAVAILABLE) meet the lifecycle; each phase then says what a class
// means for its action.
type Failure int

// Failure classes.
const (
	FailNone      Failure = iota // it succeeded
	FailTransient                // throttled, unavailable or unexpected: back off, bounded
	FailRefused                  // invalid or forbidden: Azure answers the same request so again
	FailMissing                  // not found
	FailConflict                 // it exists, runs already, or is busy
)

var failureNames = [...]string{FailNone: "none", FailTransient: "transient", FailRefused: "refused", FailMissing: "missing", FailConflict: "conflict"}

func (f Failure) String() string {
	if f < 0 || int(f) >= len(failureNames) {
		return "unknown"
	}
	return failureNames[f]
}

// Terminal reports a failure Azure will repeat for the same request.
func (f Failure) Terminal() bool { return f == FailRefused || f == FailMissing }

// classify maps a goldenpipe error code ("" for success) to its Failure;
// codes it does not know are transient (EINTERNAL, EUNAVAILABLE).
func classify(code string) Failure {
	switch code {
	case "":
		return FailNone
	case goldenpipe.EINVALID, goldenpipe.EFORBIDDEN:
		return FailRefused
	case goldenpipe.ENOTFOUND:
		return FailMissing
	case goldenpipe.ECONFLICT:
		return FailConflict
	}
	return FailTransient
}

// Failure classifies the outcome.
func (o Outcome) Failure() Failure { return classify(o.Code) }

// FailureOf classifies an error an action or a read returned (nil:
// FailNone) by the code of the first *goldenpipe.Error in its chain
// (errors.As), as classify does for an Outcome: the shell's way to ask
// without comparing codes.
func FailureOf(err error) Failure { return classify(goldenpipe.ErrorCode(err)) }

// terminalCode reports errors Azure will repeat for the same request (the
// shell's version policy read asks it: reconcile.go).
func terminalCode(code string) bool { return classify(code).Terminal() }

// retry records a transient failure: the build backs off exponentially
// (with jitter from its id, so the decision stays pure) and fails once the
// attempts are spent. It reports whether the build may go on.
func retry(d *Decision, now time.Time, cfg Config, what, message string) bool {
	b := &d.Build
	b.Attempts++
	b.LastError = what + ": " + message
	d.Changed = true
	if b.Attempts >= cfg.MaxAttempts {
		fail(d, now, fmt.Sprintf("%s failed %d times in a row; giving up: %s", what, b.Attempts, message))
		return false
	}
	wait := backoff(cfg, b.ID, b.Attempts)
	b.RetryAt = now.Add(wait)
	b.History = append(b.History, Transition{State: b.State, SubState: b.SubState, At: now,
		Note: fmt.Sprintf("%s failed (attempt %d of %d), trying again in %s: %s", what, b.Attempts, cfg.MaxAttempts, wait.Round(time.Second), message)})
	d.Result = Result{RequeueAfter: wait}
	d.Outcome = "backing off: " + b.LastError
	return false
}

// readFailed handles a read of Image Builder that failed: terminal codes
// fail the build, others back off. It reports whether it decided.
func readFailed(d *Decision, o Observation, now time.Time, cfg Config) bool {
	f := o.Failed
	if f == nil {
		return false
	}
	if f.Failure().Terminal() {
		fail(d, now, "reading the image template failed: "+f.Message)
	} else {
		retry(d, now, cfg, "reading the image template", f.Message)
	}
	return true
}

// backoff is BackoffBase·2^(attempt-1), at most BackoffMax, ±20 % jitter
// derived from the build and the attempt.
func backoff(cfg Config, id string, attempt int) time.Duration {
	d := cfg.BackoffBase
	for i := 1; i < attempt && d < cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, cfg.BackoffMax)
	h := hashOf(id, fmt.Sprint(attempt))
	var x int
	for _, c := range h[:4] {
		x = x*16 + int(hexVal(byte(c)))
	}
	jitter := time.Duration(float64(d) * (float64(x%4001)/10000 - 0.2)) // -20 % … +20 %
	return d + jitter
}

func hexVal(c byte) byte {
	if c >= 'a' {
		return c - 'a' + 10
	}
	return c - '0'
}

// succeeded clears the transient failure count after progress.
func progressed(b *Build) {
	b.Attempts, b.RetryAt, b.LastError = 0, time.Time{}, ""
}

// waitingForRetry reports a build that backs off; the decision holds it.
func waitingForRetry(d *Decision, now time.Time) bool {
	if !d.Build.RetryAt.IsZero() && now.Before(d.Build.RetryAt) {
		d.Result = Result{RequeueAfter: d.Build.RetryAt.Sub(now)}
		d.Outcome = "backing off until " + d.Build.RetryAt.Format(time.RFC3339) + ": " + d.Build.LastError
		return true
	}
	return false
}

func (b Build) clone() Build {
	c := b
	c.History = append([]Transition(nil), b.History...)
	c.Outputs = append([]goldenpipe.RunOutput(nil), b.Outputs...)
	c.Rescue = append([]VHDCopy(nil), b.Rescue...)
	c.Done = append([]string(nil), b.Done...)
	c.GalleryVersions = append([]gallery.Assigned(nil), b.GalleryVersions...)
	return c
}

// waitBeforeReissue holds a request issued at requestedAt (zero: never)
// until ReissueAfter has passed, saying why; false when it may be issued.
func waitBeforeReissue(d *Decision, requestedAt, now time.Time, cfg Config, outcome string) bool {
	if requestedAt.IsZero() || now.Sub(requestedAt) >= cfg.ReissueAfter {
		return false
	}
	d.Outcome = outcome
	d.Result = Result{RequeueAfter: cfg.ReissueAfter - now.Sub(requestedAt)}
	return true
}
