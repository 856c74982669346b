package build

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

// Lifecycle event types (CloudEvents "type"), published to the events topic.
const (
	EventRequested = "com.goldenpipe.build.requested"
	EventStarted   = "com.goldenpipe.build.started"
	EventSucceeded = "com.goldenpipe.build.succeeded"
	EventFailed    = "com.goldenpipe.build.failed"
	EventCanceled  = "com.goldenpipe.build.canceled"
	EventVHDCopied = "com.goldenpipe.vhd.copied"
	EventVHDFailed = "com.goldenpipe.vhd.rescue_failed"
)

// armCallBudget bounds background work started outside an invocation.
const armCallBudget = 2 * time.Minute

// CloudEvent is a CloudEvents 1.0 event in the JSON format.
type CloudEvent struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	Subject         string    `json:"subject"`
	Time            time.Time `json:"time"`
	DataContentType string    `json:"datacontenttype"`
	Data            EventData `json:"data"`
}

// EventData is what a lifecycle event says of its build.
type EventData struct {
	BuildID       string                 `json:"buildId"`
	Template      string                 `json:"template"`
	State         string                 `json:"state"`
	Reason        string                 `json:"reason,omitempty"`
	Fingerprint   string                 `json:"fingerprint"`
	SourceVersion string                 `json:"sourceVersion"`
	AIBTemplateID string                 `json:"aibTemplateId,omitempty"`
	Outputs       []goldenpipe.RunOutput `json:"outputs,omitempty"`
	Error         string                 `json:"error,omitempty"`
	CorrelationID string                 `json:"correlationId,omitempty"`
	// VHD is set on vhd.* events: the rescue of one output (no SAS).
	VHD *VHDCopy `json:"vhd,omitempty"`
}

// pendingEvents lists the events a build has reached but not published.
func (s *Service) pendingEvents(b *Build) []string {
	var evs []string
	evs = append(evs, "requested")
	if !b.StartedAt.IsZero() {
		evs = append(evs, "started")
	}
	for _, c := range b.Rescue {
		if c.State == CopyVerified {
			evs = append(evs, "vhd.copied:"+c.RunOutputName)
		}
	}
	switch b.State {
	case StateRescueFailed:
		evs = append(evs, "vhd.rescue_failed", "failed")
	case StateSucceeded, StatePartiallySucceeded:
		evs = append(evs, "succeeded")
	case StateFailed, StateTimedOut:
		evs = append(evs, "failed")
	case StateCanceled, StateSuperseded:
		evs = append(evs, "canceled")
	}
	var out []string
	for _, e := range evs {
		if !b.did("event:" + e) {
			out = append(out, e)
		}
	}
	return out
}

// publishPending publishes the events a build in flight has reached, then
// records that they were (at least once: consumers de-duplicate on id).
func (s *Service) publishPending(ctx context.Context, b *Build, etag string) (string, error) {
	pending := s.pendingEvents(b)
	if len(pending) == 0 {
		return etag, nil
	}
	for _, ev := range pending {
		if err := s.publish(ctx, b, ev); err != nil {
			return etag, err
		}
		b.mark("event:" + ev)
	}
	return s.Docs.Put(ctx, buildKey(b.ID), b, etag)
}

func (s *Service) publish(ctx context.Context, b *Build, kind string) error {
	types := map[string]string{"requested": EventRequested, "started": EventStarted, "succeeded": EventSucceeded,
		"failed": EventFailed, "canceled": EventCanceled, "vhd.rescue_failed": EventVHDFailed}
	var vhd *VHDCopy
	if name, ok := strings.CutPrefix(kind, "vhd.copied:"); ok {
		types[kind] = EventVHDCopied
		for i := range b.Rescue {
			if b.Rescue[i].RunOutputName == name {
				vhd = &b.Rescue[i]
			}
		}
	}
	at := s.now()
	for _, h := range b.History {
		at = h.At // the latest transition is when it happened
	}
	ev := CloudEvent{SpecVersion: "1.0", ID: b.ID + "/" + kind, Source: s.EventSource, Type: types[kind], Subject: b.Template,
		Time: at, DataContentType: "application/json",
		Data: EventData{BuildID: b.ID, Template: b.Template, State: b.State, Reason: b.Reason, Fingerprint: b.Fingerprint,
			SourceVersion: b.SourceVersion, AIBTemplateID: b.AIBID, Outputs: b.Outputs, Error: b.Error, CorrelationID: b.CorrelationID, VHD: vhd}}
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	if err := s.Bus.Publish(ctx, s.Topic, goldenpipe.OutMessage{ID: ev.ID, Body: body,
		ContentType: "application/cloudevents+json; charset=utf-8", CorrelationID: b.CorrelationID, Subject: ev.Type}); err != nil {
		return fmt.Errorf("publishing %s of build %s: %w", kind, b.ID, err)
	}
	return nil
}
