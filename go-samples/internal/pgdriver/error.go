package pgdriver

import "errors"

// Error is an ErrorResponse from the server. Code is the SQLSTATE, the part of
// an error a program should branch on: the message is translated (lc_messages)
// and reworded between versions, the code is not.
//
//	var pgErr *pgdriver.Error
//	if errors.As(err, &pgErr) && pgErr.Code == pgdriver.UniqueViolation { ... }
type Error struct {
	Severity   string // ERROR, FATAL or PANIC (untranslated)
	Code       string // SQLSTATE, e.g. "23505"; see https://www.postgresql.org/docs/current/errcodes-appendix.html
	Message    string
	Detail     string // e.g. which key value violated the constraint
	Hint       string
	Constraint string // for integrity violations: the constraint's name
}

func (e *Error) Error() string {
	return "pgdriver: " + e.Severity + ": " + e.Message + " (SQLSTATE " + e.Code + ")"
}

// SQLSTATE codes the lessons branch on.
const (
	UniqueViolation      = "23505"
	SyntaxError          = "42601"
	SerializationFailure = "40001"
	ReadOnlyTransaction  = "25006"
	TooManyConnections   = "53300" // "sorry, too many clients already": max_connections reached
	QueryCanceled        = "57014" // a CancelRequest or statement_timeout stopped the query
)

// ErrCommitRolledBack is what Commit returns when the server answered COMMIT
// with ROLLBACK: a statement in the transaction had failed, so nothing was
// committed. The server does not treat this as an error; a driver must, or the
// caller believes its writes were saved.
var ErrCommitRolledBack = errors.New("pgdriver: COMMIT rolled back: an earlier statement in the transaction failed")

// parseError reads an ErrorResponse body: fields of one type byte and a string,
// ended by a zero byte.
func parseError(body []byte) *Error {
	e := &Error{}
	r := reader(body)
	for {
		switch r.byte() {
		case 0:
			return e
		case 'V':
			e.Severity = r.str()
		case 'S':
			if s := r.str(); e.Severity == "" {
				e.Severity = s // servers before 9.6 send only the translated one
			}
		case 'C':
			e.Code = r.str()
		case 'M':
			e.Message = r.str()
		case 'D':
			e.Detail = r.str()
		case 'H':
			e.Hint = r.str()
		case 'n':
			e.Constraint = r.str()
		default:
			r.str() // position, file, line, routine, schema, ...
		}
	}
}
