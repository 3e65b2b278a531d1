//go:build linux

package main

import (
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"gopitfalls/samples/internal/lessontest"
)

// The descriptors stay open until a GC cycle runs the finalizers of the dropped files.
func TestFingerprintLeaksUntilGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // no GC cycle until we ask for one
	before := len(lessontest.OpenFDs(t))
	for range 20 {
		if _, err := fingerprint(lessontest.Executable(t)); err != nil {
			t.Fatal(err)
		}
	}
	if grew := len(lessontest.OpenFDs(t)) - before; grew < 20 {
		t.Fatalf("open descriptors grew by %d after 20 fingerprints, want 20 (no GC yet)", grew)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(lessontest.OpenFDs(t)) > before && time.Now().Before(deadline) {
		runtime.GC() // finalizers run after the cycle, on their own goroutine
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(lessontest.OpenFDs(t)); n > before {
		t.Fatalf("%d descriptors still open after GC, want %d", n, before)
	}
}

// With room for two more files, the bundle (four files, closed only when the handler
// returns) runs out of descriptors half-way.
func TestBundleHoldsEveryFileUntilItReturns(t *testing.T) {
	var body string
	lessontest.WithFreeDescriptors(t, 2, func() {
		rec := httptest.NewRecorder()
		handleBundle(rec, httptest.NewRequest("GET", "/bundle", nil))
		body = rec.Body.String()
	})
	if n := strings.Count(body, "too many open files"); n != 2 {
		t.Fatalf("%d sections failed with 'too many open files', want 2:\n%.600s", n, body)
	}
}

// A write to a full device fails, and the snapshot is reported as saved anyway.
func TestSnapshotIgnoresWriteErrors(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full here")
	}
	if err := saveSnapshot("/dev/full", artifactInfo{Path: "x"}); err != nil {
		t.Fatalf("saveSnapshot returned %v; the broken version is expected to report success", err)
	}
}
