// Package cluster is the small production around lesson 18's service: two instances
// of it behind a load balancer that probes readiness, a supervisor that probes
// liveness and restarts an instance that fails it, and a database that can go away
// for one instance only. A lesson program calls [Main] first thing: started by the lab
// engine, the program becomes the cluster (balancer on $ADDR, supervisor, one TCP
// proxy to the database per instance) and starts two copies of itself as the
// instances; started by the cluster (with $CLUSTER_INSTANCE set), Main returns and
// the program serves the lesson's service.
//
// The cluster's own endpoints:
//
//	POST /cluster/partition?instance=1   cut that instance's path to the database
//	POST /cluster/heal?instance=1        give it back
//	GET  /debug/vars                     requests and errors per instance, restarts,
//	                                     instances_ready (what the lab's probe reports)
package cluster

import (
	"context"
	"expvar"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// InstanceEnv names the variable that tells a program it is an instance (its number).
const InstanceEnv = "CLUSTER_INSTANCE"

// Config is what a lesson program says about its health endpoints. A probe's
// Interval, Timeout and Threshold left zero take the defaults below.
type Config struct {
	Instances int   // 2 unless set
	Ready     Probe // the balancer's readiness probe
	Live      Probe // the supervisor's liveness probe
}

// Probe defaults: a probe every 100 ms that waits 200 ms; the balancer takes an
// instance out after 2 failures in a row, the supervisor restarts one after 3.
const (
	DefaultInterval       = 100 * time.Millisecond
	DefaultTimeout        = 200 * time.Millisecond
	DefaultReadyThreshold = 2
	DefaultLiveThreshold  = 3
)

func (p Probe) withDefaults(threshold int) Probe {
	if p.Interval == 0 {
		p.Interval = DefaultInterval
	}
	if p.Timeout == 0 {
		p.Timeout = DefaultTimeout
	}
	if p.Threshold == 0 {
		p.Threshold = threshold
	}
	return p
}

// Main returns at once in an instance. In the cluster it runs until SIGTERM or SIGINT
// and then exits the process.
func Main(cfg Config) {
	if os.Getenv(InstanceEnv) != "" {
		return
	}
	if err := run(cfg); err != nil {
		log.Fatalf("cluster: %v", err)
	}
	os.Exit(0)
}

func run(cfg Config) error {
	if cfg.Instances == 0 {
		cfg.Instances = 2
	}
	cfg.Ready = cfg.Ready.withDefaults(DefaultReadyThreshold)
	cfg.Live = cfg.Live.withDefaults(DefaultLiveThreshold)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var procs []*process
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	for i := 1; i <= cfg.Instances; i++ {
		p, err := newProcess(i, self)
		if err != nil {
			return err
		}
		procs = append(procs, p)
		if err := p.Restart(); err != nil {
			return err
		}
	}
	if err := waitReady(ctx, cfg.Ready, procs); err != nil {
		return err
	}

	instances, restartable := make([]Instance, len(procs)), make([]Restartable, len(procs))
	for i, p := range procs {
		instances[i], restartable[i] = p, p
	}
	bal := NewBalancer(cfg.Ready, instances...)
	sup := NewSupervisor(cfg.Live)
	expvar.Publish("requests", &bal.Requests)
	expvar.Publish("errors", &bal.Errors)
	expvar.Publish("shed", &bal.Shed)
	expvar.Publish("restarts", &sup.Restarts)
	expvar.Publish("instances_ready", expvar.Func(func() any { return bal.ReadyCount() }))
	expvar.Publish("partitioned", expvar.Func(func() any {
		n := 0
		for _, p := range procs {
			if p.db != nil && p.db.IsCut() {
				n++
			}
		}
		return n
	}))

	var wg sync.WaitGroup
	defer wg.Wait()
	probes, stopProbes := context.WithCancel(ctx)
	defer stopProbes()
	wg.Go(func() { bal.Run(probes) })
	wg.Go(func() { sup.Run(probes, restartable...) })

	mux := http.NewServeMux()
	mux.Handle("GET /debug/vars", expvar.Handler())
	mux.HandleFunc("POST /cluster/{action}", func(w http.ResponseWriter, r *http.Request) {
		control(w, r, procs)
	})
	mux.Handle("/", bal)
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout: 60 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Printf("cluster: balancer listening on %s, %d instances", ln.Addr(), len(procs))
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	stopProbes() // no restarts while the instances stop
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// control serves POST /cluster/partition and /cluster/heal.
func control(w http.ResponseWriter, r *http.Request, procs []*process) {
	n, err := strconv.Atoi(r.URL.Query().Get("instance"))
	if err != nil || n < 1 || n > len(procs) || procs[n-1].db == nil {
		http.Error(w, "instance=N names an instance with a database", http.StatusBadRequest)
		return
	}
	p := procs[n-1]
	switch r.PathValue("action") {
	case "partition":
		p.db.Cut()
	case "heal":
		p.db.Heal()
	default:
		http.NotFound(w, r)
		return
	}
	log.Printf("cluster: %s instance %d's database", r.PathValue("action"), n)
	fmt.Fprintf(w, "%s instance %d\n", r.PathValue("action"), n)
}

// waitReady waits until every instance passes the readiness probe (at most 15 s).
func waitReady(ctx context.Context, ready Probe, procs []*process) error {
	client := &http.Client{}
	deadline := time.Now().Add(15 * time.Second)
	for _, p := range procs {
		for !ready.check(ctx, client, p.Addr()) {
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("%s never became ready", p.Name())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// process is one instance: a copy of this program, restarted on a fresh port.
type process struct {
	id   int
	exe  string
	env  []string
	db   *Proxy // nil without $DATABASE_URL
	mu   sync.Mutex
	cmd  *exec.Cmd
	addr string
	done chan struct{}
}

func newProcess(id int, exe string) (*process, error) {
	p := &process{id: id, exe: exe}
	p.env = append(os.Environ(), fmt.Sprintf("%s=%d", InstanceEnv, id),
		"GOPITFALLS_PROBE_INTERVAL=off") // only the cluster reports to the lab
	if raw := os.Getenv("DATABASE_URL"); raw != "" {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("DATABASE_URL: %w", err)
		}
		if p.db, err = NewProxy(u.Host); err != nil {
			return nil, err
		}
		u.Host = p.db.Addr()
		p.env = append(p.env, "DATABASE_URL="+u.String())
	}
	return p, nil
}

func (p *process) Name() string { return strconv.Itoa(p.id) }

func (p *process) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

// Restart kills the running copy, if any (SIGKILL, as a supervisor does once it has
// given up on a process), and starts a new one on a free loopback port.
func (p *process) Restart() error {
	p.kill()
	port, err := freePort()
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(p.exe)
	cmd.Env = append(p.env, "ADDR="+addr)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	p.mu.Lock()
	p.cmd, p.addr, p.done = cmd, addr, done
	p.mu.Unlock()
	return nil
}

// kill ends the running copy with SIGKILL and waits for it.
func (p *process) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd, p.addr = nil, ""
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-done
}

// stop ends the copy gracefully (SIGTERM, then SIGKILL after 5 s) and closes the proxy.
func (p *process) stop() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd != nil {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		p.kill()
	}
	if p.db != nil {
		p.db.Close()
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
