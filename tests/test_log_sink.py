"""The engine's slow log collector (services.LogSink, gotools/logsink): a program that
writes its log lines to ``LOG_ADDR`` is held to the sink's rate, on both backends, and the
lines it wrote come back as ``run.logs("sink")``."""

import textwrap

from gopitfalls import run
from gopitfalls.services import LogSink

WRITER = """
package main

import (
	"expvar"
	"fmt"
	"net"
	"net/http"
	"os"
)

var written = expvar.NewInt("written")

func main() {
	c, err := net.Dial("tcp", os.Getenv("LOG_ADDR"))
	if err != nil {
		panic(err)
	}
	c.(*net.TCPConn).SetWriteBuffer(32 << 10)
	go func() {
		for i := 0; ; i++ {
			if _, err := fmt.Fprintf(c, "line %06d %090d\\n", i, 0); err != nil {
				return
			}
			written.Add(1)
		}
	}()
	http.ListenAndServe(os.Getenv("ADDR"), nil)
}
"""

RATE = 100_000  # bytes/s; each line is 102 bytes


def test_a_writer_is_held_to_the_sink_rate_and_its_lines_come_back(backend, tmp_path):
    (tmp_path / "main.go").write_text(textwrap.dedent(WRITER))
    r = run(tmp_path, backend=backend, baseline_s=2.0, cooldown_s=0.0,
            log_sink=LogSink(bytes_per_s=RATE))
    assert r.params["log_sink"]["bytes_per_s"] == RATE
    ts, vs = r.series("expvar.bytes", "sink")
    assert ts, r.summary()
    received = r.logs("sink")
    # From the sample before its first bytes (the program connects once started, which
    # on docker is a second or two after the sink) to the last: bytes at the rate, at most.
    first = max([i for i, v in enumerate(vs) if v == 0] or [0])
    seconds = ts[-1] - ts[first]
    assert r.final("expvar.bytes", "sink") <= RATE * (seconds + 0.6)
    # ... and not far below it: measured 0.76-0.89 of the rate (local, docker) on an idle
    # machine; loopback through a 16 KiB window loses some, a loaded one more. A stalled sink
    # reads next to nothing.
    assert r.final("expvar.bytes", "sink") >= RATE * seconds * 0.35
    # The writer was blocked: it wrote what the sink read plus what the sockets buffer.
    assert r.final("expvar.written") * 102 <= r.final("expvar.bytes", "sink") + 300_000
    # The lines came back whole and in order.
    assert len(received) >= 0.35 * RATE * seconds / 102
    assert received[:3] == [f"line {i:06d} {0:090d}" for i in range(3)]
    assert all(line == f"line {i:06d} {0:090d}" for i, line in enumerate(received))
    # Every line counted by the last probe sample was kept (fewer than max_lines).
    assert 0 < r.final("expvar.lines", "sink") <= len(received)
