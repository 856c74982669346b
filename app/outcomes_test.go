package app

import (
	"strings"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/simulator"
)

func TestBuildOutcomes(t *testing.T) {
	tests := []struct {
		name        string
		state       builds.State
		event       string
		outcome     simulator.Outcome
		errContains string
	}{
		{"failed", builds.StateFailed, builds.EventFailed, simulator.Outcome{State: goldenpipe.RunFailed, Message: "customizer install-apps exited 1"}, "exited 1"},
		{"timed out", builds.StateTimedOut, builds.EventFailed, simulator.Outcome{State: goldenpipe.RunFailed, Message: simulator.TimeoutMessage}, "context deadline exceeded"},
		{"partially succeeded", builds.StatePartiallySucceeded, builds.EventSucceeded, simulator.Outcome{State: goldenpipe.RunPartiallySucceeded, Message: "replication to eastus failed"}, "replication"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := fastSimulator()
			sim.Builder.Outcome = func(string) simulator.Outcome { return tt.outcome }
			h := newHarnessWith(t, "out"+string(rune('a'+i)), sim)
			h.avdTemplate("avd", []byte("Write-Host x\r\n"))
			h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "avd.json")
			list := h.monitorUntilDone("avd")
			if len(list) != 1 || list[0].State != tt.state || !strings.Contains(list[0].Error, tt.errContains) {
				t.Fatalf("list = %s", summarize(list))
			}
			if tt.state != builds.StatePartiallySucceeded && !strings.Contains(list[0].LogTail, "PACKER ERR ==> azure-arm: "+tt.outcome.Message) {
				t.Errorf("the record lacks the tail of customization.log: %q (error %q)", list[0].LogTail, list[0].Error)
			}
			// exactStagingResourceGroup is a resource id, as Azure reports it
			if !strings.HasPrefix(list[0].StagingResourceGroup, "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/IT_goldenpipe-simulated_") {
				t.Errorf("staging group %q", list[0].StagingResourceGroup)
			}
			events := h.bus.Topic(h.s.EventsTopic)
			if last := events[len(events)-1]; last.Subject != tt.event {
				t.Errorf("last event %s, want %s", last.Subject, tt.event)
			}
		})
	}

	t.Run("template creation fails on a checksum mismatch", func(t *testing.T) {
		sim := fastSimulator()
		h := newHarnessTuned(t, "outmm", sim, nil, noBuildOnUpload)
		h.avdTemplate("avd", []byte("Write-Host v1\r\n"))
		h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "avd.json")
		// the script changes after rendering and before Image Builder fetches it
		h.upload(h.s.ScriptsContainer, "avd/install-apps.ps1", []byte("Write-Host v2\r\n"))
		h.invoke("BuildRequested", serviceBusBody(`{"template":"avd"}`, "m"))
		list := h.monitorUntilDone("avd")
		if len(list) != 1 || list[0].State != builds.StateFailed || !strings.Contains(list[0].Error, "creating the image template failed: The checksum of") {
			t.Fatalf("list = %s", summarize(list))
		}
	})
}

func summarize(list []builds.Build) string {
	var b strings.Builder
	for _, x := range list {
		b.WriteString(x.ID + " " + string(x.State) + " " + x.Error + "; ")
	}
	return b.String()
}

func TestOneBuildPerTemplateLatestQueuedWins(t *testing.T) {
	sim := fastSimulator()
	sim.Builder.PhaseDuration = 150 * time.Millisecond
	h := newHarnessTuned(t, "lane", sim, nil, noBuildOnUpload)
	h.avdTemplate("avd", []byte("Write-Host 1\r\n"))
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "avd.json")

	h.invoke("BuildRequested", serviceBusBody(`{"template":"avd","reason":"first"}`, "m1"))
	// two more changes while the first runs: the second waits, the third replaces it
	for i, v := range []string{"2", "3"} {
		h.upload(h.s.ScriptsContainer, "avd/install-apps.ps1", []byte("Write-Host "+v+"\r\n"))
		h.blobEvent("ScriptUploaded", h.s.ScriptsContainer, "avd/install-apps.ps1")
		h.invoke("BuildRequested", serviceBusBody(`{"template":"avd","reason":"change `+v+`"}`, "m"+v))
		time.Sleep(time.Duration(i+1) * 5 * time.Millisecond)
	}
	var running []builds.Build
	h.getBuilds("/api/builds?template=avd", &running)
	inFlight := 0
	for _, b := range running {
		if b.State == builds.StateCreating || b.State == builds.StateRunning {
			inFlight++
		}
	}
	if inFlight != 1 {
		t.Errorf("%d builds of one template in flight", inFlight)
	}
	list := h.monitorUntilDone("avd")
	states := map[string]builds.State{}
	for _, b := range list {
		states[b.Reason] = b.State
	}
	if states["first"] != builds.StateSucceeded || states["change 2"] != builds.StateSuperseded || states["change 3"] != builds.StateSucceeded {
		t.Errorf("states = %v", states)
	}
	if sim.Builder.Calls("Create") != 2 {
		t.Errorf("%d creates, want 2 (the superseded build never started)", sim.Builder.Calls("Create"))
	}
}

func TestMaxConcurrentBuilds(t *testing.T) {
	sim := fastSimulator()
	sim.Builder.PhaseDuration = 60 * time.Millisecond
	h := newHarnessTuned(t, "slots", sim, nil, func(tu *Tuning) { tu.MaxConcurrent, tu.NoBuildOnUpload = 2, true })
	for _, name := range []string{"a1", "a2", "a3", "a4", "a5"} {
		h.avdTemplate(name, []byte("Write-Host shared\r\n"))
		h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, name+".json")
		h.invoke("BuildRequested", serviceBusBody(`{"template":"`+name+`"}`, "m-"+name))
	}
	most := 0
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		h.invoke("BuildMonitor", []byte(timerBody))
		var list []builds.Build
		h.getBuilds("/api/builds", &list)
		inFlight, done := 0, 0
		for _, b := range list {
			switch {
			case b.State == builds.StateCreating || b.State == builds.StateRunning:
				inFlight++
			case builds.Terminal(b.State):
				done++
			}
		}
		most = max(most, inFlight)
		if done == 5 {
			break
		}
		time.Sleep(15 * time.Millisecond)
	}
	if most != 2 {
		t.Errorf("at most %d builds were in flight, want 2 (MAX_CONCURRENT_BUILDS)", most)
	}
	if sim.Builder.Calls("Run") != 5 {
		t.Errorf("%d runs, want 5", sim.Builder.Calls("Run"))
	}
}
