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
func conflict(code, message string) error { return armError(http.StatusConflict, code, message) }

// armError returns the error Azure Resource Manager answers with: the
// status, the x-ms-error-code header and {"error": {"code", "message"}}.
func armError(status int, code, message string) error {
	body, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": message}})
	resp := &http.Response{StatusCode: status, Status: http.StatusText(status), Header: http.Header{"Content-Type": {"application/json"}, "x-ms-error-code": {code}},
		Body: io.NopCloser(bytes.NewReader(body)), Request: &http.Request{Method: http.MethodPut, URL: &url.URL{Scheme: "https", Host: "management.azure.com", Path: "/"}}}
	return runtime.NewResponseError(resp)
}

// Refusal is how Azure refuses a request at once: the status, and the
// error code and message of the body.
type Refusal struct {
	Status  int
	Code    string
	Message string
}
