// Package loopback holds the one rule the engine's Go tools share: they listen on the
// loopback interface only (the course's network rule).
package loopback

import (
	"fmt"
	"net"
	"strings"
)

// Check returns an error naming the fix unless addr ("host:port") is on loopback.
func Check(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %v", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("-addr %q: refusing a non-loopback address (use 127.0.0.1:PORT)", addr)
}
