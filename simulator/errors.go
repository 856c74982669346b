package simulator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// conflict returns the ARM error Azure answers with status 409, with the
// message in the body as ARM writes it.
func conflict(code, message string) error {
	body, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": message}})
	resp := &http.Response{StatusCode: http.StatusConflict, Status: "409 Conflict", Header: http.Header{"Content-Type": {"application/json"}, "x-ms-error-code": {code}},
		Body: io.NopCloser(bytes.NewReader(body)), Request: &http.Request{Method: http.MethodPut, URL: &url.URL{Scheme: "https", Host: "management.azure.com", Path: "/"}}}
	return runtime.NewResponseError(resp)
}
