package main

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func start(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(newHandler())
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestSlowHeadersAreWaitedFor demonstrates the bug: a client that needs 3 s for
// its headers (longer than the fixed server allows) is still served.
func TestSlowHeadersAreWaitedFor(t *testing.T) {
	t.Parallel()
	conn, err := net.Dial("tcp", start(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("GET /api/hello HTTP/1.1\r\nHost: lab\r\n"))
	for range 6 {
		time.Sleep(500 * time.Millisecond)
		if _, err := conn.Write([]byte("X-Slow: 1\r\n")); err != nil {
			t.Fatalf("server dropped the slow client: %v", err)
		}
	}
	conn.Write([]byte("\r\n"))
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 200") {
		t.Fatalf("after 3 s of headers: %q %v, want 200 (the bug)", status, err)
	}
}

// TestLargeHeadersAccepted: without MaxHeaderBytes the limit is 1 MiB.
func TestLargeHeadersAccepted(t *testing.T) {
	t.Parallel()
	req, _ := http.NewRequest("GET", "http://"+start(t)+"/api/hello", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("64 KiB header: %d, want 200", resp.StatusCode)
	}
}
