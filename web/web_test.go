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

func TestServerStartStop(t *testing.T) {
	cfg := DefaultConfiguration()
	cfg.Listen = "127.0.0.1:0"
	s, err := New(slog.New(slog.NewTextHandler(io.Discard, nil)), cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"ok": "yes"})
	}))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	res, err := http.Get("http://" + s.Addr() + "/")
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET = %v, %v", res, err)
	}
	res.Body.Close()
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop() = %v", err)
	}
	select {
	case <-s.Failed():
		t.Fatal("Failed() closed after a clean Stop")
	default:
	}
	if _, err := New(nil, Configuration{Listen: "nonsense"}, nil); err == nil {
		t.Fatal("New(bad listen) = nil error")
	}
}
