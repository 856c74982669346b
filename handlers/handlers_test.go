package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/host"
	"github.com/goldenpipe/goldenpipe/template"
)

// recorder is a fake of every domain service: it keeps what it was given.
type recorder struct {
	mu       sync.Mutex
	events   []goldenpipe.BlobEvent
	ticks    []goldenpipe.Tick
	messages []goldenpipe.Message
	err      error
}

func (r *recorder) HandleBlobEvent(_ context.Context, ev goldenpipe.BlobEvent) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	return "recorded", r.err
}
func (r *recorder) Nightly(_ context.Context, t goldenpipe.Tick) (string, error) { return r.tick(t) }
func (r *recorder) Tick(_ context.Context, t goldenpipe.Tick) (string, error)    { return r.tick(t) }
func (r *recorder) tick(t goldenpipe.Tick) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ticks = append(r.ticks, t)
	return "recorded", r.err
}
func (r *recorder) Request(_ context.Context, m goldenpipe.Message) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.messages = append(r.messages, m)
	return "recorded", r.err
}

type fakeChecksums struct{ list []goldenpipe.Checksum }

func (f fakeChecksums) Page(_ context.Context, token string, top int) ([]goldenpipe.Checksum, string, error) {
	return pageOf(f.list, token, top)
}

// pageOf pages a slice; the token is the index the next page starts at.
func pageOf[T any](list []T, token string, top int) ([]T, string, error) {
	from := 0
	if token != "" {
		if _, err := fmt.Sscan(token, &from); err != nil || from > len(list) {
			return nil, "", fmt.Errorf("bad token %q", token)
		}
	}
	to := min(from+top, len(list))
	next := ""
	if to < len(list) {
		next = fmt.Sprint(to)
	}
	return list[from:to], next, nil
}
func (f fakeChecksums) Get(_ context.Context, name string) (goldenpipe.Checksum, error) {
	for _, c := range f.list {
		if c.Name == name {
			return c, nil
		}
	}
	return goldenpipe.Checksum{}, goldenpipe.Errorf(goldenpipe.ENOTFOUND, "no checksum for %q", name)
}
func (f fakeChecksums) WriteSHA256SUMS(_ context.Context, w io.Writer) error {
	for _, c := range f.list {
		if _, err := io.WriteString(w, c.SHA256+"  "+c.Name+"\n"); err != nil {
			return err
		}
	}
	return nil
}

type fakeTemplates []template.Record

func (f fakeTemplates) Summaries(_ context.Context, token string, top int) ([]template.Summary, string, error) {
	var all []template.Summary
	for _, r := range f {
		all = append(all, r.Summarize())
	}
	return pageOf(all, token, top)
}
func (f fakeTemplates) Get(_ context.Context, name string) (template.Record, error) {
	for _, t := range f {
		if t.Name == name {
			return t, nil
		}
	}
	return template.Record{}, goldenpipe.Errorf(goldenpipe.ENOTFOUND, "no template %q", name)
}

func newServer(rec *recorder) *host.Server {
	s := host.NewServer(host.Options{Logger: slog.New(slog.DiscardHandler)})
	sums := fakeChecksums{list: []goldenpipe.Checksum{{Name: "avd/install.ps1", SHA256: strings.Repeat("ab", 32)}}}
	tpls := fakeTemplates{{Name: "avd-win11", Valid: true, Rendered: &template.Rendered{Fingerprint: strings.Repeat("f", 64), SourceVersion: "22631.4460.241106"},
		Plan: &template.Plan{Rebuild: true, Reason: "never built"}, Source: "{...}"}, {Name: "rhel9"}, {Name: "ubuntu-web"}}
	Register(s, Deps{Scripts: rec, Templates: rec, Nightly: rec, Builds: rec, Monitor: rec,
		API: NewAPI(APIDeps{Version: "test", Checksums: sums, Templates: tpls, Health: []HealthCheck{{Name: "ok", Check: func(context.Context) error { return nil }}}})})
	return s
}

// routeTests names, for every function, the fixtures its test runs and what
// the domain must have received. A function without an entry fails
// TestEveryFunctionHasRouteAndTest.
var routeTests = map[string][]struct {
	fixture string // testdata/<trigger>/<case>
	check   func(t *testing.T, r *recorder, answer *httptest.ResponseRecorder)
}{
	FuncScriptUploaded: {
		{"eventgrid/blob-created", func(t *testing.T, r *recorder, _ *httptest.ResponseRecorder) {
			want := goldenpipe.BlobEvent{ID: "831e1650-001e-001b-66ab-eeb76e069631", Type: goldenpipe.BlobCreated,
				Topic:   "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-images/providers/Microsoft.Storage/storageAccounts/goldenscripts",
				Subject: "/blobServices/default/containers/scripts/blobs/install-apps.ps1", Time: time.Date(2024, 12, 10, 1, 59, 58, 704612600, time.UTC),
				URL: "https://goldenscripts.blob.core.windows.net/scripts/install-apps.ps1", ETag: `"0x8DD18E4A71C6E31"`,
				Sequencer: "00000000000004420000000000028963", ContentLength: 524288, API: "PutBlob"}
			if len(r.events) != 1 || r.events[0] != want {
				t.Errorf("events = %+v\nwant %+v", r.events, want)
			}
		}},
		{"eventgrid/blob-deleted", func(t *testing.T, r *recorder, _ *httptest.ResponseRecorder) {
			if len(r.events) != 1 || r.events[0].Type != goldenpipe.BlobDeleted || r.events[0].ETag != "" || r.events[0].API != "DeleteBlob" {
				t.Errorf("events = %+v", r.events)
			}
		}},
		{"eventgrid/data-as-string", func(t *testing.T, r *recorder, _ *httptest.ResponseRecorder) {
			if len(r.events) != 1 || r.events[0].URL != "https://goldenscripts.blob.core.windows.net/scripts/avd/Install Teams ü.ps1" {
				t.Errorf("events = %+v", r.events)
			}
		}},
		{"eventgrid/event-as-string", func(t *testing.T, r *recorder, _ *httptest.ResponseRecorder) {
			if len(r.events) != 1 || r.events[0].API != "CopyBlob" {
				t.Errorf("events = %+v", r.events)
			}
		}},
		{"eventgrid/cloudevents-schema", func(t *testing.T, r *recorder, _ *httptest.ResponseRecorder) {
			if len(r.events) != 1 || r.events[0].Type != goldenpipe.BlobCreated || r.events[0].ETag == "" {
				t.Errorf("events = %+v", r.events)
			}
		}},
		{"eventgrid/other-event-type", func(t *testing.T, r *recorder, _ *httptest.ResponseRecorder) {
			if len(r.events) != 1 || r.events[0].Type != "Microsoft.Storage.BlobTierChanged" || r.events[0].URL != "" {
				t.Errorf("events = %+v (other types pass through undecoded, for the domain to ignore)", r.events)
			}
		}},
	},
	FuncTemplateUploaded: {
		{"eventgrid/template-created", func(t *testing.T, r *recorder, _ *httptest.ResponseRecorder) {
			if len(r.events) != 1 || r.events[0].Subject != "/blobServices/default/containers/templates/blobs/avd-win11.json" ||
				r.events[0].URL != "https://goldenscripts.blob.core.windows.net/templates/avd-win11.json" || r.events[0].ContentLength != 2817 {
				t.Errorf("events = %+v", r.events)
			}
		}},
	},
	FuncNightlyRebuild: {
		{"timer/normal", func(t *testing.T, r *recorder, _ *httptest.ResponseRecorder) {
			want := goldenpipe.Tick{Scheduled: time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC), Last: time.Date(2024, 12, 9, 2, 0, 0, 0, time.UTC)}
			if len(r.ticks) != 1 || !r.ticks[0].Scheduled.Equal(want.Scheduled) || !r.ticks[0].Last.Equal(want.Last) || r.ticks[0].PastDue {
				t.Errorf("ticks = %+v, want %+v", r.ticks, want)
			}
		}},
		{"timer/schedule-status-null", func(t *testing.T, r *recorder, _ *httptest.ResponseRecorder) {
			if len(r.ticks) != 1 || !r.ticks[0].Last.IsZero() {
				t.Errorf("ticks = %+v", r.ticks)
			}
		}},
		{"timer/culture-datetime", func(t *testing.T, r *recorder, _ *httptest.ResponseRecorder) {
			if len(r.ticks) != 1 || !r.ticks[0].Scheduled.Equal(time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC)) {
				t.Errorf("ticks = %+v", r.ticks)
			}
		}},
		{"timer/tolerated/double-encoded-sys", func(t *testing.T, r *recorder, _ *httptest.ResponseRecorder) {
			if len(r.ticks) != 1 || !r.ticks[0].Scheduled.Equal(time.Date(2024, 12, 10, 2, 0, 0, 1234500, time.UTC)) {
				t.Errorf("ticks = %+v", r.ticks)
			}
		}},
	},
	FuncBuildMonitor: {
		{"timer/past-due", func(t *testing.T, r *recorder, _ *httptest.ResponseRecorder) {
			if len(r.ticks) != 1 || !r.ticks[0].PastDue {
				t.Errorf("ticks = %+v", r.ticks)
			}
		}},
		{"timer/retry-context", func(t *testing.T, r *recorder, _ *httptest.ResponseRecorder) {
			if len(r.ticks) != 1 {
				t.Errorf("ticks = %+v", r.ticks)
			}
		}},
		// a tick is never lost to an informational field: the wall clock stands in, with a warning
		{"timer/sys-unparseable", func(t *testing.T, r *recorder, a *httptest.ResponseRecorder) {
			if len(r.ticks) != 1 || time.Since(r.ticks[0].Scheduled) > time.Minute || !strings.Contains(a.Body.String(), "the wall clock stands in") {
				t.Errorf("ticks = %+v; answer %s", r.ticks, a.Body)
			}
		}},
	},
	FuncBuildRequested: {
		{"servicebus/request", func(t *testing.T, r *recorder, _ *httptest.ResponseRecorder) {
			if len(r.messages) != 1 {
				t.Fatalf("messages = %+v", r.messages)
			}
			m := r.messages[0]
			var req struct{ Template, Reason string }
			if err := json.Unmarshal(m.Body, &req); err != nil || req.Template != "avd-win11" || req.Reason != "script changed" {
				t.Errorf("body %s → %+v, %v", m.Body, req, err)
			}
			if m.ID != "avd-win11-1f3a" || m.DeliveryCount != 1 || m.CorrelationID != "c-42" || m.ContentType != "application/json" {
				t.Errorf("message = %+v", m)
			}
		}},
		{"servicebus/tolerated/body-double-encoded", func(t *testing.T, r *recorder, _ *httptest.ResponseRecorder) {
			if len(r.messages) != 1 || r.messages[0].ID != "avd-win11-1f3a" || r.messages[0].DeliveryCount != 1 {
				t.Errorf("messages = %+v", r.messages)
			}
		}},
		{"servicebus/tolerated/body-object", func(t *testing.T, r *recorder, _ *httptest.ResponseRecorder) {
			if len(r.messages) != 1 || !json.Valid(r.messages[0].Body) || r.messages[0].DeliveryCount != 3 {
				t.Errorf("messages = %+v", r.messages)
			}
		}},
		{"servicebus/body-text", func(t *testing.T, r *recorder, _ *httptest.ResponseRecorder) {
			if len(r.messages) != 1 || string(r.messages[0].Body) != "rebuild avd-win11 please" {
				t.Errorf("messages = %+v", r.messages)
			}
		}},
	},
	FuncAPI: {
		{"http/get-health", func(t *testing.T, _ *recorder, a *httptest.ResponseRecorder) {
			var out struct{ Outputs struct{ Res host.HTTPOutput } }
			_ = json.Unmarshal(a.Body.Bytes(), &out)
			if out.Outputs.Res.StatusCode != 200 || !strings.Contains(out.Outputs.Res.Body, `"status": "ok"`) {
				t.Errorf("res = %+v", out.Outputs.Res)
			}
		}},
		{"http/post-octet-stream", func(t *testing.T, _ *recorder, a *httptest.ResponseRecorder) {
			var out struct{ Outputs struct{ Res host.HTTPOutput } }
			_ = json.Unmarshal(a.Body.Bytes(), &out)
			if out.Outputs.Res.StatusCode != 404 || !strings.Contains(out.Outputs.Res.Body, "no route POST /api/nope") {
				t.Errorf("res = %+v", out.Outputs.Res)
			}
		}},
	},
}

func TestRoutesWithFixtures(t *testing.T) {
	for fn, cases := range routeTests {
		for _, c := range cases {
			t.Run(fn+"/"+c.fixture, func(t *testing.T) {
				body, err := os.ReadFile(filepath.Join("..", "testdata", c.fixture+".json"))
				if err != nil {
					t.Fatal(err)
				}
				rec := &recorder{}
				s := newServer(rec)
				req := httptest.NewRequest(http.MethodPost, "/"+fn, strings.NewReader(string(body)))
				req.Header.Set("X-Azure-Functions-InvocationId", "fixture")
				answer := httptest.NewRecorder()
				s.ServeHTTP(answer, req)
				if answer.Code != 200 {
					t.Fatalf("status %d: %s", answer.Code, answer.Body)
				}
				c.check(t, rec, answer)
			})
		}
	}
}

type functionJSON struct {
	Bindings []struct {
		Type       string `json:"type"`
		Direction  string `json:"direction"`
		Name       string `json:"name"`
		Schedule   string `json:"schedule"`
		QueueName  string `json:"queueName"`
		Connection string `json:"connection"`
		AuthLevel  string `json:"authLevel"`
		Route      string `json:"route"`
	} `json:"bindings"`
}

// TestEveryFunctionHasRouteAndTest fails when a function.json has no route
// in the handler, a route has no function.json, a route has no fixture test,
// or a fixture's binding name differs from the trigger's name in function.json.
func TestEveryFunctionHasRouteAndTest(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "functions", "*", "function.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no function.json found: %v", err)
	}
	s := newServer(&recorder{})
	registered := s.Functions()
	sort.Strings(registered)
	declared := map[string]bool{}
	for _, p := range paths {
		name := filepath.Base(filepath.Dir(p))
		declared[name] = true
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var fj functionJSON
		if err := json.Unmarshal(b, &fj); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		var triggers []string
		trigger := ""
		for _, bd := range fj.Bindings {
			if strings.HasSuffix(bd.Type, "Trigger") {
				triggers = append(triggers, bd.Type)
				trigger = bd.Name
				switch bd.Type {
				case "timerTrigger":
					if bd.Schedule == "" {
						t.Errorf("%s: timer without schedule", name)
					}
				case "serviceBusTrigger":
					if bd.QueueName == "" || bd.Connection == "" {
						t.Errorf("%s: service bus trigger without queueName/connection", name)
					}
				case "httpTrigger":
					if bd.AuthLevel != "function" {
						t.Errorf("%s: authLevel %q, want function", name, bd.AuthLevel)
					}
				}
			}
		}
		if len(triggers) != 1 {
			t.Errorf("%s: %d triggers, want exactly 1", name, len(triggers))
		}
		if !contains(registered, name) {
			t.Errorf("functions/%s/function.json has no route POST /%s in the handler", name, name)
		}
		cases := routeTests[name]
		if len(cases) == 0 {
			t.Errorf("function %s has no fixture test in routeTests", name)
		}
		for _, c := range cases {
			b, err := os.ReadFile(filepath.Join("..", "testdata", c.fixture+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var env struct{ Data map[string]json.RawMessage }
			_ = json.Unmarshal(b, &env)
			if _, ok := env.Data[trigger]; !ok {
				t.Errorf("%s: fixture %s has no Data.%s, the trigger's binding name", name, c.fixture, trigger)
			}
		}
	}
	for _, name := range registered {
		if !declared[name] {
			t.Errorf("route POST /%s has no functions/%s/function.json", name, name)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestDomainErrorsReachTheHost(t *testing.T) {
	body, _ := os.ReadFile(filepath.Join("..", "testdata", "eventgrid", "blob-created.json"))
	for code, want := range map[string]int{goldenpipe.EUNAVAILABLE: 500, goldenpipe.EINVALID: 200, goldenpipe.ENOTFOUND: 200, goldenpipe.EINTERNAL: 500} {
		rec := &recorder{err: goldenpipe.Errorf(code, "boom")}
		answer := httptest.NewRecorder()
		newServer(rec).ServeHTTP(answer, httptest.NewRequest(http.MethodPost, "/"+FuncScriptUploaded, strings.NewReader(string(body))))
		if answer.Code != want {
			t.Errorf("%s → %d, want %d", code, answer.Code, want)
		}
	}
}

func TestAPIRoutes(t *testing.T) {
	s := newServer(&recorder{})
	tests := []struct {
		path     string
		status   int
		contains string
	}{
		{"/api/health", 200, `"version": "test"`},
		{"/api/checksums", 200, `"name": "avd/install.ps1"`},
		{"/api/checksums/avd/install.ps1", 200, strings.Repeat("ab", 32)},
		{"/api/checksums/missing.ps1", 404, `no checksum for \"missing.ps1\"`},
		{"/api/sha256sums", 200, strings.Repeat("ab", 32) + "  avd/install.ps1\n"},
		{"/api/unknown", 404, "no route GET /api/unknown"},
		{"/api/templates", 200, `"sourceVersion": "22631.4460.241106"`},
		{"/api/templates/avd-win11", 200, `"source": "{...}"`},
		{"/api/templates/nope", 404, `no template \"nope\"`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.contains) {
				t.Errorf("%d %s; want %d containing %q", rec.Code, rec.Body, tt.status, tt.contains)
			}
		})
	}
}

// TestListsArePaged: the list routes answer a page in Azure's shape
// ({value, nextLink}); nextLink is the request's URL with the next
// $skiptoken, the function key kept; a bad top or token is a 400.
func TestListsArePaged(t *testing.T) {
	s := newServer(&recorder{})
	get := func(target string) (int, string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, target, nil)
		req.Host = "goldenpipe.azurewebsites.net"
		req.Header.Set("X-Forwarded-Proto", "https")
		s.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	var page struct {
		Value []struct {
			Name string `json:"name"`
		} `json:"value"`
		NextLink string `json:"nextLink"`
	}
	code, body := get("/api/templates?top=2&code=k3y")
	if err := json.Unmarshal([]byte(body), &page); code != 200 || err != nil || len(page.Value) != 2 || page.Value[1].Name != "rhel9" {
		t.Fatalf("first page: %d %s", code, body)
	}
	u, err := url.Parse(page.NextLink)
	if err != nil || u.Scheme != "https" || u.Host != "goldenpipe.azurewebsites.net" || u.Query().Get("code") != "k3y" || u.Query().Get("top") != "2" || u.Query().Get("$skiptoken") == "" {
		t.Fatalf("nextLink %q", page.NextLink)
	}
	page.NextLink = ""
	code, body = get(u.RequestURI())
	if err := json.Unmarshal([]byte(body), &page); code != 200 || err != nil || len(page.Value) != 1 || page.Value[0].Name != "ubuntu-web" || page.NextLink != "" {
		t.Errorf("last page: %d %s", code, body)
	}
	for _, bad := range []string{"/api/templates?top=0", "/api/templates?top=1001", "/api/templates?top=x", "/api/checksums?$skiptoken=%25%25"} {
		if code, body := get(bad); code != 400 {
			t.Errorf("%s: %d %s", bad, code, body)
		}
	}
}

// The health probes run at once: each of these two waits for the other to
// have started, which only succeeds when they run in parallel.
func TestHealthProbesRunAtOnce(t *testing.T) {
	a, b := make(chan struct{}), make(chan struct{})
	probe := func(mine, other chan struct{}) func(context.Context) error {
		return func(ctx context.Context) error {
			close(mine)
			select {
			case <-other:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	mux := NewAPI(APIDeps{Health: []HealthCheck{{Name: "a", Check: probe(a, b)}, {Name: "b", Check: probe(b, a)}}})
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/health", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"status": "ok"`) {
		t.Errorf("health: %d %s", rec.Code, rec.Body)
	}
}

// An API body over the limit answers 413 naming the limit — whether its
// Content-Length says so or it is sent chunked — never a 400 "unexpected
// EOF"; over a real connection too, where a 10 MB body is not a reset.
func TestOversizedAPIBodyAnswers413NamingTheLimit(t *testing.T) {
	s := newServer(&recorder{})
	big := `{"template":"avd-win11","reason":"` + strings.Repeat("x", 10<<20) + `"}`
	for _, path := range []string{"/api/builds", "/api/templates/avd-win11/rollback"} {
		for _, chunked := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s chunked=%v", path, chunked), func(t *testing.T) {
				req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(big))
				if chunked {
					req.ContentLength = -1
				}
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, req)
				if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "over the limit of 65536 bytes") {
					t.Errorf("%d %s", rec.Code, clipBody(rec.Body.String()))
				}
			})
		}
	}
	// a body just over 64 KiB, and one the host refuses (over its 8 MiB)
	for _, size := range []int{maxAPIBody + 1, 9 << 20} {
		body := `{"template":"` + strings.Repeat("a", size) + `"}`
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/builds", strings.NewReader(body)))
		if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "over the limit of") {
			t.Errorf("%d bytes: %d %s", size, rec.Code, clipBody(rec.Body.String()))
		}
	}
	// a small malformed body is still a 400 saying what the body must be
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/builds", strings.NewReader(`{"template":`)))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "the body must be JSON") {
		t.Errorf("malformed: %d %s", rec.Code, rec.Body)
	}

	srv := httptest.NewServer(s)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/api/builds", "application/json", strings.NewReader(big))
	if err != nil {
		t.Fatalf("10 MB over a connection: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "over the limit of") {
		t.Errorf("10 MB over a connection: %d %s", resp.StatusCode, clipBody(string(b)))
	}
}

func clipBody(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}
