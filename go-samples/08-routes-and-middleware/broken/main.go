// Command broken is the lesson 08 service as it tends to grow: every route is
// registered on http.DefaultServeMux, and each protected route is wrapped in the
// token check by hand. Three things go wrong without anyone noticing:
//
//   - the admin export added later was copied from a public line and has no check;
//   - the blank import of net/http/pprof registered /debug/pprof/ on the same
//     DefaultServeMux, so the profiler is public (and /debug/vars too, when expvar
//     is linked in);
//   - the static file server is mounted under /static/ without StripPrefix, so it
//     looks up "static/app.css" inside a tree whose root already is static/: 404.
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
	"time"
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
	http.HandleFunc("/healthz", healthz)
	http.HandleFunc("/routes", listRoutes)
	http.Handle("/static/", http.FileServer(http.FS(assets)))
	http.HandleFunc("/api/users/", requireToken(token, getUser))
	http.HandleFunc("/api/orders", requireToken(token, listOrders))
	// Added in a later change by copying the line for /routes.
	http.HandleFunc("/api/admin/export", exportUsers)
	return http.DefaultServeMux
}

// requireToken has to be remembered on every protected route, one by one.
func requireToken(token string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !validToken(r, token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next(w, r)
	}
}

func validToken(r *http.Request, token string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

func healthz(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") }

func listRoutes(w http.ResponseWriter, r *http.Request) { writeJSON(w, routes) }

func getUser(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/api/users/") // any method, any depth
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
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	token := os.Getenv("API_TOKEN")
	if token == "" {
		log.Fatal("API_TOKEN must be set")
	}
	h := newHandler(token)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %s", ln.Addr())
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.Serve(ln))
}
