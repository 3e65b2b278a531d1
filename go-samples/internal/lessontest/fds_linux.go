package lessontest

import (
	"os"
	"strconv"
	"syscall"
	"testing"
)

// OpenFDs lists the descriptors this process has open, from /proc/self/fd (the one
// used to read that directory excluded).
func OpenFDs(t *testing.T) []int {
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

// WithFreeDescriptors lowers the soft RLIMIT_NOFILE so that exactly n more files can
// be opened, runs fn, and restores the limit. The limit counts descriptor numbers,
// not open files, so it is set just above the n-th free number.
func WithFreeDescriptors(t *testing.T, n int, fn func()) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	fds := OpenFDs(t)
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

// Executable returns the path of the running test binary: a real, readable file
// that every test has, for code under test that opens and reads a file.
func Executable(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}
