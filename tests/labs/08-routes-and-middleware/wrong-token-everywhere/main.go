// An inventory service for a warehouse:
//
//	GET  /healthz                  liveness: the load balancer calls it, without a token
//	GET  /v1/stock/{sku}           the stock of one item                  (token needed)
//	POST /v1/stock/{sku}/reserve   reserves units: {"units":3}             (token needed)
//	GET  /v1/reports/shrinkage     the month's losses, as CSV             (token needed)
//
// Every /v1/ route needs "Authorization: Bearer $INVENTORY_TOKEN". The profiler
// (net/http/pprof) is there for the on-call engineer, who reaches it on the loopback
// admin address ADMIN_ADDR.
//
// A wrong fix of lab 08: the public mux is its own and the profiler is on ADMIN_ADDR
// only, but requireToken wraps the whole public server, /healthz included: the load
// balancer's health check gets 401.
package main

import (
	"crypto/subtle"
	"encoding/json"
	"expvar"
	"fmt"
	"log"
	"net/http"
	"net/http/pprof" // its handlers, mounted on the admin mux below
	"os"
	"strings"
	"sync"
	"time"
)

var reservations = expvar.NewInt("reservations") // expvar registers /debug/vars, too

type inventory struct {
	mu    sync.Mutex
	stock map[string]int
}

func (inv *inventory) getStock(w http.ResponseWriter, r *http.Request) {
	inv.mu.Lock()
	n, ok := inv.stock[r.PathValue("sku")]
	inv.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	writeJSON(w, map[string]any{"sku": r.PathValue("sku"), "units": n})
}

func (inv *inventory) reserve(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Units int `json:"units"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Units < 1 {
		http.Error(w, `want {"units": n}, n >= 1`, http.StatusBadRequest)
		return
	}
	sku := r.PathValue("sku")
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if n, ok := inv.stock[sku]; !ok || n < req.Units {
		http.Error(w, "not enough stock", http.StatusConflict)
		return
	}
	inv.stock[sku] -= req.Units
	reservations.Add(1)
	writeJSON(w, map[string]any{"sku": sku, "reserved": req.Units, "left": inv.stock[sku]})
}

func shrinkageReport(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/csv")
	fmt.Fprintln(w, "sku,lost_units,reason")
	fmt.Fprintln(w, "bolt-m8,40,miscount")
	fmt.Fprintln(w, "drill-18v,2,theft")
}

func healthz(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") }

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// requireToken answers 401 unless the request carries the bearer token.
func requireToken(token string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="inventory"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next(w, r)
	}
}

func main() {
	token := os.Getenv("INVENTORY_TOKEN")
	if token == "" {
		log.Fatal("INVENTORY_TOKEN must be set")
	}
	inv := &inventory{stock: map[string]int{"bolt-m8": 5000, "drill-18v": 12}}

	// The /v1/ routes live on a mux of their own, reached only through requireToken.
	api := http.NewServeMux()
	api.HandleFunc("GET /v1/stock/{sku}", inv.getStock)
	api.HandleFunc("POST /v1/stock/{sku}/reserve", inv.reserve)
	api.HandleFunc("GET /v1/reports/shrinkage", shrinkageReport)
	public := http.NewServeMux() // not DefaultServeMux: nothing a package registers shows up
	public.HandleFunc("GET /healthz", healthz)
	public.Handle("/v1/", api)

	if addr := os.Getenv("ADMIN_ADDR"); addr != "" {
		admin := http.NewServeMux()
		admin.HandleFunc("/debug/pprof/", pprof.Index)
		admin.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		admin.HandleFunc("/debug/pprof/profile", pprof.Profile)
		admin.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		admin.HandleFunc("/debug/pprof/trace", pprof.Trace)
		admin.Handle("/debug/vars", expvar.Handler())
		go func() {
			log.Printf("admin (profiler) on %s", addr)
			log.Fatal(http.ListenAndServe(addr, admin))
		}()
	}
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	log.Printf("listening on %s", addr)
	srv := &http.Server{Addr: addr, Handler: requireToken(token, public.ServeHTTP), ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
