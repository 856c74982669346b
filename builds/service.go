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

	"golang.org/x/sync/errgroup"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/gallery"
	"github.com/goldenpipe/goldenpipe/internal/defaults"
	"github.com/goldenpipe/goldenpipe/internal/docstore"
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

// Service requests, starts and follows builds.
type Service struct {
	Docs          goldenpipe.Documents
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
	key := keyRejected + hashOf(id)[:32] + ".json"
	if err := s.indexRejection(ctx, key, &rej); err != nil {
		return err
	}
	if _, err := s.Docs.Overwrite(ctx, key, rej); err != nil {
		return fmt.Errorf("recording the rejected message %s: %w", m.ID, err)
	}
	return nil
}

// keyRejectedByTime indexes the rejections newest first: an entry (written
// before its rejection, as the builds' index) names the rejection's key
// and time; a redelivered message's rejection is written again with a new
// time, and the older entry, naming another time, is dropped when read.
const keyRejectedByTime = "builds-rejected-by-time/"

func (s *Service) indexRejection(ctx context.Context, key string, rej *Rejection) error {
	entry := keyRejectedByTime + timeKey(rej.At) + "-" + strings.TrimSuffix(strings.TrimPrefix(key, keyRejected), ".json")
	// the entry holds the rejection (a page is one listing), or, when it
	// is too large for the list, names it
	_, err := s.Docs.Overwrite(ctx, entry, indexEntry{ID: key, Rejection: rej})
	if goldenpipe.ErrorCode(err) == goldenpipe.EINVALID {
		_, err = s.Docs.Overwrite(ctx, entry, indexEntry{ID: key})
	}
	if err != nil {
		return fmt.Errorf("indexing a rejected message: %w", err)
	}
	return nil
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
		// the marker, the index entries and the place in the line (at
		// once) before the record: a crash after them leaves entries the
		// monitor and the lists drop after markerGrace; a crash before the
		// record's write is redelivered and writes them all again
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() error { return s.mark(gctx, b, "") })
		g.Go(func() error { return s.indexBuild(gctx, b, "") })
		g.Go(func() error { return s.writeLine(gctx, b, "") })
		if err := g.Wait(); err != nil {
			return nil, "", err
		}
		etag, err := s.Docs.Put(ctx, buildKey(id), b, "")
		if err == nil {
			return b, etag, nil
		}
		if goldenpipe.ErrorCode(err) != goldenpipe.ECONFLICT {
			return nil, "", fmt.Errorf("recording build %s: %w", id, err)
		}
		var existing Build
		existingETag, err := s.Docs.Get(ctx, buildKey(id), &existing)
		if err != nil {
			return nil, "", fmt.Errorf("reading build %s: %w", id, err)
		}
		// this attempt's entries name a build requested at another time:
		// dropped (a reader skips them anyway), and the record's ensured
		if !existing.RequestedAt.Equal(b.RequestedAt) {
			_ = s.Docs.Delete(ctx, byTimeKey(b), "")
			_ = s.Docs.Delete(ctx, byTemplateKey(b), "")
			_ = s.Docs.Delete(ctx, lineKey(b), "")
		}
		if err := s.indexBuild(ctx, &existing, existingETag); err != nil {
			return nil, "", err
		}
		switch {
		case existing.MessageID == messageID && messageID != "" && Terminal(existing.State):
			return &existing, existingETag, nil // the same message again, its build over
		case !Terminal(existing.State):
			// the same message again, or this change is being built: coalesce,
			// and make sure the monitor sees it (a crash may have come
			// between its marker and its record on an earlier delivery)
			if waitingState(existing.State) {
				if err := s.writeLine(ctx, &existing, existingETag); err != nil {
					return nil, "", err
				}
			}
			return &existing, existingETag, s.mark(ctx, &existing, existingETag)
		case existing.State == StateSucceeded || existing.State == StatePartiallySucceeded:
			return &existing, existingETag, nil // this change was built
		}
		// that attempt failed, was canceled or superseded: a new attempt
	}
	return nil, "", goldenpipe.Errorf(goldenpipe.ECONFLICT, "too many attempts at building %s", base)
}

// mark writes a build's in-flight marker (idempotent), with the summary
// of the record version etag names ("" before it is written).
func (s *Service) mark(ctx context.Context, b *Build, etag string) error {
	sum := b.Summarize()
	return s.writeMarker(ctx, b.ID, marker{At: s.now(), ETag: etag, Build: &sum})
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
		var b Build
		if _, err := s.Docs.Get(ctx, buildKey(page[0].ID), &b); err != nil {
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
	var b Build
	if !buildIDRE.MatchString(id) {
		return b, goldenpipe.Errorf(goldenpipe.ENOTFOUND, "no build %q", clip(id))
	}
	if _, err := s.Docs.Get(ctx, buildKey(id), &b); err != nil {
		if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
			return b, goldenpipe.Errorf(goldenpipe.ENOTFOUND, "no build %q", id)
		}
		return b, err
	}
	return b, nil
}

// List returns the builds, newest first, of one template ("" for all),
// reading every record under the template's prefix: for tests and tools;
// the API and the pages read Page.
func (s *Service) List(ctx context.Context, templateName string) ([]Build, error) {
	prefix := keyBuilds
	if templateName != "" {
		prefix += templateName + "-"
	}
	keys, err := s.Docs.Keys(ctx, prefix)
	if err != nil {
		return nil, err
	}
	list, err := docstore.ReadAll[Build](ctx, s.Docs, keys, func(a, b Build) bool { return a.RequestedAt.After(b.RequestedAt) })
	if err != nil {
		return nil, err
	}
	if templateName == "" {
		return list, nil
	}
	out := list[:0]
	for _, b := range list { // a prefix also matches longer template names
		if b.Template == templateName {
			out = append(out, b)
		}
	}
	return out, nil
}

// keyInFlightView is what the overview shows of the builds in flight, as
// the monitor's last tick left them.
const keyInFlightView = "builds-inflight-view.json"

// inFlightView is the first inFlightViewed builds in flight (the slot
// holders first, then the oldest) and how many there are, written by the
// monitor's tick when it changed: the overview reads one document however
// many builds are in flight. Since is when it last changed.
type inFlightView struct {
	Since time.Time `json:"since"`
	Total int       `json:"total"`
	Shown []Summary `json:"shown"`
}

// inFlightViewed bounds the builds the view keeps.
const inFlightViewed = 50

// InFlightPage returns how many builds are in flight and up to n of them
// (at most inFlightViewed), the slot holders first, then the oldest: the
// view the monitor's last tick recorded (one read), or, before any tick
// recorded one, read from the markers.
func (s *Service) InFlightPage(ctx context.Context, n int) ([]Summary, int, error) {
	var v inFlightView
	_, err := s.Docs.Get(ctx, keyInFlightView, &v)
	switch goldenpipe.ErrorCode(err) {
	case "":
		return v.Shown[:min(n, len(v.Shown))], v.Total, nil
	case goldenpipe.ENOTFOUND:
		return s.inFlightLive(ctx, n)
	}
	return nil, 0, err
}

// inFlightLive returns how many builds are in flight and up to n of them,
// oldest first, the slot holders (running) first: their markers' summaries
// (one listing), reading a record only for a marker without one.
func (s *Service) inFlightLive(ctx context.Context, n int) ([]Summary, int, error) {
	marks, err := s.active(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("listing the builds in flight: %w", err)
	}
	var l ledger
	if _, err := s.Docs.Get(ctx, keyAdmission, &l); err != nil && goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
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
	at := func(m activeMarker) time.Time {
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
	var keys []string
	for _, m := range marks {
		if m.Build != nil {
			out = append(out, *m.Build)
		} else {
			keys = append(keys, buildKey(m.ID))
		}
	}
	if len(keys) == 0 {
		return out, total, nil
	}
	found, _, err := docstore.ReadAllVersioned[Build](ctx, s.Docs, keys)
	if err != nil {
		return nil, 0, err
	}
	for _, f := range found {
		out = append(out, f.Value.Summarize())
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

// inFlight reads the builds the markers name, with their ETags. A marker
// whose record does not exist is dropped once it is older than
// markerGrace (its request never got as far as the record).
func (s *Service) inFlight(ctx context.Context) ([]stored, error) {
	marks, err := s.active(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing the builds in flight: %w", err)
	}
	keys := make([]string, len(marks))
	byKey := make(map[string]activeMarker, len(marks))
	for i, m := range marks {
		keys[i] = buildKey(m.ID)
		byKey[keys[i]] = m
	}
	found, missing, err := docstore.ReadAllVersioned[Build](ctx, s.Docs, keys)
	if err != nil {
		return nil, err
	}
	for _, k := range missing {
		if m := byKey[k]; s.now().Sub(m.At) > markerGrace {
			_ = s.Docs.Delete(ctx, activeKey(m.ID), "")
		}
	}
	out := make([]stored, len(found))
	for i, f := range found {
		out[i] = stored{b: f.Value, etag: f.ETag, summarized: byKey[f.Key].ETag}
	}
	return out, nil
}

// Recent returns the summaries of up to n finished builds, newest first:
// one read (a list begun before summaries has its records read).
func (s *Service) Recent(ctx context.Context, n int) ([]Summary, error) {
	var r recent
	if _, err := s.Docs.Get(ctx, keyRecent, &r); err != nil && goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
		return nil, err
	}
	if len(r.Builds) == len(r.IDs) {
		return r.Builds[:min(n, len(r.Builds))], nil
	}
	if len(r.IDs) > n {
		r.IDs = r.IDs[:n]
	}
	keys := make([]string, len(r.IDs))
	for i, id := range r.IDs {
		keys[i] = buildKey(id)
	}
	list, err := docstore.ReadAll[Build](ctx, s.Docs, keys, func(a, b Build) bool { return a.FinishedAt.After(b.FinishedAt) })
	if err != nil {
		return nil, err
	}
	out := make([]Summary, len(list))
	for i := range list {
		out[i] = list[i].Summarize()
	}
	return out, nil
}

// Rejected returns the request messages that were refused, newest first,
// at most n (and at most rejectedListed) of them (each with at most the start of its body),
// from their index: it reads what it answers, whatever was rejected
// before. The rejections recorded before the index are indexed once, by
// the first call (a recorded migration).
func (s *Service) Rejected(ctx context.Context, n int) ([]Rejection, error) {
	var m migration
	etag, err := s.Docs.Get(ctx, keyRejectedMigration, &m)
	if err != nil && goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
		return nil, err
	}
	if !m.Done {
		keys, err := s.Docs.Keys(ctx, keyRejected)
		if err != nil {
			return nil, err
		}
		found, _, err := docstore.ReadAllVersioned[Rejection](ctx, s.Docs, keys)
		if err != nil {
			return nil, err
		}
		for _, f := range found {
			if err := s.indexRejection(ctx, f.Key, &f.Value); err != nil {
				return nil, err
			}
		}
		m.Done, m.Count = true, len(found)
		if _, err := s.Docs.Put(ctx, keyRejectedMigration, m, etag); err != nil && goldenpipe.ErrorCode(err) != goldenpipe.ECONFLICT {
			return nil, err
		}
	}
	return s.rejectedPage(ctx, min(max(n, 1), rejectedListed))
}

// keyRejectedMigration records that the rejections recorded before their
// index were indexed.
const keyRejectedMigration = "migrations/rejected-index.json"

// rejectedPage reads the newest rejections from their index.
func (s *Service) rejectedPage(ctx context.Context, n int) ([]Rejection, error) {
	entries, _, err := s.Docs.ListPage(ctx, keyRejectedByTime, "", n)
	if err != nil {
		return nil, err
	}
	out := make([]Rejection, 0, len(entries))
	var keys []string
	var ats []int64
	var slots []int
	for _, e := range entries {
		_, at, ok := parseEntry(e.Key, keyRejectedByTime)
		if !ok {
			continue
		}
		var ie indexEntry
		if e.Summary != nil && json.Unmarshal(e.Summary, &ie) == nil && ie.Rejection != nil {
			if ie.Rejection.At.UTC().UnixNano() == at {
				out = append(out, *ie.Rejection)
			}
			continue
		}
		if ie.ID == "" {
			id, _, _ := parseEntry(e.Key, keyRejectedByTime)
			ie.ID = keyRejected + id + ".json"
		}
		keys, ats, slots = append(keys, ie.ID), append(ats, at), append(slots, len(out))
		out = append(out, Rejection{})
	}
	if len(keys) == 0 {
		return out, nil
	}
	found, _, err := docstore.ReadAllVersioned[Rejection](ctx, s.Docs, keys)
	if err != nil {
		return nil, err
	}
	byKey := make(map[string]Rejection, len(found))
	for _, f := range found {
		byKey[f.Key] = f.Value
	}
	drop := map[int]bool{}
	for i, k := range keys {
		if r, ok := byKey[k]; ok && r.At.UTC().UnixNano() == ats[i] {
			out[slots[i]] = r
		} else {
			drop[slots[i]] = true
		}
	}
	return without(out, drop), nil
}

// active returns the ids of the builds not finished yet.
func (s *Service) active(ctx context.Context) ([]activeMarker, error) {
	var out []activeMarker
	token := ""
	for {
		items, next, err := s.Docs.ListPage(ctx, keyActive, token, goldenpipe.MaxPageSize)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			m := activeMarker{ID: strings.TrimPrefix(it.Key, keyActive)}
			if it.Summary != nil {
				_ = json.Unmarshal(it.Summary, &m.marker) // a marker without a summary reads the record
			}
			out = append(out, m)
		}
		if next == "" {
			return out, nil
		}
		token = next
	}
}

// activeMarker is a build's in-flight marker as listed.
type activeMarker struct {
	ID string
	marker
}
