package template

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/goldenpipe/goldenpipe"
)

// TestPendingNoLongerWanted: a request whose template no longer asks for
// that build (built meanwhile, or changed) is cleared unsent, with its
// index entry; one for a template deleted meanwhile is dropped.
func TestPendingNoLongerWanted(t *testing.T) {
	ctx := context.Background()
	t.Run("changed", func(t *testing.T) {
		e := pendingEnv(t)
		if _, err := e.s.update(ctx, recordKey("ubuntu"), func(r *Record) error { r.Rendered.Fingerprint = "other"; return nil }); err != nil {
			t.Fatal(err)
		}
		if err := e.s.notify(ctx, "ubuntu"); err != nil {
			t.Fatal(err)
		}
		if rec := e.get("ubuntu"); rec.Pending != nil || len(e.keys(PendingPrefix)) != 0 || len(e.planned.heard()) != 0 {
			t.Errorf("pending %+v, entries %v, requests %v", rec.Pending, e.keys(PendingPrefix), e.planned.heard())
		}
	})
	t.Run("a newer request", func(t *testing.T) {
		e := pendingEnv(t)
		if err := e.s.clearPending(ctx, "ubuntu", "an older fingerprint", nil); err != nil {
			t.Fatal(err)
		}
		if rec := e.get("ubuntu"); rec.Pending == nil || len(e.keys(PendingPrefix)) != 1 {
			t.Errorf("the newer request was cleared: %+v %v", rec.Pending, e.keys(PendingPrefix))
		}
	})
	t.Run("deleted", func(t *testing.T) {
		e := pendingEnv(t)
		if err := e.docs.Delete(ctx, recordKey("ubuntu"), ""); err != nil {
			t.Fatal(err)
		}
		if err := e.s.notify(ctx, "ubuntu"); err != nil {
			t.Fatal(err)
		}
		if err := e.s.clearPending(ctx, "ubuntu", "x", nil); err != nil || len(e.keys(PendingPrefix)) != 1 {
			t.Errorf("an entry of another fingerprint: %v %v", err, e.keys(PendingPrefix))
		}
		e.now = e.now.Add(pendingGrace + 1)
		if _, err := e.s.SendPending(ctx, 0); err != nil || len(e.keys(PendingPrefix)) != 0 {
			t.Errorf("SendPending: %v, entries %v", err, e.keys(PendingPrefix))
		}
	})
}

// TestPendingStorageErrors: a store failure while sending a request is
// reported, and the request stays for the next try.
func TestPendingStorageErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name         string
		prefix, op   string
		notify, send string // in the errors of notify and SendPending ("": none)
	}{
		{"record read", recordPrefix, "get", `reading template "ubuntu" to send its build request`, "the store is down"},
		{"record write", recordPrefix, "put", `recording the build request of "ubuntu" as sent`, `recording the build request of "ubuntu" as sent`},
		{"entry read", pendingPrefix, "get", "the store is down", "the store is down"},
		{"entry listing", pendingPrefix, "keys", "", "the store is down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := pendingEnv(t)
			e.s.Docs = failingDocs{e.docs, tt.prefix, tt.op}
			if err := e.s.notify(ctx, "ubuntu"); tt.notify == "" && err != nil || tt.notify != "" && (err == nil || !strings.Contains(err.Error(), tt.notify)) {
				t.Errorf("notify: %v, want %q", err, tt.notify)
			}
			if _, err := e.s.SendPending(ctx, 0); err == nil || !strings.Contains(err.Error(), tt.send) {
				t.Errorf("SendPending: %v, want %q", err, tt.send)
			}
			e.s.Docs = e.docs
			// the entry stays unless notify, which reads no listing, sent the request
			if want := map[bool]int{true: 0, false: 1}[tt.notify == ""]; len(e.keys(PendingPrefix)) != want {
				t.Errorf("entries %v, want %d", e.keys(PendingPrefix), want)
			}
		})
	}
}

// pendingEnv is a catalog whose template "ubuntu" carries a build request
// that could not be sent (the bus was down).
func pendingEnv(t *testing.T) *catalogEnv {
	t.Helper()
	e := newCatalogEnv(t)
	e.uploadFile("ubuntu.json", ubuntuSeed)
	e.planned.err = goldenpipe.Errorf(goldenpipe.EUNAVAILABLE, "the bus is down")
	if _, err := e.event(goldenpipe.BlobCreated, "ubuntu.json"); err == nil {
		t.Fatal("the request was sent")
	}
	e.planned.err = nil
	return e
}

// recordReads counts the reads of template records.
type recordReads struct {
	goldenpipe.Documents
	n atomic.Int64
}

func (r *recordReads) Get(ctx context.Context, key string, v any) (string, error) {
	if strings.HasPrefix(key, recordPrefix) {
		r.n.Add(1)
	}
	return r.Documents.Get(ctx, key, v)
}

// An upload's request is sent from the record as the upload wrote it,
// and cleared by a write conditioned on that write: the record is read
// once (to find there is none), not again to send and to clear.
func TestRequestSentFromTheRecordAsWritten(t *testing.T) {
	e := newCatalogEnv(t)
	reads := &recordReads{Documents: e.docs}
	e.s.Docs = reads
	e.uploadFile("ubuntu.json", ubuntuSeed)
	e.mustEvent(goldenpipe.BlobCreated, "ubuntu.json")
	if got := e.planned.heard(); len(got) != 1 || got[0] != "ubuntu" {
		t.Fatalf("requests sent: %v", got)
	}
	if n := reads.n.Load(); n != 1 {
		t.Errorf("the upload read the record %d times, want 1", n)
	}
	if rec := e.get("ubuntu"); rec.Pending != nil || len(e.keys(PendingPrefix)) != 0 {
		t.Errorf("after the send: pending %+v, entries %v", rec.Pending, e.keys(PendingPrefix))
	}
}

// A record written again between the upload's write and the clearing of
// its request (a newer change asking for another build) keeps the newer
// request: the conditioned write loses, the record is read again.
func TestRequestAsWrittenKeepsANewerOne(t *testing.T) {
	ctx := context.Background()
	e := pendingEnv(t)
	var rec Record
	etag, err := e.docs.Get(ctx, recordKey("ubuntu"), &rec)
	if err != nil || rec.Pending == nil {
		t.Fatalf("the record with its request: %+v %v", rec.Pending, err)
	}
	known := stored{rec, etag}
	if _, err := e.s.update(ctx, recordKey("ubuntu"), func(r *Record) error { r.Pending.Fingerprint = "newer"; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := e.s.notifyFrom(ctx, "ubuntu", &known); err != nil {
		t.Fatal(err)
	}
	if got := e.get("ubuntu"); got.Pending == nil || got.Pending.Fingerprint != "newer" || len(e.keys(PendingPrefix)) != 1 {
		t.Errorf("the newer request was cleared: %+v, entries %v", got.Pending, e.keys(PendingPrefix))
	}
}
