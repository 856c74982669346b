package build

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/template"
)

// effect is what a step does after the record of its decision was written:
// only the writer that won the conditional write acts, so two monitors (or
// a request racing the monitor) never both create a template or start a run.
type effect func(ctx context.Context) error

// Advance moves a build as far as what it observes allows, and carries out
// the after-steps of a finished build. It is idempotent and safe to run
// concurrently from any number of instances.
func (s *Service) Advance(ctx context.Context, id string) (string, error) {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		var b Build
		etag, err := s.Docs.Get(ctx, buildKey(id), &b)
		if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
			_ = s.Docs.Delete(ctx, activeKey(id), "")
			return "no such build", nil
		}
		if err != nil {
			return "", fmt.Errorf("reading build %s: %w", id, err)
		}
		if Terminal(b.State) {
			return s.afterSteps(ctx, &b, etag)
		}
		if etag, err = s.publishPending(ctx, &b, etag); err != nil {
			if goldenpipe.ErrorCode(err) == goldenpipe.ECONFLICT {
				continue
			}
			return "", err
		}
		outcome, changed, eff, err := s.step(ctx, &b)
		if err != nil {
			return "", fmt.Errorf("build %s (%s): %w", id, b.State, err)
		}
		if !changed {
			return outcome, nil
		}
		if _, err := s.Docs.Put(ctx, buildKey(id), b, etag); err != nil {
			if goldenpipe.ErrorCode(err) == goldenpipe.ECONFLICT {
				continue // another instance moved it: look again
			}
			return "", fmt.Errorf("writing build %s: %w", id, err)
		}
		if eff != nil {
			if err := eff(ctx); err != nil {
				// recorded but not done: the next look issues it again
				return "", fmt.Errorf("build %s: %w", id, err)
			}
		}
		if Terminal(b.State) || b.State == StateCreating || b.State == StateRunning || b.State == StateRequested || b.State == StateRescuing {
			continue // go on while there is something to do now
		}
		return outcome, nil
	}
	return "raced with other instances; the next tick goes on", nil
}

// step decides the next move of a build in flight from what it observes.
func (s *Service) step(ctx context.Context, b *Build) (outcome string, changed bool, eff effect, err error) {
	now := s.now()
	switch b.State {
	case StateRequested, StateQueued:
		got, note, err := s.acquireLane(ctx, b)
		if err != nil {
			return "", false, nil, err
		}
		switch got {
		case laneSuperseded:
			b.SupersededBy = note
			b.moveTo(StateSuperseded, "", "a newer request replaced it: "+note, now)
			b.FinishedAt = now
			return "superseded by " + note, true, nil, nil
		case laneQueued:
			if b.State == StateQueued {
				return "queued behind " + note, false, nil, nil
			}
			b.moveTo(StateQueued, "", "waiting for "+note, now)
			return "queued behind " + note, true, nil, nil
		}
		ok, err := s.acquireSlot(ctx, b.ID)
		if err != nil {
			return "", false, nil, err
		}
		if !ok {
			if b.State == StateRequested {
				return "waiting for a build slot", false, nil, nil
			}
			b.moveTo(StateRequested, "", "waiting for a build slot", now)
			return "waiting for a build slot", true, nil, nil
		}
		b.moveTo(StateCreating, "", "creating image template "+b.AIBName, now)
		b.CreateRequestedAt = now
		return "creating image template", true, s.create(b.AIBName, b.Rendered), nil

	case StateCreating:
		t, err := s.AIB.Get(ctx, b.AIBName)
		switch {
		case goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND:
			if now.Sub(b.CreateRequestedAt) < s.reissueAfter() {
				return "waiting for the template to appear", false, nil, nil
			}
			b.CreateRequestedAt = now
			b.History = append(b.History, Transition{State: b.State, At: now, Note: "template not found; creating it again"})
			return "creating image template again", true, s.create(b.AIBName, b.Rendered), nil
		case err != nil:
			return "", false, nil, err
		}
		b.AIBID = t.ID
		switch t.ProvisioningState {
		case goldenpipe.ProvisioningSucceeded:
			b.moveTo(StateRunning, "", "template created; starting the run", now)
			b.RunRequestedAt = now
			return "starting the run", true, s.run(b.AIBName), nil
		case goldenpipe.ProvisioningFailed, goldenpipe.ProvisioningCanceled:
			b.Error = "creating the image template failed: " + t.ProvisioningError
			b.moveTo(StateFailed, "", b.Error, now)
			b.FinishedAt = now
			return b.Error, true, nil, nil
		}
		return "template " + strings.ToLower(t.ProvisioningState), false, nil, nil

	case StateRunning:
		t, err := s.AIB.Get(ctx, b.AIBName)
		if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
			b.Error = "the image template " + b.AIBName + " disappeared while the build ran"
			b.moveTo(StateFailed, "", b.Error, now)
			b.FinishedAt = now
			return b.Error, true, nil, nil
		}
		if err != nil {
			return "", false, nil, err
		}
		if b.StagingResourceGroup == "" && t.StagingResourceGroup != "" {
			b.StagingResourceGroup = t.StagingResourceGroup
		}
		run := t.Run
		if run == nil {
			if now.Sub(b.RunRequestedAt) < s.reissueAfter() {
				return "waiting for the run to start", false, nil, nil
			}
			b.RunRequestedAt = now
			b.History = append(b.History, Transition{State: b.State, At: now, Note: "no run seen; starting it again"})
			return "starting the run again", true, s.run(b.AIBName), nil
		}
		startedNow := b.StartedAt.IsZero() && !run.StartTime.IsZero()
		if startedNow {
			b.StartedAt = run.StartTime.UTC()
		}
		switch run.State {
		case goldenpipe.RunRunning, goldenpipe.RunCanceling:
			sub := run.SubState
			if run.State == goldenpipe.RunCanceling {
				sub = "Canceling"
			}
			if sub == b.SubState && !startedNow {
				return "running: " + sub, false, nil, nil
			}
			if sub != b.SubState {
				b.moveTo(StateRunning, sub, "", now)
			}
			return "running: " + sub, true, nil, nil
		case goldenpipe.RunSucceeded, goldenpipe.RunPartiallySucceeded:
			outs, err := s.AIB.RunOutputs(ctx, b.AIBName)
			if err != nil {
				return "", false, nil, err
			}
			b.Outputs = outs
			if run.State == goldenpipe.RunPartiallySucceeded {
				b.PartialRun, b.Error = true, run.Message
			}
			b.Rescue = s.planRescue(b)
			if len(b.Rescue) > 0 {
				b.moveTo(StateRescuing, "", fmt.Sprintf("run %s; rescuing %d VHD(s)", strings.ToLower(run.State), len(b.Rescue)), now)
				return "rescuing VHDs", true, nil, nil
			}
			state := StateSucceeded
			if b.PartialRun {
				state = StatePartiallySucceeded
			}
			b.moveTo(state, "", run.Message, now)
			b.FinishedAt = finished(run, now)
			return "build " + state, true, nil, nil
		case goldenpipe.RunFailed:
			state := StateFailed
			if strings.Contains(run.Message, "context deadline exceeded") || strings.Contains(run.Message, "Timeout waiting") {
				state = StateTimedOut
			}
			b.Error = run.Message
			if s.Logs != nil {
				if tail, err := s.Logs.Tail(ctx, *b); err == nil {
					b.LogTail = tail
				} else {
					s.log().Warn("reading customization.log failed", "build", b.ID, "err", err.Error())
				}
			}
			b.moveTo(state, "", run.Message, now)
			b.FinishedAt = finished(run, now)
			return "build " + state + ": " + run.Message, true, nil, nil
		case goldenpipe.RunCanceled:
			b.moveTo(StateCanceled, "", run.Message, now)
			b.FinishedAt = finished(run, now)
			return "build canceled", true, nil, nil
		}
		return "run state " + run.State, false, nil, nil

	case StateRescuing:
		outcome, changed, eff, err := s.stepRescue(ctx, b)
		if b.State == StateSucceeded && b.PartialRun {
			b.State = StatePartiallySucceeded
			b.History[len(b.History)-1].State = StatePartiallySucceeded
		}
		return outcome, changed, eff, err
	}
	return "state " + b.State, false, nil, nil
}

func finished(run *goldenpipe.AIBRun, now time.Time) time.Time {
	if !run.EndTime.IsZero() {
		return run.EndTime.UTC()
	}
	return now
}

func (s *Service) create(name string, body []byte) effect {
	return func(ctx context.Context) error {
		err := s.AIB.Create(ctx, name, body)
		if goldenpipe.ErrorCode(err) == goldenpipe.ECONFLICT {
			return nil // it exists: created by an earlier attempt of this build
		}
		return err
	}
}

func (s *Service) run(name string) effect {
	return func(ctx context.Context) error {
		err := s.AIB.Run(ctx, name)
		if goldenpipe.ErrorCode(err) == goldenpipe.ECONFLICT {
			return nil // already running
		}
		return err
	}
}

// afterSteps carries out, once each, what follows a finished build:
// recording it on its template, freeing its lane and slot, publishing its
// events, and dropping it from the active builds.
func (s *Service) afterSteps(ctx context.Context, b *Build, etag string) (string, error) {
	type after struct {
		name string
		do   func(ctx context.Context) error
	}
	steps := []after{
		{"recorded", func(ctx context.Context) error {
			if b.State != StateSucceeded && b.State != StatePartiallySucceeded {
				return nil
			}
			return s.Templates.RecordBuild(ctx, b.Template, template.BuildSummary{BuildID: b.ID, Fingerprint: b.Fingerprint,
				SourceVersion: b.SourceVersion, Scripts: b.Scripts, FinishedAt: b.FinishedAt})
		}},
		{"released", func(ctx context.Context) error { return s.release(ctx, b) }},
	}
	for _, ev := range s.pendingEvents(b) {
		steps = append(steps, after{"event:" + ev, func(ctx context.Context) error { return s.publish(ctx, b, ev) }})
	}
	steps = append(steps, after{"indexed", func(ctx context.Context) error { return s.index(ctx, b.ID) }})
	steps = append(steps, after{"cleaned", func(ctx context.Context) error { return s.cleanup(ctx, b) }})
	for _, st := range steps {
		if b.did(st.name) {
			continue
		}
		if err := st.do(ctx); err != nil {
			if goldenpipe.ErrorCode(err) == codeLater {
				return goldenpipe.ErrorMessage(err), nil // stays active until then
			}
			return "", fmt.Errorf("build %s: %s: %w", b.ID, st.name, err)
		}
		b.mark(st.name)
		newTag, err := s.Docs.Put(ctx, buildKey(b.ID), b, etag)
		if err != nil {
			if goldenpipe.ErrorCode(err) == goldenpipe.ECONFLICT {
				return "raced finishing; the next look goes on", nil // steps are idempotent
			}
			return "", err
		}
		etag = newTag
	}
	if err := s.Docs.Delete(ctx, activeKey(b.ID), ""); err != nil {
		return "", err
	}
	return "finished: " + b.State, nil
}

// codeLater marks an after-step that is not due yet (not an error).
const codeLater = "later"

// cleanup deletes a finished build's Image Builder template, which removes
// its staging resource group: at once when the build succeeded and every
// VHD is verified where its record says (checked again here), after
// KeepFailed when it failed, and never when its VHDs could not be rescued.
func (s *Service) cleanup(ctx context.Context, b *Build) error {
	switch b.State {
	case StateSuperseded:
		return nil // no template was made
	case StateRescueFailed:
		return goldenpipe.Errorf(codeLater, "template %s kept: %s", b.AIBName, b.Error)
	case StateSucceeded, StatePartiallySucceeded:
		if b.State == StatePartiallySucceeded {
			b2 := *b
			b2.State = StateSucceeded
			b = &b2
		}
		ok, why, err := s.safeToDelete(ctx, b)
		if err != nil {
			return err
		}
		if !ok {
			return goldenpipe.Errorf(codeLater, "template %s kept: %s", b.AIBName, why)
		}
	default: // failed, timed out, canceled
		if due := b.FinishedAt.Add(s.KeepFailed); s.now().Before(due) {
			return goldenpipe.Errorf(codeLater, "template %s kept for debugging until %s", b.AIBName, due.Format(time.RFC3339))
		}
	}
	err := s.AIB.Delete(ctx, b.AIBName)
	if goldenpipe.ErrorCode(err) == goldenpipe.ECONFLICT {
		return goldenpipe.Errorf(codeLater, "template %s is busy; deleting it on a later tick", b.AIBName)
	}
	return err
}

// index puts a finished build at the head of the recent builds.
func (s *Service) index(ctx context.Context, id string) error {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		var r recent
		etag, err := s.Docs.Get(ctx, keyRecent, &r)
		if err != nil && goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
			return err
		}
		ids := []string{id}
		for _, x := range r.IDs {
			if x != id && len(ids) < recentKept {
				ids = append(ids, x)
			}
		}
		r.IDs = ids
		if _, err := s.Docs.Put(ctx, keyRecent, r, etag); err == nil || goldenpipe.ErrorCode(err) != goldenpipe.ECONFLICT {
			return err
		}
	}
	return goldenpipe.Errorf(goldenpipe.ECONFLICT, "the recent builds kept changing")
}
