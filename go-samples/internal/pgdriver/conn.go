package pgdriver

import (
	"bufio"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// conn is one server session. database/sql never uses a conn from two
// goroutines at once; only the cancel watcher (cancel.go) touches it
// concurrently, and only through net.Conn, which is safe for that.
type conn struct {
	nc        net.Conn
	br        *bufio.Reader
	rbuf      []byte // recv's reusable body buffer
	connector *Connector
	params    map[string]string // settings the server reported (ParameterStatus)
	pid       uint32            // BackendKeyData: the backend process and the
	secret    uint32            // secret a CancelRequest must quote
	txStatus  byte              // from ReadyForQuery: 'I' idle, 'T' in a transaction, 'E' failed transaction
	bad       bool              // never reuse: network error, FATAL error, or a protocol state we lost
}

var (
	_ driver.Conn               = (*conn)(nil)
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.ConnPrepareContext = (*conn)(nil)
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.Pinger             = (*conn)(nil)
	_ driver.SessionResetter    = (*conn)(nil)
	_ driver.Validator          = (*conn)(nil)
)

// Close ends the session politely (Terminate), so the server logs no
// "unexpected EOF on client connection".
func (c *conn) Close() error {
	if !c.bad {
		c.nc.Write(newMsg('X').bytes())
	}
	return c.nc.Close()
}

// IsValid is asked before a conn goes back to the pool, and ResetSession before
// it is reused: a conn whose stream is broken is dropped there, so the next
// query gets a fresh one instead of the error.
func (c *conn) IsValid() bool { return !c.bad }

func (c *conn) ResetSession(ctx context.Context) error {
	if c.bad {
		return driver.ErrBadConn
	}
	return nil
}

// Ping sends a query with no statement; the server answers EmptyQueryResponse.
func (c *conn) Ping(ctx context.Context) error {
	if _, err := c.exec(ctx, "-- ping"); err != nil {
		if c.bad {
			return driver.ErrBadConn // database/sql retries on another conn
		}
		return err
	}
	return nil
}

// QueryContext and ExecContext take the query and its arguments in one call, so
// database/sql never needs Prepare for db.Query(q, args...).
func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, err := c.bind(query, args)
	if err != nil {
		return nil, err
	}
	return c.query(ctx, q)
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	q, err := c.bind(query, args)
	if err != nil {
		return nil, err
	}
	tag, err := c.exec(ctx, q)
	if err != nil {
		return nil, err
	}
	return result(tag), nil
}

// start sends a simple Query message and starts watching ctx (cancel.go): from
// here until ReadyForQuery, an ended ctx cancels the query on the server.
func (c *conn) start(ctx context.Context, q string) (*watcher, error) {
	if c.bad {
		return nil, driver.ErrBadConn // nothing sent yet: database/sql may retry elsewhere
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m := newMsg('Q')
	m.str(q)
	w := c.watch(ctx)
	if err := c.send(m); err != nil {
		return nil, c.end(ctx, w, err)
	}
	return w, nil
}

// exec runs q and reads the whole answer: for each statement in q, optional
// rows then CommandComplete (or EmptyQueryResponse), or an ErrorResponse that
// ends the list; then ReadyForQuery. It returns the last command tag.
func (c *conn) exec(ctx context.Context, q string) (tag string, err error) {
	w, err := c.start(ctx, q)
	if err != nil {
		return "", err
	}
	var qerr error
	for {
		typ, body, err := c.recv()
		if err != nil {
			return "", c.end(ctx, w, err)
		}
		switch typ {
		case 'C':
			r := reader(body)
			tag = r.str()
		case 'E':
			qerr = parseError(body)
		case 'Z':
			c.txStatus = readyStatus(body)
			return tag, c.end(ctx, w, qerr)
		}
		// 'T' and 'D' (rows) and 'I' (an empty query): nothing an Exec keeps.
	}
}

// result reads the row count from a command tag: "INSERT 0 3", "UPDATE 2",
// "DELETE 0", "SELECT 5"; tags without a count ("CREATE TABLE") give 0.
type result string

func (r result) RowsAffected() (int64, error) {
	s := string(r)
	n, err := strconv.ParseInt(s[strings.LastIndexByte(s, ' ')+1:], 10, 64)
	if err != nil {
		return 0, nil
	}
	return n, nil
}

func (r result) LastInsertId() (int64, error) {
	return 0, errors.New("pgdriver: PostgreSQL has no last insert id; use INSERT ... RETURNING id with QueryRow")
}

// BeginTx opens a transaction. The isolation level and read-only mode are
// transaction modes of BEGIN itself, so it stays one round trip.
func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	var modes []string
	switch level := sql.IsolationLevel(opts.Isolation); level {
	case sql.LevelDefault: // the server's default_transaction_isolation (read committed)
	case sql.LevelReadUncommitted, sql.LevelReadCommitted, sql.LevelRepeatableRead, sql.LevelSerializable:
		modes = append(modes, "ISOLATION LEVEL "+strings.ToUpper(level.String()))
	default:
		return nil, fmt.Errorf("pgdriver: PostgreSQL has no isolation level %q", level)
	}
	if opts.ReadOnly {
		modes = append(modes, "READ ONLY")
	}
	if _, err := c.exec(ctx, strings.TrimSpace("BEGIN "+strings.Join(modes, ", "))); err != nil {
		return nil, err
	}
	return tx{c}, nil
}

func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

type tx struct{ c *conn }

// Commit has no context: database/sql calls Rollback itself when the
// transaction's ctx ends first.
func (t tx) Commit() error {
	tag, err := t.c.exec(context.Background(), "COMMIT")
	if err == nil && tag == "ROLLBACK" {
		return ErrCommitRolledBack
	}
	return err
}

func (t tx) Rollback() error {
	_, err := t.c.exec(context.Background(), "ROLLBACK")
	return err
}

// Prepare is client-side: the statement keeps the SQL text and each execution
// sends it again with the arguments written in (literal.go). No server-side
// prepared statement exists, so nothing is parsed once and reused; real drivers
// prepare on the server with the extended protocol.
func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	n := 0
	_, err := substitute(query, func(i int) (string, error) {
		n = max(n, i)
		return "", nil
	})
	return &stmt{c: c, query: query, numInput: n}, err
}

type stmt struct {
	c        *conn
	query    string
	numInput int
}

var (
	_ driver.StmtQueryContext = (*stmt)(nil)
	_ driver.StmtExecContext  = (*stmt)(nil)
)

func (s *stmt) Close() error { return nil }

// NumInput lets database/sql check the argument count before anything is sent.
func (s *stmt) NumInput() int { return s.numInput }

func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.c.QueryContext(ctx, s.query, args)
}

func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.c.ExecContext(ctx, s.query, args)
}

// Exec and Query are the pre-context forms driver.Stmt still requires.
func (s *stmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), named(args))
}

func (s *stmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), named(args))
}

func named(args []driver.Value) []driver.NamedValue {
	nv := make([]driver.NamedValue, len(args))
	for i, v := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return nv
}
