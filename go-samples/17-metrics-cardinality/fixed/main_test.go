package main

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// budget is the most series each family may hold, whatever the traffic: the
// routes the code declares (3, and "unmatched") times the status classes they
// can answer with, and a histogram's 4 buckets + +Inf + _sum + _count per route.
// A new label or a new route that needs more series must raise its budget here,
// in review, on purpose.
var budget = map[string]int{
	"http_requests_total":           4 * 2, // 4 routes × {2xx, 4xx}
	"http_request_duration_seconds": 4 * 7,
	"shop_orders_placed_total":      1,
	"go_goroutines":                 1,
	"go_heap_live_bytes":            1,
}

// totalBudget is the whole exposition's budget.
const totalBudget = 50

// traffic sends n users' worth of requests through h: each user reads a
// profile and orders, places an order; every 10th user has a malformed id and
// every 7th asks for a route that does not exist.
func traffic(h http.Handler, users int) {
	for u := range users {
		id := fmt.Sprint(1000 + u)
		if u%10 == 9 {
			id = "x" + id
		}
		for _, req := range []struct{ method, path string }{
			{"GET", "/users/" + id + "/profile"},
			{"GET", "/users/" + id + "/orders"},
			{"POST", "/users/" + id + "/orders"},
		} {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(req.method, req.path, nil))
		}
		if u%7 == 6 {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/users/"+id+"/avatar", nil))
		}
	}
}

// seriesPerFamily reads a text exposition: the number of samples of each family
// named by a # TYPE line (a histogram's _bucket, _sum and _count are its own).
func seriesPerFamily(t *testing.T, exposition io.Reader) map[string]int {
	t.Helper()
	kinds, counts := map[string]string{}, map[string]int{}
	sc := bufio.NewScanner(exposition)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			kinds[f[2]] = f[3]
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		family := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && kinds[base] == "histogram" {
				family = base
			}
		}
		if _, ok := kinds[family]; !ok {
			t.Errorf("sample %q has no # TYPE line", line)
		}
		counts[family]++
	}
	return counts
}

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", rec.Code)
	}
	return rec.Body.String()
}

// The cardinality budget: after traffic from thousands of distinct users, every
// family stays within its budget and no user id reaches a label.
func TestCardinalityBudget(t *testing.T) {
	s := newShop(slog.New(slog.NewTextHandler(io.Discard, nil)))
	h := newHandler(s)
	traffic(h, 3000)
	text := scrape(t, h)
	total := 0
	for family, n := range seriesPerFamily(t, strings.NewReader(text)) {
		total += n
		limit, ok := budget[family]
		switch {
		case !ok:
			t.Errorf("family %s (%d series) has no budget", family, n)
		case n > limit:
			t.Errorf("family %s has %d series, over its budget of %d", family, n, limit)
		}
	}
	if total > totalBudget {
		t.Errorf("the exposition holds %d series, over the budget of %d", total, totalBudget)
	}
	if total != s.reg.Series() {
		t.Errorf("the exposition holds %d series, the registry counts %d", total, s.reg.Series())
	}
	if strings.Contains(text, "/users/1") {
		t.Errorf("a user id reached a label:\n%s", text)
	}
	t.Logf("%d series after 3000 users", total)
}

// Orders are counted in the business family and their user id is logged.
func TestOrderIsCountedAndLogged(t *testing.T) {
	var logs strings.Builder
	s := newShop(slog.New(slog.NewTextHandler(&logs, nil)))
	h := newHandler(s)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/users/42/orders", nil))
	if rec.Code != http.StatusCreated {
		t.Fatalf("POST /users/42/orders: %d", rec.Code)
	}
	text := scrape(t, h)
	for _, want := range []string{
		"shop_orders_placed_total 1\n",
		`http_requests_total{route="POST /users/{id}/orders",code="2xx"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("exposition lacks %q:\n%s", want, text)
		}
	}
	if !strings.Contains(logs.String(), "user=42") {
		t.Errorf("the order's log line lacks its user: %q", logs.String())
	}
}
