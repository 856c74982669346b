package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A configured container that does not exist (TEMPLATES_CONTAINER named
// wrong, or deleted) fails health: every night would do nothing.
func TestHealthFailsWithoutTheTemplatesContainer(t *testing.T) {
	h := newHarness(t, "health")
	get := func() (int, string) {
		rec := httptest.NewRecorder()
		h.srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/health", nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := get(); code != 200 {
		t.Fatalf("health with every container: %d %s", code, body)
	}
	if _, err := h.svc.NewContainerClient(h.s.TemplatesContainer).Delete(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	code, body := get()
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"name": "templates storage"`) ||
		!strings.Contains(body, h.s.TemplatesContainer) || !strings.Contains(body, "TEMPLATES_CONTAINER") {
		t.Errorf("health without the templates container: %d %s", code, body)
	}
}
