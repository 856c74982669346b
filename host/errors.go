package host

import (
	"context"
	"errors"
	"net/http"

	"github.com/goldenpipe/goldenpipe"
)

// This file is the one place where errors become answers to the host.

// invocationStatus decides the HTTP status a function's error gives the host.
// Input that is wrong and will stay wrong (EINVALID, ENOTFOUND) is
// acknowledged with 200, so Event Grid and Service Bus do not redeliver it
// forever; the error is logged. Everything else answers 500: the host fails
// the invocation and its trigger redelivers (Event Grid backs off, Service
// Bus retries and then dead-letters, the next timer tick runs normally).
func invocationStatus(err error) (status int, acknowledged bool) {
	switch goldenpipe.ErrorCode(err) {
	case "":
		return http.StatusOK, true
	case goldenpipe.EINVALID, goldenpipe.ENOTFOUND:
		return http.StatusOK, true
	}
	return http.StatusInternalServerError, false
}

// APIStatus maps an error to the status an HTTP API caller sees.
func APIStatus(err error) int {
	if errors.Is(err, context.DeadlineExceeded) {
		return http.StatusGatewayTimeout
	}
	switch goldenpipe.ErrorCode(err) {
	case "":
		return http.StatusOK
	case goldenpipe.EINVALID:
		return http.StatusBadRequest
	case goldenpipe.ENOTFOUND:
		return http.StatusNotFound
	case goldenpipe.ECONFLICT:
		return http.StatusConflict
	case goldenpipe.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	case goldenpipe.EFORBIDDEN:
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}
