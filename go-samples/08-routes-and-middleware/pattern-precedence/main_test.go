package main

import (
	"slices"
	"strings"
	"testing"
)

func TestOrderDoesNotChangeRouting(t *testing.T) {
	reversed := slices.Clone(patterns)
	slices.Reverse(reversed)
	a, b := build(patterns), build(reversed)
	for _, rq := range requests {
		if ga, gb := serve(a, rq[0], rq[1]), serve(b, rq[0], rq[1]); ga != gb {
			t.Errorf("%s %s: %q in one order, %q in the other", rq[0], rq[1], ga, gb)
		}
	}
	if got := serve(a, "GET", "/api/users/me"); got != "GET /api/users/me" {
		t.Errorf("GET /api/users/me served by %q, want the most specific pattern", got)
	}
}

func TestConflictsPanicAtRegistration(t *testing.T) {
	for _, c := range conflicts {
		if msg := register(c[0], c[1]); !strings.Contains(msg, "conflicts with") {
			t.Errorf("%q then %q: panic %q, want a conflict", c[0], c[1], msg)
		}
	}
}
