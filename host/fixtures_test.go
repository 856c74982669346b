package host

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

type envelope struct {
	Data     map[string]json.RawMessage `json:"Data"`
	Metadata map[string]json.RawMessage `json:"Metadata"`
}

func fixture(t testing.TB, trigger, name string) envelope {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", trigger, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("%s/%s: %v", trigger, name, err)
	}
	return env
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestTimerFixtures(t *testing.T) {
	tests := []struct {
		name     string
		pastDue  bool
		dst      bool
		hasState bool
		last     time.Time
		next     time.Time
		utcNow   time.Time
	}{
		// as the host sends them: plain sys strings, DateTimes without a zone
		{"normal", false, true, true, mustTime("2024-12-09T02:00:00Z"), mustTime("2024-12-11T02:00:00Z"), mustTime("2024-12-10T02:00:00Z")},
		{"schedule-status-null", false, true, false, time.Time{}, time.Time{}, mustTime("2024-12-10T02:00:00Z")},
		{"past-due", true, false, true, mustTime("0001-01-01T00:00:00Z"), mustTime("2024-12-10T02:02:00Z"), mustTime("2024-12-10T02:00:00Z")},
		{"retry-context", false, true, false, time.Time{}, time.Time{}, mustTime("2024-12-10T02:00:00Z")},
		{"culture-datetime", false, true, true, mustTime("2024-12-09T02:00:00Z"), mustTime("2024-12-11T02:00:00Z"), mustTime("2024-12-10T02:00:00Z")},
		// tolerated: what older hosts and hand-written payloads do
		{"tolerated/double-encoded-sys", false, true, true, mustTime("2024-12-09T02:00:00Z"), mustTime("2024-12-11T02:00:00Z"), mustTime("2024-12-10T02:00:00.0012345Z")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := fixture(t, "timer", tt.name)
			got, err := DecodeTimer(env.Data["timer"])
			if err != nil {
				t.Fatal(err)
			}
			if got.IsPastDue != tt.pastDue || got.Schedule.AdjustForDST != tt.dst {
				t.Errorf("IsPastDue=%v AdjustForDST=%v, want %v %v", got.IsPastDue, got.Schedule.AdjustForDST, tt.pastDue, tt.dst)
			}
			if (got.ScheduleStatus != nil) != tt.hasState {
				t.Fatalf("ScheduleStatus = %+v, want present=%v", got.ScheduleStatus, tt.hasState)
			}
			if got.ScheduleStatus != nil {
				if !got.ScheduleStatus.Last.Equal(tt.last) || !got.ScheduleStatus.Next.Equal(tt.next) {
					t.Errorf("Last/Next = %v/%v, want %v/%v", got.ScheduleStatus.Last, got.ScheduleStatus.Next, tt.last, tt.next)
				}
			}
			inv := &Invocation{Metadata: env.Metadata}
			sys, err := inv.Sys()
			if err != nil {
				t.Fatal(err)
			}
			if !sys.UtcNow.Equal(tt.utcNow) || sys.MethodName != "NightlyRebuild" {
				t.Errorf("sys = %+v, want UtcNow %v", sys, tt.utcNow)
			}
		})
	}
	t.Run("retry context", func(t *testing.T) {
		env := fixture(t, "timer", "retry-context")
		var rc RetryContext
		if err := DecodeObject(env.Metadata["RetryContext"], &rc); err != nil {
			t.Fatal(err)
		}
		if rc.RetryCount != 1 || rc.MaxRetryCount != 3 {
			t.Errorf("RetryContext = %+v, want 1 of 3", rc)
		}
	})
}

func TestEventGridFixtures(t *testing.T) {
	tests := []struct {
		name, eventType, subject, api, etag, url string
		length                                   int64
	}{
		{"blob-created", "Microsoft.Storage.BlobCreated", "/blobServices/default/containers/scripts/blobs/install-apps.ps1", "PutBlob", `"0x8DD18E4A71C6E31"`, "https://goldenscripts.blob.core.windows.net/scripts/install-apps.ps1", 524288},
		{"blob-deleted", "Microsoft.Storage.BlobDeleted", "/blobServices/default/containers/scripts/blobs/install-apps.ps1", "DeleteBlob", "", "https://goldenscripts.blob.core.windows.net/scripts/install-apps.ps1", 0},
		{"data-as-string", "Microsoft.Storage.BlobCreated", "/blobServices/default/containers/scripts/blobs/avd/Install Teams ü.ps1", "PutBlockList", `"0x8DD18E4A71C6E31"`, "https://goldenscripts.blob.core.windows.net/scripts/avd/Install Teams ü.ps1", 524288},
		{"event-as-string", "Microsoft.Storage.BlobCreated", "/blobServices/default/containers/scripts/blobs/install-apps.ps1", "CopyBlob", `"0x8DD18E4A71C6E31"`, "https://goldenscripts.blob.core.windows.net/scripts/install-apps.ps1", 524288},
		{"cloudevents-schema", "Microsoft.Storage.BlobCreated", "/blobServices/default/containers/scripts/blobs/install-apps.ps1", "PutBlob", `"0x8DD18E4A71C6E31"`, "https://goldenscripts.blob.core.windows.net/scripts/install-apps.ps1", 524288},
		{"other-event-type", "Microsoft.Storage.BlobTierChanged", "/blobServices/default/containers/scripts/blobs/install-apps.ps1", "SetBlobTier", `"0x8DD18E4A71C6E31"`, "https://goldenscripts.blob.core.windows.net/scripts/install-apps.ps1", 524288},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := fixture(t, "eventgrid", tt.name)
			ev, err := DecodeEventGrid(env.Data["event"])
			if err != nil {
				t.Fatal(err)
			}
			if ev.ID != "831e1650-001e-001b-66ab-eeb76e069631" || ev.EventType != tt.eventType || ev.Subject != tt.subject {
				t.Errorf("envelope = %q %q %q", ev.ID, ev.EventType, ev.Subject)
			}
			if want := mustTime("2024-12-10T01:59:58.7046126Z"); !ev.EventTime.Equal(want) {
				t.Errorf("eventTime = %v, want %v", ev.EventTime, want)
			}
			if ev.Topic != "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-images/providers/Microsoft.Storage/storageAccounts/goldenscripts" {
				t.Errorf("topic = %q", ev.Topic)
			}
			d, err := DecodeStorageBlobEventData(ev.Data)
			if err != nil {
				t.Fatal(err)
			}
			if d.API != tt.api || d.ETag != tt.etag || d.URL != tt.url || int64(d.ContentLength) != tt.length {
				t.Errorf("data = %+v", d)
			}
			if d.Sequencer != "00000000000004420000000000028963" {
				t.Errorf("sequencer = %q", d.Sequencer)
			}
		})
	}
}

func TestServiceBusFixtures(t *testing.T) {
	const body = `{"template": "avd-win11", "reason": "script changed", "force": false, "requestedBy": "ops@contoso.com", "correlationId": "c-42"}`
	tests := []struct {
		name, body, id, subject, props string
		deliveries                     int
		seq                            int64
	}{
		// as the host sends them: the message a JSON string, DeliveryCount "1", properties objects
		{"request", body, "avd-win11-1f3a", "", `{"attempt":2,"source":"portal"}`, 1, 42},
		{"body-text", "rebuild avd-win11 please", "avd-win11-1f3a", "", `null`, 1, 0},
		// tolerated
		{"tolerated/body-double-encoded", body, "avd-win11-1f3a", "", `{"attempt":2,"source":"portal"}`, 1, 42},
		{"tolerated/body-object", "", "plain-id", "build", `{"source":"cli"}`, 3, 42},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := fixture(t, "servicebus", tt.name)
			m, err := DecodeServiceBus(env.Data["message"], env.Metadata)
			if err != nil {
				t.Fatal(err)
			}
			if tt.body != "" && string(m.Body) != tt.body {
				t.Errorf("body = %s\nwant   %s", m.Body, tt.body)
			}
			if tt.body == "" { // an object body: compare as JSON
				var got, want map[string]any
				_ = json.Unmarshal(m.Body, &got)
				_ = json.Unmarshal([]byte(body), &want)
				if g, _ := json.Marshal(got); string(g) != mustMarshal(want) {
					t.Errorf("body = %s", m.Body)
				}
			}
			if m.MessageID != tt.id || m.DeliveryCount != tt.deliveries || m.SequenceNumber != tt.seq || m.Subject != tt.subject {
				t.Errorf("metadata = id %q deliveries %d seq %d subject %q", m.MessageID, m.DeliveryCount, m.SequenceNumber, m.Subject)
			}
			if got := mustMarshal(m.ApplicationProperties); got != tt.props {
				t.Errorf("properties = %s, want %s", got, tt.props)
			}
			if tt.name == "request" { // DateTimes as the host writes them: whole seconds, no zone, the culture's format
				if m.CorrelationID != "c-42" || m.ContentType != "application/json" || !m.EnqueuedTime.Equal(mustTime("2024-12-10T02:00:01Z")) {
					t.Errorf("metadata = %+v", m)
				}
				if m.ExpiresAt.Year() != 9999 {
					t.Errorf("ExpiresAt = %v", m.ExpiresAt)
				}
			}
		})
	}
}

func mustMarshal(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestHTTPFixtures(t *testing.T) {
	env := fixture(t, "http", "get-health")
	r, err := DecodeHTTPRequest(env.Data["req"])
	if err != nil {
		t.Fatal(err)
	}
	if r.Method != "GET" || r.URL != "http://localhost:7071/api/health?verbose=1" || r.Query["verbose"] != "1" || r.Params["path"] != "health" {
		t.Errorf("request = %+v", r)
	}
	if b, _ := r.BodyBytes(); b != nil {
		t.Errorf("body = %q, want none", b)
	}
	env = fixture(t, "http", "post-octet-stream")
	r, err = DecodeHTTPRequest(env.Data["req"])
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.BodyBytes()
	if err != nil || string(b) != "\x00\x01binary" {
		t.Errorf("octet-stream body = %q, %v", b, err)
	}
}
