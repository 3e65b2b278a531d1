//go:build linux

package main

import (
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"gopitfalls/samples/internal/lessontest"
)

// Every fingerprint closes its file before returning: no descriptor is left behind,
// without any help from the garbage collector.
func TestFingerprintClosesItsFile(t *testing.T) {
	before := len(lessontest.OpenFDs(t))
	for range 200 {
		if _, err := fingerprint(lessontest.Executable(t)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(lessontest.OpenFDs(t)); n != before {
		t.Fatalf("%d descriptors open after 200 fingerprints, want %d", n, before)
	}
	// Even with a single free descriptor, fingerprints keep working.
	lessontest.WithFreeDescriptors(t, 1, func() {
		for range 50 {
			if _, err := fingerprint(lessontest.Executable(t)); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// The bundle holds one file at a time: one free descriptor is enough for all four.
func TestBundleNeedsOneDescriptor(t *testing.T) {
	var body string
	lessontest.WithFreeDescriptors(t, 1, func() {
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
