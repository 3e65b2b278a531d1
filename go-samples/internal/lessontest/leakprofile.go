package lessontest

import (
	"bytes"
	"regexp"
	"runtime/pprof"
	"strconv"
	"testing"
)

var leakTotal = regexp.MustCompile(`goroutineleak profile: total (\d+)`)

// LeakedGoroutines asks Go's goroutine leak detector (a special GC cycle behind the
// "goroutineleak" profile) how many goroutines are blocked forever on concurrency
// primitives that nothing live can reach, and returns that count and the profile
// text (debug=1) that names where each one is stuck.
func LeakedGoroutines(t *testing.T) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutineleak").WriteTo(&buf, 1); err != nil {
		t.Fatal(err)
	}
	m := leakTotal.FindSubmatch(buf.Bytes())
	if m == nil {
		t.Fatalf("unexpected profile:\n%s", buf.String())
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n, buf.String()
}
