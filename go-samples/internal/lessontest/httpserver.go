package lessontest

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// StartWithErrorLog serves h on a loopback port for the rest of the test. The
// server's error log (recovered handler panics, "superfluous WriteHeader" lines)
// goes into the returned buffer instead of stderr.
func StartWithErrorLog(t *testing.T, h http.Handler) (*httptest.Server, *SyncBuffer) {
	t.Helper()
	logs := &SyncBuffer{}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(logs, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, logs
}

// Outcome is what a client saw of one request.
type Outcome struct {
	Status int    // 0: no response at all (the connection was dropped)
	Body   string // the response body, as far as it could be read
}

// Do sends one request to srv on a connection of its own (no keep-alive, so a
// connection the server dropped cannot affect the next request) and reports
// what came back. A request that gets no response is an Outcome with Status 0,
// not a test failure: several lessons expect exactly that.
func Do(t *testing.T, srv *httptest.Server, method, path, body string) Outcome {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return Outcome{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return Outcome{resp.StatusCode, string(b)}
}

// Get fetches url with http.Get and returns the status code and the whole body.
func Get(url string) (status int, body string, err error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
