// Package host speaks the Azure Functions custom-handler wire protocol: it
// decodes the invocation envelopes the Functions host POSTs to the handler
// into typed values, and encodes the {Outputs, Logs, ReturnValue} answers.
//
// The host double-encodes strings ("\"hello\""), sends numbers as strings
// (DeliveryCount "1"), and sends null for absent objects (ScheduleStatus);
// every decoder here accepts all the shapes the host is known to send.
package host

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// maxUnquote bounds how many layers of string encoding are peeled off.
const maxUnquote = 4

// UnquoteString decodes a JSON string value, unquoting again while the result
// is itself a quoted JSON string (the host encodes strings twice).
func UnquoteString(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return "", fmt.Errorf("expected a JSON string, got %s", describeJSON(raw))
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("decode string: %w", err)
	}
	for i := 0; i < maxUnquote && isQuoted(s); i++ {
		var inner string
		if json.Unmarshal([]byte(s), &inner) != nil {
			break
		}
		s = inner
	}
	return s, nil
}

func isQuoted(s string) bool {
	return len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"'
}

// DecodeObject decodes a JSON object into v. The object may arrive as an
// object or as a (possibly double-encoded) string holding the object's JSON.
func DecodeObject(raw json.RawMessage, v any) error {
	body, err := objectBytes(raw)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode object: %w", err)
	}
	return nil
}

// objectBytes returns the JSON text of an object sent as an object or as a
// string holding it.
func objectBytes(raw json.RawMessage) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		s, err := UnquoteString(raw)
		if err != nil {
			return nil, err
		}
		raw = bytes.TrimSpace([]byte(s))
	}
	if len(raw) == 0 || raw[0] != '{' {
		return nil, fmt.Errorf("expected a JSON object, got %s", describeJSON(raw))
	}
	return raw, nil
}

// describeJSON names the kind of a JSON value for error messages without
// echoing its content.
func describeJSON(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}

// String is a string metadata value that may arrive double-encoded, or as a
// number or boolean; null decodes to "".
type String string

// UnmarshalJSON implements json.Unmarshaler.
func (s *String) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*s = ""
	case b[0] == '"':
		v, err := UnquoteString(b)
		if err != nil {
			return err
		}
		*s = String(v)
	case b[0] == '{' || b[0] == '[':
		return fmt.Errorf("expected a string, got %s", describeJSON(b))
	default:
		*s = String(b)
	}
	return nil
}

// Int is an integer that may arrive as a number or as a (double-encoded)
// string such as "1"; null decodes to 0.
type Int int64

// UnmarshalJSON implements json.Unmarshaler.
func (n *Int) UnmarshalJSON(b []byte) error {
	var s String
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	if s == "" {
		*n = 0
		return nil
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(s)), 10, 64)
	if err != nil {
		return fmt.Errorf("expected an integer, got %q", truncate(string(s), 40))
	}
	*n = Int(v)
	return nil
}

// Time is a timestamp that may arrive double-encoded, with or without a zone
// (the host writes DateTime values without one; those are UTC).
type Time struct{ time.Time }

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.9999999",
	"2006-01-02T15:04:05.9999999Z07:00",
	"2006-01-02 15:04:05Z",
	"1/2/2006 3:04:05 PM", // en-US, as DateTime.ToString() writes it
	"1/2/2006 15:04:05",
	"2/1/2006 15:04:05",   // en-GB and others, day first
	"02.01.2006 15:04:05", // de-DE
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(b []byte) error {
	var s String
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	if s == "" {
		t.Time = time.Time{}
		return nil
	}
	for _, layout := range timeLayouts {
		if v, err := time.Parse(layout, string(s)); err == nil {
			t.Time = v.UTC()
			return nil
		}
	}
	return fmt.Errorf("expected a timestamp, got %q", truncate(string(s), 40))
}

// MarshalJSON writes the time in RFC 3339, or null when zero.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.Time.Format(time.RFC3339Nano))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
