package builds

import (
	"fmt"
	"testing"
	"time"
)

func waiting(id, template string, at time.Time, state State) Build {
	return Build{ID: id, Template: template, State: state, RequestedAt: at}
}

func TestAdmit(t *testing.T) {
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	tests := []struct {
		name    string
		active  []Build
		holders []string
		max     int
		want    map[string]VerdictKind
		holds   []string
	}{
		{"first come, first served", []Build{waiting("b", "t2", at(2), StateRequested), waiting("a", "t1", at(1), StateRequested), waiting("c", "t3", at(3), StateRequested)},
			nil, 2, map[string]VerdictKind{"a": VerdictAdmit, "b": VerdictAdmit, "c": VerdictWait}, []string{"a", "b"}},
		{"one per template: the other queues", []Build{waiting("a", "t", at(1), StateRunning), waiting("b", "t", at(2), StateRequested)},
			[]string{"a"}, 5, map[string]VerdictKind{"b": VerdictQueue}, []string{"a"}},
		{"the newest waiting request of a template wins", []Build{waiting("a", "t", at(1), StateRunning), waiting("b", "t", at(2), StateQueued), waiting("c", "t", at(3), StateRequested)},
			[]string{"a"}, 5, map[string]VerdictKind{"b": VerdictSupersede, "c": VerdictQueue}, []string{"a"}},
		{"finished and gone holders free their slots", []Build{waiting("a", "t1", at(1), StateSucceeded), waiting("c", "t3", at(3), StateRequested)},
			[]string{"a", "gone"}, 1, map[string]VerdictKind{"c": VerdictAdmit}, []string{"c"}},
		{"an admitted build not moved yet stays admitted", []Build{waiting("a", "t1", at(1), StateRequested), waiting("b", "t2", at(2), StateRequested)},
			[]string{"a"}, 1, map[string]VerdictKind{"a": VerdictAdmit, "b": VerdictWait}, []string{"a"}},
		{"a build in flight the ledger lost holds its slot", []Build{waiting("a", "t1", at(1), StateRescuing), waiting("b", "t2", at(2), StateRequested)},
			nil, 1, map[string]VerdictKind{"b": VerdictWait}, []string{"a"}},
		{"two holders of one lane: the second is freed", []Build{waiting("a", "t", at(1), StateRunning), waiting("b", "t", at(2), StateCreating)},
			[]string{"a", "b"}, 5, map[string]VerdictKind{}, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			holds, verdicts := Admit(tt.active, tt.holders, tt.max)
			if fmt.Sprint(holds) != fmt.Sprint(tt.holds) {
				t.Errorf("holders %v, want %v", holds, tt.holds)
			}
			for id, k := range tt.want {
				if verdicts[id].Kind != k {
					t.Errorf("%s: verdict %+v, want %d", id, verdicts[id], k)
				}
			}
			if len(verdicts) != len(tt.want) {
				t.Errorf("verdicts %+v, want %v", verdicts, tt.want)
			}
		})
	}
}

// 1,000 waiting builds and 100 slots: the slots go to the first 100
// requests, whatever their ids; as builds finish, the next in request
// order get theirs.
func TestSlotsGoInRequestOrder(t *testing.T) {
	var active []Build
	for i := 0; i < 1000; i++ {
		// ids in the reverse of request order, so id order cannot pass for request order
		active = append(active, waiting(fmt.Sprintf("load-%04d", 999-i), fmt.Sprintf("t%04d", i), t0.Add(time.Duration(i)*time.Second), StateRequested))
	}
	holders, verdicts := Admit(active, nil, 100)
	if len(holders) != 100 {
		t.Fatalf("%d holders", len(holders))
	}
	for i, b := range active {
		want := VerdictWait
		if i < 100 {
			want = VerdictAdmit
		}
		if verdicts[b.ID].Kind != want {
			t.Fatalf("request %d (%s): verdict %+v, want %d", i, b.ID, verdicts[b.ID], want)
		}
		if want == VerdictWait && verdicts[b.ID].Position != i-99 {
			t.Fatalf("request %d: position %d, want %d", i, verdicts[b.ID].Position, i-99)
		}
	}
	// the first ten finish: the next ten requests are admitted
	for i := 0; i < 100; i++ {
		active[i].State = StateRunning
	}
	for i := 0; i < 10; i++ {
		active[i].State = StateSucceeded
	}
	holders, verdicts = Admit(active, holders, 100)
	for i := 100; i < 110; i++ {
		if verdicts[active[i].ID].Kind != VerdictAdmit {
			t.Errorf("request %d was not admitted after ten finished", i)
		}
	}
	if verdicts[active[110].ID].Kind != VerdictWait || len(holders) != 100 {
		t.Errorf("request 110: %+v; %d holders", verdicts[active[110].ID], len(holders))
	}
}

func TestDecideAdmission(t *testing.T) {
	runRows(t, []row{
		{"admitted: create the template", inState(StateRequested), Observation{Admission: Verdict{Kind: VerdictAdmit}}, t0,
			check{state: StateCreating, changed: true, effects: []ActionKind{ActCreate}, outHas: "creating"}},
		{"queued behind the build in flight", inState(StateRequested), Observation{Admission: Verdict{Kind: VerdictQueue, Other: "x"}}, t0,
			check{state: StateQueued, changed: true, outHas: "queued behind x"}},
		{"still queued: nothing to write", inState(StateQueued), Observation{Admission: Verdict{Kind: VerdictQueue, Other: "x"}}, t0,
			check{state: StateQueued, outHas: "queued behind x"}},
		{"waiting for a slot", inState(StateRequested), Observation{Admission: Verdict{Kind: VerdictWait, Position: 3}}, t0,
			check{state: StateRequested, outHas: "3 in line"}},
		{"queued, then its lane freed but no slot", inState(StateQueued), Observation{Admission: Verdict{Kind: VerdictWait, Position: 1}}, t0,
			check{state: StateRequested, changed: true, outHas: "waiting for a build slot"}},
		{"superseded by a newer request", inState(StateQueued), Observation{Admission: Verdict{Kind: VerdictSupersede, Other: "y"}}, t0,
			check{state: StateSuperseded, changed: true, outHas: "superseded by y"}},
		{"no admission pass", inState(StateRequested), Observation{}, t0,
			check{state: StateRequested, outHas: "waiting for the admission pass"}},
		{"an event reached and not published goes out first", func() Build { b := inState(StateRequested); b.Done = nil; return b }(), Observation{Admission: Verdict{Kind: VerdictAdmit}}, t0,
			check{state: StateRequested, step: ActPublish, outHas: "publishing requested"}},
	})
}
