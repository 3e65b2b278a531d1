//go:build linux

package main

import (
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
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

// Every fingerprint closes its file before returning: no descriptor is left behind,
// without any help from the garbage collector.
func TestFingerprintClosesItsFile(t *testing.T) {
	before := len(openFDs(t))
	for range 200 {
		if _, err := fingerprint(testArtifact(t)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(openFDs(t)); n != before {
		t.Fatalf("%d descriptors open after 200 fingerprints, want %d", n, before)
	}
	// Even with a single free descriptor, fingerprints keep working.
	withFreeDescriptors(t, 1, func() {
		for range 50 {
			if _, err := fingerprint(testArtifact(t)); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// The bundle holds one file at a time: one free descriptor is enough for all four.
func TestBundleNeedsOneDescriptor(t *testing.T) {
	var body string
	withFreeDescriptors(t, 1, func() {
		rec := httptest.NewRecorder()
		handleBundle(rec, httptest.NewRequest("GET", "/bundle", nil))
		body = rec.Body.String()
	})
	if strings.Contains(body, "too many open files") || strings.Count(body, "== /proc/self/") != len(bundleFiles) {
		t.Fatalf("bundle with one free descriptor:\n%.600s", body)
	}
}

func TestSnapshotReportsWriteErrors(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err == nil {
		err := saveSnapshot("/dev/full", artifactInfo{Path: "x"})
		if !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("saveSnapshot to /dev/full: got %v, want ENOSPC", err)
		}
	}
	path := filepath.Join(t.TempDir(), "snapshot.json")
	if err := saveSnapshot(path, artifactInfo{Path: "x", Size: 1}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != `{"path":"x","size":1,"sha256_head_4k":""}`+"\n" {
		t.Errorf("snapshot file holds %q", b)
	}
}
