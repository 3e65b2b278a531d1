package pgdriver

// Tests that need no server: the parameter lexer and quoting, the value
// decoding, URL parsing, and the password handshakes against a fake server
// (the test PostgreSQL trusts loopback, so it never asks for a password).

import (
	"bufio"
	"context"
	"crypto/md5"
	"database/sql/driver"
	"encoding/binary"
	"encoding/hex"
	"io"
	"math"
	"net"
	"strings"
	"testing"
	"time"
)

func TestSubstitute(t *testing.T) {
	args := func(n int) (string, error) { return "<" + string(rune('0'+n)) + ">", nil }
	for _, c := range []struct{ in, want string }{
		{"SELECT $1, $2", "SELECT <1>, <2>"},
		{"SELECT $1+$1", "SELECT <1>+<1>"},
		{"SELECT '$1', $1", "SELECT '$1', <1>"},
		{"SELECT 'it''s $1', $1", "SELECT 'it''s $1', <1>"},
		{`SELECT E'\' $1', $1`, `SELECT E'\' $1', <1>`},
		{`SELECT '\', $1`, `SELECT '\', <1>`}, // standard string: the \ is a character
		{`SELECT "a""$1", $1`, `SELECT "a""$1", <1>`},
		{"SELECT $$ $1 $$, $1", "SELECT $$ $1 $$, <1>"},
		{"SELECT $q$ $1 $q$, $1", "SELECT $q$ $1 $q$, <1>"},
		{"SELECT a$1, $1", "SELECT a$1, <1>"},
		{"SELECT $1 -- $1\n, $1", "SELECT <1> -- $1\n, <1>"},
		{"SELECT /* $1 /* $1 */ $1 */ $1", "SELECT /* $1 /* $1 */ $1 */ <1>"},
		{"SELECT '$1", "SELECT '$1"},
	} {
		got, err := substitute(c.in, args)
		if err != nil || got != c.want {
			t.Errorf("%q: got %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestLiteral(t *testing.T) {
	when := time.Date(2024, 5, 1, 12, 0, 0, 500, time.FixedZone("", -2*3600))
	for _, c := range []struct {
		in   driver.Value
		want string
	}{
		{nil, "NULL"},
		{int64(5), "5"},
		{int64(-5), "(-5)"},
		{-0.5, "'-0.5'::float8"},
		{math.Inf(1), "'+Infinity'::float8"},
		{math.NaN(), "'NaN'::float8"},
		{true, "TRUE"},
		{"O'Reilly", "'O''Reilly'"},
		{`\'`, `'\'''`},
		{[]byte{0xde, 0xad}, `'\xdead'::bytea`},
		{when, "'2024-05-01 12:00:00.0000005-02:00'::timestamptz"},
	} {
		if got, err := literal(c.in); err != nil || got != c.want {
			t.Errorf("%#v: got %s, %v; want %s", c.in, got, err, c.want)
		}
	}
	c := &conn{params: map[string]string{"standard_conforming_strings": "off"}}
	if _, err := c.bind("SELECT $1", []driver.NamedValue{{Ordinal: 1, Value: "x"}}); err == nil {
		t.Error("standard_conforming_strings=off: no error")
	}
}

func TestDecode(t *testing.T) {
	for _, c := range []struct {
		oid  uint32
		text string
		want driver.Value
	}{
		{oidInt4, "-12", int64(-12)},
		{oidBool, "f", false},
		{oidFloat8, "Infinity", math.Inf(1)},
		{oidTimestamptz, "2024-05-01 12:00:00+05:30", time.Date(2024, 5, 1, 6, 30, 0, 0, time.UTC)},
		{oidTimestamptz, "1900-01-01 00:00:00+00:09:21", time.Date(1899, 12, 31, 23, 50, 39, 0, time.UTC)},
		{1700, "1.50", "1.50"},
	} {
		got := decode(c.oid, []byte(c.text))
		if tm, ok := got.(time.Time); ok && tm.Equal(c.want.(time.Time)) {
			continue
		}
		if got != c.want {
			t.Errorf("%d %q: got %#v, want %#v", c.oid, c.text, got, c.want)
		}
	}
}

func TestURL(t *testing.T) {
	c, err := NewConnector("postgres://u:p%40ss@db.local/shop?sslmode=disable&search_path=app")
	if err != nil {
		t.Fatal(err)
	}
	if c.addr != "db.local:5432" || c.user != "u" || c.password != "p@ss" || c.database != "shop" || c.startup["search_path"] != "app" {
		t.Fatalf("%+v", c)
	}
	for _, bad := range []string{"postgres://u@h/d?sslmode=require", "mysql://u@h/d", "postgres://h/d", "postgres://u@h/d?connect_timeout=x"} {
		if _, err := NewConnector(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// fakeServer accepts one connection, reads the StartupMessage, asks for the
// given authentication and passes what the client answered to check; then it
// behaves as a ready, idle server that answers every query with nothing.
func fakeServer(t *testing.T, auth []byte, check func(answer string) bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	send := func(w io.Writer, typ byte, body []byte) {
		m := &msg{b: []byte{typ, 0, 0, 0, 0}, lenAt: 1}
		m.b = append(m.b, body...)
		w.Write(m.bytes())
	}
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		br := bufio.NewReader(nc)
		var n uint32
		binary.Read(br, binary.BigEndian, &n)
		io.CopyN(io.Discard, br, int64(n)-4)
		send(nc, 'R', auth)
		if binary.BigEndian.Uint32(auth) != 0 {
			typ, _ := br.ReadByte()
			binary.Read(br, binary.BigEndian, &n)
			body := make([]byte, n-4)
			io.ReadFull(br, body)
			if typ != 'p' || !check(strings.TrimSuffix(string(body), "\x00")) {
				send(nc, 'E', []byte("SFATAL\x00VFATAL\x00C28P01\x00Mpassword authentication failed\x00\x00"))
				return
			}
			send(nc, 'R', []byte{0, 0, 0, 0})
		}
		send(nc, 'S', []byte("standard_conforming_strings\x00on\x00"))
		send(nc, 'K', []byte{0, 0, 0, 7, 0, 0, 0, 9})
		send(nc, 'Z', []byte("I"))
		for {
			typ, err := br.ReadByte()
			if err != nil || typ == 'X' {
				return
			}
			binary.Read(br, binary.BigEndian, &n)
			io.CopyN(io.Discard, br, int64(n)-4)
			send(nc, 'I', nil)
			send(nc, 'Z', []byte("I"))
		}
	}()
	return ln.Addr().String()
}

func connectTo(addr, userinfo string) error {
	c, err := NewConnector("postgres://" + userinfo + "@" + addr + "/d?connect_timeout=5")
	if err != nil {
		return err
	}
	cn, err := c.Connect(context.Background())
	if err != nil {
		return err
	}
	defer cn.Close()
	return cn.(driver.Pinger).Ping(context.Background())
}

func TestPasswordAuthentication(t *testing.T) {
	md5hexOf := func(s string) string { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]) }
	salt := []byte{1, 2, 3, 4}
	wantMD5 := "md5" + md5hexOf(md5hexOf("s3cretalice")+string(salt))

	addr := fakeServer(t, []byte{0, 0, 0, 3}, func(a string) bool { return a == "s3cret" })
	if err := connectTo(addr, "alice:s3cret"); err != nil {
		t.Errorf("cleartext: %v", err)
	}
	addr = fakeServer(t, append([]byte{0, 0, 0, 5}, salt...), func(a string) bool { return a == wantMD5 })
	if err := connectTo(addr, "alice:s3cret"); err != nil {
		t.Errorf("md5: %v", err)
	}
	addr = fakeServer(t, append([]byte{0, 0, 0, 5}, salt...), func(a string) bool { return a == wantMD5 })
	if err := connectTo(addr, "alice:wrong"); err == nil || !strings.Contains(err.Error(), "28P01") {
		t.Errorf("md5, wrong password: %v", err)
	}
	addr = fakeServer(t, []byte{0, 0, 0, 3}, nil)
	if err := connectTo(addr, "alice"); err == nil || !strings.Contains(err.Error(), "has none") {
		t.Errorf("no password in the URL: %v", err)
	}
	addr = fakeServer(t, []byte("\x00\x00\x00\x0aSCRAM-SHA-256\x00\x00"), nil)
	if err := connectTo(addr, "alice:s3cret"); err == nil || !strings.Contains(err.Error(), "SASL (SCRAM-SHA-256)") {
		t.Errorf("SCRAM: %v", err)
	}
	addr = fakeServer(t, []byte{0, 0, 0, 0}, nil)
	if err := connectTo(addr, "alice"); err != nil {
		t.Errorf("trust: %v", err)
	}
}
