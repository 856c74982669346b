package builds

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

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

// CloudEvent is a lifecycle event: a CloudEvents 1.0 event with EventData.
type CloudEvent = goldenpipe.Event[EventData]

// EventData is what a lifecycle event says of its build.
type EventData struct {
	BuildID       string                 `json:"buildId"`
	Template      string                 `json:"template"`
	State         State                  `json:"state"`
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
	ev := goldenpipe.NewEvent(b.ID+"/"+kind, s.EventSource, types[kind], b.Template, at,
		EventData{BuildID: b.ID, Template: b.Template, State: b.State, Reason: b.Reason, Fingerprint: b.Fingerprint,
			SourceVersion: b.SourceVersion, AIBTemplateID: b.AIBID, Outputs: b.Outputs, Error: b.Error, CorrelationID: b.CorrelationID, VHD: vhd})
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
