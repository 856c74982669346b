package goldenpipe

import (
	"errors"
	"fmt"
)

// Error codes. They say what kind of failure happened, which decides how the
// host answers: permanent problems with the input are acknowledged (retrying
// would not help), everything else fails the invocation so it is redelivered.
const (
	EINVALID     = "invalid"     // the input is wrong and will stay wrong
	ENOTFOUND    = "not_found"   // the thing named does not exist
	ECONFLICT    = "conflict"    // a concurrent writer won; retry reads anew
	EUNAVAILABLE = "unavailable" // a dependency failed transiently
	EFORBIDDEN   = "forbidden"   // the app's identity lacks a permission; it stays so until someone grants it
	EINTERNAL    = "internal"    // a bug or an unexpected failure
)

// Error is a domain error with a code and a message safe to show to callers.
type Error struct {
	Code    string
	Message string
	Err     error // optional cause, kept for errors.Is/As; not shown to callers
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with the given code whose cause is err.
func Wrap(code string, err error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	return describe(err, func(e *Error) string { return e.Code }, EINTERNAL)
}

// ErrorMessage returns the message of the first *Error in err's chain, or a
// generic text for other errors so internals never leak to callers.
func ErrorMessage(err error) string {
	return describe(err, func(e *Error) string { return e.Message }, "internal error")
}

// describe returns "" for nil, what field reads of the first *Error in
// err's chain, or other when there is none.
func describe(err error, field func(*Error) string, other string) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return field(e)
	}
	return other
}
