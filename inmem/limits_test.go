package inmem

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

// gate holds every call until released, counting the calls at once.
type gate struct {
	release chan struct{}
	now     atomic.Int32
	peak    atomic.Int32
	calls   atomic.Int32
	started chan struct{}
}

func (g *gate) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	n := g.now.Add(1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			break
		}
	}
	g.calls.Add(1)
	g.started <- struct{}{}
	<-g.release
	g.now.Add(-1)
	w.WriteHeader(http.StatusOK)
}

// A burst of 50 messages is handled at most MaxConcurrentCalls at a time,
// as one host instance's trigger does; the rest wait in the queue and are
// all delivered.
func TestBusCallsAtMostMaxConcurrentCalls(t *testing.T) {
	g := &gate{release: make(chan struct{}), started: make(chan struct{}, 100)}
	b := newTestBus(g)
	b.MaxConcurrentCalls = 4
	for i := range 50 {
		if err := b.Send(context.Background(), "q", goldenpipe.OutMessage{ID: fmt.Sprint(i), Body: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	for range 4 {
		<-g.started
	}
	select {
	case <-g.started:
		t.Fatal("a fifth call started while four were under way")
	case <-time.After(50 * time.Millisecond): // nothing more may start: a bounded look, not a wait for state
	}
	go func() {
		for range 50 {
			g.release <- struct{}{}
		}
	}()
	if err := b.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if g.calls.Load() != 50 || g.peak.Load() != 4 || b.PeakCalls() != 4 {
		t.Errorf("%d calls, at most %d at once (bus: %d); want 50, 4", g.calls.Load(), g.peak.Load(), b.PeakCalls())
	}
}

// slowFirst takes longer than the lock on its first delivery and answers
// at once after; it records the delivery counts it saw.
type slowFirst struct {
	mu     sync.Mutex
	counts []int
	hold   chan struct{}
}

func (s *slowFirst) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{}
	rec.ServeHTTP(httptestDiscard{}, r)
	s.mu.Lock()
	s.counts = append(s.counts, rec.counts...)
	first := len(s.counts) == 1
	s.mu.Unlock()
	if first {
		<-s.hold // past the lock: Service Bus gives the message to another receiver
	}
	w.WriteHeader(http.StatusOK)
}

type httptestDiscard struct{}

func (httptestDiscard) Header() http.Header         { return http.Header{} }
func (httptestDiscard) Write(b []byte) (int, error) { return len(b), nil }
func (httptestDiscard) WriteHeader(int)             {}

// A delivery that outlives its lock (LockDuration, renewed up to
// MaxAutoLockRenewal) is delivered again with the next DeliveryCount while
// it still runs; the second delivery settles the message, and the first
// one's late answer changes nothing.
func TestALostLockDeliversTheMessageAgain(t *testing.T) {
	s := &slowFirst{hold: make(chan struct{})}
	b := newTestBus(s)
	b.LockDuration, b.MaxAutoLockRenewal = 20*time.Millisecond, 10*time.Millisecond
	if err := b.Send(context.Background(), "q", goldenpipe.OutMessage{ID: "slow", Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Drain(ctx); err != nil { // settled by the second delivery, the first still held
		t.Fatal(err)
	}
	close(s.hold)
	s.mu.Lock()
	defer s.mu.Unlock()
	if fmt.Sprint(s.counts) != "[1 2]" || len(b.DeadLetters()) != 0 {
		t.Errorf("delivery counts %v, dead letters %v; want [1 2] and none", s.counts, b.DeadLetters())
	}
}

// The limits come from host.json as the host reads them; a malformed one
// is refused with the setting named.
func TestHostLimitsFromHostJSON(t *testing.T) {
	l, err := ReadHostLimits(goldenpipe.HostJSON)
	if err != nil {
		t.Fatal(err)
	}
	if l.MaxConcurrentCalls != 4 || l.MaxAutoLockRenewal != 10*time.Minute || l.FunctionTimeout != 10*time.Minute {
		t.Errorf("the app's host.json: %+v", l)
	}
	for _, tt := range []struct {
		json string
		want HostLimits
		err  string
	}{
		{`{"version":"2.0"}`, HostLimits{}, ""},
		{`{"functionTimeout":"1.02:03:04.5"}`, HostLimits{FunctionTimeout: 26*time.Hour + 3*time.Minute + 4500*time.Millisecond}, ""},
		{`{"extensions":{"serviceBus":{"maxConcurrentCalls":16,"maxAutoLockRenewalDuration":"00:05:00"}}}`, HostLimits{MaxConcurrentCalls: 16, MaxAutoLockRenewal: 5 * time.Minute}, ""},
		{`{"functionTimeout":"10 minutes"}`, HostLimits{}, "functionTimeout"},
		{`{"extensions":{"serviceBus":{"maxAutoLockRenewalDuration":"00:61:00"}}}`, HostLimits{}, "maxAutoLockRenewalDuration"},
		{`{"extensions":{"serviceBus":{"maxConcurrentCalls":-1}}}`, HostLimits{}, "maxConcurrentCalls"},
	} {
		t.Run(tt.json, func(t *testing.T) {
			got, err := ReadHostLimits([]byte(tt.json))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one naming %s", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("%+v %v, want %+v", got, err, tt.want)
			}
		})
	}
}
