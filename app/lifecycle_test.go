package app

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe/build"
	"github.com/goldenpipe/goldenpipe/internal/clock"
	"github.com/goldenpipe/goldenpipe/simulator"
)

// lifecycleHarness runs the builds and the simulator on one fake clock:
// hours of a build's life pass in a few ticks, with no sleep.
func lifecycleHarness(t *testing.T, prefix string) (*harness, *clock.Fake, *simulator.ImageBuilder) {
	t.Helper()
	c := clock.NewFake(time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC))
	sim := simulator.NewImageBuilder()
	sim.CreateDuration, sim.PhaseDuration, sim.Now = time.Minute, time.Minute, c.Now
	h := newHarnessWith(t, prefix, Overrides{Builder: sim, Images: simulator.NewImages()})
	h.a.Builds.Now = c.Now
	h.a.Builds.BackoffBase, h.a.Builds.ReissueAfter = 0, 0 // the defaults: 30 s, doubling; 30 s
	h.a.Builds.MaxConcurrent = 1
	return h, c, sim
}

// tickUntil fires the monitor, moving the fake clock on by step between
// ticks, until done says so (at most 400 ticks).
func (h *harness) tickUntil(c *clock.Fake, step time.Duration, done func([]build.Build) bool) []build.Build {
	h.t.Helper()
	var list []build.Build
	for i := 0; i < 400; i++ {
		h.drain()
		h.invoke("BuildMonitor", []byte(timerBody))
		list = nil
		h.get("/api/builds", &list)
		if done(list) {
			return list
		}
		c.Advance(step)
	}
	h.t.Fatalf("not done after 400 ticks: %v", list)
	return nil
}

func byTemplate(list []build.Build, template string) *build.Build {
	for i := range list {
		if list[i].Template == template {
			return &list[i]
		}
	}
	return nil
}

func finishedBoth(list []build.Build) bool {
	a, b := byTemplate(list, "first"), byTemplate(list, "second")
	return a != nil && b != nil && build.Terminal(a.State) && build.Terminal(b.State)
}

// Refusals Azure repeats end the build at once with Azure's message, free
// its lane and slot, and let the next build start; persistent throttling
// backs off and then fails after the bound. One slot, two templates: the
// first requested is refused, the second must still build.
func TestRefusedBuildsFailAndFreeTheirSlot(t *testing.T) {
	tests := []struct {
		name      string
		op        string
		refusal   simulator.Refusal
		calls     int // how many times the first template's op is tried
		errHas    string
		historyOK func(b *build.Build) bool
	}{
		{"create refused with 400 ValidationFailed", "Create",
			simulator.Refusal{Status: http.StatusBadRequest, Code: "ValidationFailed", Message: "Unmarshalling entity encountered error: unknown field \"buildTimeout\""},
			1, "Image Builder refused the template: creating image template", nil},
		{"run refused with 403", "Run",
			simulator.Refusal{Status: http.StatusForbidden, Code: "AuthorizationFailed", Message: "The client does not have authorization to perform action 'Microsoft.VirtualMachineImages/imageTemplates/run/action'"},
			1, "AuthorizationFailed: The client does not have authorization", nil},
		{"create throttled (429) every time", "Create",
			simulator.Refusal{Status: http.StatusTooManyRequests, Code: "TooManyRequests", Message: "Rate limit exceeded"},
			6, "creating the image template failed 6 times in a row; giving up", func(b *build.Build) bool {
				// the waits grow: 30 s, 1 m, 2 m … (±20 %)
				n := 0
				for _, h := range b.History {
					if strings.Contains(h.Note, "trying again in") {
						n++
					}
				}
				return n == 5
			}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, c, sim := lifecycleHarness(t, "refuse"+string(rune('a'+i)))
			tried := 0
			sim.Refuse = func(op, name string) *simulator.Refusal {
				if op == tt.op && strings.HasPrefix(name, "gp-first-") {
					tried++
					r := tt.refusal
					return &r
				}
				return nil
			}
			h.avdTemplate("first", []byte("Write-Host first\r\n"))
			h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "first.json")
			c.Advance(time.Second) // the second is requested after the first
			h.avdTemplate("second", []byte("Write-Host first\r\n"))
			h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "second.json")

			list := h.tickUntil(c, 30*time.Second, finishedBoth)
			first, second := byTemplate(list, "first"), byTemplate(list, "second")
			if first.State != build.StateFailed || !strings.Contains(first.Error, tt.errHas) || !strings.Contains(first.Error, tt.refusal.Message) {
				t.Errorf("first: %s, error %q", first.State, first.Error)
			}
			if tried != tt.calls {
				t.Errorf("the refused %s was tried %d times, want %d", tt.op, tried, tt.calls)
			}
			if tt.historyOK != nil && !tt.historyOK(first) {
				t.Errorf("history: %+v", first.History)
			}
			if second.State != build.StateSucceeded {
				t.Errorf("the second build, waiting for the slot, did not build: %s %s", second.State, second.Error)
			}
			if !second.StartedAt.After(first.RequestedAt) {
				t.Errorf("the second started before the first was requested")
			}
			var failedEvent bool
			for _, m := range h.a.Bus.Topic(h.s.EventsTopic) {
				failedEvent = failedEvent || m.Subject == build.EventFailed && strings.Contains(string(m.Body), first.ID)
			}
			if !failedEvent {
				t.Error("no build.failed event for the refused build")
			}
		})
	}
}
