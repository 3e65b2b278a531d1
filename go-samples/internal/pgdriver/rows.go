package pgdriver

import (
	"context"
	"database/sql/driver"
	"encoding/hex"
	"io"
	"strconv"
	"time"
)

// rows streams a query's rows from the socket as the caller calls Next: a big
// result is never held in memory at once, and the connection stays busy (held
// by the sql.Rows) until the answer has been read to ReadyForQuery. That is why
// a forgotten rows.Close() leaks a pooled connection.
type rows struct {
	c       *conn
	ctx     context.Context
	w       *watcher
	cols    []column
	setDone bool  // the first result set has ended; anything after it is drained
	done    bool  // ReadyForQuery read: the conn is free again
	err     error // a server error met while reading, reported at the end
}

type column struct {
	name string
	oid  uint32 // the column's type: decides how its text is read
}

// query sends q and reads up to the RowDescription, so that Columns is known
// before the first Next. A statement that returns no rows (an INSERT through
// db.Query) gives rows with no columns.
func (c *conn) query(ctx context.Context, q string) (driver.Rows, error) {
	w, err := c.start(ctx, q)
	if err != nil {
		return nil, err
	}
	r := &rows{c: c, ctx: ctx, w: w}
	for !r.done && r.cols == nil {
		typ, body, err := c.recv()
		if err != nil {
			return nil, r.finish(err)
		}
		switch typ {
		case 'T':
			br := reader(body)
			r.cols = make([]column, br.uint16())
			for i := range r.cols {
				r.cols[i].name = br.str()
				br.next(6) // the source table's oid and column number
				r.cols[i].oid = br.uint32()
				br.next(8) // type size, type modifier, format code (0: text)
			}
		default:
			if err := r.handle(typ, body); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

// handle deals with the messages that may end a query's answer.
func (r *rows) handle(typ byte, body []byte) error {
	switch typ {
	case 'C', 'I':
		// A statement before the first one with rows ("INSERT ...; SELECT ...")
		// ends with no set begun; the set to return is still to come.
		r.setDone = r.cols != nil
	case 'E':
		r.setDone = true
		r.err = parseError(body)
	case 'Z':
		r.c.txStatus = readyStatus(body)
		return r.finish(r.err)
	}
	return nil
}

// finish ends the query's watch and frees the connection.
func (r *rows) finish(err error) error {
	r.done = true
	r.setDone = true
	return r.c.end(r.ctx, r.w, err)
}

func (r *rows) Columns() []string {
	names := make([]string, len(r.cols))
	for i, c := range r.cols {
		names[i] = c.name
	}
	return names
}

// Next reads one DataRow into dest. At the end of the first result set it keeps
// reading to ReadyForQuery, so a server error that comes after some rows (a
// division by zero in row 1000) is reported rather than lost. Later result sets
// (a query string with several SELECTs) are read and dropped.
func (r *rows) Next(dest []driver.Value) error {
	for !r.done {
		typ, body, err := r.c.recv()
		if err != nil {
			return r.finish(err)
		}
		if typ != 'D' {
			if err := r.handle(typ, body); err != nil {
				return err
			}
			continue
		}
		if r.setDone {
			continue
		}
		br := reader(body)
		n := int(br.uint16())
		for i := 0; i < n && i < len(dest); i++ {
			size := int32(br.uint32())
			if size < 0 {
				dest[i] = nil // NULL has length -1 and no bytes
				continue
			}
			dest[i] = decode(r.cols[i].oid, br.next(int(size)))
		}
		return nil
	}
	return io.EOF
}

// Close reads whatever is left of the answer, so the connection is ready for
// the next query. (Stopping a huge result early would need a cancel instead.)
func (r *rows) Close() error {
	for !r.done {
		typ, body, err := r.c.recv()
		if err != nil {
			return r.finish(err)
		}
		if err := r.handle(typ, body); err != nil {
			return err
		}
	}
	return nil
}

// Type OIDs (pg_type.oid) of the types decode knows. They are fixed in the
// server's catalog, the same on every PostgreSQL.
const (
	oidBool        = 16
	oidBytea       = 17
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidOID         = 26
	oidFloat4      = 700
	oidFloat8      = 701
	oidDate        = 1082
	oidTimestamp   = 1114
	oidTimestamptz = 1184
)

// decode turns a value's text form into the Go value database/sql expects:
// int64, float64, bool, []byte, string or time.Time. Types not listed, numeric
// included, stay strings: numeric has more digits than a float64, so its exact
// text is kept and rows.Scan converts it if asked to.
func decode(oid uint32, text []byte) driver.Value {
	s := string(text) // a copy: text points into the reused receive buffer
	switch oid {
	case oidBool:
		return s == "t"
	case oidInt2, oidInt4, oidInt8, oidOID:
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
	case oidFloat4, oidFloat8:
		if f, err := strconv.ParseFloat(s, 64); err == nil { // NaN and Infinity too
			return f
		}
	case oidBytea:
		// bytea_output=hex (the default since 9.0): "\x" then two digits a byte.
		if b, err := hex.DecodeString(s[min(2, len(s)):]); err == nil {
			return b
		}
	case oidTimestamptz:
		// DateStyle=ISO (set at startup): "2024-05-01 12:00:00.123456+02",
		// with ":30" minutes (or seconds) when the zone has them.
		for _, layout := range []string{"2006-01-02 15:04:05-07", "2006-01-02 15:04:05-07:00", "2006-01-02 15:04:05-07:00:00"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t
			}
		}
	case oidTimestamp:
		if t, err := time.Parse("2006-01-02 15:04:05", s); err == nil {
			return t // no zone: read as UTC
		}
	case oidDate:
		if t, err := time.Parse("2006-01-02", s); err == nil {
			return t
		}
	}
	// Unknown types, and values the cases above do not parse ("infinity",
	// dates BC): the server's text.
	return s
}
