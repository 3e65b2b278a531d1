package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func users(h http.Handler, from, to int) {
	for u := from; u < to; u++ {
		id := fmt.Sprint(u)
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/users/"+id+"/profile", nil))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/users/"+id+"/orders", nil))
	}
}

// The bug: the series grow with the number of distinct users, by more than a
// dozen per user, and the users' ids are in the exposition.
func TestSeriesGrowWithUsers(t *testing.T) {
	s := newShop()
	h := newHandler(s)
	users(h, 1000, 1100)
	early := s.reg.Series()
	users(h, 1100, 2000)
	late := s.reg.Series()
	if late < 12*1000 || late < 9*early {
		t.Errorf("series after 100 users: %d, after 1000: %d; expected growth with users", early, late)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `path="/users/1999/orders"`) {
		t.Error("the last user's path is not a label value")
	}
	t.Logf("series after 100 users: %d, after 1000: %d; exposition %d bytes", early, late, rec.Body.Len())
}
