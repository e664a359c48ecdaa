// Package web serves abuseguard over HTTP: the JSON API (web/api), later
// the portal, /healthz and /metrics. It is the only package that maps
// domain error codes to HTTP statuses.
package web

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"abuseguard"
)

// Status returns the HTTP status for a domain error code.
func Status(code string) int {
	switch code {
	case abuseguard.EINVALID:
		return http.StatusBadRequest
	case abuseguard.ENOTFOUND:
		return http.StatusNotFound
	case abuseguard.ECONFLICT:
		return http.StatusConflict
	case abuseguard.EUNAUTHORIZED:
		return http.StatusUnauthorized
	}
	return http.StatusInternalServerError
}

// ErrorBody is the JSON body of every error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the code and the sentence of an error.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// WriteError answers with err's code and message as JSON, with the status
// Status gives (or status, when not zero). Internal errors are logged with
// their details and shown as a generic sentence.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, status int, err error) {
	code := abuseguard.ErrorCode(err)
	if code == abuseguard.EINTERNAL {
		log.Error("internal error", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	if status == 0 {
		status = Status(code)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="abuseguard"`)
	}
	WriteJSON(w, status, ErrorBody{Error: ErrorDetail{Code: code, Message: abuseguard.ErrorMessage(err)}})
}

// WriteJSON answers with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
