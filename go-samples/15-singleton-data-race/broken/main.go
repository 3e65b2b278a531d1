// A tenant router: GET /route?tenant=acme answers where this service sends the tenant's
// queries, the region that holds the primary database and that database's address. The
// control plane moves the primary between two regions (a failover drill), and a watcher
// goroutine loads each new routing document into the process.
//
// The pitfall: the routing lives in one package-level *Routing, created on first use and
// then updated in place. The watcher writes its fields one after another while handlers on
// other goroutines read them, so a handler can see the new region with the old host, or
// the new host with the old port: a combination that no routing document ever contained.
// Nothing crashes and nothing is logged; the request goes to an address that does not
// exist (here: the sanity check below answers 502), or, worse, to the wrong region.
//
// The handler checks the one invariant every routing document keeps (region, host and port
// belong together) and counts each read that breaks it: expvar torn_reads, next to reads
// and reloads. RELOAD_EVERY (a Go duration, default 1ms) is how often the watcher reloads.
package main

import (
	"cmp"
	"encoding/json"
	"expvar"
	"fmt"
	"log"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

var (
	reads     = expvar.NewInt("reads")      // routing reads by handlers
	tornReads = expvar.NewInt("torn_reads") // reads whose region, host and port disagree
	reloads   = expvar.NewInt("reloads")    // routing documents loaded by the watcher
)

// The control plane's two routing documents: the primary database in Europe, or in the
// US. Each region's database has its own host and its own port.
var documents = []string{
	"region=eu-west-1\nhost=pg-eu-west-1.db.internal\nport=5432\n",
	"region=us-east-1\nhost=pg-us-east-1.db.internal\nport=6432\n",
}

// Routing is where the tenants' queries go.
type Routing struct {
	Version int64  // how many documents were loaded
	Region  string // the region that holds the primary database
	Host    string // the primary's host name
	Port    int    // the primary's port
}

// routing is the process-wide routing table: made on first use, updated in place by the
// watcher, read by every handler.
var routing *Routing

// current returns the routing table, making it on first use.
func current() *Routing {
	if routing == nil { // check, then act: two first requests may both make one
		routing = &Routing{}
		routing.apply(documents[0])
	}
	return routing
}

// apply loads a routing document (key=value lines) into r, field by field.
func (r *Routing) apply(doc string) error {
	for line := range strings.Lines(doc) {
		key, value, _ := strings.Cut(strings.TrimSpace(line), "=")
		switch key {
		case "region":
			r.Region = value
		case "host":
			r.Host = value
		case "port":
			port, err := strconv.Atoi(value)
			if err != nil {
				return fmt.Errorf("port %q: %w", value, err)
			}
			r.Port = port
		}
		// Stands in for the preemption that can stop this goroutine between any two
		// writes in production (a busy machine, a GC assist, the scheduler's time
		// slice): it makes a rare interleaving frequent enough to count in seconds.
		runtime.Gosched()
	}
	r.Version++
	return nil
}

// watch loads the next routing document every `every`, alternating between the regions.
func watch(every time.Duration) {
	for i := 1; ; i++ {
		time.Sleep(every)
		if err := current().apply(documents[i%len(documents)]); err != nil {
			log.Printf("routing reload: %v", err)
			continue
		}
		reloads.Add(1)
	}
}

// route is what GET /route answers.
type route struct {
	Tenant  string `json:"tenant"`
	Version int64  `json:"version"`
	Region  string `json:"region"`
	Host    string `json:"host"`
	Port    int    `json:"port"`
}

// consistent reports whether region, host and port come from one routing document: each
// region's primary is pg-<region>.db.internal, on the port its document gives.
func consistent(region, host string, port int) bool {
	for _, doc := range documents {
		if strings.Contains(doc, "region="+region+"\n") {
			return strings.Contains(doc, "host="+host+"\n") &&
				strings.Contains(doc, "port="+strconv.Itoa(port)+"\n")
		}
	}
	return false
}

func handleRoute(w http.ResponseWriter, r *http.Request) {
	reads.Add(1)
	rt := current() // the shared table itself: its fields may change as they are read
	rte := route{Tenant: r.URL.Query().Get("tenant"), Version: rt.Version,
		Region: rt.Region, Host: rt.Host, Port: rt.Port}
	w.Header().Set("X-Route", fmt.Sprintf("%s %s:%d", rte.Region, rte.Host, rte.Port))
	if !consistent(rte.Region, rte.Host, rte.Port) {
		// The address is a mix of two documents: refuse to send the tenant there.
		tornReads.Add(1)
		msg := fmt.Sprintf("misrouted: region %s with %s:%d", rte.Region, rte.Host, rte.Port)
		log.Printf("tenant %s %s", rte.Tenant, msg)
		http.Error(w, msg, http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(rte)
}

func main() {
	every, err := time.ParseDuration(cmp.Or(os.Getenv("RELOAD_EVERY"), "1ms"))
	if err != nil || every <= 0 {
		log.Fatalf("RELOAD_EVERY %q is not a positive duration", os.Getenv("RELOAD_EVERY"))
	}
	go watch(every)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /route", handleRoute)
	addr := cmp.Or(os.Getenv("ADDR"), "127.0.0.1:8080")
	log.Printf("listening on %s, reloading the routing every %v", addr, every)
	log.Fatal(http.ListenAndServe(addr, mux))
}
