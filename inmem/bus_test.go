package inmem

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/host"
)

// recorder answers with the status it is told and keeps what it got.
type recorder struct {
	mu     sync.Mutex
	bodies []string
	counts []int
	fail   int // answer 500 this many times first
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var env struct {
		Data     map[string]json.RawMessage
		Metadata map[string]json.RawMessage
	}
	_ = json.NewDecoder(req.Body).Decode(&env)
	m, err := host.DecodeServiceBus(env.Data["message"], env.Metadata)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil || req.URL.Path != "/BuildRequested" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.bodies = append(r.bodies, string(m.Body))
	r.counts = append(r.counts, m.DeliveryCount)
	if r.fail > 0 {
		r.fail--
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func newTestBus(h http.Handler) *Bus {
	b := NewBus(map[string]Route{"q": {Function: "BuildRequested", Binding: "message"}})
	b.Retry = time.Millisecond
	b.Attach(h)
	return b
}

func TestBusDeliversAsTheHostDoes(t *testing.T) {
	rec := &recorder{fail: 2}
	b := newTestBus(rec)
	body := `{"template":"avd","reason":"a \"quoted\" reason"}`
	if err := b.Send(context.Background(), "q", goldenpipe.OutMessage{ID: "m1", Body: []byte(body)}); err != nil {
		t.Fatal(err)
	}
	_ = b.Send(context.Background(), "q", goldenpipe.OutMessage{ID: "m1", Body: []byte(body)}) // duplicate id: dropped
	if err := b.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(rec.bodies) != 3 || rec.bodies[2] != body || rec.counts[0] != 1 || rec.counts[2] != 3 {
		t.Fatalf("deliveries = %q, counts %v", rec.bodies, rec.counts)
	}
	if err := b.Send(context.Background(), "nope", goldenpipe.OutMessage{ID: "x"}); goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
		t.Errorf("unknown queue: %v", err)
	}
}

func TestBusDeadLettersAfterMaxDeliveries(t *testing.T) {
	rec := &recorder{fail: 1000}
	b := newTestBus(rec)
	b.MaxDeliveryCount = 4
	_ = b.Send(context.Background(), "q", goldenpipe.OutMessage{ID: "m", Body: []byte("x")})
	_ = b.Drain(context.Background())
	dead := b.DeadLetters()
	if len(rec.bodies) != 4 || len(dead) != 1 || !strings.Contains(dead[0].Reason, "MaxDeliveryCountExceeded") {
		t.Fatalf("deliveries %d, dead letters %+v", len(rec.bodies), dead)
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(context.Background(), "q", goldenpipe.OutMessage{ID: "after"}); goldenpipe.ErrorCode(err) != goldenpipe.EUNAVAILABLE {
		t.Errorf("send after close: %v", err)
	}
}

func TestTopicKeepsTheNewest(t *testing.T) {
	b := newTestBus(&recorder{})
	b.MaxTopicMessages = 3
	for _, id := range []string{"1", "2", "3", "4"} {
		_ = b.Publish(context.Background(), "t", goldenpipe.OutMessage{ID: id})
	}
	got := b.Topic("t")
	if len(got) != 3 || got[0].ID != "2" || got[2].ID != "4" {
		t.Errorf("topic = %+v", got)
	}
}

// The events topic is deployed with duplicate detection on
// (deploy/main.bicep), so an event published again with its id — a step
// retried after its record write lost a race — reaches subscribers once.
func TestTopicDropsRepeatedMessageIds(t *testing.T) {
	b := newTestBus(&recorder{})
	ctx := context.Background()
	for _, m := range []struct{ topic, id string }{
		{"events", "b1/requested"}, {"events", "b1/requested"}, {"events", "b1/started"},
		{"other", "b1/requested"}, {"events", ""}, {"events", ""},
	} {
		if err := b.Publish(ctx, m.topic, goldenpipe.OutMessage{ID: m.id, Body: []byte(m.id)}); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	for _, m := range b.Topic("events") {
		ids = append(ids, m.ID)
	}
	if strings.Join(ids, ",") != "b1/requested,b1/started,," || len(b.Topic("other")) != 1 {
		t.Errorf("events = %q, other = %d", ids, len(b.Topic("other")))
	}
}

// Ids older than the window are forgotten: what the bus remembers is
// bounded by what one window sends, not by everything ever sent.
func TestDuplicateIdsAreForgottenAfterTheWindow(t *testing.T) {
	b := newTestBus(&recorder{})
	b.DuplicateWindow = 0 // every id is out of the window at once
	for i := range 10_000 {
		_ = b.Publish(context.Background(), "events", goldenpipe.OutMessage{ID: "same"})
		_ = b.Publish(context.Background(), "events", goldenpipe.OutMessage{ID: strconv.Itoa(i)})
	}
	b.mu.Lock()
	remembered := len(b.seen)
	b.mu.Unlock()
	if remembered > 1024 {
		t.Errorf("remembers %d ids after 20,000 publishes with a zero window", remembered)
	}
	if got := len(b.Topic("events")); got != b.MaxTopicMessages {
		t.Errorf("topic kept %d, want %d: with a zero window nothing is a duplicate", got, b.MaxTopicMessages)
	}
}
