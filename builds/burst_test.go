package builds

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/azure"
	"github.com/goldenpipe/goldenpipe/internal/clock"
	"github.com/goldenpipe/goldenpipe/template"
)

// Issue 24: what a request and a tick cost, counted at the store (every
// call, reads and writes), not timed.

// allCalls counts every call to the store, by kind.
type allCalls struct {
	goldenpipe.Documents
	mu sync.Mutex
	n  map[string]int
}

func (c *allCalls) count(op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[op]++
}

func (c *allCalls) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := 0
	for _, v := range c.n {
		t += v
	}
	return t
}

func (c *allCalls) Get(ctx context.Context, key string, v any) (string, error) {
	c.count("get")
	return c.Documents.Get(ctx, key, v)
}
func (c *allCalls) Put(ctx context.Context, key string, v any, ifMatch string) (string, error) {
	c.count("put")
	return c.Documents.Put(ctx, key, v, ifMatch)
}
func (c *allCalls) Overwrite(ctx context.Context, key string, v any) (string, error) {
	c.count("overwrite")
	return c.Documents.Overwrite(ctx, key, v)
}
func (c *allCalls) Delete(ctx context.Context, key, ifMatch string) error {
	c.count("delete")
	return c.Documents.Delete(ctx, key, ifMatch)
}
func (c *allCalls) Keys(ctx context.Context, prefix string) ([]string, error) {
	c.count("keys")
	return c.Documents.Keys(ctx, prefix)
}
func (c *allCalls) KeysPage(ctx context.Context, prefix, marker string, max int) ([]string, string, error) {
	c.count("keys page")
	return c.Documents.KeysPage(ctx, prefix, marker, max)
}
func (c *allCalls) ListPage(ctx context.Context, prefix, marker string, max int) ([]goldenpipe.Listed, string, error) {
	c.count("list page")
	return c.Documents.ListPage(ctx, prefix, marker, max)
}

// validTemplates is a catalog where every template is valid, each with a
// fingerprint of its own.
type validTemplates struct{}

func (validTemplates) Get(_ context.Context, name string) (template.Record, error) {
	return template.Record{Name: name, Valid: true, Rendered: &template.Rendered{JSON: []byte(`{"properties":{}}`),
		Fingerprint: hashOf(name), SourceVersion: "1.0.0"}}, nil
}
func (validTemplates) RecordBuild(context.Context, string, template.BuildSummary) error { return nil }
func (validTemplates) Refresh(context.Context) ([]template.Record, error)               { return nil, nil }

// burst is a service on in-memory storage with five slots and n builds
// requested one after another (each a template of its own, ids in the
// reverse of request order): the first five hold the slots, the rest wait.
func burst(t *testing.T, n int) (*Service, *memDocs, *clock.Fake) {
	t.Helper()
	c := clock.NewFake(time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC))
	s, _, docs, _ := shell(t, c)
	s.Templates, s.MaxConcurrent, s.AIB = validTemplates{}, 5, &busyAIB{tpl: map[string]*goldenpipe.AIBTemplate{}}
	for i := 0; i < n; i++ {
		request(t, s, fmt.Sprintf("t%05d", n-i))
		c.Advance(time.Millisecond)
	}
	return s, docs, c
}

func request(t *testing.T, s *Service, name string) string {
	t.Helper()
	out, err := s.Request(context.Background(), goldenpipe.Message{ID: "m-" + name, Body: []byte(`{"template":"` + name + `"}`)})
	if err != nil {
		t.Fatalf("request %s: %v", name, err)
	}
	return out
}

func holders(t *testing.T, docs goldenpipe.Documents) []string {
	t.Helper()
	l, _, err := azure.NewBuilds[Build, Summary](docs, nil).Ledger(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return l.Holders
}

// One request makes the same storage calls, of each kind, with 5 and with
// 500 builds waiting: it reads no waiting build and writes no document
// every request rewrites.
func TestARequestCostsTheSameWhateverWaits(t *testing.T) {
	calls := map[int]map[string]int{}
	for _, waiting := range []int{5, 500} {
		s, docs, _ := burst(t, 5+waiting)
		if h := holders(t, docs); len(h) != 5 {
			t.Fatalf("%d waiting: holders %v, want the first five requests", waiting, h)
		}
		counted := &allCalls{Documents: docs}
		s.Store = over(s, counted)
		out := request(t, s, "newcomer")
		if b, err := s.Get(context.Background(), BaseID("newcomer", hashOf("newcomer"))); err != nil || b.State != StateRequested {
			t.Fatalf("%d waiting: the new build %+v, %v (%s)", waiting, b, err, out)
		}
		calls[waiting] = counted.n
		t.Logf("%d waiting: %d calls %v", waiting, counted.total(), counted.n)
	}
	if fmt.Sprint(calls[5]) != fmt.Sprint(calls[500]) {
		t.Errorf("a request made %v storage calls with 5 waiting, %v with 500", calls[5], calls[500])
	}
}

// A tick with N builds waiting (more than a tick reads of the line with its summaries) and five slots makes the same storage calls
// whatever N; once a slot frees, the next tick gives it to the oldest
// request, still at a cost that does not grow with N.
func TestATickCostsTheSameWhateverWaits(t *testing.T) {
	type cost struct{ held, freed map[string]int }
	costs := map[int]cost{}
	for _, waiting := range []int{200, 1000} {
		s, docs, c := burst(t, 5+waiting)
		tick(t, s) // the migrations' one-time work
		c.Advance(time.Minute)
		counted := &allCalls{Documents: docs}
		s.Store = over(s, counted)
		tick(t, s)
		held := counted.n
		first := holders(t, docs)

		// one holder finishes: the next tick carries out its after-steps and
		// gives its slot to the oldest request
		var b Build
		etag, err := docs.Get(context.Background(), azure.BuildRecordKey(first[0]), &b)
		if err != nil {
			t.Fatal(err)
		}
		b.State, b.FinishedAt, b.Done = StateFailed, c.Now(), nil
		if _, err := docs.Put(context.Background(), azure.BuildRecordKey(b.ID), b, etag); err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Minute)
		counted = &allCalls{Documents: docs}
		s.Store = over(s, counted)
		tick(t, s)
		freed := counted.n
		next := holders(t, docs)
		if len(next) != 5 || slices.Contains(next, first[0]) || !slices.Contains(next, fmt.Sprintf("t%05d-%s", 5+waiting-5, hashOf(fmt.Sprintf("t%05d", 5+waiting-5))[:12])) {
			t.Errorf("%d waiting: holders %v after %v finished, want the sixth request among them", waiting, next, first[0])
		}
		costs[waiting] = cost{held, freed}
		t.Logf("%d waiting: a tick with the slots held %v, one after a slot freed %v", waiting, held, freed)
	}
	if fmt.Sprint(costs[200].held) != fmt.Sprint(costs[1000].held) {
		t.Errorf("a tick with every slot held: %v with 200 waiting, %v with 1000", costs[200].held, costs[1000].held)
	}
	if fmt.Sprint(costs[200].freed) != fmt.Sprint(costs[1000].freed) {
		t.Errorf("a tick giving one slot: %v with 200 waiting, %v with 1000", costs[200].freed, costs[1000].freed)
	}
}

// Slots go in request order through the line, whatever the ids: twelve
// requests, five slots; as holders finish, the next requests in order get
// theirs; a template requested again while waiting has its older request
// superseded when the line reaches it.
func TestTheLineGivesSlotsInRequestOrder(t *testing.T) {
	s, docs, c := burst(t, 12) // t00012 first … t00001 last
	want := []string{}
	for i := 12; i > 7; i-- {
		want = append(want, BaseID(fmt.Sprintf("t%05d", i), hashOf(fmt.Sprintf("t%05d", i))))
	}
	if h := holders(t, docs); !slices.Equal(h, want) {
		t.Fatalf("holders %v, want %v", h, want)
	}
	// t00006 is requested again (a newer fingerprint) while it waits
	s.Templates = changedTemplates{validTemplates{}, "t00006"}
	request(t, s, "t00006")
	for round := 0; round < 2; round++ {
		for _, id := range holders(t, docs) {
			var b Build
			etag, _ := docs.Get(context.Background(), azure.BuildRecordKey(id), &b)
			b.State, b.FinishedAt = StateFailed, c.Now()
			if _, err := docs.Put(context.Background(), azure.BuildRecordKey(id), b, etag); err != nil {
				t.Fatal(err)
			}
		}
		c.Advance(time.Minute)
		tick(t, s)
		c.Advance(time.Minute)
		tick(t, s)
	}
	old, err := s.Get(context.Background(), BaseID("t00006", hashOf("t00006")))
	if err != nil || old.State != StateSuperseded {
		t.Errorf("the older request of t00006: %v %v, want superseded", old.State, err)
	}
	newer, err := s.Get(context.Background(), BaseID("t00006", hashOf("t00006", "again")))
	if err != nil || Terminal(newer.State) || waitingState(newer.State) {
		t.Errorf("the newer request of t00006: %v %v, want holding a slot", newer.State, err)
	}
}

// changedTemplates gives one template a new fingerprint.
type changedTemplates struct {
	validTemplates
	name string
}

func (c changedTemplates) Get(ctx context.Context, name string) (template.Record, error) {
	r, err := c.validTemplates.Get(ctx, name)
	if name == c.name {
		r.Rendered.Fingerprint = hashOf(name, "again")
	}
	return r, err
}

// busyAIB is Image Builder whose runs go on until the test ends them.
type busyAIB struct {
	mu  sync.Mutex
	tpl map[string]*goldenpipe.AIBTemplate
}

func (f *busyAIB) Create(_ context.Context, name string, _ []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tpl[name] = &goldenpipe.AIBTemplate{ID: "/x/" + name, ProvisioningState: goldenpipe.ProvisioningSucceeded}
	return nil
}
func (f *busyAIB) Get(_ context.Context, name string) (goldenpipe.AIBTemplate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t := f.tpl[name]; t != nil {
		return *t, nil
	}
	return goldenpipe.AIBTemplate{}, goldenpipe.Errorf(goldenpipe.ENOTFOUND, "no template %s", name)
}
func (f *busyAIB) Run(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tpl[name].Run = &goldenpipe.AIBRun{State: goldenpipe.RunRunning, StartTime: time.Unix(1, 0)}
	return nil
}
func (f *busyAIB) Cancel(context.Context, string) error { return nil }
func (f *busyAIB) Delete(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.tpl, name)
	return nil
}
func (f *busyAIB) RunOutputs(context.Context, string) ([]goldenpipe.RunOutput, error) {
	return nil, nil
}
