package host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func newTestServer(t *testing.T) (*Server, *syncBuffer) {
	t.Helper()
	out := &syncBuffer{}
	s := NewServer(Options{Logger: slog.New(slog.NewJSONHandler(out, nil)), MaxRequestBytes: 4096, InvocationTimeout: 200 * time.Millisecond})
	s.Handle("Echo", func(ctx context.Context, inv *Invocation) (Result, error) {
		raw, err := inv.Binding("timer")
		if err != nil {
			return Result{}, err
		}
		if _, err := DecodeTimer(raw); err != nil {
			return Result{}, goldenpipe.Wrap(goldenpipe.EINVALID, err, "decoding the timer failed")
		}
		inv.Log.Info("echo ran")
		return Result{ReturnValue: "done"}, nil
	})
	s.Handle("Flaky", func(ctx context.Context, inv *Invocation) (Result, error) {
		return Result{}, goldenpipe.Errorf(goldenpipe.EUNAVAILABLE, "storage is down")
	})
	s.Handle("Panics", func(ctx context.Context, inv *Invocation) (Result, error) {
		var parts []string
		_ = parts[len(inv.ID)+3] // index out of range: a bug in a function
		return Result{}, nil
	})
	s.Handle("Slow", func(ctx context.Context, inv *Invocation) (Result, error) {
		<-ctx.Done()
		return Result{}, goldenpipe.Wrap(goldenpipe.EUNAVAILABLE, ctx.Err(), "waited too long")
	})
	s.HandleAPI("Api", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Path", r.URL.Path)
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write([]byte(r.Method + " " + r.URL.Path + " " + r.URL.Query().Get("verbose") + " " + string(b)))
	}))
	return s, out
}

func post(s http.Handler, path, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("X-Azure-Functions-InvocationId", "inv-123")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

func decodeResponse(t *testing.T, rec *httptest.ResponseRecorder) response {
	t.Helper()
	var r response
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("answer is not a response envelope: %v: %s", err, rec.Body)
	}
	return r
}

const timerBody = `{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{}}`

func TestServerInvocations(t *testing.T) {
	tests := []struct {
		name, path, method, body string
		status                   int
		contains                 string // in the answer body
	}{
		{"ok", "/Echo", "POST", timerBody, 200, `"ReturnValue":"done"`},
		{"unknown function", "/Nope", "POST", timerBody, 404, `no function named \"Nope\"`},
		{"not POST", "/Echo", "GET", "", 405, "invocations are POSTed"},
		{"bad JSON", "/Echo", "POST", `{"Data":`, 400, "not a JSON {Data, Metadata} envelope"},
		{"array body", "/Echo", "POST", `[]`, 400, "not a JSON {Data, Metadata} envelope"},
		{"no Data", "/Echo", "POST", `{"Metadata":{}}`, 400, "has no Data object"},
		{"over the limit", "/Echo", "POST", `{"Data":{"timer":"` + strings.Repeat("x", 5000) + `"}}`, 413, "over the limit of 4096 bytes"},
		{"missing binding", "/Echo", "POST", `{"Data":{"other":{}},"Metadata":{}}`, 500, ""},
		{"malformed trigger acknowledged", "/Echo", "POST", `{"Data":{"timer":[1,2]},"Metadata":{}}`, 200, "decoding the timer failed"},
		{"transient failure", "/Flaky", "POST", timerBody, 500, ""},
		{"panic", "/Panics", "POST", timerBody, 500, ""},
		{"timeout", "/Slow", "POST", timerBody, 500, ""},
	}
	s, stdout := newTestServer(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			req.Header.Set("X-Azure-Functions-InvocationId", "inv-"+tt.name)
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if !strings.Contains(rec.Body.String(), tt.contains) {
				t.Errorf("answer %s does not contain %q", rec.Body, tt.contains)
			}
		})
	}
	// the process survived the panic and logged it with the invocation id
	if rec := post(s, "/Echo", timerBody); rec.Code != 200 {
		t.Fatalf("after a panic: %d", rec.Code)
	}
	logs := stdout.String()
	for _, want := range []string{`"invocationId":"inv-panic"`, `"msg":"function panic"`, `"invocationId":"inv-missing binding"`, `no binding \"timer\"`, `"invocationId":"inv-timeout"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("stdout lacks %s", want)
		}
	}
}

func TestServerLogsGoToAnswerAndStdout(t *testing.T) {
	s, stdout := newTestServer(t)
	rec := post(s, "/Echo", timerBody)
	r := decodeResponse(t, rec)
	joined := strings.Join(r.Logs, "\n")
	for _, want := range []string{"msg=\"echo ran\"", "invocationId=inv-123", "function=Echo"} {
		if !strings.Contains(joined, want) {
			t.Errorf("Logs %q lack %q", r.Logs, want)
		}
	}
	if !strings.Contains(stdout.String(), `"msg":"echo ran","function":"Echo","invocationId":"inv-123"`) {
		t.Errorf("stdout lacks the line with the invocation id: %s", stdout)
	}
	if r.Outputs == nil {
		t.Error("Outputs is null; the host expects an object")
	}
}

func TestServerAcknowledgedRejectionIsLogged(t *testing.T) {
	s, _ := newTestServer(t)
	rec := post(s, "/Echo", `{"Data":{"timer":"not an object"},"Metadata":{}}`)
	r := decodeResponse(t, rec)
	if rec.Code != 200 || !strings.Contains(strings.Join(r.Logs, "\n"), "rejected its input") {
		t.Fatalf("status %d, logs %q", rec.Code, r.Logs)
	}
}

func TestServerForwardedAndWrappedHTTP(t *testing.T) {
	s, _ := newTestServer(t)
	// forwarded: the raw request at its original path
	req := httptest.NewRequest(http.MethodGet, "/api/health?verbose=1", nil)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusTeapot || rec.Body.String() != "GET /api/health 1 " {
		t.Fatalf("forwarded: %d %q", rec.Code, rec.Body)
	}
	// wrapped: the fixtures, answered through Outputs.res
	for name, want := range map[string]string{"get-health": "GET /api/health 1 ", "post-octet-stream": "POST /api/nope  \x00\x01binary"} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("..", "testdata", "http", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			rec := post(s, "/Api", string(b))
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			var r struct {
				Outputs struct {
					Res HTTPOutput `json:"res"`
				}
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
				t.Fatal(err)
			}
			if r.Outputs.Res.StatusCode != http.StatusTeapot || r.Outputs.Res.Body != want || r.Outputs.Res.Headers["X-Path"] == "" {
				t.Errorf("res = %+v", r.Outputs.Res)
			}
		})
	}
}

func TestAPIStatus(t *testing.T) {
	tests := map[string]int{
		goldenpipe.EINVALID: 400, goldenpipe.ENOTFOUND: 404, goldenpipe.ECONFLICT: 409,
		goldenpipe.EUNAVAILABLE: 503, goldenpipe.EINTERNAL: 500,
	}
	for code, want := range tests {
		if got := APIStatus(goldenpipe.Errorf(code, "x")); got != want {
			t.Errorf("%s → %d, want %d", code, got, want)
		}
	}
	if got := APIStatus(errors.New("plain")); got != 500 {
		t.Errorf("plain error → %d", got)
	}
	if got := APIStatus(context.DeadlineExceeded); got != 504 {
		t.Errorf("deadline → %d", got)
	}
}

// An invocation body over MAX_REQUEST_BYTES answers 413 naming the limit
// over a real connection, whether its length is announced or it is sent
// chunked: the rest of the body is read and thrown away, so the client
// still sending gets the answer, not a reset.
func TestOversizedInvocationAnswers413OverAConnection(t *testing.T) {
	s, _ := newTestServer(t) // MaxRequestBytes 4096
	srv := httptest.NewServer(s)
	defer srv.Close()
	big := `{"Data":{"x":"` + strings.Repeat("x", 10<<20) + `"},"Metadata":{}}`
	for _, chunked := range []bool{false, true} {
		var body io.Reader = strings.NewReader(big)
		if chunked {
			body = io.MultiReader(body) // no length known: sent chunked
		}
		resp, err := http.Post(srv.URL+"/Echo", "application/json", body)
		if err != nil {
			t.Fatalf("chunked=%v: %v", chunked, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "over the limit of 4096 bytes") {
			t.Errorf("chunked=%v: %d %s", chunked, resp.StatusCode, b)
		}
	}
}

// What a function logs reaches the answer's Logs (and so the host's own
// logs) without a SAS signature or an account key.
func TestInvocationLogsAreRedacted(t *testing.T) {
	s, _ := newTestServer(t)
	s.Handle("Leaky", func(ctx context.Context, inv *Invocation) (Result, error) {
		inv.Log.Info("read https://a.blob.core.windows.net/c/b.zip?sv=2022-11-02&sig=S3CR3Tsig%3D", "conn", "AccountName=a;AccountKey=S3CR3Tkey==;")
		return Result{}, nil
	})
	r := decodeResponse(t, post(s, "/Leaky", timerBody))
	joined := strings.Join(r.Logs, "\n")
	if strings.Contains(joined, "S3CR3T") || !strings.Contains(joined, "a.blob.core.windows.net/c/b.zip") {
		t.Errorf("Logs %q", r.Logs)
	}
}
