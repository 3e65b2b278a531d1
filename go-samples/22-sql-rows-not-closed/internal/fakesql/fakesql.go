// Package fakesql is a database/sql driver for lesson 22's tests, so the handlers can be
// tested without a PostgreSQL server: each query gets canned rows, handed out one per
// Next like a real driver streams them, and may fail after some of them (as a query the
// server cancels half way does). The pool's bookkeeping (db.Stats) is database/sql's own,
// which is what the tests are about.
package fakesql

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
)

// Answer is what one query returns: Columns, then Rows; if Err is set, Next fails with
// it after FailAfter rows instead of ending.
type Answer struct {
	Columns   []string
	Rows      [][]driver.Value
	FailAfter int
	Err       error
}

// Connector opens fake connections whose queries are answered by Reply.
// sql.OpenDB(&fakesql.Connector{Reply: ...}) is a *sql.DB on it.
type Connector struct {
	Reply func(query string, args []driver.NamedValue) Answer
}

func (c *Connector) Connect(context.Context) (driver.Conn, error) { return &conn{c: c}, nil }
func (c *Connector) Driver() driver.Driver                        { return drv{} }

type drv struct{}

func (drv) Open(string) (driver.Conn, error) {
	return nil, errors.New("fakesql: use sql.OpenDB with a Connector")
}

type conn struct{ c *Connector }

func (*conn) Prepare(string) (driver.Stmt, error) {
	return nil, errors.New("fakesql: no prepared statements")
}
func (*conn) Close() error              { return nil }
func (*conn) Begin() (driver.Tx, error) { return nil, errors.New("fakesql: no transactions") }

// QueryContext answers every query; the context is database/sql's business here.
func (cn *conn) QueryContext(_ context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	return &rows{a: cn.c.Reply(q, args)}, nil
}

type rows struct {
	a    Answer
	next int
}

func (r *rows) Columns() []string { return r.a.Columns }
func (r *rows) Close() error      { return nil }

func (r *rows) Next(dest []driver.Value) error {
	if r.a.Err != nil && r.next == r.a.FailAfter {
		return r.a.Err
	}
	if r.next >= len(r.a.Rows) {
		return io.EOF
	}
	copy(dest, r.a.Rows[r.next])
	r.next++
	return nil
}
