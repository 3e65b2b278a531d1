// Command fixed is the lesson 08 service after the fix: one private ServeMux with
// method + path patterns, wrapped once by the token check, which lets through only
// an allowlist of public patterns. A route added tomorrow is protected by default.
// net/http/pprof is still linked in, but http.DefaultServeMux (where it registers
// itself) is served only on ADMIN_ADDR, a loopback-only second listener. Both
// listeners have every server timeout set (internal/serve); SIGTERM shuts the main
// one down gracefully.
package main

import (
	"crypto/subtle"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"log"
	"net"
	"net/http"
	_ "net/http/pprof" // "we will need profiles one day"
	"os"
	"strings"

	"gopitfalls/samples/internal/serve"
)

//go:embed static
var staticFiles embed.FS

type user struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

var users = []user{
	{"1", "Ada", "ada@example.com"},
	{"2", "Grace", "grace@example.com"},
}

// route is what the team believes is deployed. GET /routes serves the list so an
// audit can probe each path with and without a token and compare with Auth.
type route struct {
	Method string `json:"method"`
	Path   string `json:"path"` // a concrete path to probe
	Auth   bool   `json:"auth"` // true: must answer 401 without a valid token
}

var routes = []route{
	{"GET", "/healthz", false},
	{"GET", "/routes", false},
	{"GET", "/static/app.css", false},
	{"GET", "/api/users/1", true},
	{"GET", "/api/orders", true},
	{"GET", "/api/admin/export", true},
}

func newHandler(token string) http.Handler {
	assets, _ := fs.Sub(staticFiles, "static")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /routes", listRoutes)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServer(http.FS(assets))))
	mux.HandleFunc("GET /api/users/{id}", getUser)
	mux.HandleFunc("GET /api/orders", listOrders)
	mux.HandleFunc("GET /api/admin/export", exportUsers)
	public := map[string]bool{"GET /healthz": true, "GET /routes": true, "GET /static/": true}
	return requireToken(token, mux, public)
}

// requireToken wraps the whole mux once. It asks the mux which pattern will serve
// the request (after path cleaning, so "/static/../api/..." is not public) and
// demands the token unless that pattern is on the public allowlist. Unknown paths
// and wrong methods need the token too: anonymous callers learn nothing.
func requireToken(token string, mux *http.ServeMux, public map[string]bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); !public[pattern] && !validToken(r, token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func validToken(r *http.Request, token string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

func healthz(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") }

func listRoutes(w http.ResponseWriter, r *http.Request) { writeJSON(w, routes) }

func getUser(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id") // the mux matched GET and exactly one segment
	for _, u := range users {
		if u.ID == id {
			writeJSON(w, u)
			return
		}
	}
	http.NotFound(w, r)
}

func listOrders(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, []map[string]any{{"id": 7, "user": "1", "total_cents": 1299}})
}

func exportUsers(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/csv")
	for _, u := range users {
		fmt.Fprintf(w, "%s,%s,%s\n", u.ID, u.Name, u.Email)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func main() {
	token := os.Getenv("API_TOKEN")
	if token == "" {
		log.Fatal("API_TOKEN must be set")
	}
	if admin := os.Getenv("ADMIN_ADDR"); admin != "" {
		go serveAdmin(admin)
	}
	h := newHandler(token)
	// Server timeouts and a graceful shutdown, as lessons 20 and 21 teach.
	if err := serve.Run(serve.Addr(), h); err != nil {
		log.Fatal(err)
	}
}

// serveAdmin serves http.DefaultServeMux (pprof, expvar) on a loopback address only,
// with the same server timeouts as the main listener.
func serveAdmin(addr string) {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Fatalf("ADMIN_ADDR %q must be a loopback IP and port", addr)
	}
	srv := serve.NewServer(http.DefaultServeMux)
	srv.Addr = addr
	log.Fatal(srv.ListenAndServe())
}
