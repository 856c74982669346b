package host

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// seedFixtures adds every fixture's binding values to a fuzz corpus.
func seedFixtures(f *testing.F, trigger, binding string) {
	paths, _ := filepath.Glob(filepath.Join("..", "testdata", trigger, "*.json"))
	if len(paths) == 0 {
		f.Fatalf("no fixtures for %s", trigger)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		var env envelope
		if err := json.Unmarshal(b, &env); err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(env.Data[binding]))
	}
}

func FuzzDecodeTimer(f *testing.F) {
	seedFixtures(f, "timer", "timer")
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = DecodeTimer(b)
	})
}

func FuzzDecodeEventGrid(f *testing.F) {
	seedFixtures(f, "eventgrid", "event")
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := DecodeEventGrid(b)
		if err != nil {
			return
		}
		if ev.ID == "" || ev.EventType == "" || ev.Subject == "" {
			t.Fatalf("accepted an event without id/type/subject: %+v", ev)
		}
		_, _ = DecodeStorageBlobEventData(ev.Data)
	})
}

func FuzzDecodeServiceBus(f *testing.F) {
	seedFixtures(f, "servicebus", "message")
	f.Add([]byte(`"\"\\\"x\\\"\""`))
	f.Fuzz(func(t *testing.T, b []byte) {
		md := map[string]json.RawMessage{"DeliveryCount": json.RawMessage(`"2"`)}
		m, err := DecodeServiceBus(b, md)
		if err == nil && m.DeliveryCount != 2 {
			t.Fatalf("DeliveryCount = %d", m.DeliveryCount)
		}
	})
}

func FuzzDecodeHTTPRequest(f *testing.F) {
	seedFixtures(f, "http", "req")
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeHTTPRequest(b)
		if err == nil {
			_, _ = r.BodyBytes()
		}
	})
}

func FuzzUnquoteString(f *testing.F) {
	for _, s := range []string{`"a"`, `"\"a\""`, `""`, `"\"\""`, `"\\"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := UnquoteString(b)
		if err != nil {
			return
		}
		// a result that is still one quoted JSON string was unquoted maxUnquote times
		if isQuoted(s) {
			var inner string
			if json.Unmarshal([]byte(s), &inner) == nil {
				// allowed only after maxUnquote layers
				depth := 0
				cur := string(b)
				for json.Unmarshal([]byte(cur), &inner) == nil {
					depth++
					cur = inner
				}
				if depth <= maxUnquote {
					t.Fatalf("%q left quoted after %d layers", s, depth)
				}
			}
		}
	})
}
