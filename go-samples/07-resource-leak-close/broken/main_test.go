//go:build linux

package main

import (
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// openFDs lists this process's open descriptors (the directory's own excluded).
func openFDs(t *testing.T) []int {
	t.Helper()
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		t.Fatal(err)
	}
	var fds []int
	for _, name := range names {
		if fd, _ := strconv.Atoi(name); fd != int(d.Fd()) {
			fds = append(fds, fd)
		}
	}
	return fds
}

// withFreeDescriptors lowers the soft RLIMIT_NOFILE so that exactly n more files can be
// opened, runs fn, and restores the limit.
func withFreeDescriptors(t *testing.T, n int, fn func()) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	fds := openFDs(t)
	limit := 0
	for {
		below := 0
		for _, fd := range fds {
			if fd < limit {
				below++
			}
		}
		if limit-below == n {
			break
		}
		limit++
	}
	lowered := syscall.Rlimit{Cur: uint64(limit), Max: old.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lowered); err != nil {
		t.Fatal(err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old)
	fn()
}

func testArtifact(t *testing.T) string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// LEAK=retain: every fingerprint leaves one more descriptor open, for good.
func TestFingerprintLeaksRetained(t *testing.T) {
	leakMode = "retain"
	defer func() {
		leakMode = ""
		for _, f := range kept {
			f.Close()
		}
		kept = nil
	}()
	before := len(openFDs(t))
	for range 20 {
		if _, err := fingerprint(testArtifact(t)); err != nil {
			t.Fatal(err)
		}
	}
	if grew := len(openFDs(t)) - before; grew < 20 {
		t.Fatalf("open descriptors grew by %d after 20 fingerprints, want 20", grew)
	}
}

// LEAK=finalizer: the descriptors stay open until a GC cycle runs the finalizers.
func TestFingerprintLeaksUntilGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // no GC cycle until we ask for one
	before := len(openFDs(t))
	for range 20 {
		if _, err := fingerprint(testArtifact(t)); err != nil {
			t.Fatal(err)
		}
	}
	if grew := len(openFDs(t)) - before; grew < 20 {
		t.Fatalf("open descriptors grew by %d after 20 fingerprints, want 20 (no GC yet)", grew)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(openFDs(t)) > before && time.Now().Before(deadline) {
		runtime.GC() // finalizers run after the cycle, on their own goroutine
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(openFDs(t)); n > before {
		t.Fatalf("%d descriptors still open after GC, want %d", n, before)
	}
}

// With room for two more files, the bundle (four files, closed only when the handler
// returns) runs out of descriptors half-way.
func TestBundleHoldsEveryFileUntilItReturns(t *testing.T) {
	var body string
	withFreeDescriptors(t, 2, func() {
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
