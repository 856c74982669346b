package builds

import (
	"fmt"
	"sort"
	"time"
)

// Admission: which waiting builds may start. Lanes and slots are derived
// from the build records themselves: a template's lane is held by its
// admitted build, and the admission ledger (kept by the Store, one
// conditional write per change) lists the builds holding the
// MaxConcurrent slots. Slots go to the oldest request first; among the
// waiting builds of one template the newest request wins and the others are
// superseded. The cost of a pass grows with the builds in flight and
// waiting, read once, never with waiting × slots.

// VerdictKind is the admission pass's answer for a waiting build.
type VerdictKind int

// Verdicts.
const (
	VerdictNone      VerdictKind = iota // no pass looked at it
	VerdictAdmit                        // it holds its template's lane and a slot: create its template
	VerdictQueue                        // another build of its template is in flight (Other)
	VerdictWait                         // every slot is taken (Position in the line)
	VerdictSupersede                    // a newer request of its template replaced it (Other)
)

// Verdict is the admission pass's answer for one build.
type Verdict struct {
	Kind     VerdictKind
	Other    string // the build in flight (Queue) or the newer one (Supersede)
	Position int    // 1-based place in the line for a slot (Wait)
}

// admitted states hold a lane and a slot.
func admittedState(s State) bool {
	return s == StateCreating || s == StateRunning || s == StateCanceling || s == StateRescuing
}

func waitingState(s State) bool { return s == StateRequested || s == StateQueued }

// Admit is one admission pass over the builds not finished (in any order)
// and the ledger's holders; it returns the new holders and a verdict for
// every waiting build.
func Admit(active []Build, holders []string, maxConcurrent int) ([]string, map[string]Verdict) {
	byID := make(map[string]*Build, len(active))
	for i := range active {
		byID[active[i].ID] = &active[i]
	}
	var kept []string
	lanes := map[string]string{}
	for _, h := range holders {
		b := byID[h]
		if b == nil || Terminal(b.State) || lanes[b.Template] != "" {
			continue // finished, gone, or a second holder of a lane: freed
		}
		kept = append(kept, h)
		lanes[b.Template] = h
	}
	// builds in flight that the ledger does not name (an older layout, a
	// lost write) hold their lane and slot all the same
	sorted := append([]Build(nil), active...)
	sort.Slice(sorted, func(i, j int) bool { return before(&sorted[i], &sorted[j]) })
	for _, b := range sorted {
		if admittedState(b.State) && lanes[b.Template] == "" {
			kept = append(kept, b.ID)
			lanes[b.Template] = b.ID
		}
	}
	held := map[string]bool{}
	for _, h := range kept {
		held[h] = true
	}
	verdicts := map[string]Verdict{}
	newest := map[string]*Build{}
	for i := range sorted {
		b := &sorted[i]
		if !waitingState(b.State) {
			continue
		}
		if held[b.ID] {
			verdicts[b.ID] = Verdict{Kind: VerdictAdmit} // admitted; its record is not moved yet
			continue
		}
		if n := newest[b.Template]; n == nil || before(n, b) {
			newest[b.Template] = b
		}
	}
	position := 0
	for i := range sorted {
		b := &sorted[i]
		if !waitingState(b.State) || held[b.ID] {
			continue
		}
		if n := newest[b.Template]; n.ID != b.ID {
			verdicts[b.ID] = Verdict{Kind: VerdictSupersede, Other: n.ID}
			continue
		}
		switch {
		case lanes[b.Template] != "":
			verdicts[b.ID] = Verdict{Kind: VerdictQueue, Other: lanes[b.Template]}
		case len(kept) < maxConcurrent:
			kept = append(kept, b.ID)
			lanes[b.Template] = b.ID
			verdicts[b.ID] = Verdict{Kind: VerdictAdmit}
		default:
			position++
			verdicts[b.ID] = Verdict{Kind: VerdictWait, Position: position}
		}
	}
	return kept, verdicts
}

// before orders builds by request time, then id.
func before(a, b *Build) bool {
	if !a.RequestedAt.Equal(b.RequestedAt) {
		return a.RequestedAt.Before(b.RequestedAt)
	}
	return a.ID < b.ID
}

// decideAdmission moves a waiting build by its verdict.
func decideAdmission(d *Decision, o Observation, now time.Time, cfg Config) {
	b := &d.Build
	switch v := o.Admission; v.Kind {
	case VerdictAdmit:
		if !applyVersionPlan(d, o, now) {
			return
		}
		if cfg.ManagedStaging && b.ManagedStagingGroup == "" {
			b.ManagedStagingGroup = StagingGroupName(b.AIBName) // one of its own: never shared by two templates
		}
		b.moveTo(StateCreating, "", "creating image template "+b.AIBName, now)
		b.CreateRequestedAt = now
		progressed(b)
		d.Changed, d.Effects, d.Outcome = true, []Action{{Kind: ActCreate}}, "creating image template"
	case VerdictQueue:
		d.Outcome = "queued behind " + v.Other
		if b.State != StateQueued {
			b.moveTo(StateQueued, "", "waiting for "+v.Other, now)
			d.Changed = true
		}
	case VerdictWait:
		d.Outcome = fmt.Sprintf("waiting for a build slot (%d in line)", v.Position)
		if b.State != StateRequested {
			b.moveTo(StateRequested, "", "waiting for a build slot", now)
			d.Changed = true
		}
	case VerdictSupersede:
		b.SupersededBy = v.Other
		finish(d, StateSuperseded, now, "a newer request replaced it: "+v.Other)
		d.Outcome = "superseded by " + v.Other
	default:
		d.Outcome = "waiting for the admission pass"
	}
}

// StagingGroupName is the staging group the app makes for an Image Builder
// template: unique per template (the template's name is unique per build).
func StagingGroupName(aibName string) string { return "goldenpipe-" + aibName }
