package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the sink's readers and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func start(t *testing.T, cfg config, out io.Writer) *sink {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	s, err := newSink(cfg, out)
	if err != nil {
		t.Fatal(err)
	}
	go s.serve()
	t.Cleanup(s.close)
	return s
}

// A writer is held to the sink's rate once the kernel's buffers are full.
func TestWriterIsSlowedToTheRate(t *testing.T) {
	const rate, total = 400_000.0, 600_000
	var out syncBuffer
	s := start(t, config{Rate: rate, MaxLines: 1 << 20, RcvBuf: 16 << 10}, &out)
	c, err := net.Dial("tcp", s.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A writer of its own bounds its send buffer (the kernel's autotuning would take in
	// up to 4 MiB on loopback before a Write blocked).
	if err := c.(*net.TCPConn).SetWriteBuffer(32 << 10); err != nil {
		t.Fatal(err)
	}
	base.bytes = bytesRead.Value()
	line := strings.Repeat("x", 99) + "\n"
	began := time.Now()
	for written := 0; written < total; written += len(line) {
		if _, err := io.WriteString(c, line); err != nil {
			t.Fatal(err)
		}
	}
	took := time.Since(began)
	// The kernel buffers at most ~100 KiB of it (both sockets' buffers): the rest waits
	// for the sink, which reads total bytes in total/rate = 1.5 s at the earliest. Later is
	// normal: through a 16 KiB window loopback TCP delivers 50-75 % of the rate (the window
	// reopens in steps), and less under -race on a loaded machine (5.2 s once in CI), so
	// the upper bound only catches a sink that stalls.
	if took < time.Second || took > 15*time.Second {
		t.Errorf("writing %d bytes at %g bytes/s took %v; want 1-15 s", total, rate, took)
	}
	c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for bytesFrom(t) < int64(total) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	got := strings.Count(out.String(), line)
	if got != total/len(line) {
		t.Errorf("kept %d lines, want %d", got, total/len(line))
	}
}

var base struct{ bytes, lines int64 }

func bytesFrom(t *testing.T) int64 { return bytesRead.Value() - base.bytes }

// Lines are kept whole, up to max, across reads and connections; the counters count all.
func TestLinesAndCounters(t *testing.T) {
	base.bytes, base.lines = bytesRead.Value(), linesRead.Value()
	var out syncBuffer
	s := start(t, config{MaxLines: 5, Chunk: 7}, &out)
	var wg sync.WaitGroup
	for k := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", s.ln.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			for i := range 4 {
				fmt.Fprintf(c, "conn %d line %d with some words\n", k, i)
			}
			io.WriteString(c, "no newline at the end")
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for linesRead.Value()-base.lines < 8 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := linesRead.Value() - base.lines; n != 8 {
		t.Errorf("lines counted: %d, want 8", n)
	}
	want := int64(2 * (4*len("conn 0 line 0 with some words\n") + len("no newline at the end")))
	for bytesFrom(t) < want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := bytesFrom(t); n != want {
		t.Errorf("bytes counted: %d, want %d", n, want)
	}
	kept := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(kept) != 5 {
		t.Fatalf("kept %d lines, want the first 5: %q", len(kept), kept)
	}
	for _, l := range kept {
		if !strings.HasPrefix(l, "conn ") || !strings.HasSuffix(l, " with some words") {
			t.Errorf("a kept line is not whole: %q", l)
		}
	}
}

func TestBucketPaces(t *testing.T) {
	b := &bucket{rate: 10_000}
	began := time.Now()
	for range 10 {
		b.pay(500) // 5000 bytes at 10 kB/s: 0.5 s
	}
	if took := time.Since(began); took < 450*time.Millisecond || took > 2*time.Second {
		t.Errorf("paying 5000 bytes at 10000 bytes/s took %v, want about 0.5s", took)
	}
	(&bucket{}).pay(1 << 30) // rate 0: no wait
}

func TestFlags(t *testing.T) {
	var stderr bytes.Buffer
	if _, err := parseFlags([]string{"-addr=0.0.0.0:1"}, &stderr); err == nil {
		t.Error("a non-loopback address was accepted")
	}
	if _, err := parseFlags([]string{"-rate=-1"}, &stderr); err == nil {
		t.Error("a negative rate was accepted")
	}
	cfg, err := parseFlags([]string{"-rate=5000", "-max-lines=3"}, &stderr)
	if err != nil || cfg.Rate != 5000 || cfg.MaxLines != 3 {
		t.Errorf("parseFlags: %+v, %v", cfg, err)
	}
}
