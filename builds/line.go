package builds

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/internal/docstore"
)

// The line, the ledger and the due list: what lets a request cost the same
// whatever is waiting, and a tick look only at what is due (issue 24).
//
//   - The line (builds-line/) is one small entry per waiting build, keyed by
//     its request time, oldest first, written by the request path before
//     the record (as the marker and the index entries). A page of it is the
//     head of the line: admission reads it from the start and stops once
//     the free slots are given, so a build further back costs nothing.
//   - The ledger (builds-admission.json) names the builds holding the
//     MaxConcurrent slots and their templates' lanes. It is written only
//     when a slot changes hands (at most MaxConcurrent writes per
//     admission), never by a request that finds every slot taken.
//   - The due list (builds-due/) holds, for each finished build still in
//     flight (after-steps, a failed build's template kept for KeepFailed),
//     an entry keyed by the time Decide asked to look again (its
//     RequeueAfter); a tick reads its head and reconciles what is due.
//     The slot holders are reconciled every tick (they are running).
//
// So a tick reads the ledger, its holders, one page of the line and one of
// the due list: O(slots + due) storage calls, whatever waits behind.
const (
	keyLine = "builds-line/"
	keyDue  = "builds-due/"
)

// KeyLine and KeyDue are the prefixes of the line and the due list, which
// the store keeps in tables.
const (
	KeyLine = keyLine
	KeyDue  = keyDue
)

// InFlightCounted bounds the builds a tick counts for the view of the
// builds in flight (one page of the line and one of the due list): at this
// number InFlightPage's total means "at least".
const InFlightCounted = 1000

// requestExamined bounds, beyond the free slots, the entries of the line
// the request path's admission pass looks at; tickExamined the tick's.
const (
	requestExamined = 8
	tickExamined    = InFlightCounted
)

// tickHead is the page of the line's head a tick reads with the entries'
// summaries (what the admission pass looks at first, and the view shows).
const tickHead = 100

// ascKey orders times oldest first as text.
func ascKey(t time.Time) string { return fmt.Sprintf("%016x", uint64(t.UTC().UnixNano())) }

func lineKey(b *Build) string { return keyLine + ascKey(b.RequestedAt) + "-" + b.ID }

func dueKey(at time.Time, id string) string { return keyDue + ascKey(at) + "-" + id }

// parseAsc reads a build id and time from a line or due entry's key.
func parseAsc(key, prefix string) (id string, at time.Time, ok bool) {
	rest := strings.TrimPrefix(key, prefix)
	if len(rest) < 18 || rest[16] != '-' {
		return "", time.Time{}, false
	}
	n, err := strconv.ParseUint(rest[:16], 16, 64)
	if err != nil {
		return "", time.Time{}, false
	}
	return rest[17:], time.Unix(0, int64(n)).UTC(), true
}

// writeLine puts a waiting build in the line (idempotent), with the
// summary of the record version etag names ("" before it is written).
func (s *Service) writeLine(ctx context.Context, b *Build, etag string) error {
	sum := b.Summarize()
	if _, err := s.Docs.Overwrite(ctx, lineKey(b), indexEntry{ID: b.ID, ETag: etag, Build: &sum}); err != nil {
		return fmt.Errorf("putting build %s in the line: %w", b.ID, err)
	}
	return nil
}

// ledger lists the builds holding a lane and a slot, with their templates.
type ledger struct {
	Holders []string `json:"holders"`
	// Lanes names each holder's template, so the request path's pass knows
	// the lanes without reading the holders (absent from ledgers written
	// before it: those holders' records are read).
	Lanes map[string]string `json:"lanes,omitempty"`
}

// release takes a finished build out of the admission ledger.
func (s *Service) release(ctx context.Context, id string) error {
	_, err := docstore.Update(ctx, s.Docs, keyAdmission, func(l *ledger) error {
		kept := l.Holders[:0:0]
		for _, h := range l.Holders {
			if h != id {
				kept = append(kept, h)
			}
		}
		_, laned := l.Lanes[id]
		if len(kept) == len(l.Holders) && !laned {
			return docstore.ErrUnchanged
		}
		l.Holders = kept
		delete(l.Lanes, id)
		return nil
	})
	if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
		return nil
	}
	return err
}

// judged is a build the admission pass looked at, with its verdict; inLine
// says it was read from the line (its entry goes once it stops waiting).
type judged struct {
	st     stored
	v      Verdict
	inLine bool
}

// admission is one admission pass: the holders (held: their records, or
// for the request path placeholders from the ledger's lanes), then the
// head of the line in request order, looked at only while a slot is free
// and at most budget entries; Admit decides (slots in request order, one
// build per template's lane, the newest request of a template winning),
// and the ledger is written, conditioned on letag, when its holders
// change. ECONFLICT: another pass changed the ledger first.
func (s *Service) admission(ctx context.Context, l ledger, letag string, held []stored, head []goldenpipe.Listed, headNext string, budget int) ([]judged, map[string]Verdict, error) {
	max := s.maxConcurrent()
	lanes := map[string]string{}
	holding := map[string]bool{}
	live := 0
	for _, h := range held {
		holding[h.b.ID] = true
		if !Terminal(h.b.State) && lanes[h.b.Template] == "" {
			lanes[h.b.Template] = h.b.ID
			live++
		}
	}
	active := make([]Build, 0, len(held)+max)
	for _, h := range held {
		active = append(active, h.b)
	}
	var seenJ []judged
	admits, examined := 0, 0
	items, next, fetched := head, headNext, head != nil
	now := s.now()
	for live+admits < max && examined < budget {
		if len(items) == 0 {
			if fetched && next == "" {
				break
			}
			var err error
			if items, next, err = s.Docs.ListPage(ctx, keyLine, next, min(budget-examined, goldenpipe.MaxPageSize)); err != nil {
				return nil, nil, fmt.Errorf("reading the line: %w", err)
			}
			fetched = true
			if len(items) == 0 {
				break
			}
		}
		it := items[0]
		items = items[1:]
		id, at, ok := parseAsc(it.Key, keyLine)
		if !ok {
			continue
		}
		examined++
		var b Build
		etag, err := s.Docs.Get(ctx, buildKey(id), &b)
		switch goldenpipe.ErrorCode(err) {
		case "":
		case goldenpipe.ENOTFOUND:
			if now.Sub(at) > markerGrace { // a request whose record never came
				_ = s.Docs.Delete(ctx, it.Key, "")
				_ = s.Docs.Delete(ctx, activeKey(id), "")
			}
			continue
		default:
			return nil, nil, err
		}
		st := stored{b: b, etag: etag}
		switch {
		case !b.RequestedAt.Equal(at): // a request that lost its race
			_ = s.Docs.Delete(ctx, it.Key, "")
			continue
		case holding[id]:
			if !waitingState(b.State) {
				_ = s.Docs.Delete(ctx, it.Key, "") // moved on: its entry was left by a crash
			}
			continue
		case Terminal(b.State):
			// finished (a crash between its end and the due list's entry):
			// its after-steps go on from the due list
			if _, err := s.Docs.Overwrite(ctx, dueKey(now, id), indexEntry{ID: id, ETag: etag}); err != nil {
				return nil, nil, err
			}
			_ = s.Docs.Delete(ctx, it.Key, "")
			continue
		case !waitingState(b.State):
			// in flight but named by no ledger (a lost write): it holds
			// its lane and slot all the same (Admit keeps it)
			active = append(active, b)
			if lanes[b.Template] == "" {
				lanes[b.Template] = id
				live++
			}
			seenJ = append(seenJ, judged{st: st, inLine: true})
			continue
		}
		newer, err := s.newerWaiting(ctx, &b)
		if err != nil {
			return nil, nil, err
		}
		if newer != "" {
			seenJ = append(seenJ, judged{st: st, v: Verdict{Kind: VerdictSupersede, Other: newer}, inLine: true})
			continue
		}
		active = append(active, b)
		seenJ = append(seenJ, judged{st: st, inLine: true})
		if lanes[b.Template] == "" {
			lanes[b.Template] = id
			admits++
		}
	}
	holders, verdicts := Admit(active, l.Holders, max)
	for i := range seenJ {
		if seenJ[i].v.Kind == VerdictNone {
			seenJ[i].v = verdicts[seenJ[i].st.b.ID]
		}
	}
	laneOf := map[string]string{}
	for _, b := range active {
		laneOf[b.ID] = b.Template
	}
	newLanes := make(map[string]string, len(holders))
	for _, h := range holders {
		newLanes[h] = laneOf[h]
	}
	if !slices.Equal(holders, l.Holders) || !mapsEqual(newLanes, l.Lanes) {
		l.Holders, l.Lanes = holders, newLanes
		if _, err := s.Docs.Put(ctx, keyAdmission, l, letag); err != nil {
			return nil, nil, err
		}
	}
	return seenJ, verdicts, nil
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// newerWaiting returns the id of a newer waiting request of b's template
// ("" when none): the newest entry of the template's index (one listing),
// and, only when it names another build, that build's record.
func (s *Service) newerWaiting(ctx context.Context, b *Build) (string, error) {
	prefix := byTemplatePrefix(b.Template)
	items, _, err := s.Docs.ListPage(ctx, prefix, "", 1)
	if err != nil || len(items) == 0 {
		return "", err
	}
	id, at, ok := parseEntry(items[0].Key, prefix)
	if !ok || id == b.ID || at <= b.RequestedAt.UTC().UnixNano() {
		return "", nil
	}
	var n Build
	if _, err := s.Docs.Get(ctx, buildKey(id), &n); err != nil {
		if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
			return "", nil // its record is not written (yet)
		}
		return "", err
	}
	if n.RequestedAt.UTC().UnixNano() != at || !waitingState(n.State) {
		return "", nil
	}
	return id, nil
}

// passAttempts bounds the rounds of an admission pass that lost the
// ledger to another.
const passAttempts = 3

// admitFew is the request path's admission pass: the ledger (one read),
// its holders taken from its lanes, and, only while a slot is free, a few
// entries at the head of the line. With every slot taken it costs one
// read, however many builds wait.
func (s *Service) admitFew(ctx context.Context) ([]judged, error) {
	for attempt := 0; attempt < passAttempts; attempt++ {
		var l ledger
		letag, err := s.Docs.Get(ctx, keyAdmission, &l)
		if err != nil && goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
			return nil, err
		}
		var held []stored
		var unknown []string
		for _, h := range l.Holders {
			if t, ok := l.Lanes[h]; ok {
				held = append(held, stored{b: Build{ID: h, Template: t, State: StateCreating}})
			} else {
				unknown = append(unknown, buildKey(h)) // a ledger from before the lanes
			}
		}
		if len(unknown) > 0 {
			found, _, err := docstore.ReadAllVersioned[Build](ctx, s.Docs, unknown)
			if err != nil {
				return nil, err
			}
			for _, f := range found {
				held = append(held, stored{b: f.Value, etag: f.ETag})
			}
		}
		if len(held) >= s.maxConcurrent() {
			return nil, nil // every slot taken: nothing to read
		}
		lk, _, err := s.admission(ctx, l, letag, held, nil, "", s.maxConcurrent()+requestExamined)
		if goldenpipe.ErrorCode(err) == goldenpipe.ECONFLICT {
			continue
		}
		// verdicts for the placeholders are not the request path's to act on
		return lk, err
	}
	return nil, nil // other passes are giving the slots: the monitor goes on
}

// settle files a build where the next look at it will find it, after a
// reconcile: a finished build still in flight in the due list at the time
// Decide asked for (fromDue, its old entry, goes), a build that stopped
// waiting out of the line (inLine), a build out of flight out of both.
func (s *Service) settle(ctx context.Context, l looked, fromDue string, inLine bool) error {
	b := &l.b
	if b.ID == "" {
		return nil
	}
	if inLine && !waitingState(b.State) {
		if err := s.Docs.Delete(ctx, lineKey(b), ""); err != nil {
			return err
		}
	}
	if Terminal(b.State) && !l.unmarked {
		k := dueKey(s.now().Add(max(l.requeue, 0)), b.ID)
		if k == fromDue {
			return nil
		}
		if _, err := s.Docs.Overwrite(ctx, k, indexEntry{ID: b.ID}); err != nil {
			return fmt.Errorf("filing build %s for its next look: %w", b.ID, err)
		}
	}
	if fromDue != "" {
		return s.Docs.Delete(ctx, fromDue, "")
	}
	return nil
}

// monitorWorkers bounds the builds reconciled at once in one tick.
const monitorWorkers = 8

// tickBudget bounds one monitor tick, well under functionTimeout; builds
// not reached are taken first on the next tick.
const tickBudget = 4 * time.Minute

// indexOldBudget bounds the indexing of old builds in one tick, and the
// filing of the builds in flight before the line in one tick.
const indexOldBudget = 30 * time.Second

// Tick is the monitor's pass: the admission pass (the ledger, its holders,
// the head of the line), then it reconciles the slot holders, the builds
// the pass admitted or superseded, and the finished builds whose look is
// due; nothing else is read. It then records the view of the builds in
// flight and goes on with the migrations (once done, one read).
func (s *Service) Tick(ctx context.Context, t goldenpipe.Tick) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, tickBudget)
	defer cancel()
	var m migration
	metag, err := s.Docs.Get(ctx, keyMigration, &m)
	if err != nil && goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
		return "", err
	}
	var notes []string
	if !m.LineDone {
		note, err := s.fileOld(ctx, &m, &metag, time.Now().Add(indexOldBudget))
		if err != nil {
			return "", fmt.Errorf("filing the builds in flight in the line: %w", err)
		}
		if note != "" {
			notes = append(notes, note)
		}
	}

	var held []stored
	var judgedList []judged
	var verdicts map[string]Verdict
	var head []goldenpipe.Listed
	var headNext string
	for attempt := 0; ; attempt++ {
		var l ledger
		letag, err := s.Docs.Get(ctx, keyAdmission, &l)
		if err != nil && goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
			return "", err
		}
		held, err = s.holders(ctx, l.Holders)
		if err != nil {
			return "", err
		}
		head, headNext, err = s.Docs.ListPage(ctx, keyLine, "", tickHead)
		if err != nil {
			return "", fmt.Errorf("reading the line: %w", err)
		}
		judgedList, verdicts, err = s.admission(ctx, l, letag, held, head, headNext, tickExamined)
		if goldenpipe.ErrorCode(err) == goldenpipe.ECONFLICT {
			if attempt+1 < passAttempts {
				continue
			}
			// request paths keep giving the slots: this tick follows the
			// builds it has and leaves admission to them and the next tick
			s.log().Info("the admission pass lost the ledger to others; the next tick tries again")
			judgedList, verdicts, err = nil, nil, nil
		}
		if err != nil {
			return "", fmt.Errorf("the admission pass: %w", err)
		}
		break
	}
	// the line beyond its head is counted by its keys alone (up to
	// InFlightCounted), for the view
	lineCount, lineMore := len(head), false
	if headNext != "" {
		keys, next, err := s.Docs.KeysPage(ctx, keyLine, "", InFlightCounted)
		if err != nil {
			return "", fmt.Errorf("counting the line: %w", err)
		}
		lineCount, lineMore = len(keys), next != ""
	}
	// the due list's first page: what is beyond it is looked at by later
	// ticks (its builds are finished, not counted as in flight)
	due, _, err := s.Docs.ListPage(ctx, keyDue, "", InFlightCounted)
	if err != nil {
		return "", fmt.Errorf("reading the due list: %w", err)
	}

	// the work: holders, what the pass judged, and the due
	type job struct {
		st      stored
		v       Verdict
		inLine  bool
		fromDue string
		dup     []string
		refresh bool
	}
	var jobs []*job
	byID := map[string]*job{}
	add := func(j *job) {
		if o := byID[j.st.b.ID]; o != nil {
			if j.fromDue != "" {
				o.dup = append(o.dup, j.fromDue)
			}
			return
		}
		byID[j.st.b.ID] = j
		jobs = append(jobs, j)
	}
	for _, h := range held {
		add(&job{st: h, v: verdicts[h.b.ID], inLine: waitingState(h.b.State), refresh: h.summarized != h.etag})
	}
	for _, j := range judgedList {
		add(&job{st: j.st, v: j.v, inLine: j.inLine})
	}
	now := s.now()
	for _, it := range due {
		id, at, ok := parseAsc(it.Key, keyDue)
		if !ok {
			continue
		}
		if at.After(now) {
			continue
		}
		add(&job{st: stored{b: Build{ID: id}}, fromDue: it.Key})
	}

	outcomes := make([]string, len(jobs))
	errs := make([]error, len(jobs))
	after := make([]Build, len(jobs))
	g := new(errgroup.Group)
	g.SetLimit(monitorWorkers)
	for i, j := range jobs {
		g.Go(func() error {
			if ctx.Err() != nil {
				return nil // out of budget: the next tick
			}
			st := j.st
			if j.fromDue != "" {
				var b Build
				etag, err := s.Docs.Get(ctx, buildKey(st.b.ID), &b)
				switch goldenpipe.ErrorCode(err) {
				case "":
					st = stored{b: b, etag: etag}
				case goldenpipe.ENOTFOUND: // gone: nothing to look at
					errs[i] = s.Docs.Delete(ctx, j.fromDue, "")
					return nil
				default:
					errs[i] = err
					return nil
				}
			}
			if j.refresh && !Terminal(st.b.State) {
				// its lists show an older version (a crash between the
				// record's write and theirs): refreshed
				if errs[i] = s.refresh(ctx, &st.b, st.etag, true); errs[i] != nil {
					return nil
				}
			}
			var l looked
			outcomes[i], l, errs[i] = s.reconcile(ctx, st, j.v)
			if errs[i] == nil {
				errs[i] = s.settle(ctx, l, j.fromDue, j.inLine)
			}
			for _, k := range j.dup {
				_ = s.Docs.Delete(ctx, k, "")
			}
			after[i] = l.b
			if after[i].ID == "" || l.unmarked {
				after[i] = Build{ID: st.b.ID, State: StateSucceeded} // out of flight
			}
			return nil
		})
	}
	_ = g.Wait()
	var failed []string
	for i, err := range errs {
		if err != nil {
			failed = append(failed, err.Error())
			s.log().Warn("advancing a build failed; the next tick tries again", "build", jobs[i].st.b.ID, "err", err.Error())
		}
	}
	summary := fmt.Sprintf("%d builds advanced", len(jobs))
	if err := s.recordView(ctx, after, head, lineCount, lineMore); err != nil {
		failed = append(failed, "recording the view of the builds in flight: "+err.Error())
	}
	if note, err := s.indexOldFrom(ctx, &m, metag, time.Now().Add(indexOldBudget)); err != nil {
		failed = append(failed, "indexing old builds: "+err.Error())
	} else if note != "" {
		notes = append(notes, note)
	}
	if len(notes) > 0 {
		summary += "; " + strings.Join(notes, "; ")
	}
	if len(failed) > 0 {
		return "", goldenpipe.Errorf(goldenpipe.EUNAVAILABLE, "%s; %d failed: %s", summary, len(failed), strings.Join(failed, "; "))
	}
	return summary, nil
}

// holders reads the slot holders' records and their markers (to see a
// summary behind its record): O(slots).
func (s *Service) holders(ctx context.Context, ids []string) ([]stored, error) {
	keys := make([]string, 0, 2*len(ids))
	for _, id := range ids {
		keys = append(keys, buildKey(id))
	}
	for _, id := range ids {
		keys = append(keys, activeKey(id))
	}
	found, _, err := docstore.ReadAllVersioned[json.RawMessage](ctx, s.Docs, keys)
	if err != nil {
		return nil, err
	}
	marks := map[string]marker{}
	var out []stored
	for _, f := range found {
		if strings.HasPrefix(f.Key, keyActive) {
			var m marker
			_ = json.Unmarshal(f.Value, &m)
			marks[strings.TrimPrefix(f.Key, keyActive)] = m
		}
	}
	for _, f := range found {
		if !strings.HasPrefix(f.Key, keyBuilds) {
			continue
		}
		var b Build
		if err := json.Unmarshal(f.Value, &b); err != nil {
			return nil, goldenpipe.Wrap(goldenpipe.EINTERNAL, err, "reading %s", f.Key)
		}
		m, ok := marks[b.ID]
		summarized := f.ETag
		if ok {
			summarized = m.ETag
		}
		out = append(out, stored{b: b, etag: f.ETag, summarized: summarized})
	}
	return out, nil
}

// recordView records the view of the builds in flight from what the tick
// read: the holders and builds it looked at (as it left them), then the
// head of the line, oldest first; the total counts those and the rest of
// the line (lineCount entries, head included; InFlightCounted when the
// line has more). The due list's builds are finished (cleaning up): the
// overview shows them among the recent builds, not in flight.
func (s *Service) recordView(ctx context.Context, after []Build, head []goldenpipe.Listed, lineCount int, more bool) error {
	seen := map[string]bool{}
	var shown []Summary
	var holding []Summary
	for _, b := range after {
		if b.ID == "" || seen[b.ID] {
			continue
		}
		seen[b.ID] = true
		if Terminal(b.State) {
			continue
		}
		if waitingState(b.State) {
			shown = append(shown, b.Summarize())
		} else {
			holding = append(holding, b.Summarize())
		}
	}
	for _, it := range head {
		id, _, ok := parseAsc(it.Key, keyLine)
		if !ok || seen[id] {
			continue
		}
		seen[id] = true
		var e indexEntry
		if it.Summary != nil && json.Unmarshal(it.Summary, &e) == nil && e.Build != nil {
			shown = append(shown, *e.Build)
		} else {
			shown = append(shown, Summary{ID: id, State: StateRequested})
		}
	}
	total := len(holding) + len(shown)
	if lineCount > len(head) {
		total += lineCount - len(head)
	}
	if more {
		total = max(total, InFlightCounted)
	}
	byTime := func(list []Summary) {
		sort.SliceStable(list, func(i, j int) bool {
			if !list[i].RequestedAt.Equal(list[j].RequestedAt) {
				return list[i].RequestedAt.Before(list[j].RequestedAt)
			}
			return list[i].ID < list[j].ID
		})
	}
	byTime(holding)
	byTime(shown)
	all := append(holding, shown...)
	if len(all) > inFlightViewed {
		all = all[:inFlightViewed]
	}
	if len(all) == 0 {
		all = nil
	}
	_, err := docstore.Update(ctx, s.Docs, keyInFlightView, func(v *inFlightView) error {
		old, _ := json.Marshal(v.Shown)
		now, _ := json.Marshal(all)
		if !v.Since.IsZero() && v.Total == total && string(old) == string(now) {
			return docstore.ErrUnchanged
		}
		v.Since, v.Total, v.Shown = s.now(), total, all
		return nil
	})
	return err
}

// fileBatch is how many in-flight markers one step of fileOld files.
const fileBatch = 500

// fileOld files the builds in flight recorded before the line and the due
// list (their markers only): a waiting build into the line, a build in
// flight into the ledger (with its lane), a finished one into the due
// list, a batch at a time from a recorded marker until the deadline; it
// also brings a marker behind its record up to date. The markers written
// since are filed by their request as well, so once it is done it is
// never needed again: this function and migration.Line* can be deleted
// once every deployment's migrations/builds-index.json says lineDone.
func (s *Service) fileOld(ctx context.Context, m *migration, etag *string, deadline time.Time) (string, error) {
	for time.Now().Before(deadline) {
		items, next, err := s.Docs.ListPage(ctx, keyActive, m.LineMarker, fileBatch)
		if err != nil {
			return "", err
		}
		keys := make([]string, 0, len(items))
		marks := map[string]activeMarker{}
		for _, it := range items {
			am := activeMarker{ID: strings.TrimPrefix(it.Key, keyActive)}
			if it.Summary != nil {
				_ = json.Unmarshal(it.Summary, &am.marker)
			}
			marks[buildKey(am.ID)] = am
			keys = append(keys, buildKey(am.ID))
		}
		found, missing, err := docstore.ReadAllVersioned[Build](ctx, s.Docs, keys)
		if err != nil {
			return "", err
		}
		for _, k := range missing {
			if am := marks[k]; s.now().Sub(am.At) > markerGrace {
				_ = s.Docs.Delete(ctx, activeKey(am.ID), "")
			}
		}
		var inFlight []Build
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(indexWorkers)
		for _, f := range found {
			b, am := f.Value, marks[f.Key]
			switch {
			case waitingState(b.State):
			case Terminal(b.State):
			default:
				inFlight = append(inFlight, b)
			}
			g.Go(func() error {
				if am.ETag != f.ETag && !Terminal(b.State) {
					if err := s.refresh(gctx, &b, f.ETag, true); err != nil {
						return err
					}
				}
				switch {
				case waitingState(b.State):
					return s.writeLine(gctx, &b, f.ETag)
				case Terminal(b.State):
					_, err := s.Docs.Overwrite(gctx, dueKey(s.now(), b.ID), indexEntry{ID: b.ID, ETag: f.ETag})
					return err
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return "", err
		}
		if len(inFlight) > 0 {
			sort.Slice(inFlight, func(i, j int) bool { return before(&inFlight[i], &inFlight[j]) })
			if _, err := docstore.Update(ctx, s.Docs, keyAdmission, func(l *ledger) error {
				changed := false
				for _, b := range inFlight {
					if !slices.Contains(l.Holders, b.ID) {
						l.Holders = append(l.Holders, b.ID)
						changed = true
					}
					if l.Lanes == nil {
						l.Lanes = map[string]string{}
					}
					if l.Lanes[b.ID] != b.Template {
						l.Lanes[b.ID], changed = b.Template, true
					}
				}
				if !changed {
					return docstore.ErrUnchanged
				}
				return nil
			}); err != nil {
				return "", err
			}
		}
		m.LineMarker, m.LineCount, m.LineDone = next, m.LineCount+len(found), next == ""
		if *etag, err = s.Docs.Put(ctx, keyMigration, *m, *etag); err != nil {
			if goldenpipe.ErrorCode(err) == goldenpipe.ECONFLICT {
				return "another instance files the builds in flight", nil
			}
			return "", err
		}
		if m.LineDone {
			if m.LineCount == 0 {
				return "", nil
			}
			return fmt.Sprintf("filed the %d builds in flight recorded before the line", m.LineCount), nil
		}
	}
	return fmt.Sprintf("filing the builds in flight in the line: %d so far", m.LineCount), nil
}

// Seed records a build as the request path records it (its marker, its
// index entries, its place in the line while it waits, its record), for
// tools and benches that load a store; ECONFLICT when it exists.
func (s *Service) Seed(ctx context.Context, b Build) error {
	if err := s.mark(ctx, &b, ""); err != nil {
		return err
	}
	if err := s.indexBuild(ctx, &b, ""); err != nil {
		return err
	}
	if waitingState(b.State) {
		if err := s.writeLine(ctx, &b, ""); err != nil {
			return err
		}
	}
	if _, err := s.Docs.Put(ctx, buildKey(b.ID), b, ""); err != nil {
		return fmt.Errorf("recording build %s: %w", b.ID, err)
	}
	return nil
}
