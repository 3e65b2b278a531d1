package traceparent

import "testing"

func TestTraceID(t *testing.T) {
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	for _, tc := range []struct {
		header string
		ok     bool
	}{
		{"00-" + id + "-00f067aa0ba902b7-01", true},
		{"01-" + id + "-00f067aa0ba902b7-01-future", true},                 // a later version may add fields
		{"00-" + id + "-00f067aa0ba902b7-01-extra", false},                 // version 00 may not
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false}, // uppercase
		{"ff-" + id + "-00f067aa0ba902b7-01", false},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},
		{"00-" + id + "-0000000000000000-01", false},
		{"00-" + id + "-00f067aa0ba902b7", false},
		{id, false},
		{"", false},
	} {
		got, ok := TraceID(tc.header)
		if ok != tc.ok || (ok && got != id) {
			t.Errorf("TraceID(%q) = %q, %v; want ok=%v", tc.header, got, ok, tc.ok)
		}
	}
}

func TestNewTraceIDIsAValidTraceID(t *testing.T) {
	a, b := NewTraceID(), NewTraceID()
	if _, ok := TraceID("00-" + a + "-00f067aa0ba902b7-01"); !ok || a == b {
		t.Fatalf("NewTraceID gave %q then %q", a, b)
	}
}
