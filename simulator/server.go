package simulator

import (
	"context"
	"errors"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// Server serves the simulated control plane over HTTP, so several handler
// processes can share one simulated Azure (AIB_SIMULATOR=<its URL>). Each
// request goes to the SDK's fake server transports, as in-process clients'
// requests do.
type Server struct {
	Images  *Images
	Builder *ImageBuilder
	// Gallery serves gallery image versions, and the builder publishes to
	// it (nil: a gallery of its own is made at the first request, so a
	// handler reaching the served simulator reads the versions its builds
	// published).
	Gallery *Gallery

	once sync.Once
}

// init gives the server its gallery and has the builder publish to it.
func (s *Server) init() {
	s.once.Do(func() {
		if s.Gallery == nil {
			s.Gallery = NewGallery()
		}
		if s.Builder != nil && s.Builder.Gallery == nil {
			s.Builder.Gallery = s.Gallery
		}
		if s.Gallery.Now == nil && s.Builder != nil {
			s.Gallery.Now = s.Builder.Now
		}
	})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.init()
	var t interface {
		Do(*http.Request) (*http.Response, error)
	}
	path := strings.ToLower(strings.TrimSuffix(r.URL.Path, "/"))
	op := ""
	rewrite := false
	switch {
	case strings.Contains(path, "/providers/microsoft.compute/galleries/"):
		t, rewrite = s.Gallery.Transport(), true
		op = "GalleryImageVersionsClient." + galleryOperation(r.Method, path)
	case strings.Contains(path, "/providers/microsoft.virtualmachineimages/imagetemplates/"):
		t = s.Builder.Transport()
		op = "VirtualMachineImageTemplatesClient." + templateOperation(r.Method, path)
	case strings.Contains(path, "/providers/microsoft.compute/") && strings.HasSuffix(path, "/versions") && r.Method == http.MethodGet:
		t, op = s.Images.Transport(), "VirtualMachineImagesClient.List"
	case s.Builder.Groups != nil && (strings.Contains(path, "/resourcegroups/") && !strings.Contains(path, "/providers/microsoft.virtualmachineimages/") ||
		strings.Contains(path, "/providers/microsoft.managedidentity/")):
		t = s.Builder.Groups
	default:
		http.Error(w, `{"error":{"code":"NotFound","message":"the simulator serves Image Builder templates and marketplace image versions only"}}`, http.StatusNotFound)
		return
	}
	// the fake transports dispatch on the operation name in-process clients
	// put in the context
	out := r.Clone(context.WithValue(r.Context(), runtime.CtxAPINameKey{}, op))
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = "https", "management.azure.com"
	resp, err := t.Do(out)
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode != 0 {
		// an answer Azure gives (404 ResourceNotFound, 409 Conflict, 405
		// OperationNotAllowed …): served as Azure serves it, status and body
		text := re.Error()
		body := `{"error":{"code":"` + re.ErrorCode + `","message":""}}`
		if i, j := strings.Index(text, "{"), strings.LastIndex(text, "}"); i >= 0 && j > i {
			body = text[i : j+1]
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("x-ms-error-code", re.ErrorCode)
		w.WriteHeader(re.StatusCode)
		_, _ = io.WriteString(w, body)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	if rewrite {
		// a nextLink points back here, not at Azure
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		resp.Body = io.NopCloser(strings.NewReader(strings.ReplaceAll(string(b), "https://management.azure.com", "http://"+r.Host)))
		resp.Header.Del("Content-Length")
	}
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// galleryOperation names the gallery image versions operation of a request.
func galleryOperation(method, path string) string {
	if method == http.MethodGet && strings.HasSuffix(path, "/versions") {
		return "NewListByGalleryImagePager"
	}
	return resourceOperation(method)
}

// resourceOperation names the operation of a request on one resource.
func resourceOperation(method string) string {
	switch method {
	case http.MethodPut:
		return "BeginCreateOrUpdate"
	case http.MethodDelete:
		return "BeginDelete"
	case http.MethodPatch:
		return "BeginUpdate"
	}
	return "Get"
}

// templateOperation names the Image Builder operation of a request.
func templateOperation(method, path string) string {
	switch {
	case strings.HasSuffix(path, "/run") && method == http.MethodPost:
		return "BeginRun"
	case strings.HasSuffix(path, "/cancel") && method == http.MethodPost:
		return "BeginCancel"
	case strings.HasSuffix(path, "/runoutputs"):
		return "NewListRunOutputsPager"
	case strings.Contains(path, "/runoutputs/"):
		return "GetRunOutput"
	}
	return resourceOperation(method)
}
