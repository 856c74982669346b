package host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

// Func is one function's implementation. A nil error acknowledges the
// invocation; see invocationStatus for how errors are answered.
type Func func(ctx context.Context, inv *Invocation) (Result, error)

// Server routes the host's requests: POST /<FunctionName> to the function of
// that name, and forwarded HTTP requests under /api/ to the API handler.
type Server struct {
	funcs    map[string]Func
	api      http.Handler
	log      *slog.Logger
	level    slog.Leveler
	maxBody  int64
	timeout  time.Duration
	maxLines int
	loopback bool
}

// Options configure a Server.
type Options struct {
	Logger            *slog.Logger  // where every log line goes (stdout in production)
	Level             slog.Leveler  // the lowest level copied into an answer's Logs
	MaxRequestBytes   int64         // larger invocation bodies answer 413
	InvocationTimeout time.Duration // the deadline of each invocation's context
	// LoopbackOnly, for local runs with no Functions host and no function
	// keys in front, refuses requests whose Host is not a loopback name (DNS
	// rebinding) and requests a browser sends from another site (Origin or
	// Sec-Fetch-Site), so a web page cannot trigger builds or read answers.
	LoopbackOnly bool
}

// NewServer returns a Server with no functions.
func NewServer(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Level == nil {
		o.Level = slog.LevelInfo
	}
	if o.MaxRequestBytes <= 0 {
		o.MaxRequestBytes = 8 << 20
	}
	if o.InvocationTimeout <= 0 {
		o.InvocationTimeout = 5 * time.Minute
	}
	return &Server{funcs: map[string]Func{}, log: o.Logger, level: o.Level,
		maxBody: o.MaxRequestBytes, timeout: o.InvocationTimeout, maxLines: 500, loopback: o.LoopbackOnly}
}

// Handle registers fn as the function called name.
func (s *Server) Handle(name string, fn Func) {
	if _, dup := s.funcs[name]; dup {
		panic("host: function registered twice: " + name)
	}
	s.funcs[name] = fn
}

// HandleAPI sets the handler for requests under /api/ (forwarded by the host
// with enableForwardingHttpRequest), and for the wrapped requests of the
// function named function.
func (s *Server) HandleAPI(function string, h http.Handler) {
	s.api = h
	s.Handle(function, s.wrappedHTTP)
}

// Functions returns the registered function names.
func (s *Server) Functions() []string {
	names := make([]string, 0, len(s.funcs))
	for n := range s.funcs {
		names = append(names, n)
	}
	return names
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("handler panic", "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}()
	if s.loopback {
		if reason := foreign(r); reason != "" {
			s.log.Warn("request refused", "path", r.URL.Path, "reason", reason)
			http.Error(w, reason, http.StatusForbidden)
			return
		}
	}
	if strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/api" {
		if s.api == nil {
			http.NotFound(w, r)
			return
		}
		body := r.Body
		defer drain(body)
		r.Body = http.MaxBytesReader(w, body, s.maxBody)
		s.api.ServeHTTP(w, r)
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/")
	fn, ok := s.funcs[name]
	if !ok {
		writeJSONError(w, http.StatusNotFound, fmt.Sprintf("no function named %q", name))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSONError(w, http.StatusMethodNotAllowed, "invocations are POSTed")
		return
	}
	defer drain(r.Body)
	if r.ContentLength > s.maxBody {
		// refused before anything is read, naming the limit; the connection
		// is closed rather than drained (the API's routes have their own,
		// lower, limit)
		w.Header().Set("Connection", "close")
		writeJSONError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("invocation body of %d bytes is over the limit of %d bytes (MAX_REQUEST_BYTES)", r.ContentLength, s.maxBody))
		return
	}
	s.invoke(w, r, name, fn)
}

func (s *Server) invoke(w http.ResponseWriter, r *http.Request, name string, fn Func) {
	id := r.Header.Get("X-Azure-Functions-InvocationId")
	collector := &logCollector{limit: s.maxLines}
	logger := slog.New(slog.NewMultiHandler(
		s.log.Handler(),
		// the answer's Logs go to the host (and Application Insights):
		// no SAS or key in them either
		goldenpipe.RedactingHandler(slog.NewTextHandler(collector, &slog.HandlerOptions{Level: s.level})),
	)).With("function", name, "invocationId", id)

	var env struct {
		Data     map[string]json.RawMessage `json:"Data"`
		Metadata map[string]json.RawMessage `json:"Metadata"`
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			logger.Error("invocation rejected: body over the limit", "limitBytes", s.maxBody)
			writeJSONError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("invocation body over the limit of %d bytes", s.maxBody))
			return
		}
		logger.Error("invocation rejected: reading the body failed", "err", err)
		writeJSONError(w, http.StatusBadRequest, "reading the invocation body failed")
		return
	}
	if err := json.Unmarshal(body, &env); err != nil {
		logger.Error("invocation rejected: body is not an invocation envelope", "err", err)
		writeJSONError(w, http.StatusBadRequest, "invocation body is not a JSON {Data, Metadata} envelope: "+err.Error())
		return
	}
	if env.Data == nil {
		logger.Error("invocation rejected: no Data")
		writeJSONError(w, http.StatusBadRequest, "invocation body has no Data object")
		return
	}
	inv := &Invocation{ID: id, Function: name, Data: env.Data, Metadata: env.Metadata, Log: logger}

	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	start := time.Now()
	res, err := s.call(ctx, fn, inv)
	status, acked := invocationStatus(err)
	elapsed := time.Since(start).Milliseconds()
	switch {
	case err == nil:
		logger.Info("invocation done", "ms", elapsed)
	case acked:
		logger.Warn("invocation rejected its input; acknowledged so it is not redelivered",
			"err", goldenpipe.RedactSAS(err.Error()), "code", goldenpipe.ErrorCode(err), "ms", elapsed) // with its cause
	default:
		logger.Error("invocation failed; the host will redeliver", "err", err.Error(), "code", goldenpipe.ErrorCode(err), "ms", elapsed)
	}
	if res.Outputs == nil {
		res.Outputs = map[string]any{}
	}
	out, mErr := json.Marshal(response{Outputs: res.Outputs, Logs: collector.Lines(), ReturnValue: res.ReturnValue})
	if mErr != nil {
		s.log.Error("encoding the answer failed", "function", name, "invocationId", id, "err", mErr)
		writeJSONError(w, http.StatusInternalServerError, "encoding the answer failed")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

// call runs fn, turning a panic into an EINTERNAL error so one bad input
// never takes the process down.
func (s *Server) call(ctx context.Context, fn Func, inv *Invocation) (res Result, err error) {
	defer func() {
		if v := recover(); v != nil {
			inv.Log.Error("function panic", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			res, err = Result{}, goldenpipe.Errorf(goldenpipe.EINTERNAL, "function panicked: %v", v)
		}
	}()
	return fn(ctx, inv)
}

// wrappedHTTP serves an httpTrigger invocation that arrived wrapped (not
// forwarded) through the same API handler, answering via Outputs.res.
func (s *Server) wrappedHTTP(ctx context.Context, inv *Invocation) (Result, error) {
	raw, err := inv.Binding("req")
	if err != nil {
		return Result{}, err
	}
	req, err := DecodeHTTPRequest(raw)
	if err != nil {
		return Result{}, goldenpipe.Wrap(goldenpipe.EINVALID, err, "decoding the http trigger failed")
	}
	body, err := req.BodyBytes()
	if err != nil {
		return Result{}, goldenpipe.Wrap(goldenpipe.EINVALID, err, "decoding the http body failed")
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, req.URL, bytes.NewReader(body))
	if err != nil {
		return Result{}, goldenpipe.Wrap(goldenpipe.EINVALID, err, "the http trigger's Url or Method is malformed")
	}
	for k, vs := range req.Headers {
		for _, v := range vs {
			hr.Header.Add(k, v)
		}
	}
	rec := httptest.NewRecorder()
	s.api.ServeHTTP(rec, hr)
	headers := map[string]string{}
	for k := range rec.Header() {
		headers[k] = rec.Header().Get(k)
	}
	return Result{Outputs: map[string]any{"res": HTTPOutput{StatusCode: rec.Code, Body: rec.Body.String(), Headers: headers}}}, nil
}

// maxDrainBytes bounds what is read and thrown away of a body refused
// for its size: Azure Functions' own limit on an HTTP request, 100 MB
// (Learn, "Azure Functions HTTP trigger", Limits:
// https://learn.microsoft.com/azure/azure-functions/functions-bindings-http-webhook-trigger#limits).
const maxDrainBytes = 104857600

// drain reads what is left of a request body (at most maxDrainBytes) and
// throws it away, so that the answer — a 413 naming the limit — reaches a
// client still sending, instead of the connection being reset under it.
// Memory stays bounded: nothing is kept.
func drain(body io.ReadCloser) {
	if body != nil && body != http.NoBody {
		_, _ = io.Copy(io.Discard, io.LimitReader(body, maxDrainBytes))
	}
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
	}{msg})
}

// foreign says why a request did not come from this machine's own user
// ("" when it did): a Host that is not a loopback name, or a browser's
// request from another site.
func foreign(r *http.Request) string {
	if !loopbackHost(r.Host) {
		return fmt.Sprintf("Host %q is not this machine: a local run answers 127.0.0.1, localhost and [::1] only", clip(r.Host))
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !strings.EqualFold(u.Host, r.Host) {
			return fmt.Sprintf("Origin %q is another site: a local run answers its own pages only", clip(o))
		}
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return "a request from another site: a local run answers its own pages only"
	}
	return ""
}

// loopbackHost reports whether host[:port] names this machine.
func loopbackHost(hostport string) bool {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}
