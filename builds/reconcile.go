package builds

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/gallery"
	"github.com/goldenpipe/goldenpipe/template"
)

// The shell around Decide: read the record and observe, decide, write the
// decision conditionally (ETag), and carry out its actions; only the writer
// that won acts. It is the only place of the lifecycle with I/O, shared by
// the monitor tick, the request path and any nudge.

// shellRounds bounds the decide-write-act rounds of one reconcile.
const shellRounds = 16

// markerGrace is how long a marker without its record is kept: the request
// path writes the marker first, then the record.
const markerGrace = 10 * time.Minute

func (s *Service) config() Config {
	c := Config{ReissueAfter: s.ReissueAfter, SASTTL: s.SASTTL, CopyAttempts: s.CopyAttempts, CopyBackoff: s.CopyBackoff,
		KeepFailed: s.KeepFailed, MaxAttempts: s.MaxAttempts, BackoffBase: s.BackoffBase, ManagedStaging: s.Staging != nil}
	if s.Destination != nil {
		c.DestinationURL = s.Destination.URL
	}
	return c
}

// stored is a build record with the ETag it was read at.
type stored struct {
	b    Build
	etag string
	// summarized is the ETag of the record version its marker summarizes.
	summarized string
}

// Advance moves one build as far as what it observes allows (the request
// path and nudges). A waiting build gets the verdict of a bounded admission
// pass (admitFew: the ledger, and the head of the line only while a slot
// is free), so its cost does not grow with the builds waiting; builds that
// pass admits besides it are moved too (at most the free slots).
func (s *Service) Advance(ctx context.Context, id string) (string, error) {
	b, etag, err := s.Store.Get(ctx, id)
	if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
		return "no such build", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading build %s: %w", id, err)
	}
	return s.advance(ctx, stored{b: b, etag: etag})
}

// advance is Advance from a record just read or written.
func (s *Service) advance(ctx context.Context, st stored) (string, error) {
	b, etag, id := st.b, st.etag, st.b.ID
	var v Verdict
	var others []judged
	if waitingState(b.State) {
		pass, err := s.admitFew(ctx)
		if err != nil {
			return "", err
		}
		for _, j := range pass {
			if j.st.b.ID == id {
				v = j.v
				continue
			}
			if j.v.Kind == VerdictAdmit || j.v.Kind == VerdictSupersede {
				others = append(others, j)
			}
		}
	}
	outcome, l, err := s.reconcile(ctx, stored{b: b, etag: etag}, v)
	if err != nil {
		return "", err
	}
	if err := s.settle(ctx, l, time.Time{}, true); err != nil {
		return "", err
	}
	for _, j := range others {
		if _, l, err := s.reconcile(ctx, j.st, j.v); err != nil {
			s.log().Warn("advancing an admitted build failed; the monitor will go on", "build", j.st.b.ID, "err", err.Error())
		} else if err := s.settle(ctx, l, time.Time{}, true); err != nil {
			return "", err
		}
	}
	return outcome, nil
}

// looked is where a reconcile left a build: its record as last read or
// written, when to look again, and whether it left the builds in flight.
type looked struct {
	b        Build
	requeue  time.Duration
	unmarked bool
}

// reconcile runs decide-write-act rounds on one build until it waits for
// the world (or is finished).
func (s *Service) reconcile(ctx context.Context, st stored, v Verdict) (string, looked, error) {
	cfg := s.config()
	outcome := ""
	fresh := false // st is what this reconcile just wrote: no need to read it back
	for round := 0; round < shellRounds; round++ {
		if round > 0 && !fresh {
			b, etag, err := s.Store.Get(ctx, st.b.ID)
			if err != nil {
				return "", looked{b: st.b}, fmt.Errorf("reading build %s: %w", st.b.ID, err)
			}
			st = stored{b: b, etag: etag}
		}
		fresh = false
		b, now := st.b, s.now()
		if !Terminal(b.State) && !b.RetryAt.IsZero() && now.Before(b.RetryAt) {
			return "backing off until " + b.RetryAt.Format(time.RFC3339) + ": " + b.LastError, looked{b: b, requeue: b.RetryAt.Sub(now)}, nil
		}
		o, err := s.observe(ctx, &b, v)
		if err != nil {
			return "", looked{b: b}, fmt.Errorf("build %s: %w", b.ID, err)
		}
		d := Decide(b, o, now, cfg)
		outcome = d.Outcome
		if d.Step != nil {
			done, next, err := s.carryOutStep(ctx, st, d)
			if err != nil || done {
				return outcome, looked{b: st.b, unmarked: err == nil && d.Step.Kind == ActUnmark}, err
			}
			if next != nil {
				st, fresh = *next, true
			}
			continue
		}
		if !d.Changed {
			return outcome, looked{b: b, requeue: d.Result.RequeueAfter}, nil
		}
		etag, err := s.Store.Update(ctx, d.Build, st.etag)
		if goldenpipe.ErrorCode(err) == goldenpipe.ECONFLICT {
			continue // another instance moved it: look again
		}
		if err != nil {
			return "", looked{b: b}, fmt.Errorf("writing build %s: %w", b.ID, err)
		}
		st, fresh = stored{b: d.Build, etag: etag}, true
		if err := s.refresh(ctx, &st.b, etag, true); err != nil {
			return "", looked{b: st.b}, err
		}
		s.logDecision(b, d)
		for _, a := range d.Effects {
			if err := s.effect(ctx, d.Build, a); err != nil {
				failed, err := s.effectFailed(ctx, st, a, err, cfg)
				if err != nil {
					return "", looked{b: st.b}, err
				}
				st, fresh, outcome = failed.st, failed.fresh, failed.outcome
				if failed.requeue > 0 {
					// the failure's decision says when to look again (a refused
					// delete's backoff): the due list keeps it, as for any other
					return outcome, looked{b: st.b, requeue: failed.requeue}, nil
				}
				break
			}
		}
		v = Verdict{} // admission happens once per pass
		if Terminal(d.Build.State) || len(d.Effects) > 0 || d.Build.State != b.State {
			continue // there may be more to do now
		}
		return outcome, looked{b: st.b, requeue: d.Result.RequeueAfter}, nil
	}
	return outcome + " (more on the next tick)", looked{b: st.b}, nil
}

// failedEffect is what the decision on a failed effect left: the build as
// stored, whether it is as this reconcile wrote it (fresh: no need to read
// it back), the outcome and when to look again.
type failedEffect struct {
	st      stored
	fresh   bool
	outcome string
	requeue time.Duration
}

// effectFailed decides on an effect that failed with err (an Outcome of
// action a) and writes the decision, if it changes the build, on st's
// ETag; a lost race leaves st as it was, for the next round to read.
func (s *Service) effectFailed(ctx context.Context, st stored, a Action, err error, cfg Config) (failedEffect, error) {
	out := Outcome{Action: a, Code: goldenpipe.ErrorCode(err), Message: goldenpipe.ErrorMessage(err)}
	if out.Code == goldenpipe.EINTERNAL {
		out.Message = err.Error()
	}
	fd := Decide(st.b, Observation{Last: &out}, s.now(), cfg)
	res := failedEffect{st: st, outcome: fd.Outcome}
	if !fd.Changed {
		res.fresh = true // st is the write this reconcile made before the effect
		return res, nil
	}
	etag, err := s.Store.Update(ctx, fd.Build, st.etag)
	if err != nil && goldenpipe.ErrorCode(err) != goldenpipe.ECONFLICT {
		return res, fmt.Errorf("writing build %s: %w", st.b.ID, err)
	}
	if err == nil {
		if err := s.refresh(ctx, &fd.Build, etag, true); err != nil {
			return res, err
		}
		res.st, res.fresh, res.requeue = stored{b: fd.Build, etag: etag}, true, fd.Result.RequeueAfter
	}
	s.logDecision(res.st.b, fd)
	return res, nil
}

// logDecision logs a state change at info, anything else at debug: a tick
// that changes nothing says nothing.
func (s *Service) logDecision(old Build, d Decision) {
	if old.State != d.Build.State || old.SubState != d.Build.SubState {
		s.log().Info("build "+string(d.Build.State), "build", d.Build.ID, "template", d.Build.Template, "subState", d.Build.SubState, "note", d.Outcome)
		return
	}
	s.log().Debug("build "+d.Outcome, "build", d.Build.ID)
}

// carryOutStep carries out an after-step, then marks it done with a
// conditional write. done says the build needs nothing more now.
func (s *Service) carryOutStep(ctx context.Context, st stored, d Decision) (done bool, next *stored, err error) {
	a := *d.Step
	if a.Kind == ActUnmark {
		// the lists' last summary of this build, then the marker goes
		if err := s.refresh(ctx, &st.b, st.etag, false); err != nil {
			return true, nil, err
		}
		if err := s.Store.Unmark(ctx, st.b.ID); err != nil {
			return true, nil, err
		}
		return true, nil, nil
	}
	if err := s.step(ctx, &d.Build, a); err != nil {
		return true, nil, fmt.Errorf("build %s: %s: %w", st.b.ID, a.Kind, err)
	}
	d.Build.mark(a.Step())
	etag, err := s.Store.Update(ctx, d.Build, st.etag)
	if err != nil {
		if goldenpipe.ErrorCode(err) == goldenpipe.ECONFLICT {
			return false, nil, nil // steps are idempotent: look again
		}
		return true, nil, err
	}
	return false, &stored{b: d.Build, etag: etag}, s.refresh(ctx, &d.Build, etag, true)
}

// observe reads what the decision for a build in its state needs.
func (s *Service) observe(ctx context.Context, b *Build, v Verdict) (Observation, error) {
	o := Observation{Admission: v}
	if v.Kind == VerdictAdmit && !b.VersionsPlanned && s.Gallery != nil {
		s.observeVersions(ctx, b, &o)
	}
	var err error
	switch {
	case cleanupDue(b, s.now(), s.config()):
		_, err = s.observeTemplate(ctx, b, &o)
	case b.State == StateCreating || b.State == StateRunning || b.State == StateCanceling:
		err = s.observeRun(ctx, b, &o)
	case b.State == StateRescuing:
		return o, s.observeCopies(ctx, b, &o)
	}
	if err != nil {
		// a failure Azure answered is the decision's to weigh; any other
		// is this reconcile's
		code := goldenpipe.ErrorCode(err)
		if code == goldenpipe.EINTERNAL {
			return o, err
		}
		o.Failed = &Outcome{Code: code, Message: goldenpipe.ErrorMessage(err)}
	}
	return o, nil
}

// observeVersions asks for the version policy's plan, before the template
// is first sent.
func (s *Service) observeVersions(ctx context.Context, b *Build, o *Observation) {
	p, err := s.planVersions(ctx, b)
	switch code := goldenpipe.ErrorCode(err); {
	case err == nil:
		o.Versions = p
	case terminalCode(code):
		// Azure will answer so again: the build goes as written, and
		// says why
		o.Versions = &VersionPlan{Note: "the version policy could not read the gallery (" + goldenpipe.ErrorMessage(err) + "); the template is sent as written"}
	default:
		o.VersionsFailed = &Outcome{Code: code, Message: goldenpipe.ErrorMessage(err)}
	}
}

// observeTemplate reads the build's Image Builder template (missing: noted
// as such); found says it exists.
func (s *Service) observeTemplate(ctx context.Context, b *Build, o *Observation) (found bool, err error) {
	t, err := s.AIB.Get(ctx, b.AIBName)
	switch {
	case goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND:
		o.TemplateMissing = true
		return false, nil
	case err != nil:
		return false, err
	}
	o.Template = &t
	return true, nil
}

// observeRun reads the template of a build in flight and, once its run
// ended, its outputs (and a failed run's logs).
func (s *Service) observeRun(ctx context.Context, b *Build, o *Observation) error {
	if pendingEvent(b) != nil {
		return nil // the events go out first
	}
	found, err := s.observeTemplate(ctx, b, o)
	if err != nil || !found || b.State == StateCreating || o.Template.Run == nil {
		return err
	}
	switch o.Template.Run.State {
	case goldenpipe.RunCanceled:
		// a run canceled in distribution may have published a version
		// ("If the distribution phase has started you can still cancel,
		// but you need to clean up any images that may not be
		// completed", image-builder-json.md)
		// best effort: the version the policy gave the build is known
		// without them
		if outs, err := s.AIB.RunOutputs(ctx, b.AIBName); err == nil {
			o.Outputs = outs
		} else {
			s.log().Warn("reading the outputs of a canceled run failed", "build", b.ID, "err", goldenpipe.ErrorMessage(err))
		}
	case goldenpipe.RunSucceeded, goldenpipe.RunPartiallySucceeded:
		outs, err := s.AIB.RunOutputs(ctx, b.AIBName)
		if err != nil {
			return err
		}
		o.Outputs = append([]goldenpipe.RunOutput{}, outs...)
	case goldenpipe.RunFailed:
		return s.observeFailedRun(ctx, b, o)
	}
	return nil
}

// observeFailedRun reads the ends of a failed run's logs and its outputs.
func (s *Service) observeFailedRun(ctx context.Context, b *Build, o *Observation) error {
	t := o.Template
	if s.Logs != nil {
		group := b.StagingResourceGroup
		if group == "" {
			group = t.StagingResourceGroup
		}
		tail, vtail, err := s.Logs.Tail(ctx, group, t.Run.Message)
		if err != nil {
			s.log().Warn("reading customization.log failed", "build", b.ID, "err", err.Error())
		}
		o.LogTail, o.ValidationLogTail = tail, vtail
	}
	// every terminal run's outputs are read: one that failed in
	// distribution (or validated with continueDistributeOnFailure)
	// may have published a version
	// (best effort unless the template distributes on a failed
	// validation: the version the policy gave the build is known
	// without them)
	outs, err := s.AIB.RunOutputs(ctx, b.AIBName)
	switch {
	case err == nil:
		o.Outputs = outs
	case distributesOnFailure(b.Rendered):
		return err
	default:
		s.log().Warn("reading the outputs of a failed run failed", "build", b.ID, "err", goldenpipe.ErrorMessage(err))
	}
	return nil
}

// observeCopies reads, for each VHD copy not final, its destination and
// its source. Any error is this reconcile's.
func (s *Service) observeCopies(ctx context.Context, b *Build, o *Observation) error {
	o.Copies = map[int]CopyObservation{}
	for i, c := range b.Rescue {
		if c.final() {
			continue
		}
		var ob CopyObservation
		if c.State != CopyCheck && s.Destination != nil {
			dst, err := s.Destination.Properties(ctx, destinationName(b, c.RunOutputName))
			if err != nil {
				return err
			}
			ob.Dest = dst
		}
		src, err := s.Source.Properties(ctx, c.Source)
		switch {
		case goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND:
			ob.SourceMissing = true
		case err != nil:
			return err
		}
		ob.Source = src
		o.Copies[i] = ob
	}
	return nil
}

// effect carries out an action of a decision whose write won.
func (s *Service) effect(ctx context.Context, b Build, a Action) error {
	switch a.Kind {
	case ActCreate:
		body := b.Rendered
		if b.ManagedStagingGroup != "" && s.Staging != nil {
			var err error
			if body, err = s.withStagingGroup(ctx, b); err != nil {
				return err
			}
		}
		err := s.AIB.Create(ctx, b.AIBName, body)
		if goldenpipe.ErrorCode(err) == goldenpipe.ECONFLICT {
			return nil // it exists: created by an earlier attempt of this build
		}
		return err
	case ActRun:
		err := s.AIB.Run(ctx, b.AIBName)
		if goldenpipe.ErrorCode(err) == goldenpipe.ECONFLICT {
			return nil // already running
		}
		return err
	case ActCancel:
		err := s.AIB.Cancel(ctx, b.AIBName)
		if goldenpipe.ErrorCode(err) == goldenpipe.ECONFLICT {
			return nil // not running any more, or already canceling
		}
		return err
	case ActStartCopy:
		return s.startCopy(ctx, b, a.Index)
	case ActAbortCopy:
		return s.Destination.Abort(ctx, destinationName(&b, b.Rescue[a.Index].RunOutputName), a.CopyID)
	case ActCleanup:
		return s.cleanup(ctx, &b)
	}
	return fmt.Errorf("%s is not an effect", a.Kind)
}

// step carries out an after-step of a finished build.
func (s *Service) step(ctx context.Context, b *Build, a Action) error {
	switch a.Kind {
	case ActPublish:
		return s.publish(ctx, b, a.Event)
	case ActRecord:
		return s.Templates.RecordBuild(ctx, b.Template, template.BuildSummary{BuildID: b.ID, Fingerprint: b.Fingerprint,
			SourceVersion: b.SourceVersion, Scripts: b.Scripts, FinishedAt: b.FinishedAt})
	case ActRelease:
		return s.release(ctx, b.ID)
	case ActIndex:
		return s.index(ctx, b)
	case ActDropGroup:
		if s.Staging == nil {
			return nil
		}
		return s.Staging.Delete(ctx, b.ManagedStagingGroup)
	case ActGallery:
		return s.keepGallery(ctx, b)
	}
	return fmt.Errorf("%s is not an after-step", a.Kind)
}

// keepGallery carries out the gallery step: retention after a success
// (the template's goldenpipe.keepVersions), excludeFromLatest for the
// version a failed build published. What it did goes into the history; an
// error Azure will repeat (no role on the gallery, a definition gone) is
// noted there too and ends the step, so the build is not held in flight
// for it; a transient one is tried again on the next tick.
func (s *Service) keepGallery(ctx context.Context, b *Build) error {
	if s.Gallery == nil {
		return nil
	}
	keep, del := 0, false
	rec, err := s.Templates.Get(ctx, b.Template)
	switch goldenpipe.ErrorCode(err) {
	case "":
		keep, del = rec.Policy.KeepVersions, rec.Policy.UnfinishedVersions == "delete"
	case goldenpipe.ENOTFOUND: // the template was deleted since: keep every version
	default:
		return err
	}
	succeeded := b.State == StateSucceeded || b.State == StatePartiallySucceeded
	note, err := s.Gallery.AfterBuild(ctx, gallery.Finished{Outputs: b.Outputs, Assigned: b.GalleryVersions, Succeeded: succeeded,
		StartedAt: b.StartedAt, Keep: keep, Delete: del})
	switch code := goldenpipe.ErrorCode(err); {
	case err == nil:
	case code == goldenpipe.EUNAVAILABLE || code == goldenpipe.ECONFLICT:
		return err
	default:
		note = "the gallery could not be kept: " + goldenpipe.ErrorMessage(err)
		s.log().Warn(note, "build", b.ID)
	}
	if note != "" {
		b.History = append(b.History, Transition{State: b.State, At: s.now(), Note: note})
	}
	return nil
}

// planVersions asks the gallery for the version policy's plan of a build
// about to be sent (nil: nothing to change).
func (s *Service) planVersions(ctx context.Context, b *Build) (*VersionPlan, error) {
	policy := ""
	rec, err := s.Templates.Get(ctx, b.Template)
	switch goldenpipe.ErrorCode(err) {
	case "":
		policy = rec.Policy.VersionPolicy
	case goldenpipe.ENOTFOUND: // deleted since: the default policy
	default:
		return nil, err
	}
	body, assigned, err := s.Gallery.PlanVersions(ctx, b.ID, b.Rendered, policy)
	if err != nil || len(assigned) == 0 {
		return nil, err
	}
	return &VersionPlan{Rendered: body, Assigned: assigned}, nil
}

// cleanup deletes a finished build's Image Builder template, which removes
// its staging resource group; after a success only once every VHD is
// verified where its record says (checked again here, against storage).
func (s *Service) cleanup(ctx context.Context, b *Build) error {
	if b.State == StateSucceeded || b.State == StatePartiallySucceeded {
		ok, why, err := s.safeToDelete(ctx, b)
		if err != nil {
			return err
		}
		if !ok {
			return goldenpipe.Errorf(goldenpipe.ECONFLICT, "template %s kept: %s", b.AIBName, why)
		}
	}
	return s.AIB.Delete(ctx, b.AIBName)
}

// index puts a finished build, with its summary, at the head of the
// recent builds.
func (s *Service) index(ctx context.Context, b *Build) error {
	return s.Store.AddRecent(ctx, *b)
}

// withStagingGroup makes the build's staging group (empty, in the
// template's region, the template's identity Contributor on it) and
// returns the rendered template naming it.
func (s *Service) withStagingGroup(ctx context.Context, b Build) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b.Rendered, &doc); err != nil {
		return nil, goldenpipe.Wrap(goldenpipe.EINTERNAL, err, "reading the rendered template of %s", b.ID)
	}
	var location string
	_ = json.Unmarshal(doc["location"], &location)
	var identity struct {
		UserAssignedIdentities map[string]json.RawMessage `json:"userAssignedIdentities"`
	}
	_ = json.Unmarshal(doc["identity"], &identity)
	identityID := ""
	for id := range identity.UserAssignedIdentities {
		identityID = id
	}
	if err := s.Staging.Ensure(ctx, b.ManagedStagingGroup, location, identityID, b.ID); err != nil {
		return nil, fmt.Errorf("making the staging group %s: %w", b.ManagedStagingGroup, err)
	}
	var props map[string]json.RawMessage
	if err := json.Unmarshal(doc["properties"], &props); err != nil {
		return nil, goldenpipe.Wrap(goldenpipe.EINTERNAL, err, "reading the rendered template of %s", b.ID)
	}
	props["stagingResourceGroup"], _ = json.Marshal(s.Staging.ID(b.ManagedStagingGroup))
	doc["properties"], _ = json.Marshal(props)
	return json.Marshal(doc)
}
