// Package pgdriver is a small PostgreSQL driver for database/sql, written for the
// course because the course machines cannot download a Go module. It is a
// teaching client: a real service uses github.com/jackc/pgx (its pgx/v5/stdlib
// package registers a database/sql driver), which speaks the whole protocol,
// TLS and SCRAM included, and sends parameters separately from the SQL text.
//
//	db, err := sql.Open("pgteach", "postgres://lesson@127.0.0.1:5432/lesson?sslmode=disable")
//
// What it speaks, and why that is enough for the lessons:
//
//   - protocol 3.0 over plain TCP to a server on the same machine (sslmode=disable);
//   - authentication "trust", "password" (cleartext) and "md5"; any other method,
//     SCRAM-SHA-256 included, fails with an error that names it;
//   - the simple query protocol only: each query is one 'Q' message of SQL text,
//     so $1..$n parameters are written into the text as quoted literals on the
//     client (see literal.go: the shortcut real drivers avoid, and why);
//   - cancellation: when a query's context ends, a CancelRequest on a second
//     connection asks the server to stop it (see cancel.go).
//
// Server errors are [*Error] values carrying the SQLSTATE code, so a caller can
// tell a unique violation (23505) or "too many clients" (53300) from the rest
// with errors.As.
package pgdriver

import (
	"bufio"
	"context"
	"crypto/md5"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"
)

// DriverName is the name the package registers with database/sql.
const DriverName = "pgteach"

func init() { sql.Register(DriverName, &Driver{}) }

// Driver is the database/sql driver. sql.Open uses it through OpenConnector,
// so the URL is parsed once, not on every new connection.
type Driver struct{}

// Open opens one connection (database/sql only calls it for drivers without
// OpenConnector; it is here because driver.Driver requires it).
func (d *Driver) Open(dsn string) (driver.Conn, error) {
	c, err := NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return c.Connect(context.Background())
}

// OpenConnector parses the URL once for a pool's lifetime.
func (d *Driver) OpenConnector(dsn string) (driver.Connector, error) { return NewConnector(dsn) }

// Connector opens connections to one server; sql.OpenDB(connector) is the same
// as sql.Open with the URL.
type Connector struct {
	addr, user, password, database string
	startup                        map[string]string // sent in the StartupMessage
	connectTimeout                 time.Duration
}

// NewConnector parses a URL of the form
//
//	postgres://user[:password]@host[:port]/database?sslmode=disable&application_name=x
//
// connect_timeout (seconds) bounds dialing and the handshake. Any other query
// parameter is sent as a run-time setting in the StartupMessage (for example
// search_path or statement_timeout), as pgx does.
func NewConnector(dsn string) (*Connector, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgdriver: %w", err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return nil, fmt.Errorf("pgdriver: URL scheme %q, want postgres://", u.Scheme)
	}
	c := &Connector{
		user: u.User.Username(), database: u.Path,
		startup: map[string]string{
			"application_name": "gopitfalls",
			// Fix the two settings the text decoding depends on (rows.go).
			"client_encoding": "UTF8",
			"DateStyle":       "ISO",
		},
	}
	c.password, _ = u.User.Password()
	if c.user == "" {
		return nil, errors.New("pgdriver: the URL names no user")
	}
	if len(c.database) > 0 && c.database[0] == '/' {
		c.database = c.database[1:]
	}
	if c.database == "" {
		c.database = c.user // the server's own default
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		host = "127.0.0.1"
	}
	if port == "" {
		port = "5432"
	}
	c.addr = net.JoinHostPort(host, port)
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		switch k {
		case "sslmode":
			// No TLS here: modes that would settle for plain TCP are accepted,
			// modes that demand TLS are refused rather than silently ignored.
			if v != "disable" && v != "allow" && v != "prefer" {
				return nil, fmt.Errorf("pgdriver: sslmode=%s needs TLS, which this teaching driver does not speak; use sslmode=disable on loopback", v)
			}
		case "connect_timeout":
			s, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("pgdriver: connect_timeout=%q: %w", v, err)
			}
			c.connectTimeout = time.Duration(s) * time.Second
		default:
			c.startup[k] = v
		}
	}
	return c, nil
}

// Driver returns the package's driver (database/sql asks for it).
func (c *Connector) Driver() driver.Driver { return &Driver{} }

// Connect dials the server and runs the startup handshake. ctx bounds both:
// database/sql passes the context of the query that needed a new connection.
func (c *Connector) Connect(ctx context.Context) (driver.Conn, error) {
	d := net.Dialer{Timeout: c.connectTimeout}
	nc, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, fmt.Errorf("pgdriver: %w", err)
	}
	if c.connectTimeout > 0 {
		nc.SetDeadline(time.Now().Add(c.connectTimeout))
	}
	// If ctx ends mid-handshake, a deadline in the past makes the blocked
	// read return at once.
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	cn := &conn{nc: nc, br: bufio.NewReader(nc), connector: c, params: map[string]string{}}
	err = cn.handshake()
	if !stop() {
		nc.Close()
		return nil, ctx.Err()
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	return cn, nil
}

// handshake sends the StartupMessage and answers the server until it is ready
// for the first query: authentication, then ParameterStatus messages (server
// settings the client must know), BackendKeyData (the key a CancelRequest needs),
// and ReadyForQuery.
func (cn *conn) handshake() error {
	m := newStartupMsg()
	m.int32(3 << 16) // protocol version 3.0
	m.str("user")
	m.str(cn.connector.user)
	m.str("database")
	m.str(cn.connector.database)
	for k, v := range cn.connector.startup {
		m.str(k)
		m.str(v)
	}
	m.b = append(m.b, 0) // an empty name ends the list
	if err := cn.send(m); err != nil {
		return err
	}
	for {
		typ, body, err := cn.recv()
		if err != nil {
			return err
		}
		switch typ {
		case 'R':
			if err := cn.authenticate(body); err != nil {
				return err
			}
		case 'K':
			r := reader(body)
			cn.pid, cn.secret = r.uint32(), r.uint32()
		case 'E':
			// Among others: 28000 (no such role), 3D000 (no such database) and
			// 53300, "sorry, too many clients already": max_connections reached.
			return parseError(body)
		case 'Z':
			cn.txStatus = readyStatus(body)
			return nil
		default:
			return fmt.Errorf("pgdriver: unexpected message %q during startup", typ)
		}
	}
}

// authenticate answers one Authentication message ('R'). Its first int32 says
// what the server wants; 0 is "you are in".
func (cn *conn) authenticate(body []byte) error {
	r := reader(body)
	user, pw := cn.connector.user, cn.connector.password
	switch code := r.uint32(); code {
	case 0: // AuthenticationOk (the only message "trust" sends)
		return nil
	case 3, 5: // cleartext password; MD5 with a 4-byte salt
		if pw == "" {
			return fmt.Errorf("pgdriver: the server asks user %q for a password and the URL has none", user)
		}
		if code == 5 {
			// md5(md5(password + user) + salt), hex, with an "md5" prefix: the
			// server stores the inner hash, so the password is never sent. It is
			// still weak (the inner hash works as the password); SCRAM replaced it.
			inner := md5hex([]byte(pw + user))
			pw = "md5" + md5hex(append([]byte(inner), r.next(4)...))
		}
		m := newMsg('p')
		m.str(pw)
		return cn.send(m)
	default:
		methods := map[uint32]string{2: "Kerberos V5", 7: "GSSAPI", 9: "SSPI", 10: "SASL (" + r.str() + ")"}
		name, ok := methods[code]
		if !ok {
			name = fmt.Sprintf("method %d", code)
		}
		return fmt.Errorf("pgdriver: the server asks for %s authentication, which this teaching driver does not implement (trust, password and md5 only); use pgx, or a pg_hba.conf line with trust/password/md5 for this test server", name)
	}
}

func md5hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}
