// A tenant router: GET /route?tenant=acme answers where this service sends the tenant's
// queries, the region that holds the primary database and that database's address. The
// control plane moves the primary between two regions (a failover drill), and a watcher
// goroutine loads each new routing document into the process.
//
// The fix, in three steps:
//  1. a published Routing is never modified: a reload parses the document into a new
//     Routing of its own, which no other goroutine can see while it is half filled;
//  2. the new table is published with one atomic.Pointer Store, and each request Loads
//     the pointer once and reads every field from that one snapshot, so region, host and
//     port always come from the same document (a sync.RWMutex around the fields would
//     work too, but every reader would then take a lock, and each must remember to);
//  3. the first table is made under a sync.Once, so two first callers cannot both make
//     one; the tests read and reload at the same time and run with go test -race in CI.
//
// The handler still checks the invariant and counts the reads that break it (expvar
// torn_reads, next to reads and reloads): here it stays at zero. RELOAD_EVERY (a Go
// duration, default 1ms) is how often the watcher reloads.
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
	"sync"
	"sync/atomic"
	"time"

	"gopitfalls/samples/internal/serve"
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

// Routing is where the tenants' queries go. Once published it is read-only: a reload
// makes a new one.
type Routing struct {
	Version int64  // how many documents were loaded
	Region  string // the region that holds the primary database
	Host    string // the primary's host name
	Port    int    // the primary's port
}

// routing is the process-wide routing table: the current snapshot, swapped whole by the
// watcher and read by every handler.
var (
	routing  atomic.Pointer[Routing]
	initOnce sync.Once
)

// current returns the routing table, making it on first use.
func current() *Routing {
	initOnce.Do(func() { // exactly once, however many goroutines ask at the same time
		first, err := parse(documents[0])
		if err != nil {
			panic(err) // the built-in document is valid
		}
		first.Version = 1
		routing.Store(first)
	})
	return routing.Load()
}

// parse reads a routing document (key=value lines) into a new Routing, field by field:
// the same loop as before, but into a value that no other goroutine can see yet.
func parse(doc string) (*Routing, error) {
	r := &Routing{}
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
				return nil, fmt.Errorf("port %q: %w", value, err)
			}
			r.Port = port
		}
		// Kept from the broken program (it stood in for preemption): a pause here
		// is harmless now, since nobody else can see r until it is stored.
		runtime.Gosched()
	}
	return r, nil
}

// reload parses a routing document into a new Routing and publishes it in one step.
func reload(doc string) error {
	next, err := parse(doc)
	if err != nil {
		return err // the current table stays in place
	}
	next.Version = current().Version + 1 // one watcher: no other reload in between
	routing.Store(next)
	return nil
}

// watch loads the next routing document every `every`, alternating between the regions.
func watch(every time.Duration) {
	for i := 1; ; i++ {
		time.Sleep(every)
		if err := reload(documents[i%len(documents)]); err != nil {
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
	rt := current() // one snapshot per request: every field below comes from it
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
	// Server timeouts and a graceful shutdown, as lessons 20 and 21 teach.
	if err := serve.Run(addr, mux); err != nil {
		log.Fatal(err)
	}
}
