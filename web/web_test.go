package web

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"abuseguard"
)

func TestStatus(t *testing.T) {
	for code, want := range map[string]int{
		abuseguard.EINVALID: 400, abuseguard.EUNAUTHORIZED: 401, abuseguard.ENOTFOUND: 404,
		abuseguard.ECONFLICT: 409, abuseguard.EINTERNAL: 500, "": 500, "weird": 500,
	} {
		if got := Status(code); got != want {
			t.Errorf("Status(%q) = %d, want %d", code, got, want)
		}
	}
}

// TestWriteErrorHidesInternals: an internal error's text never reaches
// the client.
func TestWriteErrorHidesInternals(t *testing.T) {
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/x", nil)
	WriteError(w, r, slog.New(slog.NewTextHandler(io.Discard, nil)), 0, errors.New("disk /var/lib/x full"))
	want := "{\n  \"error\": {\n    \"code\": \"internal\",\n    \"message\": \"Internal error.\"\n  }\n}\n"
	if w.Code != http.StatusInternalServerError || w.Body.String() != want {
		t.Fatalf("WriteError() = %d %q, want 500 %q", w.Code, w.Body.String(), want)
	}
}
