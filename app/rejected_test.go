package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe/builds"
)

// Whatever a sender puts in a message, a rejection keeps a bounded start of
// it (with its size and sha256): twenty rejected messages of 7 MiB make an
// answer under 1 MB, and the handler's heap stays under 64 MiB.
func TestRejectedMessagesAreBounded(t *testing.T) {
	h := newHarness(t, "rejbig")
	// the invocation as the host sends it, streamed so the test itself holds one copy of the body
	inner := []byte(strings.Repeat("x", 7<<20)) // not a build request: a 7 MiB JSON-encoded string of x
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() { // samples the heap while the messages go through
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
			}
		}
	}()
	for i := 0; i < 20; i++ {
		rec := httptest.NewRecorder()
		payload := io.MultiReader(strings.NewReader(`{"Data":{"message":"\"`), bytes.NewReader(inner),
			strings.NewReader(fmt.Sprintf(`\""},"Metadata":{"MessageId":"big-%d","DeliveryCount":"1"}}`, i)))
		req := httptest.NewRequest(http.MethodPost, "/BuildRequested", payload)
		req.Header.Set("X-Azure-Functions-InvocationId", fmt.Sprintf("inv-%d", i))
		h.srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("message %d: %d %s", i, rec.Code, rec.Body.String()[:min(200, rec.Body.Len())])
		}
		runtime.GC()
	}
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/builds/rejected", nil))
	close(done)
	if rec.Code != 200 || rec.Body.Len() >= 1<<20 {
		t.Fatalf("GET /api/builds/rejected: %d, %d bytes", rec.Code, rec.Body.Len())
	}
	var list []builds.Rejection
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || len(list) != 20 {
		t.Fatalf("%d rejections, %v", len(list), err)
	}
	r := list[0]
	if !r.Truncated || r.BodyBytes < 7<<20 || len(r.Body) > 4<<10 || len(r.BodySHA256) != 64 || !strings.Contains(r.Reason, "over the limit") {
		t.Errorf("rejection: truncated %v, %d bytes, kept %d, sha %q, reason %q", r.Truncated, r.BodyBytes, len(r.Body), r.BodySHA256, r.Reason)
	}
	t.Logf("heap growth at its peak: %d MiB; the answer: %d bytes", (peak.Load()-base)>>20, rec.Body.Len())
	if p := peak.Load(); p > base+64<<20 {
		t.Errorf("the heap grew by %d MiB while the messages went through", (p-base)>>20)
	}
}
