package builds

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/gallery"
	"github.com/goldenpipe/goldenpipe/internal/defaults"
	"github.com/goldenpipe/goldenpipe/template"
)

// Bus sends build requests and publishes lifecycle events.
type Bus interface {
	Send(ctx context.Context, queue string, m goldenpipe.OutMessage) error
	Publish(ctx context.Context, topic string, m goldenpipe.OutMessage) error
}

// ImageBuilder is Azure VM Image Builder as the builds use it. Long-running
// operations are begun, never waited for.
type ImageBuilder interface {
	Create(ctx context.Context, name string, body []byte) error // ECONFLICT: exists
	Get(ctx context.Context, name string) (goldenpipe.AIBTemplate, error)
	Run(ctx context.Context, name string) error // ECONFLICT: already running
	Cancel(ctx context.Context, name string) error
	Delete(ctx context.Context, name string) error
	RunOutputs(ctx context.Context, name string) ([]goldenpipe.RunOutput, error)
}

// Templates is the template catalog as the builds use it.
type Templates interface {
	Get(ctx context.Context, name string) (template.Record, error)
	RecordBuild(ctx context.Context, name string, s template.BuildSummary) error
	// Refresh renders every template again and returns the new plans.
	Refresh(ctx context.Context) ([]template.Record, error)
}

// StagingGroups makes and removes the staging resource groups the app
// gives its Image Builder templates when it manages them: one per image
// template, empty when the template is created, with the template's
// identity as Contributor on it.
type StagingGroups interface {
	ID(name string) string
	Ensure(ctx context.Context, name, location, identityID, build string) error
	Delete(ctx context.Context, name string) error
}

// LogTail reads the ends of a failed run's customization.log and
// validation.log (best effort), from the staging group Image Builder
// reported and the run's message (which names the log's URL).
type LogTail interface {
	Tail(ctx context.Context, stagingGroup, runMessage string) (customization, validation string, err error)
}

// GalleryKeeper keeps Azure Compute Gallery versions: before a build, the
// version policy (PlanVersions: no build is sent whose version exists or
// is reserved for another build in flight; planned again for the same
// build id, the same versions);
// after it, the retention policy after a success, excludeFromLatest (or
// delete) for a version a build that did not succeed published.
// Idempotent; it says what it did.
type GalleryKeeper interface {
	PlanVersions(ctx context.Context, build string, rendered []byte, policy string) ([]byte, []gallery.Assigned, error)
	AfterBuild(ctx context.Context, f gallery.Finished) (string, error)
}

// Store keeps the builds (azure.Builds implements it over the app's
// documents, and owns where and how): their records, with ETags (a write
// conditioned on one answers ECONFLICT when another came first); the
// in-flight markers and the list entries that show them, written before
// the record and refreshed with each write of it; the line of waiting
// builds and the due list of finished builds still in flight; the
// admission ledger; the recent builds and the view of the builds in
// flight; the refused requests; and the migrations of what earlier
// versions kept.
type Store interface {
	// Get reads a record; ENOTFOUND when there is none.
	Get(ctx context.Context, id string) (Build, string, error)
	// GetMany reads the records of ids, leaving out those that do not exist.
	GetMany(ctx context.Context, ids []string) ([]goldenpipe.BuildVersion[Build], error)
	// Create writes a new record (ECONFLICT: the id is taken); Update
	// writes over the version etag names.
	Create(ctx context.Context, b Build) (string, error)
	Update(ctx context.Context, b Build, etag string) (string, error)
	// List reads every record of a template ("" all), newest first.
	List(ctx context.Context, template string) ([]Build, error)

	// Announce files a build before its record: marker, list entries and,
	// while it waits, its place in the line. Withdraw drops them again (a
	// request that lost its race). Publish refreshes what the lists (and,
	// marked, the marker) show of a record just written at etag.
	Announce(ctx context.Context, b Build) error
	Withdraw(ctx context.Context, b Build)
	Publish(ctx context.Context, b Build, etag string, marked bool) error
	// Mark writes a build's in-flight marker; Unmark takes it out of flight.
	Mark(ctx context.Context, b Build, etag string) error
	Unmark(ctx context.Context, id string) error
	// Markers lists the in-flight markers; InFlight reads their records
	// (a marker without one past its grace goes); Holders reads records
	// and their markers.
	Markers(ctx context.Context) ([]goldenpipe.BuildMarker[Summary], error)
	InFlight(ctx context.Context) ([]goldenpipe.BuildVersion[Build], error)
	Holders(ctx context.Context, ids []string) ([]goldenpipe.BuildVersion[Build], error)
	// Page is a page of summaries, newest first; Newest the newest build
	// of a template's list ("" when none).
	Page(ctx context.Context, template, token string, top int) ([]Summary, string, error)
	Newest(ctx context.Context, template string) (string, time.Time, error)

	// The line: waiting builds, oldest request first.
	PutInLine(ctx context.Context, b Build, etag string) error
	OutOfLine(ctx context.Context, id string, requestedAt time.Time) error
	Line(ctx context.Context, token string, n int) ([]goldenpipe.Queued[Summary], string, error)
	CountLine(ctx context.Context, n int) (int, bool, error)
	// The due list: finished builds still in flight, by when to look again.
	FileDue(ctx context.Context, id string, at time.Time, etag string) error
	Undue(ctx context.Context, id string, at time.Time) error
	Due(ctx context.Context, n int) ([]goldenpipe.Queued[Summary], error)

	// The admission ledger, read and written with its ETag.
	Ledger(ctx context.Context) (goldenpipe.Ledger, string, error)
	PutLedger(ctx context.Context, l goldenpipe.Ledger, etag string) error
	UpdateLedger(ctx context.Context, fn func(*goldenpipe.Ledger) error) error

	AddRecent(ctx context.Context, b Build) error
	Recent(ctx context.Context, n int) ([]Summary, error)
	InFlightView(ctx context.Context, n int) ([]Summary, int, bool, error)
	RecordInFlightView(ctx context.Context, shown []Summary, total int) error

	Reject(ctx context.Context, id string, r Rejection) error
	Rejected(ctx context.Context, n int) ([]Rejection, error)

	// MigrateLine and MigrateLists run the one-time migrations until the
	// deadline (once done, they cost nothing).
	MigrateLine(ctx context.Context, deadline time.Time) (string, error)
	MigrateLists(ctx context.Context, deadline time.Time) (string, error)
}

// Service requests, starts and follows builds.
type Service struct {
	Store         Store
	AIB           ImageBuilder
	Bus           Bus
	Templates     Templates
	Logs          LogTail       // optional
	Gallery       GalleryKeeper // optional: without it, gallery versions are left as Image Builder made them
	Queue, Topic  string
	MaxConcurrent int
	EventSource   string // CloudEvents source of lifecycle events
	Log           *slog.Logger
	Now           func() time.Time
	// Source and Destination rescue VHDs (Destination nil: VHD outputs end
	// in rescue_failed with the template kept).
	Source      VHDSource
	Destination VHDDestination
	// SASTTL is the lifetime of a copy's source SAS (default: sized to the
	// VHD, 6 h to 7 days); CopyAttempts and CopyBackoff bound and space
	// failed copies.
	SASTTL       time.Duration
	CopyAttempts int
	CopyBackoff  time.Duration
	// MaxAttempts bounds the transient failures in a row of one step
	// (default 6); BackoffBase is the first wait (default 30 s, doubling).
	MaxAttempts int
	BackoffBase time.Duration
	// KeepFailed is how long a failed build's Image Builder template is kept.
	KeepFailed time.Duration
	// Staging, when set, gives each build's Image Builder template a
	// staging resource group of its own (AIB_STAGING_GROUPS=managed),
	// deleted after the template; nil leaves it to Image Builder.
	Staging StagingGroups
	// ReissueAfter is how long a create or run that was recorded but is not
	// seen in Image Builder (a crash between the two) waits before it is
	// issued again; default 30 s.
	ReissueAfter time.Duration
}

func (s *Service) now() time.Time { return defaults.NowUTC(s.Now) }

func (s *Service) log() *slog.Logger { return defaults.LoggerOr(s.Log) }

func (s *Service) maxConcurrent() int {
	if s.MaxConcurrent > 0 {
		return s.MaxConcurrent
	}
	return defaultMaxConcurrent
}

// Request handles one message of the build queue. An invalid message is
// recorded as rejected (with its body) and acknowledged, so it is not
// retried forever; a valid one becomes exactly one build record, which is
// then advanced as far as it can go now.
func (s *Service) Request(ctx context.Context, m goldenpipe.Message) (string, error) {
	req, err := ParseRequest(m.Body)
	if err == nil {
		var b *Build
		var etag string
		b, etag, err = s.open(ctx, req, m.ID)
		if err == nil && b == nil {
			return "nothing to build", nil
		}
		if err == nil {
			outcome, aerr := s.advance(ctx, stored{b: *b, etag: etag})
			if aerr != nil {
				// the record exists: the monitor takes it from here
				s.log().Warn("advancing a new build failed; the monitor will go on", "build", b.ID, "err", aerr.Error())
			}
			return fmt.Sprintf("build %s: %s", b.ID, outcome), nil
		}
	}
	if goldenpipe.ErrorCode(err) == goldenpipe.EINVALID || goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
		if rerr := s.reject(ctx, m, goldenpipe.ErrorMessage(err)); rerr != nil {
			return "", rerr
		}
	}
	return "", err
}

func (s *Service) reject(ctx context.Context, m goldenpipe.Message, reason string) error {
	id := m.ID
	if id == "" {
		id = hashOf(string(m.Body))[:16]
	}
	sum := sha256.Sum256(m.Body)
	body := m.Body
	if len(body) > rejectedBodyKept {
		body = body[:rejectedBodyKept]
	}
	rej := Rejection{MessageID: clip(m.ID), DeliveryCount: m.DeliveryCount, Reason: clipTo(reason, 2000), Body: strings.ToValidUTF8(string(body), "\uFFFD"),
		BodyBytes: len(m.Body), BodySHA256: hex.EncodeToString(sum[:]), Truncated: len(m.Body) > rejectedBodyKept, At: s.now()}
	return s.Store.Reject(ctx, id, rej)
}

// open finds or creates the build a request asks for. It returns nil when
// nothing needs building (the last successful build has the fingerprint and
// the request does not force one).
func (s *Service) open(ctx context.Context, req Request, messageID string) (*Build, string, error) {
	t, err := s.Templates.Get(ctx, req.Template)
	if err != nil {
		return nil, "", err
	}
	if !t.Valid || t.Rendered == nil {
		return nil, "", goldenpipe.Errorf(goldenpipe.EINVALID, "template %q is invalid (%d problems); fix it before building", req.Template, len(t.Problems))
	}
	r := t.Rendered
	if !req.Force && req.BuildID == "" && t.LastBuild != nil && t.LastBuild.Fingerprint == r.Fingerprint {
		return nil, "", nil
	}
	base := BaseID(req.Template, r.Fingerprint)
	if req.BuildID != "" {
		base = req.BuildID
	} else if req.Force {
		base += "-f" + hashOf(messageID)[:6]
	}
	for attempt := 1; attempt <= 20; attempt++ {
		id := base
		if attempt > 1 {
			id = fmt.Sprintf("%s-%d", base, attempt)
		}
		b := &Build{ID: id, Template: req.Template, Reason: req.Reason, Force: req.Force, RequestedBy: req.RequestedBy,
			CorrelationID: req.CorrelationID, MessageID: messageID, Fingerprint: r.Fingerprint, SourceVersion: r.SourceVersion,
			Scripts: r.Scripts, Rendered: r.JSON, AIBName: AIBName(id), RequestedAt: s.now()}
		b.moveTo(StateRequested, "", req.Reason, b.RequestedAt)
		got, etag, err := s.create(ctx, b, messageID)
		if err != nil || got != nil {
			return got, etag, err
		}
		// that attempt failed, was canceled or superseded: a new attempt
	}
	return nil, "", goldenpipe.Errorf(goldenpipe.ECONFLICT, "too many attempts at building %s", base)
}

// create records a new build b: the marker, the index entries and the
// place in the line (at once) before the record: a crash after them
// leaves entries the monitor and the lists drop after markerGrace; a crash
// before the record's write is redelivered and writes them all again. When
// b's id is taken it returns the build that holds it if that answers the
// request, nil when a new attempt is needed.
func (s *Service) create(ctx context.Context, b *Build, messageID string) (*Build, string, error) {
	if err := s.Store.Announce(ctx, *b); err != nil {
		return nil, "", err
	}
	etag, err := s.Store.Create(ctx, *b)
	if err == nil {
		return b, etag, nil
	}
	if goldenpipe.ErrorCode(err) != goldenpipe.ECONFLICT {
		return nil, "", fmt.Errorf("recording build %s: %w", b.ID, err)
	}
	existing, existingETag, err := s.Store.Get(ctx, b.ID)
	if err != nil {
		return nil, "", fmt.Errorf("reading build %s: %w", b.ID, err)
	}
	// this attempt's entries name a build requested at another time:
	// dropped (a reader skips them anyway), and the record's ensured
	if !existing.RequestedAt.Equal(b.RequestedAt) {
		s.Store.Withdraw(ctx, *b)
	}
	if err := s.Store.Publish(ctx, existing, existingETag, false); err != nil {
		return nil, "", err
	}
	return s.coalesce(ctx, &existing, existingETag, messageID)
}

// coalesce answers a request whose build id is taken by existing: the
// build itself when it is this message's and over, in flight (made sure
// the monitor sees it: a crash may have come between its marker and its
// record on an earlier delivery) or built; nil when it failed, was
// canceled or superseded.
func (s *Service) coalesce(ctx context.Context, existing *Build, etag, messageID string) (*Build, string, error) {
	switch {
	case existing.MessageID == messageID && messageID != "" && Terminal(existing.State):
		return existing, etag, nil // the same message again, its build over
	case !Terminal(existing.State):
		if waitingState(existing.State) {
			if err := s.Store.PutInLine(ctx, *existing, etag); err != nil {
				return nil, "", err
			}
		}
		return existing, etag, s.Store.Mark(ctx, *existing, etag)
	case existing.State == StateSucceeded || existing.State == StatePartiallySucceeded:
		return existing, etag, nil // this change was built
	}
	return nil, "", nil
}

// Enqueue sends a build request to the build queue. The message id comes
// from the template, its fingerprint and scope, so Service Bus duplicate
// detection drops repeats.
func (s *Service) Enqueue(ctx context.Context, req Request, fingerprint, scope string) (string, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	id := MessageID(req.Template, fingerprint, scope)
	if err := s.Bus.Send(ctx, s.Queue, goldenpipe.OutMessage{ID: id, Body: body, ContentType: "application/json",
		CorrelationID: req.CorrelationID, Subject: "build.request"}); err != nil {
		return "", fmt.Errorf("enqueueing a build of %q: %w", req.Template, err)
	}
	return id, nil
}

// RequestBuild enqueues a build of a template now (POST /api/builds) and
// returns the id of the build that will run. It validates before anything
// is sent. With force: a build after the latest one, the same for every
// request that saw that latest build (a forced build in flight, or a
// build of the fingerprint not started yet, is the answer itself). Without force: a template whose last build failed (or timed
// out, was canceled, lost its VHD) is built again — a retry is a new
// request with its own id, the same for every copy of that retry, so
// twenty concurrent retries make one build; a build of the template's
// current fingerprint in flight is the answer itself; an up-to-date
// template is a conflict (force builds it anyway).
func (s *Service) RequestBuild(ctx context.Context, req Request) (string, error) {
	if req.Reason == "" {
		req.Reason = "requested through the API"
	}
	req.BuildID = ""
	if err := req.Validate(); err != nil {
		return "", err
	}
	t, err := s.Templates.Get(ctx, req.Template)
	if err != nil {
		return "", err
	}
	if !t.Valid || t.Rendered == nil {
		return "", goldenpipe.Errorf(goldenpipe.EINVALID, "template %q is invalid (%d problems); fix it before building", req.Template, len(t.Problems))
	}
	fp := t.Rendered.Fingerprint
	base := BaseID(req.Template, fp)
	latest, err := s.latest(ctx, req.Template)
	if err != nil {
		return "", err
	}
	scope := ""
	switch {
	case req.Force && latest != nil && !Terminal(latest.State) && latest.Fingerprint == fp && (latest.Force || waitingState(latest.State)):
		// a forced build in flight, or one of this fingerprint not started
		// yet, is what a force asks for: that is the build that will run
		return latest.ID, nil
	case req.Force:
		// a force asks for a build after the latest one: requests that see
		// the same latest ask for the same build (one id, one message id),
		// so twenty at once make one build
		after := "none"
		if latest != nil {
			after = latest.ID
		}
		scope = "force-after-" + after
		req.BuildID = base + "-f" + hashOf(scope)[:6]
	case latest != nil && !Terminal(latest.State) && latest.Fingerprint == fp:
		return latest.ID, nil // being built: that is the build that will run
	case latest != nil && latest.Fingerprint == fp && failedState(latest.State):
		scope = "retry-" + latest.ID
		req.BuildID = base + "-r" + hashOf(latest.ID)[:6]
		req.Reason = "retry of " + latest.ID + " (" + string(latest.State) + "): " + req.Reason
	case t.LastBuild != nil && t.LastBuild.Fingerprint == fp:
		return "", goldenpipe.Errorf(goldenpipe.ECONFLICT, "template %q is up to date with build %s; use force to build it again", req.Template, t.LastBuild.BuildID)
	default:
		req.BuildID = base
	}
	if _, err := s.Enqueue(ctx, req, fp, scope); err != nil {
		return "", err
	}
	return req.BuildID, nil
}

// failedState reports the ends a retry is for.
func failedState(s State) bool {
	return s == StateFailed || s == StateTimedOut || s == StateCanceled || s == StateRescueFailed
}

// latest returns the newest build of a template (nil when none): the
// first of its index, or, when the index has none (builds recorded before
// it, not yet indexed by the monitor), the newest of its records.
func (s *Service) latest(ctx context.Context, template string) (*Build, error) {
	page, _, err := s.Page(ctx, template, "", 1)
	if err != nil {
		return nil, err
	}
	if len(page) == 1 {
		b, _, err := s.Store.Get(ctx, page[0].ID)
		if err != nil {
			return nil, err
		}
		return &b, nil
	}
	list, err := s.List(ctx, template)
	if err != nil || len(list) == 0 {
		return nil, err
	}
	return &list[0], nil
}

// Get returns a build; ENOTFOUND when unknown.
func (s *Service) Get(ctx context.Context, id string) (Build, error) {
	if !buildIDRE.MatchString(id) {
		return Build{}, goldenpipe.Errorf(goldenpipe.ENOTFOUND, "no build %q", clip(id))
	}
	b, _, err := s.Store.Get(ctx, id)
	if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
		return b, goldenpipe.Errorf(goldenpipe.ENOTFOUND, "no build %q", id)
	}
	return b, err
}

// List returns the builds, newest first, of one template ("" for all),
// reading every record of the template: for tests and tools; the API and
// the pages read Page.
func (s *Service) List(ctx context.Context, templateName string) ([]Build, error) {
	return s.Store.List(ctx, templateName)
}

// inFlightViewed bounds the builds the view of the builds in flight keeps.
const inFlightViewed = 50

// InFlightPage returns how many builds are in flight and up to n of them
// (at most inFlightViewed), the slot holders first, then the oldest: the
// view the monitor's last tick recorded (one read), or, before any tick
// recorded one, read from the markers.
func (s *Service) InFlightPage(ctx context.Context, n int) ([]Summary, int, error) {
	shown, total, recorded, err := s.Store.InFlightView(ctx, n)
	if err != nil || recorded {
		return shown, total, err
	}
	return s.inFlightLive(ctx, n)
}

// inFlightLive returns how many builds are in flight and up to n of them,
// oldest first, the slot holders (running) first: their markers' summaries
// (one listing), reading a record only for a marker without one.
func (s *Service) inFlightLive(ctx context.Context, n int) ([]Summary, int, error) {
	marks, err := s.Store.Markers(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("listing the builds in flight: %w", err)
	}
	l, _, err := s.Store.Ledger(ctx)
	if err != nil {
		return nil, 0, err
	}
	holding := map[string]bool{}
	for _, h := range l.Holders {
		holding[h] = true
	}
	// holders first, then the oldest request, then by id
	first := func(idA, idB string, atA, atB time.Time) bool {
		if ha, hb := holding[idA], holding[idB]; ha != hb {
			return ha
		}
		if !atA.Equal(atB) {
			return atA.Before(atB)
		}
		return idA < idB
	}
	at := func(m goldenpipe.BuildMarker[Summary]) time.Time {
		if m.Build != nil {
			return m.Build.RequestedAt
		}
		return m.At
	}
	sort.SliceStable(marks, func(i, j int) bool { return first(marks[i].ID, marks[j].ID, at(marks[i]), at(marks[j])) })
	total := len(marks)
	if len(marks) > n {
		marks = marks[:n]
	}
	out := make([]Summary, 0, len(marks))
	var ids []string
	for _, m := range marks {
		if m.Build != nil {
			out = append(out, *m.Build)
		} else {
			ids = append(ids, m.ID)
		}
	}
	if len(ids) == 0 {
		return out, total, nil
	}
	found, err := s.Store.GetMany(ctx, ids)
	if err != nil {
		return nil, 0, err
	}
	for _, f := range found {
		out = append(out, f.Build.Summarize())
	}
	sort.SliceStable(out, func(i, j int) bool { return first(out[i].ID, out[j].ID, out[i].RequestedAt, out[j].RequestedAt) })
	return out, total, nil
}

// InFlight returns the builds not finished yet, oldest first: what the
// monitor advances, read from the in-flight markers (not every build ever).
func (s *Service) InFlight(ctx context.Context) ([]Build, error) {
	active, err := s.inFlight(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Build, len(active))
	for i, st := range active {
		out[i] = st.b
	}
	sort.Slice(out, func(i, j int) bool { return before(&out[i], &out[j]) })
	return out, nil
}

// inFlight reads the builds the markers name, with their ETags (a marker
// whose record does not exist is dropped once past its grace).
func (s *Service) inFlight(ctx context.Context) ([]stored, error) {
	return storedAll(s.Store.InFlight(ctx))
}

// storedAll is the store's builds read with their ETags, as the shell
// keeps them (the error of the read passed on).
func storedAll(found []goldenpipe.BuildVersion[Build], err error) ([]stored, error) {
	if err != nil {
		return nil, err
	}
	out := make([]stored, len(found))
	for i, f := range found {
		out[i] = stored{b: f.Build, etag: f.ETag, summarized: f.Summarized}
	}
	return out, nil
}

// Recent returns the summaries of up to n finished builds, newest first:
// one read.
func (s *Service) Recent(ctx context.Context, n int) ([]Summary, error) {
	return s.Store.Recent(ctx, n)
}

// Rejected returns the request messages that were refused, newest first,
// at most n (and at most rejectedListed) of them (each with at most the
// start of its body), from their list: it reads what it answers, whatever
// was rejected before.
func (s *Service) Rejected(ctx context.Context, n int) ([]Rejection, error) {
	return s.Store.Rejected(ctx, min(max(n, 1), rejectedListed))
}
