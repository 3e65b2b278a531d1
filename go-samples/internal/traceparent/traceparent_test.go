package traceparent

import "testing"

func TestTraceID(t *testing.T) {
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	cases := []struct {
		header string
		ok     bool
	}{
		{"00-" + id + "-00f067aa0ba902b7-01", true},
		{"00-" + id + "-00f067aa0ba902b7-00", true},
		{"01-" + id + "-00f067aa0ba902b7-01-what-the-future-adds", true},   // later version: extra fields allowed
		{"00-" + id + "-00f067aa0ba902b7-01-extra", false},                 // version 00 is exactly 55 characters
		{"ff-" + id + "-00f067aa0ba902b7-01", false},                       // version ff is forbidden
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false}, // uppercase
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", false}, // all-zero trace id
		{"00-" + id + "-0000000000000000-01", false},                       // all-zero parent id
		{"00-" + id + "-00f067aa0ba902b7", false},                          // no flags
		{"00_" + id + "_00f067aa0ba902b7_01", false},
		{"00-" + id[:31] + "g-00f067aa0ba902b7-01", false},
		{"", false},
	}
	for _, c := range cases {
		got, ok := TraceID(c.header)
		if ok != c.ok || (ok && got != id) {
			t.Errorf("TraceID(%q) = %q, %v; want ok=%v", c.header, got, ok, c.ok)
		}
	}
}

func TestNewTraceIDIsAValidTraceID(t *testing.T) {
	a, b := NewTraceID(), NewTraceID()
	if _, ok := TraceID("00-" + a + "-00f067aa0ba902b7-01"); !ok || a == b {
		t.Fatalf("NewTraceID gave %q then %q", a, b)
	}
}
