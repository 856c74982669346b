package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/builds"
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
	h := newHarnessWith(t, prefix, sims{Builder: sim, Images: simulator.NewImages()})
	h.a.Builds.Now = c.Now
	h.a.Builds.BackoffBase, h.a.Builds.ReissueAfter = 0, 0 // the defaults: 30 s, doubling; 30 s
	h.a.Builds.MaxConcurrent = 1
	return h, c, sim
}

// tickUntil fires the monitor, moving the fake clock on by step between
// ticks, until done says so (at most 400 ticks).
func (h *harness) tickUntil(c *clock.Fake, step time.Duration, done func([]builds.Build) bool) []builds.Build {
	h.t.Helper()
	var list []builds.Build
	for i := 0; i < 400; i++ {
		h.drain()
		h.invoke("BuildMonitor", []byte(timerBody))
		list = nil
		h.getBuilds("/api/builds", &list)
		if done(list) {
			return list
		}
		c.Advance(step)
	}
	h.t.Fatalf("not done after 400 ticks: %v", list)
	return nil
}

func byTemplate(list []builds.Build, template string) *builds.Build {
	for i := range list {
		if list[i].Template == template {
			return &list[i]
		}
	}
	return nil
}

func finishedBoth(list []builds.Build) bool {
	a, b := byTemplate(list, "first"), byTemplate(list, "second")
	return a != nil && b != nil && builds.Terminal(a.State) && builds.Terminal(b.State)
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
		historyOK func(b *builds.Build) bool
	}{
		{"create refused with 400 ValidationFailed", "Create",
			simulator.Refusal{Status: http.StatusBadRequest, Code: "ValidationFailed", Message: "Unmarshalling entity encountered error: unknown field \"buildTimeout\""},
			1, "Image Builder refused the template: creating image template", nil},
		{"run refused with 403", "Run",
			simulator.Refusal{Status: http.StatusForbidden, Code: "AuthorizationFailed", Message: "The client does not have authorization to perform action 'Microsoft.VirtualMachineImages/imageTemplates/run/action'"},
			1, "AuthorizationFailed: The client does not have authorization", nil},
		{"create throttled (429) every time", "Create",
			simulator.Refusal{Status: http.StatusTooManyRequests, Code: "TooManyRequests", Message: "Rate limit exceeded"},
			6, "creating the image template failed 6 times in a row; giving up", func(b *builds.Build) bool {
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
			if first.State != builds.StateFailed || !strings.Contains(first.Error, tt.errHas) || !strings.Contains(first.Error, tt.refusal.Message) {
				t.Errorf("first: %s, error %q", first.State, first.Error)
			}
			if tried != tt.calls {
				t.Errorf("the refused %s was tried %d times, want %d", tt.op, tried, tt.calls)
			}
			if tt.historyOK != nil && !tt.historyOK(first) {
				t.Errorf("history: %+v", first.History)
			}
			if second.State != builds.StateSucceeded {
				t.Errorf("the second build, waiting for the slot, did not build: %s %s", second.State, second.Error)
			}
			if !second.StartedAt.After(first.RequestedAt) {
				t.Errorf("the second started before the first was requested")
			}
			var failedEvent bool
			for _, m := range h.bus.Topic(h.s.EventsTopic) {
				failedEvent = failedEvent || m.Subject == builds.EventFailed && strings.Contains(string(m.Body), first.ID)
			}
			if !failedEvent {
				t.Error("no build.failed event for the refused build")
			}
		})
	}
}

// A failed build is built again by POST /api/builds without force: the
// retry is a new request with its own id; twenty concurrent retries make
// one build; the answer names the build that runs. A request that cannot
// be valid is refused before any 202.
func TestFailedBuildRetriedThroughTheAPI(t *testing.T) {
	h, c, sim := lifecycleHarness(t, "retry")
	failing := true
	sim.Outcome = func(string) simulator.Outcome {
		if failing {
			return simulator.Outcome{State: "Failed", Message: "customizer install-apps exited 1"}
		}
		return simulator.Outcome{State: "Succeeded"}
	}
	h.avdTemplate("avd", []byte("Write-Host v1\r\n"))
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "avd.json")
	list := h.tickUntil(c, 30*time.Second, func(l []builds.Build) bool { return len(l) == 1 && builds.Terminal(l[0].State) })
	if list[0].State != builds.StateFailed {
		t.Fatalf("first build: %s", list[0].State)
	}
	failing = false

	if code, body := postJSON(h, "/api/builds", `{"template":"avd","reason":"`+strings.Repeat("x", 600)+`"}`); code != 400 || !strings.Contains(body, "reason must be one line of at most 500 characters") {
		t.Errorf("an invalid request: %d %s", code, body)
	}
	ids := make(chan string, 20)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, body := postJSON(h, "/api/builds", `{"template":"avd","reason":"the fix is in"}`)
			var answer struct{ BuildID string }
			if err := json.Unmarshal([]byte(body), &answer); code != 202 || err != nil {
				t.Errorf("retry: %d %s", code, body)
			}
			ids <- answer.BuildID
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		seen[id] = true
	}
	if len(seen) != 1 {
		t.Fatalf("20 retries answered %d different ids: %v", len(seen), seen)
	}
	list = h.tickUntil(c, 30*time.Second, func(l []builds.Build) bool { return len(l) >= 2 && builds.Terminal(l[0].State) })
	if len(list) != 2 || list[0].State != builds.StateSucceeded || !seen[list[0].ID] || list[0].ID == list[1].ID {
		t.Fatalf("after 20 retries: %v (answered %v)", list, seen)
	}
	if !strings.Contains(list[0].Reason, "retry of "+list[1].ID) {
		t.Errorf("reason %q", list[0].Reason)
	}
	if sim.Calls("Create") != 2 {
		t.Errorf("%d creates, want 2", sim.Calls("Create"))
	}
	// up to date now: a retry is a conflict, force builds
	if code, body := postJSON(h, "/api/builds", `{"template":"avd"}`); code != 409 {
		t.Errorf("up to date: %d %s", code, body)
	}
}

// failingDocs is the state store of a process that dies at its n-th write
// (a storage 503, then nothing): everything before is in storage, nothing
// after it happens.
type failingDocs struct {
	goldenpipe.Documents
	mu     sync.Mutex
	writes int
	failAt int
	failed string // the key whose write failed
}

func (f *failingDocs) write(key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failed != "" {
		return errDead
	}
	f.writes++
	if f.writes == f.failAt {
		f.failed = key
		return goldenpipe.Errorf(goldenpipe.EUNAVAILABLE, "storage answered 503 writing %s", key)
	}
	return nil
}

func (f *failingDocs) Put(ctx context.Context, key string, v any, ifMatch string) (string, error) {
	if err := f.write(key); err != nil {
		return "", err
	}
	return f.Documents.Put(ctx, key, v, ifMatch)
}

func (f *failingDocs) Overwrite(ctx context.Context, key string, v any) (string, error) {
	if err := f.write(key); err != nil {
		return "", err
	}
	return f.Documents.Overwrite(ctx, key, v)
}

func (f *failingDocs) Delete(ctx context.Context, key, ifMatch string) error {
	if err := f.write(key); err != nil {
		return err
	}
	return f.Documents.Delete(ctx, key, ifMatch)
}

// A storage failure (the process dying with it) between any two writes of
// the request path — the in-flight marker, the record, the admission
// ledger, the move to creating and the ones after — never strands the
// build: the message is redelivered to another process, the monitor goes
// on, and the build completes with one create and one run.
func TestRequestPathSurvivesAFailureAtEveryWrite(t *testing.T) {
	for failAt := 1; failAt <= 6; failAt++ {
		t.Run(fmt.Sprintf("write %d", failAt), func(t *testing.T) {
			c := clock.NewFake(time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC))
			sim := simulator.NewImageBuilder()
			sim.CreateDuration, sim.PhaseDuration, sim.Now = time.Minute, time.Minute, c.Now
			first := newHarnessWith(t, "gap", sims{Builder: sim, Images: simulator.NewImages()})
			first.a.Builds.Now = c.Now
			first.a.Templates.Listeners = nil // the request comes below, once
			first.avdTemplate("avd", []byte("Write-Host gap\r\n"))
			first.blobEvent("TemplateUploaded", first.s.TemplatesContainer, "avd.json")
			docs := &failingDocs{Documents: buildsDocs(first.a), failAt: failAt}
			first.a.Builds.Store = buildsStore(docs, first.a)

			msg := serviceBusBody(`{"template":"avd","reason":"gap test"}`, "m-gap")
			first.invokeAllowFail("BuildRequested", msg)
			if docs.failed == "" {
				t.Fatalf("the request path made fewer than %d writes", failAt)
			}
			t.Logf("write %d failed: %s", failAt, docs.failed)

			// Service Bus redelivers the message (the invocation failed) to
			// another process on the same storage and the same Azure
			second := newHarnessWith(t, "gap", sims{Builder: sim, Images: first.images})
			second.a.Builds.Now = c.Now
			second.invokeAllowFail("BuildRequested", msg)
			list := second.tickUntil(c, 30*time.Second, func(l []builds.Build) bool { return len(l) == 1 && builds.Terminal(l[0].State) })
			if list[0].State != builds.StateSucceeded {
				t.Fatalf("build %s: %s", list[0].State, list[0].Error)
			}
			if cr, r := sim.Calls("Create"), sim.Calls("Run"); cr != 1 || r != 1 {
				t.Errorf("Image Builder saw %d creates and %d runs, want 1 and 1", cr, r)
			}
			var inFlight []builds.Build
			if inFlight, _ = second.a.Builds.InFlight(context.Background()); len(inFlight) != 0 {
				t.Errorf("builds still in flight after the end: %v", inFlight)
			}
			assertNoOrphans(t, second)
		})
	}
}

// With AIB_STAGING_GROUPS=managed every Image Builder template gets a
// staging group of its own, made before the template (empty, the
// template's identity Contributor on it) and deleted after it: two
// templates built at once never share one (the simulator fails a shared
// group with BadStagingResourceGroup, as Image Builder does).
func TestManagedStagingGroupsAreNeverShared(t *testing.T) {
	c := clock.NewFake(time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC))
	sim := simulator.NewImageBuilder()
	sim.CreateDuration, sim.PhaseDuration, sim.Now = time.Minute, time.Minute, c.Now
	l := sims{Builder: sim, Images: simulator.NewImages()}
	h := newHarnessSettings(t, "stg", l, map[string]string{"AIB_STAGING_GROUPS": "managed"})
	h.a.Builds.Now = c.Now
	h.a.Builds.BackoffBase, h.a.Builds.ReissueAfter = 0, 0
	for _, name := range []string{"first", "second"} {
		h.avdTemplate(name, []byte("Write-Host apps\r\n")) // one script, shared
		h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, name+".json")
	}
	list := h.tickUntil(c, 30*time.Second, func(l []builds.Build) bool {
		a, b := byTemplate(l, "first"), byTemplate(l, "second")
		return a != nil && b != nil && builds.Terminal(a.State) && builds.Terminal(b.State) && a.Done != nil && b.Done != nil &&
			len(h.sim.Templates()) == 0 && len(sim.Groups.Deleted()) == 2
	})
	first, second := byTemplate(list, "first"), byTemplate(list, "second")
	if first.State != builds.StateSucceeded || second.State != builds.StateSucceeded {
		t.Fatalf("states %s (%s), %s (%s)", first.State, first.Error, second.State, second.Error)
	}
	if first.ManagedStagingGroup == "" || first.ManagedStagingGroup == second.ManagedStagingGroup {
		t.Errorf("staging groups %q and %q", first.ManagedStagingGroup, second.ManagedStagingGroup)
	}
	if !strings.HasSuffix(first.StagingResourceGroup, "/resourceGroups/"+first.ManagedStagingGroup) {
		t.Errorf("Image Builder reported %q, not the group made for it (%q)", first.StagingResourceGroup, first.ManagedStagingGroup)
	}
	if created, deleted := sim.Groups.Created(), sim.Groups.Deleted(); len(created) != 2 || len(deleted) != 2 {
		t.Errorf("groups created %v, deleted %v", created, deleted)
	}
	// the build ran at once: both were in flight together (two slots)
	if !first.StartedAt.Before(second.FinishedAt) || !second.StartedAt.Before(first.FinishedAt) {
		t.Errorf("the builds did not overlap: %v–%v and %v–%v", first.StartedAt, first.FinishedAt, second.StartedAt, second.FinishedAt)
	}
}
