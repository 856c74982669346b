package azure

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/goldenpipe/goldenpipe"
)

func armResponse(status int, code, message string) error {
	body := `{"error":{"code":"` + code + `","message":"` + message + `"}}`
	resp := &http.Response{StatusCode: status, Header: http.Header{"x-ms-error-code": {code}}, Body: io.NopCloser(bytes.NewReader([]byte(body))),
		Request: &http.Request{Method: http.MethodPut, URL: &url.URL{Scheme: "https", Host: "management.azure.com", Path: "/x"}}}
	return runtime.NewResponseError(resp)
}

// ARM's errors become domain codes with Azure's own code and message:
// what Azure will refuse again is terminal, "not now" is a conflict,
// throttling and outages are transient.
func TestARMErrorClassifies(t *testing.T) {
	tests := []struct {
		status     int
		code, msg  string
		want       string
		messageHas string
	}{
		{400, "ValidationFailed", "unknown field buildTimeout", goldenpipe.EINVALID, "ValidationFailed: unknown field buildTimeout"},
		{403, "AuthorizationFailed", "no imageTemplates/run/action", goldenpipe.EFORBIDDEN, "AuthorizationFailed"},
		{404, "ResourceNotFound", "gone", goldenpipe.ENOTFOUND, "gone"},
		{405, "OperationNotAllowed", "not allowed in run state: running", goldenpipe.ECONFLICT, "OperationNotAllowed"},
		{409, "OperationNotAllowed", "not allowed in run state: canceling", goldenpipe.ECONFLICT, "canceling"},
		{429, "TooManyRequests", "slow down", goldenpipe.EUNAVAILABLE, "TooManyRequests"},
		{503, "ServiceUnavailable", "try later", goldenpipe.EUNAVAILABLE, "try later"},
	}
	for _, tt := range tests {
		err := ARMError(armResponse(tt.status, tt.code, tt.msg), "deleting image template t failed")
		if goldenpipe.ErrorCode(err) != tt.want || !bytes.Contains([]byte(goldenpipe.ErrorMessage(err)), []byte(tt.messageHas)) {
			t.Errorf("%d %s: %s %q", tt.status, tt.code, goldenpipe.ErrorCode(err), goldenpipe.ErrorMessage(err))
		}
	}
}
