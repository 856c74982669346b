// Package inmem holds in-process stand-ins for Azure services, for tests
// and local runs: the Service Bus (which has no emulator here), and the
// document store (Docs) and blob containers (Blobs) with the semantics of
// the Azure adapters, which internal/storetest checks both against.
package inmem

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

// DeadLetter is a message the bus gave up on.
type DeadLetter struct {
	Queue   string
	Message goldenpipe.OutMessage
	Reason  string
}

// Bus is an in-process Service Bus. Messages sent to a queue are delivered
// to the function the queue triggers, through the handler's HTTP interface,
// in the exact payload shape the Functions host uses; a non-2xx answer
// abandons the message, which is delivered again until MaxDeliveryCount,
// then dead-lettered. Messages published to a topic are kept (the newest
// MaxTopicMessages) for whoever reads them. On queues and topics alike, a
// MessageId seen within DuplicateWindow is dropped, as Service Bus duplicate
// detection does: deploy/main.bicep turns it on for the build queue and the
// events topic (requiresDuplicateDetection), so a lifecycle event published
// again by a retried or racing step reaches subscribers once.
type Bus struct {
	// Routes maps a queue to the function it triggers and the binding name.
	Routes           map[string]Route
	MaxDeliveryCount int
	DuplicateWindow  time.Duration
	MaxTopicMessages int
	// Retry is the delay before a redelivery.
	Retry time.Duration

	mu       sync.Mutex
	handler  http.Handler
	seen     map[string]time.Time
	swept    int // how many ids were remembered after the last sweep
	topics   map[string][]goldenpipe.OutMessage
	dead     []DeadLetter
	inflight sync.WaitGroup
	seq      int64
	closed   bool
}

// Route is the function a queue triggers.
type Route struct {
	Function string
	Binding  string
}

// NewBus returns a bus with Service Bus's defaults.
func NewBus(routes map[string]Route) *Bus {
	return &Bus{Routes: routes, MaxDeliveryCount: 10, DuplicateWindow: 10 * time.Minute, MaxTopicMessages: 1000,
		Retry: 100 * time.Millisecond, seen: map[string]time.Time{}, topics: map[string][]goldenpipe.OutMessage{}}
}

// Attach sets the handler messages are delivered to.
func (b *Bus) Attach(h http.Handler) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.handler = h
}

// Send enqueues a message on a queue; it is delivered asynchronously.
func (b *Bus) Send(_ context.Context, queue string, m goldenpipe.OutMessage) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	route, ok := b.Routes[queue]
	if !ok {
		return goldenpipe.Errorf(goldenpipe.ENOTFOUND, "no queue %q on the in-process bus", queue)
	}
	if b.closed {
		return goldenpipe.Errorf(goldenpipe.EUNAVAILABLE, "the in-process bus is closed")
	}
	if b.duplicate(queue, m.ID) {
		return nil
	}
	b.seq++
	seq := b.seq
	b.inflight.Add(1)
	go b.deliver(queue, route, m, seq)
	return nil
}

func (b *Bus) deliver(queue string, route Route, m goldenpipe.OutMessage, seq int64) {
	defer b.inflight.Done()
	enqueued := time.Now().UTC()
	for attempt := 1; ; attempt++ {
		b.mu.Lock()
		h := b.handler
		b.mu.Unlock()
		status := http.StatusServiceUnavailable
		if h != nil {
			status = b.invoke(h, route, m, attempt, enqueued, seq)
		}
		if status >= 200 && status < 300 {
			return
		}
		if attempt >= b.MaxDeliveryCount {
			b.mu.Lock()
			b.dead = append(b.dead, DeadLetter{Queue: queue, Message: m, Reason: fmt.Sprintf("MaxDeliveryCountExceeded: last answer %d", status)})
			b.mu.Unlock()
			return
		}
		time.Sleep(b.Retry)
	}
}

// invoke posts one delivery as the Functions host would.
func (b *Bus) invoke(h http.Handler, route Route, m goldenpipe.OutMessage, attempt int, enqueued time.Time, seq int64) int {
	enc := func(s string) string { q, _ := json.Marshal(s); return string(q) }
	metadata := map[string]string{
		"MessageId":       enc(m.ID),
		"DeliveryCount":   enc(strconv.Itoa(attempt)),
		"EnqueuedTimeUtc": enc(enqueued.Format(time.RFC3339Nano)),
		"SequenceNumber":  strconv.FormatInt(seq, 10),
	}
	if m.CorrelationID != "" {
		metadata["CorrelationId"] = enc(m.CorrelationID)
	}
	if m.ContentType != "" {
		metadata["ContentType"] = enc(m.ContentType)
	}
	body, _ := json.Marshal(map[string]any{
		"Data":     map[string]string{route.Binding: enc(string(m.Body))},
		"Metadata": metadata,
	})
	req := httptest.NewRequest(http.MethodPost, "/"+route.Function, bytes.NewReader(body))
	req.Host = "127.0.0.1" // the host calls the handler on loopback
	req.Header.Set("X-Azure-Functions-InvocationId", fmt.Sprintf("inproc-%d-%d", seq, attempt))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

// duplicate reports whether entity saw MessageId id within DuplicateWindow,
// and remembers it if not. A message without an id is never a duplicate.
// Ids older than the window are forgotten once the remembered ids double,
// so memory stays bounded by what one window sends. Callers hold b.mu.
func (b *Bus) duplicate(entity, id string) bool {
	if id == "" {
		return false
	}
	now := time.Now()
	key := entity + "\x00" + id
	if t, ok := b.seen[key]; ok && now.Sub(t) < b.DuplicateWindow {
		return true
	}
	if len(b.seen) >= 2*b.swept {
		for k, t := range b.seen {
			if now.Sub(t) >= b.DuplicateWindow {
				delete(b.seen, k)
			}
		}
		b.swept = max(len(b.seen), 512)
	}
	b.seen[key] = now
	return false
}

// Probe answers as the in-process bus is: up while the app runs.
func (b *Bus) Probe(context.Context, string) error { return nil }

// Publish keeps a message sent to a topic, unless the topic saw its
// MessageId within DuplicateWindow.
func (b *Bus) Publish(_ context.Context, topic string, m goldenpipe.OutMessage) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.duplicate(topic, m.ID) {
		return nil
	}
	list := append(b.topics[topic], m)
	if len(list) > b.MaxTopicMessages {
		list = list[len(list)-b.MaxTopicMessages:]
	}
	b.topics[topic] = list
	return nil
}

// Topic returns what was published to a topic, oldest first.
func (b *Bus) Topic(topic string) []goldenpipe.OutMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]goldenpipe.OutMessage(nil), b.topics[topic]...)
}

// DeadLetters returns the messages given up on.
func (b *Bus) DeadLetters() []DeadLetter {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]DeadLetter(nil), b.dead...)
}

// Drain waits until every message sent so far was delivered or dead-lettered.
func (b *Bus) Drain(ctx context.Context) error {
	done := make(chan struct{})
	go func() { b.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting messages and waits for deliveries under way.
func (b *Bus) Close(ctx context.Context) error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return b.Drain(ctx)
}
