package pgdriver

import (
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Parameters, the teaching shortcut. A real driver sends "... WHERE id = $1"
// and the value 42 in separate fields of the extended protocol (Parse, Bind):
// the server parses the SQL text before it sees any value, so no value can ever
// be read as SQL. This driver speaks only the simple protocol, one string of
// SQL, so it must write each value into the text as a literal, and its safety
// rests entirely on the quoting below being right:
//
//   - strings are quoted with every ' doubled, which is complete only while
//     standard_conforming_strings is on (backslashes are then plain characters);
//     the driver checks the setting before every substitution;
//   - $n is replaced only outside string literals, quoted identifiers, dollar
//     quotes and comments, so '$1' in the SQL stays text;
//   - a negative number is written in parentheses: "SELECT 1-$1" with -1 must
//     not become "SELECT 1--1", where "--" starts a comment and the rest of the
//     line is gone (pgx's simple-protocol mode had exactly this bug,
//     CVE-2024-27289).
//
// String concatenation of user input into SQL, done by hand, is the bug the
// lessons warn against; this file is the careful version of it, not a licence.

// bind writes args into query's placeholders.
func (c *conn) bind(query string, args []driver.NamedValue) (string, error) {
	if len(args) == 0 {
		return query, nil
	}
	if c.params["standard_conforming_strings"] != "on" {
		return "", errors.New("pgdriver: standard_conforming_strings is off; parameters cannot be quoted safely")
	}
	lits := make([]string, len(args))
	for i, a := range args {
		if a.Name != "" {
			return "", fmt.Errorf("pgdriver: named parameter %q: PostgreSQL numbers its parameters $1, $2, ...", a.Name)
		}
		lit, err := literal(a.Value)
		if err != nil {
			return "", fmt.Errorf("pgdriver: parameter $%d: %w", i+1, err)
		}
		lits[i] = lit
	}
	return substitute(query, func(n int) (string, error) {
		if n < 1 || n > len(lits) {
			return "", fmt.Errorf("pgdriver: the query uses $%d and has %d arguments", n, len(lits))
		}
		return lits[n-1], nil
	})
}

// literal writes one value (one of database/sql's driver.Value types) as SQL.
func literal(v driver.Value) (string, error) {
	switch v := v.(type) {
	case nil:
		return "NULL", nil
	case int64:
		if v < 0 {
			return "(" + strconv.FormatInt(v, 10) + ")", nil
		}
		return strconv.FormatInt(v, 10), nil
	case float64:
		// Quoted and typed: float8 also has 'NaN' and 'Infinity', and the
		// quotes keep a minus sign away from the SQL around it.
		s := strconv.FormatFloat(v, 'g', -1, 64)
		if math.IsInf(v, 0) {
			s = s[:len(s)-3] + "Infinity" // Go writes +Inf and -Inf
		}
		return "'" + s + "'::float8", nil
	case bool:
		if v {
			return "TRUE", nil
		}
		return "FALSE", nil
	case string:
		if strings.IndexByte(v, 0) >= 0 {
			return "", errors.New("a text value cannot contain a zero byte")
		}
		return "'" + strings.ReplaceAll(v, "'", "''") + "'", nil
	case []byte:
		return `'\x` + hex.EncodeToString(v) + "'::bytea", nil
	case time.Time:
		return "'" + v.Format("2006-01-02 15:04:05.999999999-07:00") + "'::timestamptz", nil
	}
	return "", fmt.Errorf("unsupported type %T", v)
}

// substitute copies query, replacing each $n outside quotes and comments with
// arg(n). It is a small lexer for the parts of PostgreSQL's syntax where a $
// does not mean a parameter.
func substitute(query string, arg func(n int) (string, error)) (string, error) {
	var b strings.Builder
	q := query
	for i := 0; i < len(q); {
		end := i + 1 // the end of the token that starts at i
		switch rest := q[i:]; {
		case rest[0] == '\'':
			// E'...' strings take backslash escapes: \' does not end them.
			escapes := i > 0 && (q[i-1] == 'E' || q[i-1] == 'e') && (i == 1 || !isIdent(q[i-2]))
			end = i + 1 + quoted(rest[1:], '\'', escapes)
		case rest[0] == '"':
			end = i + 1 + quoted(rest[1:], '"', false)
		case strings.HasPrefix(rest, "--"):
			end = i + lineEnd(rest)
		case strings.HasPrefix(rest, "/*"):
			end = i + blockComment(rest)
		case rest[0] == '$' && (i == 0 || !isIdent(q[i-1])):
			digits := 1
			for digits < len(rest) && rest[digits] >= '0' && rest[digits] <= '9' {
				digits++
			}
			if digits > 1 { // $n: a parameter
				n, err := strconv.Atoi(rest[1:digits])
				if err != nil {
					return "", err
				}
				lit, err := arg(n)
				if err != nil {
					return "", err
				}
				b.WriteString(lit)
				i += digits
				continue
			}
			if tag := dollarTag(rest); tag != "" { // $$...$$ or $tag$...$tag$
				if j := strings.Index(rest[len(tag):], tag); j >= 0 {
					end = i + len(tag) + j + len(tag)
				} else {
					end = len(q)
				}
			}
		}
		b.WriteString(q[i:end])
		i = end
	}
	return b.String(), nil
}

// quoted returns the length of s up to and including the closing quote; a
// doubled quote is one quote character inside.
func quoted(s string, quote byte, backslashEscapes bool) int {
	for i := 0; i < len(s); i++ {
		switch {
		case backslashEscapes && s[i] == '\\':
			i++
		case s[i] == quote && i+1 < len(s) && s[i+1] == quote:
			i++
		case s[i] == quote:
			return i + 1
		}
	}
	return len(s) // unterminated: the server will say so
}

func lineEnd(s string) int {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return i + 1
	}
	return len(s)
}

// blockComment returns the length of the /* ... */ comment at the start of s;
// PostgreSQL's block comments nest.
func blockComment(s string) int {
	depth := 0
	for i := 0; i+1 < len(s); i++ {
		switch s[i : i+2] {
		case "/*":
			depth++
			i++
		case "*/":
			depth--
			i++
			if depth == 0 {
				return i + 1
			}
		}
	}
	return len(s)
}

// dollarTag returns the opening "$tag$" (or "$$") at the start of s, if any.
func dollarTag(s string) string {
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '$':
			return s[:i+1]
		case !isIdent(c) || (c >= '0' && c <= '9' && i == 1):
			return ""
		}
	}
	return ""
}

// isIdent reports whether c can be part of an identifier (letters, digits, _,
// $, and any byte of a non-ASCII letter). A $ right after one is not a
// parameter: "a$1" is an identifier.
func isIdent(c byte) bool {
	return c == '_' || c == '$' || c >= 0x80 ||
		(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}
