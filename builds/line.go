package builds

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/internal/docstore"
)

// The line, the ledger and the due list: what lets a request cost the same
// whatever is waiting, and a tick look only at what is due (issue 24).
//
//   - The line is one small entry per waiting build, keyed by
//     its request time, oldest first, written by the request path before
//     the record (as the marker and the index entries). A page of it is the
//     head of the line: admission reads it from the start and stops once
//     the free slots are given, so a build further back costs nothing.
//   - The ledger names the builds holding the
//     MaxConcurrent slots and their templates' lanes. It is written only
//     when a slot changes hands (at most MaxConcurrent writes per
//     admission), never by a request that finds every slot taken.
//   - The due list holds, for each finished build still in
//     flight (after-steps, a failed build's template kept for KeepFailed),
//     an entry keyed by the time Decide asked to look again (its
//     RequeueAfter); a tick reads its head and reconciles what is due.
//     The slot holders are reconciled every tick (they are running).
//
// So a tick reads the ledger, its holders, one page of the line and one of
// the due list: O(slots + due) storage calls, whatever waits behind. The
// store (Store) keeps them: where and how is its business.

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

// ledger lists the builds holding a lane and a slot, with their templates.
type ledger = goldenpipe.Ledger

// release takes a finished build out of the admission ledger.
func (s *Service) release(ctx context.Context, id string) error {
	err := s.Store.UpdateLedger(ctx, func(l *ledger) error {
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
func (s *Service) admission(ctx context.Context, l ledger, letag string, held []stored, head []goldenpipe.Queued[Summary], headNext string, budget int) ([]judged, map[string]Verdict, error) {
	p := s.newPass(held)
	if err := s.walkLine(ctx, p, head, headNext, budget); err != nil {
		return nil, nil, err
	}
	holders, verdicts := Admit(p.active, l.Holders, p.max)
	for i := range p.judged {
		if p.judged[i].v.Kind == VerdictNone {
			p.judged[i].v = verdicts[p.judged[i].st.b.ID]
		}
	}
	laneOf := map[string]string{}
	for _, b := range p.active {
		laneOf[b.ID] = b.Template
	}
	newLanes := make(map[string]string, len(holders))
	for _, h := range holders {
		newLanes[h] = laneOf[h]
	}
	if !slices.Equal(holders, l.Holders) || !mapsEqual(newLanes, l.Lanes) {
		l.Holders, l.Lanes = holders, newLanes
		if err := s.Store.PutLedger(ctx, l, letag); err != nil {
			return nil, nil, err
		}
	}
	return p.judged, verdicts, nil
}

// pass is an admission pass under way: the lanes taken (template →
// build), the holders, the live builds and the admits so far, the builds
// Admit decides over, and the builds judged from the line.
type pass struct {
	max          int
	lanes        map[string]string
	holding      map[string]bool
	live, admits int
	active       []Build
	judged       []judged
	now          time.Time
}

func (s *Service) newPass(held []stored) *pass {
	p := &pass{max: s.maxConcurrent(), lanes: map[string]string{}, holding: map[string]bool{}, now: s.now()}
	for _, h := range held {
		p.holding[h.b.ID] = true
		if !Terminal(h.b.State) && p.lanes[h.b.Template] == "" {
			p.lanes[h.b.Template] = h.b.ID
			p.live++
		}
	}
	p.active = make([]Build, 0, len(held)+p.max)
	for _, h := range held {
		p.active = append(p.active, h.b)
	}
	return p
}

// walkLine looks at the line from its head (head, then the pages after
// headNext; head nil: from its start) while a slot is free, at most budget
// entries.
func (s *Service) walkLine(ctx context.Context, p *pass, head []goldenpipe.Queued[Summary], headNext string, budget int) error {
	examined := 0
	items, next, fetched := head, headNext, head != nil
	for p.live+p.admits < p.max && examined < budget {
		if len(items) == 0 {
			if fetched && next == "" {
				return nil
			}
			var err error
			if items, next, err = s.Store.Line(ctx, next, min(budget-examined, goldenpipe.MaxPageSize)); err != nil {
				return fmt.Errorf("reading the line: %w", err)
			}
			fetched = true
			if len(items) == 0 {
				return nil
			}
		}
		it := items[0]
		items = items[1:]
		examined++
		if err := s.judgeEntry(ctx, p, it.ID, it.At); err != nil {
			return err
		}
	}
	return nil
}

// judgeEntry looks at one entry of the line (build id, requested at at):
// an entry left behind goes, a build in flight holds its lane, a waiting
// build is judged (superseded by a newer request of its template, or left
// to Admit).
func (s *Service) judgeEntry(ctx context.Context, p *pass, id string, at time.Time) error {
	b, etag, err := s.Store.Get(ctx, id)
	switch goldenpipe.ErrorCode(err) {
	case "":
	case goldenpipe.ENOTFOUND:
		if p.now.Sub(at) > markerGrace { // a request whose record never came
			_ = s.Store.OutOfLine(ctx, id, at)
			_ = s.Store.Unmark(ctx, id)
		}
		return nil
	default:
		return err
	}
	st := stored{b: b, etag: etag}
	switch {
	case !b.RequestedAt.Equal(at): // a request that lost its race
		_ = s.Store.OutOfLine(ctx, id, at)
		return nil
	case p.holding[id]:
		if !waitingState(b.State) {
			_ = s.Store.OutOfLine(ctx, id, at) // moved on: its entry was left by a crash
		}
		return nil
	case Terminal(b.State):
		// finished (a crash between its end and the due list's entry):
		// its after-steps go on from the due list
		if err := s.Store.FileDue(ctx, id, p.now, etag); err != nil {
			return err
		}
		_ = s.Store.OutOfLine(ctx, id, at)
		return nil
	case !waitingState(b.State):
		// in flight but named by no ledger (a lost write): it holds
		// its lane and slot all the same (Admit keeps it)
		p.active = append(p.active, b)
		if p.lanes[b.Template] == "" {
			p.lanes[b.Template] = id
			p.live++
		}
		p.judged = append(p.judged, judged{st: st, inLine: true})
		return nil
	}
	return s.judgeWaiting(ctx, p, st)
}

// judgeWaiting judges a waiting build of the line: superseded by a newer
// request of its template, or left to Admit (taking its lane if free).
func (s *Service) judgeWaiting(ctx context.Context, p *pass, st stored) error {
	b := st.b
	newer, err := s.newerWaiting(ctx, &b)
	if err != nil {
		return err
	}
	if newer != "" {
		p.judged = append(p.judged, judged{st: st, v: Verdict{Kind: VerdictSupersede, Other: newer}, inLine: true})
		return nil
	}
	p.active = append(p.active, b)
	p.judged = append(p.judged, judged{st: st, inLine: true})
	if p.lanes[b.Template] == "" {
		p.lanes[b.Template] = b.ID
		p.admits++
	}
	return nil
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
	id, at, err := s.Store.Newest(ctx, b.Template)
	if err != nil || id == "" || id == b.ID || at.UnixNano() <= b.RequestedAt.UTC().UnixNano() {
		return "", err
	}
	n, _, err := s.Store.Get(ctx, id)
	if err != nil {
		if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
			return "", nil // its record is not written (yet)
		}
		return "", err
	}
	if n.RequestedAt.UTC().UnixNano() != at.UnixNano() || !waitingState(n.State) {
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
		l, letag, err := s.Store.Ledger(ctx)
		if err != nil {
			return nil, err
		}
		var held []stored
		var unknown []string
		for _, h := range l.Holders {
			if t, ok := l.Lanes[h]; ok {
				held = append(held, stored{b: Build{ID: h, Template: t, State: StateCreating}})
			} else {
				unknown = append(unknown, h) // a ledger from before the lanes
			}
		}
		if len(unknown) > 0 {
			found, err := s.Store.GetMany(ctx, unknown)
			if err != nil {
				return nil, err
			}
			for _, f := range found {
				held = append(held, stored{b: f.Build, etag: f.ETag})
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
// Decide asked for (fromDue, when its old entry's time, goes), a build
// that stopped waiting out of the line (inLine), a build out of flight out
// of both.
func (s *Service) settle(ctx context.Context, l looked, fromDue time.Time, inLine bool) error {
	b := &l.b
	if b.ID == "" {
		return nil
	}
	if inLine && !waitingState(b.State) {
		if err := s.Store.OutOfLine(ctx, b.ID, b.RequestedAt); err != nil {
			return err
		}
	}
	if Terminal(b.State) && !l.unmarked {
		at := s.now().Add(max(l.requeue, 0))
		if !fromDue.IsZero() && at.UnixNano() == fromDue.UnixNano() {
			return nil
		}
		if err := s.Store.FileDue(ctx, b.ID, at, ""); err != nil {
			return fmt.Errorf("filing build %s for its next look: %w", b.ID, err)
		}
	}
	if !fromDue.IsZero() {
		return s.Store.Undue(ctx, b.ID, fromDue)
	}
	return nil
}

// monitorWorkers bounds the builds reconciled at once in one tick.
const monitorWorkers = 8

// tickBudget bounds one monitor tick, well under functionTimeout; builds
// not reached are taken first on the next tick.
const tickBudget = 4 * time.Minute

// migrationBudget bounds each of the store's migrations in one tick.
const migrationBudget = 30 * time.Second

// Tick is the monitor's pass: the admission pass (the ledger, its holders,
// the head of the line), then it reconciles the slot holders, the builds
// the pass admitted or superseded, and the finished builds whose look is
// due; nothing else is read. It then records the view of the builds in
// flight and goes on with the migrations (once done, one read).
func (s *Service) Tick(ctx context.Context, t goldenpipe.Tick) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, tickBudget)
	defer cancel()
	note, err := s.Store.MigrateLine(ctx, time.Now().Add(migrationBudget))
	if err != nil {
		return "", err
	}
	notes := appendNote(nil, note)
	p, err := s.tickPass(ctx)
	if err != nil {
		return "", err
	}
	lineCount, lineMore, err := s.countLine(ctx, p)
	if err != nil {
		return "", err
	}
	// the due list's first page: what is beyond it is looked at by later
	// ticks (its builds are finished, not counted as in flight)
	due, err := s.Store.Due(ctx, InFlightCounted)
	if err != nil {
		return "", fmt.Errorf("reading the due list: %w", err)
	}
	jobs := s.tickJobs(p, due)
	after, failed := s.runJobs(ctx, jobs)
	summary := fmt.Sprintf("%d builds advanced", len(jobs))
	if err := s.recordView(ctx, after, p.head, lineCount, lineMore); err != nil {
		failed = append(failed, "recording the view of the builds in flight: "+err.Error())
	}
	if note, err := s.Store.MigrateLists(ctx, time.Now().Add(migrationBudget)); err != nil {
		failed = append(failed, "indexing old builds: "+err.Error())
	} else {
		notes = appendNote(notes, note)
	}
	if len(notes) > 0 {
		summary += "; " + strings.Join(notes, "; ")
	}
	if len(failed) > 0 {
		return "", goldenpipe.Errorf(goldenpipe.EUNAVAILABLE, "%s; %d failed: %s", summary, len(failed), strings.Join(failed, "; "))
	}
	return summary, nil
}

func appendNote(notes []string, note string) []string {
	if note == "" {
		return notes
	}
	return append(notes, note)
}

// tickPassed is what a tick's admission pass read and decided: the slot
// holders, the builds it judged with their verdicts, and the line's head.
type tickPassed struct {
	held     []stored
	judged   []judged
	verdicts map[string]Verdict
	head     []goldenpipe.Queued[Summary]
	headNext string
}

// tickPass is the tick's admission pass: the ledger, its holders, the
// head of the line, tried again (at most passAttempts) when another pass
// changed the ledger first.
func (s *Service) tickPass(ctx context.Context) (tickPassed, error) {
	var p tickPassed
	for attempt := 0; ; attempt++ {
		l, letag, err := s.Store.Ledger(ctx)
		if err != nil {
			return p, err
		}
		if p.held, err = s.holders(ctx, l.Holders); err != nil {
			return p, err
		}
		if p.head, p.headNext, err = s.Store.Line(ctx, "", tickHead); err != nil {
			return p, fmt.Errorf("reading the line: %w", err)
		}
		p.judged, p.verdicts, err = s.admission(ctx, l, letag, p.held, p.head, p.headNext, tickExamined)
		if goldenpipe.ErrorCode(err) == goldenpipe.ECONFLICT {
			if attempt+1 < passAttempts {
				continue
			}
			// request paths keep giving the slots: this tick follows the
			// builds it has and leaves admission to them and the next tick
			s.log().Info("the admission pass lost the ledger to others; the next tick tries again")
			p.judged, p.verdicts, err = nil, nil, nil
		}
		if err != nil {
			return p, fmt.Errorf("the admission pass: %w", err)
		}
		return p, nil
	}
}

// countLine counts the line beyond its head by its keys alone (up to
// InFlightCounted), for the view; more says the line has more.
func (s *Service) countLine(ctx context.Context, p tickPassed) (count int, more bool, err error) {
	if p.headNext == "" {
		return len(p.head), false, nil
	}
	count, more, err = s.Store.CountLine(ctx, InFlightCounted)
	if err != nil {
		return 0, false, fmt.Errorf("counting the line: %w", err)
	}
	return count, more, nil
}

// tickJob is one build a tick reconciles: a holder, a build the pass
// judged, or a finished build whose look is due (fromDue, its entry; dup,
// its other due entries).
type tickJob struct {
	st      stored
	v       Verdict
	inLine  bool
	fromDue time.Time
	dup     []time.Time
	refresh bool
}

// tickJobs lists the tick's work once per build: the holders, what the
// pass judged, and the due.
func (s *Service) tickJobs(p tickPassed, due []goldenpipe.Queued[Summary]) []*tickJob {
	var jobs []*tickJob
	byID := map[string]*tickJob{}
	add := func(j *tickJob) {
		if o := byID[j.st.b.ID]; o != nil {
			if !j.fromDue.IsZero() {
				o.dup = append(o.dup, j.fromDue)
			}
			return
		}
		byID[j.st.b.ID] = j
		jobs = append(jobs, j)
	}
	for _, h := range p.held {
		add(&tickJob{st: h, v: p.verdicts[h.b.ID], inLine: waitingState(h.b.State), refresh: h.summarized != h.etag})
	}
	for _, j := range p.judged {
		add(&tickJob{st: j.st, v: j.v, inLine: j.inLine})
	}
	now := s.now()
	for _, it := range due {
		if it.At.After(now) {
			continue
		}
		add(&tickJob{st: stored{b: Build{ID: it.ID}}, fromDue: it.At})
	}
	return jobs
}

// runJobs reconciles the tick's jobs, monitorWorkers at once, and returns
// each build as it was left (out of flight: succeeded) and what failed.
func (s *Service) runJobs(ctx context.Context, jobs []*tickJob) ([]Build, []string) {
	errs := make([]error, len(jobs))
	after := make([]Build, len(jobs))
	g := new(errgroup.Group)
	g.SetLimit(monitorWorkers)
	for i, j := range jobs {
		g.Go(func() error {
			if ctx.Err() != nil {
				return nil // out of budget: the next tick
			}
			after[i], errs[i] = s.runJob(ctx, j)
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
	return after, failed
}

// runJob reconciles one build of a tick and files it for its next look.
func (s *Service) runJob(ctx context.Context, j *tickJob) (Build, error) {
	st := j.st
	if !j.fromDue.IsZero() {
		b, etag, err := s.Store.Get(ctx, st.b.ID)
		switch goldenpipe.ErrorCode(err) {
		case "":
			st = stored{b: b, etag: etag}
		case goldenpipe.ENOTFOUND: // gone: nothing to look at
			return Build{}, s.Store.Undue(ctx, st.b.ID, j.fromDue)
		default:
			return Build{}, err
		}
	}
	if j.refresh && !Terminal(st.b.State) {
		// its lists show an older version (a crash between the
		// record's write and theirs): refreshed
		if err := s.refresh(ctx, &st.b, st.etag, true); err != nil {
			return Build{}, err
		}
	}
	_, l, err := s.reconcile(ctx, st, j.v)
	if err == nil {
		err = s.settle(ctx, l, j.fromDue, j.inLine)
	}
	for _, at := range j.dup {
		_ = s.Store.Undue(ctx, st.b.ID, at)
	}
	if l.b.ID == "" || l.unmarked {
		return Build{ID: st.b.ID, State: StateSucceeded}, err // out of flight
	}
	return l.b, err
}

// holders reads the slot holders' records and their markers (to see a
// summary behind its record): O(slots).
func (s *Service) holders(ctx context.Context, ids []string) ([]stored, error) {
	return storedAll(s.Store.Holders(ctx, ids))
}

// recordView records the view of the builds in flight from what the tick
// read: the holders and builds it looked at (as it left them), then the
// head of the line, oldest first; the total counts those and the rest of
// the line (lineCount entries, head included; InFlightCounted when the
// line has more). The due list's builds are finished (cleaning up): the
// overview shows them among the recent builds, not in flight.
func (s *Service) recordView(ctx context.Context, after []Build, head []goldenpipe.Queued[Summary], lineCount int, more bool) error {
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
		if seen[it.ID] {
			continue
		}
		seen[it.ID] = true
		if it.Build != nil {
			shown = append(shown, *it.Build)
		} else {
			shown = append(shown, Summary{ID: it.ID, State: StateRequested})
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
	return s.Store.RecordInFlightView(ctx, append(holding, shown...), total)
}

// Seed records a build as the request path records it (its marker, its
// index entries, its place in the line while it waits, its record), for
// tools and benches that load a store; ECONFLICT when it exists.
func (s *Service) Seed(ctx context.Context, b Build) error {
	if err := s.Store.Announce(ctx, b); err != nil {
		return err
	}
	if _, err := s.Store.Create(ctx, b); err != nil {
		return fmt.Errorf("recording build %s: %w", b.ID, err)
	}
	return nil
}
