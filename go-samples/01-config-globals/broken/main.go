// A catalog search service: GET /items?q=tea returns the matching items, at most
// MAX_ITEMS of them, from the catalog database at DATABASE_URL, within REQUEST_TIMEOUT.
// POST /admin/reload re-reads the settings from the environment, with KEY=VALUE lines
// in the request body taking precedence (a config push). GET /config shows the
// settings in effect; GET /healthz says whether the service is up.
//
// The pitfall: the settings are package variables, filled by init() from the
// environment, with every parse error thrown away:
//   - a bad value becomes a zero value and the service starts anyway: without
//     DATABASE_URL every search fails with 500, REQUEST_TIMEOUT=abc is a timeout of 0
//     (every search answers 504), MAX_ITEMS=abc returns empty pages; /healthz still
//     says ok, so a rollout goes through;
//   - tests share the variables: parallel tests that need different settings
//     overwrite each other's (config_lesson_test.go, run with -tags lesson);
//   - a reload writes the variables while requests read them: a data race, reported
//     as "WARNING: DATA RACE" by a -race build, and a request can see part of the old
//     settings and part of the new ones.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

var reloads = expvar.NewInt("config_reloads")

var (
	databaseURL    string
	requestTimeout = 2 * time.Second
	maxItems       = 50
)

func init() { loadConfig(os.Getenv) }

func loadConfig(getenv func(string) string) {
	databaseURL = getenv("DATABASE_URL")
	if v := getenv("REQUEST_TIMEOUT"); v != "" {
		requestTimeout, _ = time.ParseDuration(v)
	}
	if v := getenv("MAX_ITEMS"); v != "" {
		maxItems, _ = strconv.Atoi(v)
	}
}

type item struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

var catalog = func() []item {
	kinds := []string{"green tea", "black tea", "coffee beans", "mug", "kettle", "teapot"}
	items := make([]item, 300)
	for i := range items {
		items[i] = item{ID: i + 1, Name: fmt.Sprintf("%s no. %d", kinds[i%len(kinds)], i+1)}
	}
	return items
}()

// queryCatalog stands in for the database query: a round trip of a couple of
// milliseconds, to the database at dsn.
func queryCatalog(ctx context.Context, dsn, q string) ([]item, error) {
	select {
	case <-time.After(2 * time.Millisecond):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if u, err := url.Parse(dsn); err != nil || u.Host == "" {
		return nil, fmt.Errorf("connect to catalog database: no host in DATABASE_URL %q", dsn)
	}
	var found []item
	for _, it := range catalog {
		if strings.Contains(it.Name, q) {
			found = append(found, it)
		}
	}
	return found, nil
}

type page struct {
	Items []item `json:"items"`
	Limit int    `json:"limit"`
}

func handleItems(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	items, err := queryCatalog(ctx, databaseURL, r.URL.Query().Get("q"))
	if errors.Is(err, context.DeadlineExceeded) {
		http.Error(w, "catalog query timed out", http.StatusGatewayTimeout)
		return
	}
	if err != nil {
		log.Printf("items: %v", err)
		http.Error(w, "catalog unavailable", http.StatusInternalServerError)
		return
	}
	if len(items) > maxItems {
		items = items[:maxItems]
	}
	writeJSON(w, page{Items: items, Limit: maxItems})
}

func handleConfig(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{"database_url": databaseURL,
		"request_timeout": requestTimeout.String(), "max_items": maxItems})
}

func handleReload(w http.ResponseWriter, r *http.Request) {
	pushed, err := parseSettings(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	loadConfig(func(key string) string {
		if v, ok := pushed[key]; ok {
			return v
		}
		return os.Getenv(key)
	})
	reloads.Add(1)
	fmt.Fprintln(w, "reloaded")
}

// parseSettings reads KEY=VALUE lines; blank lines and lines starting with # are skipped.
func parseSettings(r io.Reader) (map[string]string, error) {
	settings := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("want KEY=VALUE, got %q", line)
		}
		settings[strings.TrimSpace(key)] = strings.TrimSpace(value)
	}
	return settings, sc.Err()
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items", handleItems)
	mux.HandleFunc("GET /config", handleConfig)
	mux.HandleFunc("POST /admin/reload", handleReload)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	return mux
}

func main() {
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	log.Printf("catalog listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, routes()))
}
