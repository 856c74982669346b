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
	"runtime"
	"strconv"
	"strings"
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
// in the exact payload shape the Functions host uses, as one host instance
// does: at most MaxConcurrentCalls at once (the rest wait in the queue, in
// order), each under a lock the host renews for MaxAutoLockRenewal; a
// delivery still running when its lock is lost is delivered again
// (DeliveryCount+1) while the first goes on, and the first's answer no
// longer settles the message; an invocation runs at most FunctionTimeout.
// A non-2xx answer abandons the message, which is delivered again until
// MaxDeliveryCount, then dead-lettered. Messages published to a topic are
// kept (the newest MaxTopicMessages) for whoever reads them. On queues and
// topics alike, a MessageId seen within DuplicateWindow is dropped, as
// Service Bus duplicate detection does: deploy/main.bicep turns it on for
// the build queue and the events topic (requiresDuplicateDetection), so a
// lifecycle event published again by a retried or racing step reaches
// subscribers once.
//
// Sources: the Service Bus trigger's host.json settings
// (https://learn.microsoft.com/azure/azure-functions/functions-bindings-service-bus#hostjson-settings:
// maxConcurrentCalls, default 16 × the processors, per instance;
// maxAutoLockRenewalDuration, default 00:05:00), ServiceBusProcessorOptions
// (https://learn.microsoft.com/dotnet/api/azure.messaging.servicebus.servicebusprocessoroptions:
// MaxConcurrentCalls is the handler calls at once; the lock is renewed up to
// MaxAutoLockRenewalDuration), message locks
// (https://learn.microsoft.com/azure/service-bus-messaging/message-transfers-locks-settle#peeklock:
// a lock that expires makes the message available again, its delivery count
// raised, and the first receiver can no longer settle it), and
// functionTimeout (https://learn.microsoft.com/azure/azure-functions/functions-host-json#functiontimeout).
type Bus struct {
	// Routes maps a queue to the function it triggers and the binding name.
	Routes           map[string]Route
	MaxDeliveryCount int
	DuplicateWindow  time.Duration
	MaxTopicMessages int
	// Retry is the delay before a redelivery.
	Retry time.Duration
	// MaxConcurrentCalls bounds the deliveries under way at once (host.json
	// extensions.serviceBus.maxConcurrentCalls); 0 is the host's default,
	// 16 × GOMAXPROCS.
	MaxConcurrentCalls int
	// LockDuration is the queue's message lock (deploy/main.bicep: PT5M;
	// Service Bus's default 1 minute); MaxAutoLockRenewal how long the host
	// renews it (host.json maxAutoLockRenewalDuration). A delivery running
	// past the later of the two has lost its lock. 0: never lost.
	LockDuration       time.Duration
	MaxAutoLockRenewal time.Duration
	// FunctionTimeout ends an invocation (its request's context is
	// canceled; host.json functionTimeout). 0: none.
	FunctionTimeout time.Duration

	mu       sync.Mutex
	handler  http.Handler
	seen     map[string]time.Time
	swept    int // how many ids were remembered after the last sweep
	topics   map[string][]goldenpipe.OutMessage
	dead     []DeadLetter
	inflight sync.WaitGroup
	seq      int64
	closed   bool
	pending  []delivery // waiting for a call, oldest first
	running  int        // calls under way
	peak     int        // the most calls under way at once
}

// delivery is one delivery of a queue's message.
type delivery struct {
	queue    string
	route    Route
	m        goldenpipe.OutMessage
	attempt  int
	enqueued time.Time
	seq      int64
}

// Route is the function a queue triggers.
type Route struct {
	Function string
	Binding  string
}

// NewBus returns a bus with Service Bus's defaults.
func NewBus(routes map[string]Route) *Bus {
	return &Bus{Routes: routes, MaxDeliveryCount: 10, DuplicateWindow: 10 * time.Minute, MaxTopicMessages: 1000,
		Retry: 100 * time.Millisecond, LockDuration: time.Minute, MaxAutoLockRenewal: 5 * time.Minute,
		seen: map[string]time.Time{}, topics: map[string][]goldenpipe.OutMessage{}}
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
	b.inflight.Add(1) // until the message is settled: completed or dead-lettered
	b.pending = append(b.pending, delivery{queue: queue, route: route, m: m, attempt: 1, enqueued: time.Now().UTC(), seq: b.seq})
	b.pump()
	return nil
}

func (b *Bus) maxCalls() int {
	if b.MaxConcurrentCalls > 0 {
		return b.MaxConcurrentCalls
	}
	return 16 * runtime.GOMAXPROCS(0)
}

// pump starts the waiting deliveries the free calls allow. Callers hold b.mu.
func (b *Bus) pump() {
	for b.running < b.maxCalls() && len(b.pending) > 0 {
		d := b.pending[0]
		b.pending[0] = delivery{}
		b.pending = b.pending[1:]
		b.running++
		b.peak = max(b.peak, b.running)
		go b.deliver(d)
	}
}

// requeue makes a message available again (abandoned, or its lock lost):
// it is delivered again, or dead-lettered past MaxDeliveryCount.
func (b *Bus) requeue(d delivery, reason string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if d.attempt >= b.MaxDeliveryCount {
		b.dead = append(b.dead, DeadLetter{Queue: d.queue, Message: d.m, Reason: "MaxDeliveryCountExceeded: " + reason})
		b.inflight.Done()
		return
	}
	d.attempt++
	b.pending = append(b.pending, d)
	b.pump()
}

func (b *Bus) deliver(dl delivery) {
	defer func() {
		b.mu.Lock()
		b.running--
		b.pump()
		b.mu.Unlock()
	}()
	b.mu.Lock()
	h := b.handler
	b.mu.Unlock()
	var lock *time.Timer
	if d := max(b.LockDuration, b.MaxAutoLockRenewal); d > 0 {
		lock = time.AfterFunc(d, func() {
			// the lock is lost: the message is another receiver's now
			b.requeue(dl, fmt.Sprintf("the lock was lost after %s", d))
		})
	}
	status := http.StatusServiceUnavailable
	if h != nil {
		status = b.invoke(h, dl.route, dl.m, dl.attempt, dl.enqueued, dl.seq)
	}
	if lock != nil && !lock.Stop() {
		return // settling fails with MessageLockLost; the redelivery settles it
	}
	if status >= 200 && status < 300 {
		b.inflight.Done()
		return
	}
	reason := fmt.Sprintf("last answer %d", status)
	if b.Retry > 0 {
		time.AfterFunc(b.Retry, func() { b.requeue(dl, reason) })
		return
	}
	b.requeue(dl, reason)
}

// PeakCalls is the most deliveries that were under way at once.
func (b *Bus) PeakCalls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.peak
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
	if b.FunctionTimeout > 0 {
		ctx, cancel := context.WithTimeout(req.Context(), b.FunctionTimeout)
		defer cancel()
		req = req.WithContext(ctx)
	}
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

// HostLimits are the host.json settings a Service Bus trigger runs under
// on one host instance.
type HostLimits struct {
	MaxConcurrentCalls int           // extensions.serviceBus.maxConcurrentCalls (0: the default)
	MaxAutoLockRenewal time.Duration // extensions.serviceBus.maxAutoLockRenewalDuration (0: the default)
	FunctionTimeout    time.Duration // functionTimeout (0: none given)
}

// ReadHostLimits reads the limits from a host.json (version 2.0); a
// setting that is absent keeps its zero value, a malformed one is an error.
func ReadHostLimits(hostJSON []byte) (HostLimits, error) {
	var h struct {
		FunctionTimeout string `json:"functionTimeout"`
		Extensions      struct {
			ServiceBus struct {
				MaxConcurrentCalls         int    `json:"maxConcurrentCalls"`
				MaxAutoLockRenewalDuration string `json:"maxAutoLockRenewalDuration"`
			} `json:"serviceBus"`
		} `json:"extensions"`
	}
	var l HostLimits
	if err := json.Unmarshal(hostJSON, &h); err != nil {
		return l, fmt.Errorf("host.json: %w", err)
	}
	var err error
	if l.FunctionTimeout, err = timeSpan(h.FunctionTimeout); err != nil {
		return l, fmt.Errorf("host.json functionTimeout: %w", err)
	}
	sb := h.Extensions.ServiceBus
	if l.MaxAutoLockRenewal, err = timeSpan(sb.MaxAutoLockRenewalDuration); err != nil {
		return l, fmt.Errorf("host.json extensions.serviceBus.maxAutoLockRenewalDuration: %w", err)
	}
	if sb.MaxConcurrentCalls < 0 {
		return l, fmt.Errorf("host.json extensions.serviceBus.maxConcurrentCalls is %d, not a positive number", sb.MaxConcurrentCalls)
	}
	l.MaxConcurrentCalls = sb.MaxConcurrentCalls
	return l, nil
}

// Apply sets the bus's limits from l (an unset limit keeps the bus's).
func (b *Bus) Apply(l HostLimits) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if l.MaxConcurrentCalls > 0 {
		b.MaxConcurrentCalls = l.MaxConcurrentCalls
	}
	if l.MaxAutoLockRenewal > 0 {
		b.MaxAutoLockRenewal = l.MaxAutoLockRenewal
	}
	if l.FunctionTimeout > 0 {
		b.FunctionTimeout = l.FunctionTimeout
	}
}

// timeSpan reads a .NET TimeSpan as host.json writes it: [d.]hh:mm:ss[.fffffff]
// ("" is zero).
func timeSpan(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	days := 0
	rest := s
	if i := strings.IndexByte(rest, '.'); i >= 0 && i < strings.IndexByte(rest, ':') {
		d, err := strconv.Atoi(rest[:i])
		if err != nil {
			return 0, fmt.Errorf("%q is not a time span (hh:mm:ss)", s)
		}
		days, rest = d, rest[i+1:]
	}
	parts := strings.Split(rest, ":")
	if len(parts) != 3 {
		return 0, fmt.Errorf("%q is not a time span (hh:mm:ss)", s)
	}
	h, err1 := strconv.Atoi(parts[0])
	m, err2 := strconv.Atoi(parts[1])
	sec, err3 := strconv.ParseFloat(parts[2], 64)
	if err1 != nil || err2 != nil || err3 != nil || h < 0 || m < 0 || m > 59 || sec < 0 || sec >= 60 || days < 0 {
		return 0, fmt.Errorf("%q is not a time span (hh:mm:ss)", s)
	}
	return time.Duration(days)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute +
		time.Duration(sec*float64(time.Second)), nil
}
