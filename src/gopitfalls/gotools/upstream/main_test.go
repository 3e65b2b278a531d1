package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopitfalls/gotools/internal/loopback"
)

// The test binary doubles as the upstream command for the signal test.
func TestMain(m *testing.M) {
	if os.Getenv("UPSTREAM_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// start serves, in this process, what the command line args describe.
func start(t *testing.T, args ...string) *server {
	t.Helper()
	return startConfig(t, parse(t, args...))
}

func parse(t *testing.T, args ...string) config {
	t.Helper()
	cfg, err := parseFlags(args, io.Discard)
	if err != nil {
		t.Fatalf("parseFlags(%v): %v", args, err)
	}
	return cfg
}

// startConfig serves cfg in this process until the test ends; settings that have
// no flag are set in cfg.
func startConfig(t *testing.T, cfg config) *server {
	t.Helper()
	s, err := newServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	go s.serve()
	t.Cleanup(func() { s.shutdown(time.Second) })
	return s
}

func (s *server) url(path string) string { return "http://" + s.ln.Addr().String() + path }

func get(t *testing.T, c *http.Client, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", url, err)
	}
	return resp, b
}

func TestOK(t *testing.T) {
	s := start(t, "-mode", "ok")
	c := &http.Client{Timeout: 5 * time.Second}
	for i := 1; i <= 3; i++ {
		resp, b := get(t, c, s.url("/anything"))
		var v struct {
			OK bool `json:"ok"`
			N  int  `json:"n"`
		}
		if err := json.Unmarshal(b, &v); err != nil || resp.StatusCode != 200 || !v.OK || v.N != i {
			t.Fatalf("response %d: %d %q", i, resp.StatusCode, b)
		}
	}
	if s.c.requests.Load() != 3 || s.c.connsAccepted.Load() != 1 {
		t.Fatalf("requests %d conns %d, want 3 on one keep-alive conn", s.c.requests.Load(), s.c.connsAccepted.Load())
	}
	// expvar
	_, b := get(t, c, s.url("/debug/vars"))
	var vars map[string]any
	if err := json.Unmarshal(b, &vars); err != nil {
		t.Fatalf("/debug/vars: %v", err)
	}
	for _, k := range []string{"conns_accepted", "conns_open", "requests", "requests_hung", "requests_hung_total"} {
		if _, ok := vars[k]; !ok {
			t.Errorf("/debug/vars lacks %s", k)
		}
	}
	if vars["requests"].(float64) != 3 || vars["conns_open"].(float64) != 1 {
		t.Errorf("vars requests=%v conns_open=%v", vars["requests"], vars["conns_open"])
	}
	c.CloseIdleConnections()
	waitFor(t, func() bool { return s.c.connsOpen.Load() == 0 }, "conns_open back to 0")
}

func TestSlowAndDelay(t *testing.T) {
	for _, args := range [][]string{{"-mode", "slow", "-delay", "150ms"}, {"-mode", "ok", "-delay", "150ms"}} {
		s := start(t, args...)
		t0 := time.Now()
		resp, b := get(t, http.DefaultClient, s.url("/"))
		if d := time.Since(t0); d < 150*time.Millisecond || resp.StatusCode != 200 || !bytes.Contains(b, []byte(`"ok":true`)) {
			t.Fatalf("%v: %v %d %q", args, d, resp.StatusCode, b)
		}
	}
	cfg, err := parseFlags([]string{"-mode", "slow"}, io.Discard)
	if err != nil || cfg.Delay != time.Second {
		t.Fatalf("slow default delay %v %v", cfg.Delay, err)
	}
}

func TestHang(t *testing.T) {
	s := start(t, "-mode", "hang")
	c := &http.Client{Timeout: 200 * time.Millisecond}
	_, err := c.Get(s.url("/"))
	if err == nil || !strings.Contains(err.Error(), "Timeout") {
		t.Fatalf("want a client timeout, got %v", err)
	}
	if s.c.requestsHungTotal.Load() != 1 {
		t.Fatalf("requests_hung_total = %d", s.c.requestsHungTotal.Load())
	}
	// The client closed its connection: the hung request is released.
	waitFor(t, func() bool { return s.c.requestsHung.Load() == 0 && s.c.connsOpen.Load() == 0 }, "hung request released")

	// A raw client: the request is held until the server stops, no bytes sent.
	conn, err := net.Dial("tcp", s.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
	waitFor(t, func() bool { return s.c.requestsHung.Load() == 1 }, "request hung")
	conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := conn.Read(make([]byte, 10)); n != 0 || !os.IsTimeout(err) {
		t.Fatalf("hang mode answered: %d %v", n, err)
	}
	done := make(chan struct{})
	go func() { s.shutdown(2 * time.Second); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("shutdown blocked by a hung request")
	}
	conn.SetReadDeadline(time.Now().Add(time.Second))
	if n, _ := conn.Read(make([]byte, 10)); n != 0 {
		t.Fatal("got bytes after shutdown; want the connection closed without an answer")
	}
}

func TestBigSizes(t *testing.T) {
	for _, size := range []int64{0, 5, 11, 12, 13, 14, 15, 100, 1035, 1036, 1037, 1038, 1039, 2047, 2048, 65536 + 12, 1<<20 + 7} {
		var buf bytes.Buffer
		if err := streamBig(&buf, size); err != nil {
			t.Fatal(err)
		}
		if int64(buf.Len()) != size {
			t.Fatalf("size %d: wrote %d", size, buf.Len())
		}
		if size >= 12 {
			var v struct{ Items []string }
			if err := json.Unmarshal(buf.Bytes(), &v); err != nil {
				t.Fatalf("size %d: invalid JSON: %v (%q...)", size, err, buf.String()[:min(buf.Len(), 40)])
			}
			if size >= 1036 && len(v.Items[0]) != 1022 {
				t.Fatalf("size %d: first item %d long", size, len(v.Items[0]))
			}
		}
	}
}

func TestBigMode(t *testing.T) {
	for _, cl := range []bool{false, true} {
		cfg := parse(t, "-mode", "big", "-body-size", "3MiB")
		cfg.ContentLength = cl
		s := startConfig(t, cfg)
		resp, b := get(t, http.DefaultClient, s.url("/"))
		if resp.StatusCode != 200 || len(b) != 3<<20 || !json.Valid(b) {
			t.Fatalf("content-length=%v: %d, %d bytes, valid=%v", cl, resp.StatusCode, len(b), json.Valid(b))
		}
		if cl && resp.ContentLength != 3<<20 {
			t.Fatalf("Content-Length %d", resp.ContentLength)
		}
		if !cl && (resp.ContentLength != -1 || len(resp.TransferEncoding) == 0) {
			t.Fatalf("want chunked, got CL %d TE %v", resp.ContentLength, resp.TransferEncoding)
		}
	}
}

func TestBigClientGoesAway(t *testing.T) {
	s := start(t, "-mode", "big", "-body-size", "2GiB")
	conn, err := net.Dial("tcp", s.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(conn)
	line, _ := br.ReadString('\n')
	if !strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Fatalf("status line %q", line)
	}
	io.CopyN(io.Discard, br, 1<<20)
	conn.Close()
	waitFor(t, func() bool { return s.c.connsOpen.Load() == 0 }, "big response stopped after the client left")
}

func TestParseSize(t *testing.T) {
	cases := map[string]int64{
		"0": 0, "1000": 1000, "100B": 100, "2KiB": 2048, "512MiB": 512 << 20, "2GiB": 2 << 30,
		"1GB": 1e9, "10kb": 10000, "1.5MiB": 3 << 19, "4M": 4 << 20,
	}
	for in, want := range cases {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "-1", "MiB", "1ZiB", "NaN", "NaNMiB"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q): want an error", in)
		}
	}
}

func TestRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{":8080", "0.0.0.0:8080", "10.1.2.3:80", "[::]:80", "example.com:80", "nonsense"} {
		var stderr bytes.Buffer
		if code := mainExit([]string{"-addr", addr}, io.Discard, &stderr); code != 2 || stderr.Len() == 0 {
			t.Errorf("-addr %s: exit %d %q, want 2 with a message", addr, code, stderr.String())
		}
	}
	for _, args := range [][]string{{"-mode", "nope"}, {"-body-size", "lots"}, {"-delay", "-1s"}} {
		if code := mainExit(args, io.Discard, io.Discard); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0", "[::1]:0"} {
		if err := loopback.Check(addr); err != nil {
			t.Errorf("%s refused: %v", addr, err)
		}
	}
}

// TestFlagsAreTheEnginesOnly: the flags the engine passes (services.py writes
// them as -name=value) are accepted, and nothing else.
func TestFlagsAreTheEnginesOnly(t *testing.T) {
	cfg := parse(t, "-addr=127.0.0.1:0", "-mode=big", "-delay=250ms", "-body-size=1GiB")
	if cfg.Mode != "big" || cfg.Delay != 250*time.Millisecond || cfg.BodySize != 1<<30 || cfg.ContentLength || cfg.Report || cfg.AddrFile != "" {
		t.Errorf("config %+v", cfg)
	}
	var usage bytes.Buffer // -h lists every flag, "  -name type" then its help
	parseFlags([]string{"-h"}, &usage)
	var names []string
	for _, l := range strings.Split(usage.String(), "\n") {
		if name, ok := strings.CutPrefix(strings.TrimSpace(l), "-"); ok {
			names = append(names, strings.Fields(name)[0])
		}
	}
	if got := strings.Join(names, " "); got != "addr body-size delay mode" {
		t.Errorf("flags %q, want the engine's: addr body-size delay mode", got)
	}
	for _, args := range [][]string{{"-report"}, {"-interval", "1s"}, {"-addr-file", "x"}, {"-content-length"}} {
		if code := mainExit(args, io.Discard, io.Discard); code != 2 {
			t.Errorf("%v: exit %d, want 2 (no such flag)", args, code)
		}
	}
}

// TestProcess runs the real command with the engine's flags: the listening line
// on stderr, the counters at /debug/vars, and a clean exit on SIGTERM.
func TestProcess(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-addr=127.0.0.1:0", "-mode=ok")
	cmd.Env = append(os.Environ(), "UPSTREAM_TEST_RUN_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stderr)
	var first, base string
	if sc.Scan() {
		first = sc.Text()
		_, base, _ = strings.Cut(first, "listening on ")
		base, _, _ = strings.Cut(base, " ")
	}
	if !strings.HasPrefix(base, "http://127.0.0.1:") || !strings.HasSuffix(first, "(mode ok)") {
		t.Fatalf("first stderr line %q", first)
	}
	rest := make(chan string, 1)
	go func() {
		var b strings.Builder
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
		}
		rest <- b.String()
	}()
	for i := 0; i < 2; i++ {
		get(t, http.DefaultClient, base+"/")
	}
	_, b := get(t, http.DefaultClient, base+"/debug/vars")
	var vars map[string]any
	if err := json.Unmarshal(b, &vars); err != nil || vars["requests"] != 2.0 || vars["conns_accepted"].(float64) < 1 {
		t.Fatalf("/debug/vars %s (%v), want requests 2", b, err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, <-rest)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
}

// syncBuffer is written by the report goroutine while serveUntil runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestReportAndAddrFile runs serveUntil with the settings that have no flag: the
// address in a file, a JSON line of the counters every Interval on stdout; exit 0
// when the context ends.
func TestReportAndAddrFile(t *testing.T) {
	addrFile := filepath.Join(t.TempDir(), "addr")
	cfg := parse(t, "-mode", "ok")
	cfg.Report, cfg.Interval, cfg.AddrFile = true, 20*time.Millisecond, addrFile
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	exit := make(chan int, 1)
	go func() { exit <- serveUntil(ctx, cfg, &stdout, &stderr) }()
	var addr string
	waitFor(t, func() bool {
		b, err := os.ReadFile(addrFile)
		addr = strings.TrimSpace(string(b))
		return err == nil && strings.HasSuffix(string(b), "\n")
	}, "address file")
	for i := 0; i < 2; i++ {
		get(t, http.DefaultClient, "http://"+addr+"/")
	}
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serveUntil did not return after the context ended")
	}
	if !strings.Contains(stderr.String(), "listening on http://"+addr) {
		t.Errorf("stderr %q", stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var last map[string]float64
	for _, l := range lines {
		last = nil
		if err := json.Unmarshal([]byte(l), &last); err != nil {
			t.Fatalf("report line %q: %v", l, err)
		}
		for _, k := range []string{"t", "conns_accepted", "conns_open", "requests"} {
			if _, ok := last[k]; !ok {
				t.Fatalf("report line %q lacks %s", l, k)
			}
		}
	}
	if len(lines) < 3 || last["requests"] != 2 || last["conns_accepted"] < 1 {
		t.Fatalf("report lines:\n%s", stdout.String())
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
