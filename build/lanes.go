package build

import (
	"context"
	"fmt"

	"github.com/goldenpipe/goldenpipe"
)

const (
	laneGot        = "got"
	laneQueued     = "queued"
	laneSuperseded = "superseded"
)

// acquireLane gives a build its template's lane: at most one build of a
// template is in flight, and one waits; a newer request replaces the one
// waiting (the latest wins). It returns laneGot, laneQueued (with the build
// in flight) or laneSuperseded (with the newer build).
func (s *Service) acquireLane(ctx context.Context, b *Build) (string, string, error) {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		var l lane
		etag, err := s.Docs.Get(ctx, laneKey(b.Template), &l)
		if err != nil && goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
			return "", "", err
		}
		l.Template = b.Template
		var replaced string
		switch {
		case l.InFlight == b.ID:
			if l.Queued != b.ID {
				return laneGot, "", nil
			}
			l.Queued = ""
		case l.InFlight == "" || s.finishedOrGone(ctx, l.InFlight):
			if l.Queued != "" && l.Queued != b.ID && b.State == StateQueued {
				// promoted elsewhere: the queued one goes first
				if newer, _ := s.newer(ctx, l.Queued, b); newer {
					return laneSuperseded, l.Queued, nil
				}
			}
			l.InFlight = b.ID
			if l.Queued == b.ID {
				l.Queued = ""
			}
		case l.Queued == b.ID:
			return laneQueued, l.InFlight, nil
		case l.Queued != "" && !s.finishedOrGone(ctx, l.Queued):
			newer, err := s.newer(ctx, l.Queued, b)
			if err != nil {
				return "", "", err
			}
			if newer {
				return laneSuperseded, l.Queued, nil
			}
			replaced = l.Queued
			l.Queued = b.ID
		default:
			if b.State == StateQueued && l.Queued != "" {
				// this build was queued, the lane forgot it: it was replaced
				return laneSuperseded, l.Queued, nil
			}
			l.Queued = b.ID
		}
		if _, err := s.Docs.Put(ctx, laneKey(b.Template), l, etag); err != nil {
			if goldenpipe.ErrorCode(err) == goldenpipe.ECONFLICT {
				continue
			}
			return "", "", err
		}
		if replaced != "" {
			// the replaced build notices on its next look; tell it now
			go s.advanceLater(replaced)
		}
		if l.InFlight == b.ID {
			return laneGot, "", nil
		}
		return laneQueued, l.InFlight, nil
	}
	return "", "", goldenpipe.Errorf(goldenpipe.ECONFLICT, "the lane of %q kept changing", b.Template)
}

// advanceLater advances a build outside the current request (best effort:
// the monitor does it on its next tick anyway).
func (s *Service) advanceLater(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), armCallBudget)
	defer cancel()
	_, _ = s.Advance(ctx, id)
}

// newer reports whether build other was requested after b.
func (s *Service) newer(ctx context.Context, other string, b *Build) (bool, error) {
	var o Build
	if _, err := s.Docs.Get(ctx, buildKey(other), &o); err != nil {
		if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
			return false, nil
		}
		return false, err
	}
	return o.RequestedAt.After(b.RequestedAt), nil
}

// finishedOrGone reports whether a build is over (a lane or slot still
// naming it is stale, e.g. after a crash).
func (s *Service) finishedOrGone(ctx context.Context, id string) bool {
	var o Build
	if _, err := s.Docs.Get(ctx, buildKey(id), &o); err != nil {
		return goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND
	}
	return Terminal(o.State)
}

// acquireSlot takes one of MaxConcurrent build slots.
func (s *Service) acquireSlot(ctx context.Context, id string) (bool, error) {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		var sl slots
		etag, err := s.Docs.Get(ctx, keySlots, &sl)
		if err != nil && goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
			return false, err
		}
		kept := sl.Builds[:0]
		for _, b := range sl.Builds {
			if b == id {
				return true, nil
			}
			if !s.finishedOrGone(ctx, b) {
				kept = append(kept, b)
			}
		}
		sl.Builds = kept
		if len(sl.Builds) >= s.maxConcurrent() {
			return false, nil
		}
		sl.Builds = append(sl.Builds, id)
		if _, err := s.Docs.Put(ctx, keySlots, sl, etag); err != nil {
			if goldenpipe.ErrorCode(err) == goldenpipe.ECONFLICT {
				continue
			}
			return false, err
		}
		return true, nil
	}
	return false, nil
}

// release frees a finished build's slot and lane, and hands the lane to the
// build waiting in it.
func (s *Service) release(ctx context.Context, b *Build) error {
	for attempt := 0; ; attempt++ {
		var sl slots
		etag, err := s.Docs.Get(ctx, keySlots, &sl)
		if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
			break
		}
		if err != nil {
			return err
		}
		kept, found := sl.Builds[:0], false
		for _, id := range sl.Builds {
			if id == b.ID {
				found = true
				continue
			}
			kept = append(kept, id)
		}
		if !found {
			break
		}
		sl.Builds = kept
		if _, err := s.Docs.Put(ctx, keySlots, sl, etag); err == nil {
			break
		} else if goldenpipe.ErrorCode(err) != goldenpipe.ECONFLICT || attempt >= maxAttempts {
			return fmt.Errorf("freeing the slot of %s: %w", b.ID, err)
		}
	}
	for attempt := 0; ; attempt++ {
		var l lane
		etag, err := s.Docs.Get(ctx, laneKey(b.Template), &l)
		if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
			return nil
		}
		if err != nil {
			return err
		}
		next := ""
		switch {
		case l.InFlight == b.ID:
			l.InFlight, l.Queued, next = l.Queued, "", l.Queued
		case l.Queued == b.ID:
			l.Queued = ""
		default:
			return nil
		}
		if _, err := s.Docs.Put(ctx, laneKey(b.Template), l, etag); err != nil {
			if goldenpipe.ErrorCode(err) == goldenpipe.ECONFLICT && attempt < maxAttempts {
				continue
			}
			return fmt.Errorf("freeing the lane of %s: %w", b.Template, err)
		}
		if next != "" {
			go s.advanceLater(next)
		}
		return nil
	}
}
