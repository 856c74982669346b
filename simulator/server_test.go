package simulator

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Served over HTTP, the simulator answers what Image Builder answers, with
// its status and body: a template that does not exist is a 404 (not a 502),
// so the "template not found" paths of another process are exercised.
func TestServedSimulatorAnswersAsAzure(t *testing.T) {
	srv := httptest.NewServer(&Server{Images: NewImages(), Builder: NewImageBuilder()})
	defer srv.Close()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet,
		srv.URL+"/subscriptions/s/resourceGroups/rg/providers/Microsoft.VirtualMachineImages/imageTemplates/nope?api-version=2024-02-01", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "ResourceNotFound") {
		t.Errorf("GET of a missing template: %d %s", resp.StatusCode, body)
	}
}
