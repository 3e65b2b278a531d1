package pgdriver

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

// Framing. Every message is one type byte, then a big-endian int32 length that
// counts itself and the body (not the type byte), then the body. The two
// messages that open a connection (StartupMessage, CancelRequest) have no type
// byte: the server cannot know yet which protocol the client speaks.

// msg builds one message to send.
type msg struct {
	b     []byte
	lenAt int // where the length goes
}

func newMsg(typ byte) *msg { return &msg{b: []byte{typ, 0, 0, 0, 0}, lenAt: 1} }

func newStartupMsg() *msg { return &msg{b: []byte{0, 0, 0, 0}} }

func (m *msg) int32(v uint32) { m.b = binary.BigEndian.AppendUint32(m.b, v) }

// str appends a string the protocol's way: its bytes, then a zero byte.
func (m *msg) str(s string) { m.b = append(append(m.b, s...), 0) }

func (m *msg) bytes() []byte {
	binary.BigEndian.PutUint32(m.b[m.lenAt:], uint32(len(m.b)-m.lenAt))
	return m.b
}

// reader reads the fields of a message body. The server is trusted to send
// well-formed messages; a short body reads as zeros and empty strings rather
// than panicking.
type reader []byte

func (r *reader) next(n int) []byte {
	if n < 0 || n > len(*r) {
		n = len(*r)
	}
	b := (*r)[:n]
	*r = (*r)[n:]
	return b
}

func (r *reader) byte() byte {
	if b := r.next(1); len(b) == 1 {
		return b[0]
	}
	return 0
}

func (r *reader) uint16() uint16 {
	if b := r.next(2); len(b) == 2 {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (r *reader) uint32() uint32 {
	if b := r.next(4); len(b) == 4 {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *reader) str() string {
	i := bytes.IndexByte(*r, 0)
	if i < 0 {
		return string(r.next(len(*r)))
	}
	s := string((*r)[:i])
	*r = (*r)[i+1:]
	return s
}

// A message longer than this is a broken stream, not a big row: a read of a
// random length could otherwise allocate gigabytes.
const maxMessage = 1 << 30

// send writes one message. A failed write leaves the stream in an unknown
// state, so the connection is closed and never reused.
func (c *conn) send(m *msg) error {
	if _, err := c.nc.Write(m.bytes()); err != nil {
		return c.fail(err)
	}
	return nil
}

// recv reads the next message for the caller, dealing on the way with the ones
// the server may send at any time: NoticeResponse (a warning, dropped here),
// ParameterStatus (a setting changed, e.g. after SET TimeZone) and
// NotificationResponse (LISTEN/NOTIFY, unused by the lessons).
func (c *conn) recv() (typ byte, body []byte, err error) {
	for {
		var hdr [5]byte
		if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
			return 0, nil, c.fail(err)
		}
		n := int(binary.BigEndian.Uint32(hdr[1:])) - 4
		if n < 0 || n > maxMessage {
			return 0, nil, c.fail(fmt.Errorf("message length %d", n))
		}
		// The buffer is reused: callers copy what they keep (rows.go converts
		// each value to a new Go value before the next recv).
		if cap(c.rbuf) < n {
			c.rbuf = make([]byte, n)
		}
		body = c.rbuf[:n]
		if _, err := io.ReadFull(c.br, body); err != nil {
			return 0, nil, c.fail(err)
		}
		switch hdr[0] {
		case 'N', 'A':
			continue
		case 'S':
			r := reader(body)
			name := r.str()
			c.params[name] = r.str()
			continue
		case 'E':
			// FATAL and PANIC errors end the session: the server closes the
			// connection after sending them.
			if e := parseError(body); e.Severity == "FATAL" || e.Severity == "PANIC" {
				c.bad = true
			}
		}
		return hdr[0], body, nil
	}
}

// fail marks the connection unusable after a network error or a stream the
// driver cannot follow any more: database/sql then drops it from the pool
// (see IsValid and ResetSession) instead of handing it to the next query.
func (c *conn) fail(err error) error {
	c.bad = true
	c.nc.Close()
	return fmt.Errorf("pgdriver: %w", err)
}

// readyStatus reads ReadyForQuery's one byte: the session's transaction status.
func readyStatus(body []byte) byte {
	r := reader(body)
	return r.byte()
}
