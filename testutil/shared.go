// Package testutil finds the shared test data for tests. Only tests import it.
package testutil

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// ModuleRoot returns the directory holding go.mod, found from this source
// file's location, so it works from any package's test.
func ModuleRoot(tb testing.TB) string {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("testutil: cannot locate source file")
	}
	return filepath.Dir(filepath.Dir(file))
}

// SharedDir returns ../shared/testdata/<sub> beside the repository (or below
// $ABUSEGUARD_SHARED/testdata when set) and skips the test with a clear
// message when it is absent. The files there are third-party captures with
// their origins in SOURCES.md; tests read them in place and never copy them.
func SharedDir(tb testing.TB, sub string) string {
	tb.Helper()
	base := os.Getenv("ABUSEGUARD_SHARED")
	if base == "" {
		base = filepath.Join(ModuleRoot(tb), "..", "shared")
	}
	dir := filepath.Join(base, "testdata", sub)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		tb.Skipf("shared test data %s not found (clone ../shared beside the repository or set ABUSEGUARD_SHARED): skipping", dir)
	}
	return dir
}

// SharedFile returns the path of ../shared/testdata/<sub>/<name>, skipping the
// test when the folder is absent and failing it when the folder is there but
// the file is not (a renamed capture must not silently turn a test off).
func SharedFile(tb testing.TB, sub, name string) string {
	tb.Helper()
	p := filepath.Join(SharedDir(tb, sub), name)
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("shared test file: %v", err)
	}
	return p
}
