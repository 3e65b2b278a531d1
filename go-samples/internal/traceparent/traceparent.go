// Package traceparent reads the trace id of a W3C Trace Context traceparent
// header (https://www.w3.org/TR/trace-context/#traceparent-header) and makes new
// ones, for the fixed programs that carry a trace id (lessons 04 and 12).
//
// The header is "version-traceid-parentid-flags": 2, 32, 16 and 2 lowercase hex
// digits. Version ff is invalid; an all-zero trace id or parent id is invalid; a
// version after 00 may append fields, which a reader of version 00 ignores.
package traceparent

import (
	"crypto/rand"
	"encoding/hex"
)

// TraceID returns the trace id of a valid traceparent header value, and false
// for anything else (a caller's malformed header must not become the trace id).
func TraceID(h string) (string, bool) {
	// Version 00 is exactly 55 characters; a later version may append "-" and more fields.
	if len(h) < 55 || (len(h) > 55 && (h[:2] == "00" || h[55] != '-')) {
		return "", false
	}
	if h[2] != '-' || h[35] != '-' || h[52] != '-' {
		return "", false
	}
	version, traceID, parentID, flags := h[0:2], h[3:35], h[36:52], h[53:55]
	if !isLowerHex(version) || version == "ff" || !isLowerHex(flags) ||
		!isLowerHex(traceID) || traceID == "00000000000000000000000000000000" ||
		!isLowerHex(parentID) || parentID == "0000000000000000" {
		return "", false
	}
	return traceID, true
}

// NewTraceID is a random 128-bit trace id in the header's form (32 lowercase hex).
func NewTraceID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails since Go 1.24
	return hex.EncodeToString(b[:])
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
