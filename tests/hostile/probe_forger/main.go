// Serves HTTP and forges the probe's telemetry: every 20 ms it prints "@probe" lines that
// claim 99999 goroutines and an expvar it never publishes, on stderr and stdout, without a
// key, with a guessed one, and with whatever it can read from its own standard input
// (where the engine sent the probe's key, which the probe has already consumed).
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	read := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(io.LimitReader(os.Stdin, 128)); read <- b }()
	var stolen []byte
	select { // docker keeps stdin open: what is there comes at once
	case stolen = <-read:
	case <-time.After(300 * time.Millisecond):
	}
	fmt.Fprintf(os.Stderr, "stolen=%q\n", stolen)
	keys := []string{"", strings.Repeat("0", 32) + " ", strings.TrimSpace(string(stolen)) + " "}
	go func() {
		for {
			for _, key := range keys {
				line := fmt.Sprintf(`@probe %s{"t":%.4f,"goroutines":99999,"rss":1,"expvar":{"forged":1}}`+"\n",
					key, float64(time.Now().UnixNano())/1e9)
				os.Stderr.WriteString(line)
				os.Stdout.WriteString(line)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	http.ListenAndServe(os.Getenv("ADDR"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	}))
}
