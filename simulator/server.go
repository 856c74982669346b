package simulator

import (
	"io"
	"net/http"
	"strings"
)

// Server serves the simulated control plane over HTTP, so several handler
// processes can share one simulated Azure (AIB_SIMULATOR=<its URL>). Each
// request goes to the SDK's fake server transports, as in-process clients'
// requests do.
type Server struct {
	Images  *Images
	Builder *ImageBuilder
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var t interface {
		Do(*http.Request) (*http.Response, error)
	}
	path := strings.ToLower(r.URL.Path)
	switch {
	case strings.Contains(path, "/providers/microsoft.virtualmachineimages/"):
		t = s.Builder.Transport()
	case strings.Contains(path, "/providers/microsoft.compute/"):
		t = s.Images.Transport()
	default:
		http.Error(w, `{"error":{"code":"NotFound","message":"the simulator serves Image Builder and marketplace images only"}}`, http.StatusNotFound)
		return
	}
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = "https", "management.azure.com"
	resp, err := t.Do(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}
