package pgdriver

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"
)

// Cancellation. A query's context ending must stop the query on the server, not
// only the wait for it in Go: a client that just closed its socket would leave
// the backend running (PostgreSQL notices a gone client only when it next
// writes to it) and would lose a pooled connection for every timeout.
//
// The protocol has no "cancel" message on the busy connection: the server is not
// reading it while it runs the query. Instead the client opens a second
// connection and sends a CancelRequest quoting the backend's process id and
// secret key (BackendKeyData, from the handshake). The server interrupts the
// query, which ends with an ErrorResponse 57014 and ReadyForQuery as usual, so
// the connection stays in a known state and goes back to the pool.

// cancelGrace bounds how long a cancelled query may still take to answer. Past
// it, the driver stops waiting and the connection is lost.
const cancelGrace = 3 * time.Second

// watcher runs the cancellation if ctx ends while a query is in flight.
type watcher struct {
	stop  func() bool   // from context.AfterFunc: true if the cancel never started
	fired chan struct{} // closed when the cancel attempt has finished
}

func (c *conn) watch(ctx context.Context) *watcher {
	w := &watcher{fired: make(chan struct{})}
	w.stop = context.AfterFunc(ctx, func() {
		defer close(w.fired)
		if err := c.cancelRequest(); err != nil {
			// The server cannot be asked to stop, so stop waiting for it: the
			// read fails at once and the connection is dropped.
			c.nc.SetDeadline(time.Unix(1, 0))
			return
		}
		// Normally the server answers within milliseconds; if it does not
		// (the request raced with the query's end, or got lost), stop waiting.
		c.nc.SetDeadline(time.Now().Add(cancelGrace))
	})
	return w
}

// end finishes a query's watch once the answer was read to ReadyForQuery (or a
// read failed), and chooses the error its caller sees: when ctx ended and the
// query failed, the cause was the ctx (the server's 57014 stays wrapped inside).
// A query that completed before the cancel reached the server keeps its result.
func (c *conn) end(ctx context.Context, w *watcher, err error) error {
	if w.stop() {
		return err // ctx did not end during the query
	}
	<-w.fired
	if !c.bad {
		c.nc.SetDeadline(time.Time{})
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return nil
}

// cancelRequest asks the server, on a new connection, to interrupt what our
// backend is running, and waits until the server closes that connection, as
// libpq does: once it has, the interrupt has been delivered. Returning earlier
// would let the next query on this connection start while the interrupt is
// still on its way, and cancel that query instead.
func (c *conn) cancelRequest() error {
	nc, err := net.DialTimeout("tcp", c.connector.addr, time.Second)
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(time.Second))
	var b [16]byte
	binary.BigEndian.PutUint32(b[0:], 16)
	binary.BigEndian.PutUint32(b[4:], 1234<<16|5678) // the CancelRequest code
	binary.BigEndian.PutUint32(b[8:], c.pid)
	binary.BigEndian.PutUint32(b[12:], c.secret)
	if _, err := nc.Write(b[:]); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, nc) // the server sends nothing and closes
	return err
}
