// Command logsink is a slow log collector for the lessons: a TCP server on a
// loopback address that reads what its clients write at most -rate bytes per
// second, like a backed-up log shipper. Its receive buffer is small (16 KiB; far
// smaller windows slow loopback TCP below the rate), so once the kernel's buffers
// are full a client's Write blocks until the sink reads on. A client bounds its own
// send buffer (SetWriteBuffer): Linux would otherwise take in up to 4 MiB on
// loopback before a Write blocked, as a pipe's 64 KiB would not.
//
// Each complete line it receives (up to -max-lines of them) is written to the
// file -out, for the engine to read back after the run. Counters are published
// with expvar (read by the probe the engine injects): bytes, lines, conns.
//
// Flags: -addr, -rate (bytes/s; 0 reads as fast as it can), -out, -max-lines,
// -rcvbuf (the socket receive buffer, bytes). SIGINT/SIGTERM stop it cleanly
// (exit 0) after the lines received so far are in -out.
package main

import (
	"bytes"
	"context"
	"errors"
	"expvar"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"gopitfalls/gotools/internal/loopback"
)

type config struct {
	Addr     string
	Rate     float64 // bytes per second; 0: no limit
	Out      string  // "" keeps no lines
	MaxLines int64
	RcvBuf   int
	Chunk    int // the most one read takes
}

var (
	bytesRead = expvar.NewInt("bytes")
	linesRead = expvar.NewInt("lines")
	connsSeen = expvar.NewInt("conns")
)

// bucket paces reads to rate bytes per second: each read reserves the time its
// bytes take at that rate, after whatever was reserved before it.
type bucket struct {
	mu   sync.Mutex
	rate float64
	next time.Time
}

// pay blocks until n more bytes fit the rate (at once when rate is 0).
func (b *bucket) pay(n int) {
	if b.rate <= 0 || n <= 0 {
		return
	}
	b.mu.Lock()
	now := time.Now()
	if b.next.Before(now) {
		b.next = now
	}
	b.next = b.next.Add(time.Duration(float64(n) / b.rate * float64(time.Second)))
	until := b.next
	b.mu.Unlock()
	time.Sleep(time.Until(until))
}

// store keeps complete lines, at most max of them, in w.
type store struct {
	mu   sync.Mutex
	w    io.Writer
	kept int64
	max  int64
}

func (s *store) add(lines []byte, n int64) {
	if s.w == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for n > 0 && s.kept < s.max {
		i := bytes.IndexByte(lines, '\n')
		if i < 0 {
			return
		}
		s.w.Write(lines[:i+1])
		lines, n, s.kept = lines[i+1:], n-1, s.kept+1
	}
}

type sink struct {
	cfg    config
	ln     net.Listener
	bucket *bucket
	store  *store
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
}

func newSink(cfg config, out io.Writer) (*sink, error) {
	if err := loopback.Check(cfg.Addr); err != nil {
		return nil, err
	}
	if cfg.Chunk <= 0 {
		cfg.Chunk = 1024
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	return &sink{cfg: cfg, ln: ln, bucket: &bucket{rate: cfg.Rate},
		store: &store{w: out, max: cfg.MaxLines}, conns: map[net.Conn]bool{}}, nil
}

// serve accepts clients until the listener is closed.
func (s *sink) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		if tc, ok := c.(*net.TCPConn); ok && s.cfg.RcvBuf > 0 {
			tc.SetReadBuffer(s.cfg.RcvBuf)
		}
		connsSeen.Add(1)
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.read(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

// read takes one client's bytes at the sink's pace and keeps its complete lines.
func (s *sink) read(c net.Conn) {
	buf := make([]byte, s.cfg.Chunk)
	var partial []byte
	for {
		n, err := c.Read(buf)
		if n > 0 {
			s.bucket.pay(n)
			bytesRead.Add(int64(n))
			data := append(partial, buf[:n]...)
			complete := int64(bytes.Count(data, []byte{'\n'}))
			linesRead.Add(complete)
			last := bytes.LastIndexByte(data, '\n')
			s.store.add(data[:last+1], complete)
			partial = append([]byte(nil), data[last+1:]...)
		}
		if err != nil {
			return
		}
	}
}

// close stops accepting, drops the clients and waits for their readers.
func (s *sink) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func main() {
	os.Exit(mainExit(os.Args[1:], os.Stderr))
}

func mainExit(args []string, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "logsink:", err)
		}
		return 2
	}
	var out *os.File
	if cfg.Out != "" {
		if out, err = os.Create(cfg.Out); err != nil {
			fmt.Fprintln(stderr, "logsink:", err)
			return 1
		}
		defer out.Close()
	}
	var w io.Writer
	if out != nil {
		w = out
	}
	s, err := newSink(cfg, w)
	if err != nil {
		fmt.Fprintln(stderr, "logsink:", err)
		return 1
	}
	fmt.Fprintf(stderr, "logsink: listening on %s (%g bytes/s)\n", s.ln.Addr(), cfg.Rate)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go s.serve()
	<-ctx.Done()
	s.close()
	return 0
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("logsink", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:0", "loopback address to listen on")
	fs.Float64Var(&cfg.Rate, "rate", 0, "bytes per second it reads at most (0: no limit)")
	fs.StringVar(&cfg.Out, "out", "", "file to write the received lines to")
	fs.Int64Var(&cfg.MaxLines, "max-lines", 100000, "the most lines written to -out")
	fs.IntVar(&cfg.RcvBuf, "rcvbuf", 16<<10, "socket receive buffer in bytes (0: the kernel's)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if cfg.Rate < 0 {
		return cfg, fmt.Errorf("-rate must be >= 0")
	}
	return cfg, loopback.Check(cfg.Addr)
}
