package main

import (
	"io"
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

func TestEveryLimitIsSet(t *testing.T) {
	s := newServer(nil)
	for name, v := range map[string]time.Duration{
		"ReadHeaderTimeout": s.ReadHeaderTimeout, "ReadTimeout": s.ReadTimeout,
		"WriteTimeout": s.WriteTimeout, "IdleTimeout": s.IdleTimeout,
	} {
		if v <= 0 {
			t.Errorf("%s is not set", name)
		}
	}
	if s.MaxHeaderBytes <= 0 || s.MaxHeaderBytes > 64<<10 {
		t.Errorf("MaxHeaderBytes = %d", s.MaxHeaderBytes)
	}
}

// TestSlowHeadersAreCut: a client still sending headers after ReadHeaderTimeout
// finds its connection closed by the server.
func TestSlowHeadersAreCut(t *testing.T) {
	t.Parallel()
	conn, err := net.Dial("tcp", start(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	begin := time.Now()
	conn.Write([]byte("GET /api/hello HTTP/1.1\r\nHost: lab\r\n"))
	closed := make(chan time.Duration, 1)
	go func() {
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		io.Copy(io.Discard, conn) // returns when the server closes the connection
		closed <- time.Since(begin)
	}()
	for range 20 {
		select {
		case d := <-closed:
			if limit := newServer(nil).ReadHeaderTimeout; d < limit-250*time.Millisecond || d > limit+2*time.Second {
				t.Errorf("closed after %v, want just after %v", d, limit)
			}
			return
		case <-time.After(300 * time.Millisecond):
			conn.Write([]byte("X-Slow: 1\r\n"))
		}
	}
	t.Fatal("slow client still connected after 6 s")
}

func TestLargeHeadersRejected(t *testing.T) {
	t.Parallel()
	req, _ := http.NewRequest("GET", "http://"+start(t)+"/api/hello", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("64 KiB header: %d, want 431", resp.StatusCode)
	}
}
