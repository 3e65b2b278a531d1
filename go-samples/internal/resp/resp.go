// Package resp is a small Redis client, written for the course because the
// course machines cannot download a Go module. It is a teaching client: a real
// service uses github.com/redis/go-redis, with its pipelining, RESP3, cluster
// and sentinel support, retries and metrics.
//
// It speaks RESP2, Redis's request/response protocol: a command is an array of
// bulk strings, and each reply starts with a byte that gives its type:
//
//	+OK\r\n               simple string
//	-ERR unknown command  error (returned as *Error)
//	:42\r\n               integer (int64)
//	$5\r\nhello\r\n       bulk string (string); $-1\r\n is nil (a missing key)
//	*2\r\n...             array ([]any); *-1\r\n is nil
//
// A Client holds a small pool of connections. A command that fails on the
// network, or whose context ends while it waits for its reply, loses its
// connection: the reply may still arrive later, and the next command on that
// connection would read it as its own.
package resp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// Error is an error reply from the server, e.g. "WRONGTYPE Operation against a
// key holding the wrong kind of value". The connection stays usable.
type Error struct{ Message string }

func (e *Error) Error() string { return "redis: " + e.Message }

// Client is safe for concurrent use; each command borrows one connection.
type Client struct {
	addr  string
	slots chan struct{} // one token per connection open or being opened
	idle  chan *conn    // connections waiting for a command

	mu     sync.Mutex
	closed bool
}

type conn struct {
	nc net.Conn
	br *bufio.Reader
}

// ErrClosed is returned by commands on a closed Client.
var ErrClosed = errors.New("redis: client closed")

// NewClient returns a client of the server at addr ("127.0.0.1:6379") that
// opens at most poolSize connections; a command that finds them all busy waits
// for one (or for its context to end). Connections are opened on first use.
func NewClient(addr string, poolSize int) *Client {
	poolSize = max(poolSize, 1)
	return &Client{addr: addr, slots: make(chan struct{}, poolSize), idle: make(chan *conn, poolSize)}
}

// Close closes the idle connections, and the busy ones as their commands end.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	for {
		select {
		case cn := <-c.idle:
			c.discard(cn)
		default:
			return nil
		}
	}
}

func (c *Client) get(ctx context.Context) (*conn, error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	select {
	case cn := <-c.idle:
		return cn, nil
	case c.slots <- struct{}{}:
		var d net.Dialer
		nc, err := d.DialContext(ctx, "tcp", c.addr)
		if err != nil {
			<-c.slots
			return nil, fmt.Errorf("redis: %w", err)
		}
		return &conn{nc: nc, br: bufio.NewReader(nc)}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// put returns a healthy connection to the pool.
func (c *Client) put(cn *conn) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		c.discard(cn)
		return
	}
	c.idle <- cn // never blocks: there are no more connections than slots
}

func (c *Client) discard(cn *conn) {
	cn.nc.Close()
	<-c.slots
}

// Do sends one command and returns its reply: string, int64, []any, or nil; an
// error reply is returned as *Error. Arguments may be string, []byte, int,
// int64 or float64.
func (c *Client) Do(ctx context.Context, args ...any) (any, error) {
	req, err := encode(args)
	if err != nil {
		return nil, err
	}
	cn, err := c.get(ctx)
	if err != nil {
		return nil, err
	}
	// The context bounds the round trip: when it ends, a deadline in the past
	// makes the blocked read or write return at once. (Setting ctx's deadline on
	// the conn would be shorter, but could fire a moment before ctx reports it
	// has ended, and the caller would see an i/o timeout instead.)
	stop := context.AfterFunc(ctx, func() { cn.nc.SetDeadline(time.Unix(1, 0)) })
	reply, err := cn.roundTrip(req)
	ctxEnded := !stop()
	var replyErr *Error
	complete := err == nil || errors.As(err, &replyErr) // the whole reply was read
	if complete && !ctxEnded {
		c.put(cn)
	} else {
		// The stream is in an unknown state: a reply may be half read, or still
		// on its way; or the AfterFunc's deadline may land at any moment. Only
		// a new connection is safe.
		c.discard(cn)
	}
	switch {
	case complete:
		return reply, err
	case ctxEnded:
		return nil, ctx.Err()
	}
	return nil, fmt.Errorf("redis: %w", err)
}

func (cn *conn) roundTrip(req []byte) (any, error) {
	if _, err := cn.nc.Write(req); err != nil {
		return nil, err
	}
	return readReply(cn.br)
}

// encode writes a command as an array of bulk strings:
// *3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n. Each string carries its length,
// so a value may hold any bytes, \r\n included: nothing needs escaping.
func encode(args []any) ([]byte, error) {
	b := []byte("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		var s string
		switch a := a.(type) {
		case string:
			s = a
		case []byte:
			s = string(a)
		case int:
			s = strconv.Itoa(a)
		case int64:
			s = strconv.FormatInt(a, 10)
		case float64:
			s = strconv.FormatFloat(a, 'f', -1, 64)
		default:
			return nil, fmt.Errorf("redis: argument of type %T", a)
		}
		b = append(b, "$"+strconv.Itoa(len(s))+"\r\n"+s+"\r\n"...)
	}
	return b, nil
}

// Bulk strings and arrays larger than this are a broken stream, not a value.
const maxBulk = 512 << 20 // Redis's own limit on a string

// readReply reads one reply, recursing into arrays.
func readReply(br *bufio.Reader) (any, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("malformed reply %q", line)
	}
	typ, text := line[0], line[1:len(line)-2]
	switch typ {
	case '+':
		return text, nil
	case '-':
		return nil, &Error{Message: text}
	case ':':
		return strconv.ParseInt(text, 10, 64)
	}
	n, err := strconv.Atoi(text)
	if err != nil || n > maxBulk {
		return nil, fmt.Errorf("malformed reply %q", line)
	}
	switch {
	case (typ == '$' || typ == '*') && n < 0:
		return nil, nil
	case typ == '$':
		b := make([]byte, n+2) // the value and its \r\n
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, err
		}
		return string(b[:n]), nil
	case typ == '*':
		items := make([]any, n)
		for i := range items {
			// An error inside an array (from EXEC) is an item, not the reply's error.
			item, err := readReply(br)
			var e *Error
			if errors.As(err, &e) {
				item, err = e, nil
			}
			if err != nil {
				return nil, err
			}
			items[i] = item
		}
		return items, nil
	}
	return nil, fmt.Errorf("unknown reply type %q", typ)
}
