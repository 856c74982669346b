package host

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestUnquoteString(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{`"hello"`, "hello", ""},
		{`"\"hello\""`, "hello", ""},
		{`"\"\\\"hello\\\"\""`, "hello", ""},
		{`""`, "", ""},
		{`"\""`, `"`, ""},                        // a lone quote is not a quoted string
		{`"\"a\" and \"b\""`, `"a" and "b"`, ""}, // not one JSON string: kept
		{`42`, "", "expected a JSON string, got a number"},
		{`{}`, "", "expected a JSON string, got an object"},
		{`"unterminated`, "", "decode string"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := UnquoteString(json.RawMessage(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("= %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestMalformedPayloads(t *testing.T) {
	tests := []struct {
		name   string
		decode func() error
		want   string
	}{
		{"timer array", func() error { _, err := DecodeTimer(json.RawMessage(`[1]`)); return err }, "expected a JSON object, got an array"},
		{"timer null", func() error { _, err := DecodeTimer(json.RawMessage(`null`)); return err }, "expected a JSON object, got null"},
		{"timer bad time", func() error {
			_, err := DecodeTimer(json.RawMessage(`{"ScheduleStatus":{"Last":"yesterday"}}`))
			return err
		}, `expected a timestamp, got "yesterday"`},
		{"event without id", func() error {
			_, err := DecodeEventGrid(json.RawMessage(`{"subject":"/x","eventType":"t"}`))
			return err
		}, "event has no id"},
		{"event without anything", func() error { _, err := DecodeEventGrid(json.RawMessage(`{}`)); return err }, "event has no id, eventType, subject"},
		{"event number", func() error { _, err := DecodeEventGrid(json.RawMessage(`7`)); return err }, "got a number"},
		{"event wrong field type", func() error {
			_, err := DecodeEventGrid(json.RawMessage(`{"id":1,"subject":"/x","eventType":"t"}`))
			return err
		}, "event grid trigger"},
		{"blob data not object", func() error { _, err := DecodeStorageBlobEventData(json.RawMessage(`"x"`)); return err }, "expected a JSON object"},
		{"blob data bad length", func() error {
			_, err := DecodeStorageBlobEventData(json.RawMessage(`{"contentLength":"lots"}`))
			return err
		}, `expected an integer, got "lots"`},
		{"service bus no body", func() error { _, err := DecodeServiceBus(nil, nil); return err }, "the message has no body"},
		{"service bus bad delivery count", func() error {
			_, err := DecodeServiceBus(json.RawMessage(`"x"`), map[string]json.RawMessage{"DeliveryCount": json.RawMessage(`"\"many\""`)})
			return err
		}, `expected an integer, got "many"`},
		{"service bus properties array", func() error {
			_, err := DecodeServiceBus(json.RawMessage(`"x"`), map[string]json.RawMessage{"ApplicationProperties": json.RawMessage(`[1]`)})
			return err
		}, "ApplicationProperties"},
		{"http without method", func() error { _, err := DecodeHTTPRequest(json.RawMessage(`{"Url":"http://x/api/a"}`)); return err }, "no Method or Url"},
		{"http bad base64", func() error {
			r, err := DecodeHTTPRequest(json.RawMessage(`{"Url":"http://x/api/a","Method":"POST","Headers":{"Content-Type":["application/octet-stream"]},"Body":"%%%"}`))
			if err != nil {
				return err
			}
			_, err = r.BodyBytes()
			return err
		}, "body is not base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.decode()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestIntAcceptsNumbersAndStrings(t *testing.T) {
	for in, want := range map[string]int64{`1`: 1, `"1"`: 1, `"\"12\""`: 12, `null`: 0, `-3`: -3} {
		var n Int
		if err := json.Unmarshal([]byte(in), &n); err != nil || int64(n) != want {
			t.Errorf("%s → %d, %v; want %d", in, n, err, want)
		}
	}
}
