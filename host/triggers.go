package host

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// TimerInfo is a timerTrigger's value.
type TimerInfo struct {
	Schedule struct {
		AdjustForDST bool `json:"AdjustForDST"`
	} `json:"Schedule"`
	// ScheduleStatus is nil when the host has no schedule monitor record (it
	// sends null, e.g. on the first run or with useMonitor false).
	ScheduleStatus *ScheduleStatus `json:"ScheduleStatus"`
	IsPastDue      bool            `json:"IsPastDue"`
}

// ScheduleStatus is the timer's last and next occurrences.
type ScheduleStatus struct {
	Last        Time `json:"Last"`
	Next        Time `json:"Next"`
	LastUpdated Time `json:"LastUpdated"`
}

// DecodeTimer decodes a timerTrigger value.
func DecodeTimer(raw json.RawMessage) (TimerInfo, error) {
	var t TimerInfo
	if err := DecodeObject(raw, &t); err != nil {
		return TimerInfo{}, fmt.Errorf("timer trigger: %w", err)
	}
	return t, nil
}

// EventGridEvent is an eventGridTrigger's value in the Event Grid schema.
// Events in the CloudEvents 1.0 schema are mapped onto the same fields.
type EventGridEvent struct {
	ID              string          `json:"id"`
	Topic           string          `json:"topic"`
	Subject         string          `json:"subject"`
	EventType       string          `json:"eventType"`
	EventTime       Time            `json:"eventTime"`
	Data            json.RawMessage `json:"data"`
	DataVersion     string          `json:"dataVersion"`
	MetadataVersion string          `json:"metadataVersion"`
}

type cloudEvent struct {
	SpecVersion string          `json:"specversion"`
	ID          string          `json:"id"`
	Source      string          `json:"source"`
	Subject     string          `json:"subject"`
	Type        string          `json:"type"`
	Time        Time            `json:"time"`
	Data        json.RawMessage `json:"data"`
}

// DecodeEventGrid decodes an eventGridTrigger value. It checks only the
// envelope (id, subject, eventType present); the data is decoded by the
// consumer that knows its type.
func DecodeEventGrid(raw json.RawMessage) (EventGridEvent, error) {
	body, err := objectBytes(raw)
	if err != nil {
		return EventGridEvent{}, fmt.Errorf("event grid trigger: %w", err)
	}
	var probe struct {
		SpecVersion *string `json:"specversion"`
	}
	_ = json.Unmarshal(body, &probe)
	var ev EventGridEvent
	if probe.SpecVersion != nil {
		var ce cloudEvent
		if err := json.Unmarshal(body, &ce); err != nil {
			return EventGridEvent{}, fmt.Errorf("event grid trigger (CloudEvents schema): %w", err)
		}
		ev = EventGridEvent{ID: ce.ID, Topic: ce.Source, Subject: ce.Subject, EventType: ce.Type,
			EventTime: ce.Time, Data: ce.Data, DataVersion: "", MetadataVersion: ""}
	} else if err := json.Unmarshal(body, &ev); err != nil {
		return EventGridEvent{}, fmt.Errorf("event grid trigger: %w", err)
	}
	var missing []string
	if ev.ID == "" {
		missing = append(missing, "id")
	}
	if ev.EventType == "" {
		missing = append(missing, "eventType")
	}
	if ev.Subject == "" {
		missing = append(missing, "subject")
	}
	if len(missing) > 0 {
		return EventGridEvent{}, fmt.Errorf("event grid trigger: event has no %s", strings.Join(missing, ", "))
	}
	// data may itself arrive as a string holding JSON.
	if d := bytes.TrimSpace(ev.Data); len(d) > 0 && d[0] == '"' {
		if b, err := objectBytes(d); err == nil {
			ev.Data = b
		}
	}
	return ev, nil
}

// StorageBlobEventData is the data of Microsoft.Storage.BlobCreated and
// BlobDeleted events.
type StorageBlobEventData struct {
	API             string `json:"api"`
	ClientRequestID string `json:"clientRequestId"`
	RequestID       string `json:"requestId"`
	ETag            string `json:"eTag"`
	ContentType     string `json:"contentType"`
	ContentLength   Int    `json:"contentLength"`
	BlobType        string `json:"blobType"`
	URL             string `json:"url"`
	Sequencer       string `json:"sequencer"`
}

// DecodeStorageBlobEventData decodes a blob event's data.
func DecodeStorageBlobEventData(raw json.RawMessage) (StorageBlobEventData, error) {
	var d StorageBlobEventData
	if err := DecodeObject(raw, &d); err != nil {
		return StorageBlobEventData{}, fmt.Errorf("blob event data: %w", err)
	}
	return d, nil
}

// ServiceBusMessage is a serviceBusTrigger's message: its body and the
// metadata the host sends beside it.
type ServiceBusMessage struct {
	// Body is the message body: the string's bytes when the host sent a
	// string, or the JSON text when it sent an object.
	Body                  []byte
	MessageID             string
	DeliveryCount         int
	EnqueuedTime          Time
	ExpiresAt             Time
	SequenceNumber        int64
	CorrelationID         string
	ContentType           string
	Subject               string
	SessionID             string
	ApplicationProperties map[string]json.RawMessage
}

type serviceBusMetadata struct {
	MessageID             String          `json:"MessageId"`
	DeliveryCount         Int             `json:"DeliveryCount"`
	EnqueuedTimeUtc       Time            `json:"EnqueuedTimeUtc"`
	ExpiresAtUtc          Time            `json:"ExpiresAtUtc"`
	SequenceNumber        Int             `json:"SequenceNumber"`
	CorrelationID         String          `json:"CorrelationId"`
	ContentType           String          `json:"ContentType"`
	Subject               String          `json:"Subject"`
	Label                 String          `json:"Label"`
	SessionID             String          `json:"SessionId"`
	ApplicationProperties json.RawMessage `json:"ApplicationProperties"`
	UserProperties        json.RawMessage `json:"UserProperties"`
}

// DecodeServiceBus decodes a serviceBusTrigger value and its metadata.
func DecodeServiceBus(data json.RawMessage, metadata map[string]json.RawMessage) (ServiceBusMessage, error) {
	var m ServiceBusMessage
	data = bytes.TrimSpace(data)
	switch {
	case len(data) == 0 || string(data) == "null":
		return m, fmt.Errorf("service bus trigger: the message has no body")
	case data[0] == '"':
		s, err := UnquoteString(data)
		if err != nil {
			return m, fmt.Errorf("service bus trigger: body: %w", err)
		}
		m.Body = []byte(s)
	case data[0] == '{' || data[0] == '[':
		if !json.Valid(data) {
			return m, fmt.Errorf("service bus trigger: body is not valid JSON")
		}
		m.Body = append([]byte(nil), data...)
	default:
		m.Body = append([]byte(nil), data...)
	}
	md, err := json.Marshal(metadata)
	if err != nil {
		return m, fmt.Errorf("service bus trigger: metadata: %w", err)
	}
	var meta serviceBusMetadata
	if err := json.Unmarshal(md, &meta); err != nil {
		return m, fmt.Errorf("service bus trigger: metadata: %w", err)
	}
	m.MessageID = string(meta.MessageID)
	m.DeliveryCount = int(meta.DeliveryCount)
	m.EnqueuedTime, m.ExpiresAt = meta.EnqueuedTimeUtc, meta.ExpiresAtUtc
	m.SequenceNumber = int64(meta.SequenceNumber)
	m.CorrelationID, m.ContentType, m.SessionID = string(meta.CorrelationID), string(meta.ContentType), string(meta.SessionID)
	m.Subject = string(meta.Subject)
	if m.Subject == "" {
		m.Subject = string(meta.Label)
	}
	props := meta.ApplicationProperties
	if len(bytes.TrimSpace(props)) == 0 || string(bytes.TrimSpace(props)) == "null" {
		props = meta.UserProperties
	}
	if p := bytes.TrimSpace(props); len(p) > 0 && string(p) != "null" {
		if err := DecodeObject(p, &m.ApplicationProperties); err != nil {
			return m, fmt.Errorf("service bus trigger: ApplicationProperties: %w", err)
		}
	}
	return m, nil
}

// HTTPRequestData is an httpTrigger's value when the request is not
// forwarded: the host wraps it like every other trigger.
type HTTPRequestData struct {
	URL        string              `json:"Url"`
	Method     string              `json:"Method"`
	Query      map[string]String   `json:"Query"`
	Headers    map[string][]string `json:"Headers"`
	Params     map[string]String   `json:"Params"`
	Body       *String             `json:"Body"`
	Identities json.RawMessage     `json:"Identities"`
}

// DecodeHTTPRequest decodes a wrapped httpTrigger value.
func DecodeHTTPRequest(raw json.RawMessage) (HTTPRequestData, error) {
	var r HTTPRequestData
	if err := DecodeObject(raw, &r); err != nil {
		return HTTPRequestData{}, fmt.Errorf("http trigger: %w", err)
	}
	if r.Method == "" || r.URL == "" {
		return HTTPRequestData{}, fmt.Errorf("http trigger: request has no Method or Url")
	}
	return r, nil
}

// BodyBytes returns the request body. The host sends octet-stream and
// multipart bodies base64-encoded; contentType decides.
func (r HTTPRequestData) BodyBytes() ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	s := string(*r.Body)
	ct := ""
	for k, v := range r.Headers {
		if strings.EqualFold(k, "Content-Type") && len(v) > 0 {
			ct = strings.ToLower(v[0])
		}
	}
	if strings.HasPrefix(ct, "application/octet-stream") || strings.HasPrefix(ct, "multipart/") {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("http trigger: body is not base64: %w", err)
		}
		return b, nil
	}
	return []byte(s), nil
}

// RetryContext is present in Metadata when a retry policy is active.
type RetryContext struct {
	RetryCount    Int             `json:"RetryCount"`
	MaxRetryCount Int             `json:"MaxRetryCount"`
	Exception     json.RawMessage `json:"Exception"`
}
