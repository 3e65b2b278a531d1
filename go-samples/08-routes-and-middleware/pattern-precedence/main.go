// Command pattern-precedence prints, as one JSON document on stdout, two facts about
// net/http.ServeMux since Go 1.22 that frameworks with "first match wins" routing
// (Express, many older Go routers) do not share:
//
//  1. registration order does not decide which handler serves a request: the most
//     specific matching pattern wins, so two muxes built from the same patterns in
//     opposite orders route every request the same way;
//  2. two patterns that match some request equally well (neither is more
//     specific) conflict, and the mux panics when the second one is registered,
//     at start-up rather than in production traffic.
package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
)

// Overlapping patterns, listed from most general to most specific.
var patterns = []string{
	"/",
	"/api/",
	"/api/users/{id}",
	"GET /api/users/me",
	"/api/users/{id}/orders",
	"POST /api/users/{$}",
}

var requests = [][2]string{
	{"GET", "/api/users/me"},
	{"POST", "/api/users/me"},
	{"GET", "/api/users/42"},
	{"GET", "/api/users/42/orders"},
	{"POST", "/api/users/"},
	{"GET", "/api/orders"},
	{"GET", "/index.html"},
}

// Pairs that the mux refuses: the second registration panics.
var conflicts = [][2]string{
	{"GET /items/{id}", "GET /items/{name}"},       // same shape, different wildcard name
	{"/posts/{id}/edit", "/posts/latest/{action}"}, // both match /posts/latest/edit
	{"GET /users/{id}", "/users/new"},              // one is more specific by method, the other by path
	{"POST /api/users/", "/api/users/{id}"},        // same trade-off, easy to write by accident
	{"GET /health", "GET /health"},                 // plain duplicate
}

type routing struct {
	Request       string `json:"request"`
	GeneralFirst  string `json:"general_first"`  // pattern that served it, patterns registered general → specific
	SpecificFirst string `json:"specific_first"` // same patterns registered specific → general
}

type conflict struct {
	First  string `json:"first"`
	Second string `json:"second"`
	Panic  string `json:"panic"` // recovered from the second Handle call; "" if none
}

// build registers every pattern with a handler that names the pattern it serves.
func build(order []string) *http.ServeMux {
	mux := http.NewServeMux()
	for _, p := range order {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, p) })
	}
	return mux
}

func serve(mux *http.ServeMux, method, path string) string {
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	if rec.Code != http.StatusOK {
		return fmt.Sprint(rec.Code)
	}
	return rec.Body.String()
}

func register(first, second string) (msg string) {
	defer func() {
		if v := recover(); v != nil {
			msg = fmt.Sprint(v)
		}
	}()
	mux := http.NewServeMux()
	noop := func(http.ResponseWriter, *http.Request) {}
	mux.HandleFunc(first, noop)
	mux.HandleFunc(second, noop)
	return ""
}

func main() {
	reversed := slices.Clone(patterns)
	slices.Reverse(reversed)
	a, b := build(patterns), build(reversed)
	out := struct {
		Go        string     `json:"go"`
		Patterns  []string   `json:"patterns"`
		Routing   []routing  `json:"routing"`
		SameRoute bool       `json:"same_in_both_orders"`
		Conflicts []conflict `json:"conflicts"`
	}{Go: runtime.Version(), Patterns: patterns, SameRoute: true}
	for _, rq := range requests {
		r := routing{rq[0] + " " + rq[1], serve(a, rq[0], rq[1]), serve(b, rq[0], rq[1])}
		out.SameRoute = out.SameRoute && r.GeneralFirst == r.SpecificFirst
		out.Routing = append(out.Routing, r)
	}
	for _, c := range conflicts {
		out.Conflicts = append(out.Conflicts, conflict{c[0], c[1], register(c[0], c[1])})
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.Encode(out)
}
