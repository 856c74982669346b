package host

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestLoopbackOnly: a local run (no host, no function keys) answers this
// machine's own requests and refuses DNS-rebound Hosts and other sites'
// browser requests, for the API and for invocations; without the option
// (under the Functions host) nothing is refused.
func TestLoopbackOnly(t *testing.T) {
	newServer := func(loopback bool) *Server {
		s := NewServer(Options{LoopbackOnly: loopback})
		s.Handle("BuildMonitor", func(context.Context, *Invocation) (Result, error) { return Result{}, nil })
		s.HandleAPI("Api", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }))
		return s
	}
	tests := []struct {
		name, method, path, host string
		headers                  map[string]string
		refused                  bool
	}{
		{"status page on 127.0.0.1", "GET", "/api/", "127.0.0.1:7071", nil, false},
		{"status page on localhost", "GET", "/api/", "localhost:7071", nil, false},
		{"status page on [::1]", "GET", "/api/", "[::1]:7071", nil, false},
		{"a POST from the page itself", "POST", "/api/builds", "127.0.0.1:7071", map[string]string{"Origin": "http://127.0.0.1:7071", "Sec-Fetch-Site": "same-origin"}, false},
		{"curl (no Origin)", "POST", "/api/builds", "127.0.0.1:7071", nil, false},
		{"an invocation", "POST", "/BuildMonitor", "127.0.0.1:7071", nil, false},
		{"DNS rebinding", "GET", "/api/builds", "evil.example:7071", nil, true},
		{"DNS rebinding to an invocation", "POST", "/BuildMonitor", "attacker.test", nil, true},
		{"a LAN address", "GET", "/api/", "192.168.1.20:7071", nil, true},
		{"a cross-site form POST", "POST", "/api/builds", "127.0.0.1:7071", map[string]string{"Origin": "https://evil.example"}, true},
		{"another local server's page", "POST", "/api/builds", "127.0.0.1:7071", map[string]string{"Origin": "http://localhost:8080"}, true},
		{"an opaque origin", "POST", "/api/builds", "127.0.0.1:7071", map[string]string{"Origin": "null"}, true},
		{"cross-site fetch metadata", "GET", "/api/builds", "127.0.0.1:7071", map[string]string{"Sec-Fetch-Site": "cross-site"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, loopback := range []bool{true, false} {
				req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(`{"Data":{},"Metadata":{}}`))
				req.Host = tt.host
				for k, v := range tt.headers {
					req.Header.Set(k, v)
				}
				rec := httptest.NewRecorder()
				newServer(loopback).ServeHTTP(rec, req)
				refused := rec.Code == http.StatusForbidden
				if refused != (tt.refused && loopback) {
					t.Errorf("loopback=%v: %d %s", loopback, rec.Code, rec.Body)
				}
				if refused && !strings.Contains(rec.Body.String(), "local run") {
					t.Errorf("the refusal does not say why: %s", rec.Body)
				}
			}
		})
	}
}
