package abuseguard

import (
	"errors"
	"fmt"
)

// Error codes. A user may see an Error's code and message; only web/ maps the
// codes to HTTP statuses. Anything else is internal and shown as EINTERNAL.
const (
	ECONFLICT     = "conflict"     // the action does not fit the current state
	EINTERNAL     = "internal"     // a fault on our side; details are logged, not shown
	EINVALID      = "invalid"      // the input is wrong; the message says what and why
	ENOTFOUND     = "not_found"    // no such thing, or not visible to the caller
	EUNAUTHORIZED = "unauthorized" // missing or bad credentials, or the role may not do this
)

// Error is an error a user may see: a code from the list above and one
// sentence that says what was wrong.
type Error struct {
	Code    string
	Message string
}

// Error implements the error interface as "code: message".
func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the first *Error in err's chain, or a
// generic sentence for internal errors, whose details must not be shown.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}
