// A catalog search service: GET /items?q=tea returns the matching items, at most
// MAX_ITEMS of them, from the catalog database at DATABASE_URL, within REQUEST_TIMEOUT.
// POST /admin/reload re-reads the settings from the environment, with KEY=VALUE lines
// in the request body taking precedence (a config push); it needs the ADMIN_TOKEN as
// a bearer token. GET /config shows the settings in effect, with the database
// password redacted; GET /healthz says whether the service is up.
//
// The fix, in three steps:
//  1. Load(getenv) (Config, error) parses and validates every setting and reports all
//     the problems at once; main refuses to start on an error (one line on stderr,
//     exit code 2), and a reload with a bad setting is refused with 400;
//  2. no package state: the Config is passed to newServer, and tests build a server
//     from their own Config, so parallel tests cannot see each other's settings;
//  3. a reload builds a whole new Config and swaps it in with an atomic.Pointer; a
//     request takes one snapshot at its start and uses it throughout, so it never sees
//     a mix of old and new settings, and no variable is written while it is read.
//
// Not part of the three steps, but what a production service owes its settings: a
// reload is an admin action, so it needs the ADMIN_TOKEN (lesson 08 shows an admin
// route left open), and /config never shows the database password.
package main

import (
	"bufio"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"gopitfalls/samples/internal/serve"
)

var reloads = expvar.NewInt("config_reloads")

// Config is the service's settings. A Config is never modified once loaded.
type Config struct {
	Addr           string
	DatabaseURL    string
	RequestTimeout time.Duration
	MaxItems       int
	AdminToken     string // bearer token of POST /admin/reload; empty: reloads are off
}

// Load reads the settings through getenv (os.Getenv in main, a map in tests), applies
// the defaults and validates them. The error lists every problem, on one line.
func Load(getenv func(string) string) (Config, error) {
	cfg := Config{Addr: "127.0.0.1:8080", RequestTimeout: 2 * time.Second, MaxItems: 50}
	var problems []string
	if v := getenv("ADDR"); v != "" {
		cfg.Addr = v
	}
	if _, port, err := net.SplitHostPort(cfg.Addr); err != nil {
		problems = append(problems, fmt.Sprintf("ADDR %q is not host:port", cfg.Addr))
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		problems = append(problems, fmt.Sprintf("ADDR %q: port %q is not a number from 0 to 65535", cfg.Addr, port))
	}
	cfg.DatabaseURL = getenv("DATABASE_URL")
	if cfg.DatabaseURL == "" {
		problems = append(problems, "DATABASE_URL is required")
	} else if u, err := url.Parse(cfg.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		problems = append(problems, "DATABASE_URL must look like postgres://user@host:5432/dbname")
	}
	if v := getenv("REQUEST_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			problems = append(problems, fmt.Sprintf("REQUEST_TIMEOUT %q is not a positive duration like 2s or 500ms", v))
		}
		cfg.RequestTimeout = d
	}
	if v := getenv("MAX_ITEMS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			problems = append(problems, fmt.Sprintf("MAX_ITEMS %q is not a number from 1 to 1000", v))
		}
		cfg.MaxItems = n
	}
	cfg.AdminToken = getenv("ADMIN_TOKEN")
	if len(problems) > 0 {
		return Config{}, errors.New(strings.Join(problems, "; "))
	}
	return cfg, nil
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

type server struct {
	cfg atomic.Pointer[Config] // swapped whole by a reload, never modified in place
}

func newServer(cfg Config) *server {
	s := &server{}
	s.cfg.Store(&cfg)
	return s
}

func (s *server) handleItems(w http.ResponseWriter, r *http.Request) {
	cfg := s.cfg.Load() // one snapshot for the whole request
	ctx, cancel := context.WithTimeout(r.Context(), cfg.RequestTimeout)
	defer cancel()
	items, err := queryCatalog(ctx, cfg.DatabaseURL, r.URL.Query().Get("q"))
	if errors.Is(err, context.DeadlineExceeded) {
		http.Error(w, "catalog query timed out", http.StatusGatewayTimeout)
		return
	}
	if err != nil {
		log.Printf("items: %v", err)
		http.Error(w, "catalog unavailable", http.StatusInternalServerError)
		return
	}
	if len(items) > cfg.MaxItems {
		items = items[:cfg.MaxItems]
	}
	writeJSON(w, page{Items: items, Limit: cfg.MaxItems})
}

func (s *server) handleConfig(w http.ResponseWriter, r *http.Request) {
	cfg := s.cfg.Load()
	writeJSON(w, map[string]any{"database_url": redacted(cfg.DatabaseURL),
		"request_timeout": cfg.RequestTimeout.String(), "max_items": cfg.MaxItems})
}

func (s *server) handleReload(w http.ResponseWriter, r *http.Request) {
	pushed, err := parseSettings(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	cfg, err := Load(func(key string) string {
		if v, ok := pushed[key]; ok {
			return v
		}
		return os.Getenv(key)
	})
	if err != nil {
		http.Error(w, "reload refused, settings unchanged: "+err.Error(), http.StatusBadRequest)
		return
	}
	cfg.Addr = s.cfg.Load().Addr // the listener stays where it is
	s.cfg.Store(&cfg)
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

// redacted is the database URL as /config shows it, its password replaced by "xxxxx"
// (url.URL.Redacted): /config is for reading settings, not secrets. The admin token
// is not shown at all.
func redacted(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparseable, not shown)"
	}
	return u.Redacted()
}

// adminOnly passes a request on only if it carries the admin token of the settings in
// effect, as "Authorization: Bearer <token>"; with no ADMIN_TOKEN set, nothing passes.
// A reload changes what the service does, so it is no route for any caller (lesson 08).
// ConstantTimeCompare takes as long wherever the first wrong byte is, so the answer's
// timing does not give the token away byte by byte.
func adminOnly(cfg *atomic.Pointer[Config], next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token := cfg.Load().AdminToken
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", "Bearer")
			http.Error(w, "reload needs the admin token", http.StatusUnauthorized)
			return
		}
		next(w, r)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (s *server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items", s.handleItems)
	mux.HandleFunc("GET /config", s.handleConfig)
	mux.HandleFunc("POST /admin/reload", adminOnly(&s.cfg, s.handleReload))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	return mux
}

func main() {
	cfg, err := Load(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "catalog: invalid configuration:", err)
		os.Exit(2)
	}
	// Server timeouts and a graceful shutdown, as lessons 20 and 21 teach.
	if err := serve.Run(cfg.Addr, newServer(cfg).routes()); err != nil {
		log.Fatal(err)
	}
}
