package main

// A minimal HTTP/1.1 client on net.Conn, used instead of net/http for speed:
// one pre-built request, no allocations per request on the keep-alive path.
// It understands status lines, headers, Content-Length, chunked bodies,
// close-delimited bodies, 1xx interim responses, HEAD/204/304 (no body) and
// "Connection: close" from the server.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

var (
	errMalformed   = errors.New("malformed HTTP response")
	errHeaderLarge = errors.New("HTTP response header line too long")
	errPoolTimeout = timeoutError{"timed out waiting for a free connection"}
)

type timeoutError struct{ msg string }

func (e timeoutError) Error() string { return e.msg }
func (e timeoutError) Timeout() bool { return true }

type header struct{ name, value string }

// target holds what is needed to send one kind of request.
type target struct {
	addr       string // host:port to dial
	req        []byte // the complete request, body included
	head       bool   // HEAD request: responses have no body
	idempotent bool   // safe to retry once on a stale keep-alive connection
	keepalive  bool
}

func newTarget(addr, host, requestURI, method string, headers []header, body string, keepalive bool) *target {
	var b strings.Builder
	b.WriteString(method)
	b.WriteByte(' ')
	b.WriteString(requestURI)
	b.WriteString(" HTTP/1.1\r\n")
	hostSet, uaSet := false, false
	for _, h := range headers {
		switch {
		case strings.EqualFold(h.name, "Host"):
			hostSet = true
		case strings.EqualFold(h.name, "User-Agent"):
			uaSet = true
		case strings.EqualFold(h.name, "Content-Length"), strings.EqualFold(h.name, "Connection"),
			strings.EqualFold(h.name, "Transfer-Encoding"):
			continue // managed by the client
		}
		b.WriteString(h.name)
		b.WriteString(": ")
		b.WriteString(h.value)
		b.WriteString("\r\n")
	}
	if !hostSet {
		b.WriteString("Host: " + host + "\r\n")
	}
	if !uaSet {
		b.WriteString("User-Agent: gopitfalls-loadgen\r\n")
	}
	switch {
	case body != "":
		b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	case method == "POST" || method == "PUT" || method == "PATCH":
		b.WriteString("Content-Length: 0\r\n")
	}
	if !keepalive {
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	idem := false
	switch method {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		idem = true
	}
	return &target{addr: addr, req: []byte(b.String()), head: method == "HEAD", idempotent: idem, keepalive: keepalive}
}

// readBufSize bounds header lines and the memory held per connection (the
// open model may hold thousands); large bodies bypass it (see skip).
const readBufSize = 8 << 10

// scratch buffers for skipping large bodies, shared by all connections.
var scratch = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

type conn struct {
	nc   net.Conn
	br   *bufio.Reader
	used int // completed requests on this connection
}

// pool hands out connections; at most max are open at once (max <= 0: no cap).
type pool struct {
	t    *target
	idle chan *conn
	sem  chan struct{} // nil when uncapped
}

func newPool(t *target, maxConns, idleCap int) *pool {
	p := &pool{t: t}
	if maxConns > 0 {
		p.sem = make(chan struct{}, maxConns)
		idleCap = maxConns
	}
	if idleCap < 1 {
		idleCap = 1
	}
	p.idle = make(chan *conn, idleCap)
	return p
}

func (p *pool) dial(deadline time.Time) (*conn, error) {
	d := net.Dialer{Deadline: deadline}
	nc, err := d.Dial("tcp", p.t.addr)
	if err != nil {
		return nil, err
	}
	return &conn{nc: nc, br: bufio.NewReaderSize(nc, readBufSize)}, nil
}

func (p *pool) get(deadline time.Time) (*conn, error) {
	select {
	case c := <-p.idle:
		return c, nil
	default:
	}
	if p.sem == nil {
		return p.dial(deadline)
	}
	select {
	case c := <-p.idle:
		return c, nil
	case p.sem <- struct{}{}:
		return p.dialSlot(deadline)
	default:
	}
	wait := time.Until(deadline)
	if wait <= 0 {
		return nil, errPoolTimeout
	}
	tm := time.NewTimer(wait)
	defer tm.Stop()
	select {
	case c := <-p.idle:
		return c, nil
	case p.sem <- struct{}{}:
		return p.dialSlot(deadline)
	case <-tm.C:
		return nil, errPoolTimeout
	}
}

func (p *pool) dialSlot(deadline time.Time) (*conn, error) {
	c, err := p.dial(deadline)
	if err != nil {
		<-p.sem
	}
	return c, err
}

// put returns a healthy connection for reuse.
func (p *pool) put(c *conn) {
	select {
	case p.idle <- c:
	default:
		p.discard(c)
	}
}

// discard closes a connection and frees its slot.
func (p *pool) discard(c *conn) {
	c.nc.Close()
	if p.sem != nil {
		<-p.sem
	}
}

// closeIdle closes every idle connection.
func (p *pool) closeIdle() {
	for {
		select {
		case c := <-p.idle:
			p.discard(c)
		default:
			return
		}
	}
}

// do sends the request and reads the whole response. It returns the final
// status code, or a transport error.
func (p *pool) do(deadline time.Time) (int, error) {
	for attempt := 0; ; attempt++ {
		c, err := p.get(deadline)
		if err != nil {
			return 0, err
		}
		if err := c.nc.SetDeadline(deadline); err != nil {
			p.discard(c)
			return 0, err
		}
		status, keep, nothing, err := c.roundTrip(p.t)
		if err != nil {
			p.discard(c)
			// A reused keep-alive connection the server closed meanwhile:
			// retry once on a fresh one, as net/http does.
			if attempt == 0 && c.used > 0 && nothing && p.t.idempotent && isStale(err) {
				continue
			}
			return 0, err
		}
		c.used++
		if keep && p.t.keepalive {
			p.put(c)
		} else {
			p.discard(c)
		}
		return status, nil
	}
}

func isStale(err error) bool {
	switch classify(err) {
	case kindEOF, kindReset:
		return true
	}
	return false
}

// roundTrip writes the request and consumes the response. keep reports
// whether the connection may be reused; nothing whether no response byte was
// read before the error.
func (c *conn) roundTrip(t *target) (status int, keep, nothing bool, err error) {
	if _, err = c.nc.Write(t.req); err != nil {
		return 0, false, true, err
	}
	for {
		var h responseHead
		if nothing, err := c.readHead(&h); err != nil {
			return 0, false, nothing, err
		}
		if h.status < 200 {
			if h.status == 101 {
				return 0, false, false, errors.New("unexpected 101 Switching Protocols")
			}
			continue // interim response; the final one follows
		}
		keep, err := c.readBody(t, &h)
		if err != nil {
			return 0, false, false, err
		}
		return h.status, keep, false, nil
	}
}

// responseHead is what the client needs from a response's status line and headers.
type responseHead struct {
	status        int
	http10        bool
	contentLength int64 // -1: no Content-Length header
	chunked       bool  // Transfer-Encoding: chunked
	connClose     bool  // Connection: close
	connKeepAlive bool  // Connection: keep-alive (matters for HTTP/1.0)
}

// readHead reads a status line and its headers into h. nothing reports whether no
// byte of the response had been read when the error happened.
func (c *conn) readHead(h *responseHead) (nothing bool, err error) {
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return len(line) == 0, headerErr(err)
	}
	status, http10, ok := parseStatusLine(trimEOL(line))
	if !ok {
		return false, errMalformed
	}
	*h = responseHead{status: status, http10: http10, contentLength: -1}
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return false, headerErr(err)
		}
		line = trimEOL(line)
		if len(line) == 0 {
			return false, nil
		}
		if !h.addHeader(line) {
			return false, errMalformed
		}
	}
}

// parseStatusLine parses "HTTP/1.x NNN reason" (the reason may be missing);
// status codes below 100 are malformed.
func parseStatusLine(line []byte) (status int, http10, ok bool) {
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' ||
		(len(line) > 12 && line[12] != ' ') {
		return 0, false, false
	}
	for _, ch := range line[9:12] {
		if ch < '0' || ch > '9' {
			return 0, false, false
		}
		status = status*10 + int(ch-'0')
	}
	if status < 100 {
		return 0, false, false
	}
	return status, line[7] == '0', true
}

// addHeader notes what one header line says about the body's framing and the
// connection; ok is false when the line is malformed.
func (h *responseHead) addHeader(line []byte) (ok bool) {
	colon := -1
	for i, ch := range line {
		if ch == ':' {
			colon = i
			break
		}
	}
	if colon <= 0 {
		return false
	}
	name, value := line[:colon], trimSpace(line[colon+1:])
	switch {
	case equalFold(name, "Content-Length"):
		n, ok := parseDecimal(value)
		if !ok {
			return false
		}
		h.contentLength = n
	case equalFold(name, "Transfer-Encoding"):
		if containsFold(value, "chunked") {
			h.chunked = true
		}
	case equalFold(name, "Connection"):
		if containsFold(value, "close") {
			h.connClose = true
		}
		if containsFold(value, "keep-alive") {
			h.connKeepAlive = true
		}
	}
	return true
}

// readBody consumes the body of a final response, framed as h says, and reports
// whether the connection may carry another request.
func (c *conn) readBody(t *target, h *responseHead) (keep bool, err error) {
	keep = !h.connClose && (!h.http10 || h.connKeepAlive)
	switch {
	case t.head || h.status == 204 || h.status == 304:
		return keep, nil
	case h.chunked:
		return keep, c.readChunked()
	case h.contentLength >= 0:
		return keep, c.skip(h.contentLength)
	default: // delimited by the server closing the connection
		return false, c.skip(-1)
	}
}

func headerErr(err error) error {
	if err == bufio.ErrBufferFull {
		return errHeaderLarge
	}
	return err
}

func bodyErr(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// skip reads and drops n body bytes (n < 0: until EOF). Small amounts go
// through the buffered reader; large ones are read from the connection into
// a shared scratch buffer once the reader's buffer is drained.
func (c *conn) skip(n int64) error {
	br := c.br
	if n >= 0 && n <= int64(br.Size()) {
		if _, err := br.Discard(int(n)); err != nil {
			return bodyErr(err)
		}
		return nil
	}
	buffered := int64(br.Buffered())
	if n >= 0 && buffered > n {
		buffered = n
	}
	br.Discard(int(buffered))
	if n >= 0 {
		n -= buffered
	}
	bp := scratch.Get().(*[]byte)
	defer scratch.Put(bp)
	buf := *bp
	for n != 0 {
		want := buf
		if n > 0 && n < int64(len(want)) {
			want = want[:n]
		}
		m, err := c.nc.Read(want)
		if n > 0 {
			n -= int64(m)
		}
		if err != nil {
			if err == io.EOF && n < 0 {
				return nil
			}
			if n == 0 {
				return nil
			}
			return bodyErr(err)
		}
	}
	return nil
}

func (c *conn) readChunked() error {
	br := c.br
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return bodyErr(headerErr(err))
		}
		line = trimEOL(line)
		var size int64
		digits := 0
		for _, ch := range line {
			var d byte
			switch {
			case ch >= '0' && ch <= '9':
				d = ch - '0'
			case ch >= 'a' && ch <= 'f':
				d = ch - 'a' + 10
			case ch >= 'A' && ch <= 'F':
				d = ch - 'A' + 10
			case ch == ';' || ch == ' ' || ch == '\t':
				goto done
			default:
				return fmt.Errorf("%w: bad chunk size", errMalformed)
			}
			digits++
			if digits > 15 {
				return fmt.Errorf("%w: chunk too large", errMalformed)
			}
			size = size<<4 | int64(d)
		}
	done:
		if digits == 0 {
			return fmt.Errorf("%w: bad chunk size", errMalformed)
		}
		if size == 0 { // trailers, then an empty line
			for {
				line, err := br.ReadSlice('\n')
				if err != nil {
					return bodyErr(headerErr(err))
				}
				if len(trimEOL(line)) == 0 {
					return nil
				}
			}
		}
		if err := c.skip(size); err != nil {
			return err
		}
		line, err = br.ReadSlice('\n')
		if err != nil {
			return bodyErr(headerErr(err))
		}
		if len(trimEOL(line)) != 0 {
			return fmt.Errorf("%w: missing CRLF after chunk", errMalformed)
		}
	}
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFold compares ASCII case-insensitively without allocating.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

// containsFold reports whether b contains the lower-case ASCII word s.
func containsFold(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if equalFold(b[i:i+len(s)], s) {
			return true
		}
	}
	return false
}

func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		n = n*10 + int64(ch-'0')
	}
	return n, true
}
