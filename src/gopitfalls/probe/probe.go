// This file is added to a program's package main at build time by the gopitfalls
// lab engine (go build -overlay), so lesson and learner code carry no telemetry code.
// It prints one line per interval on stderr:
//
//	@probe <key> {"t":<unix seconds>,"goroutines":..,"heap_live":..,...,"expvar":{...}}
//
// <key> is a secret the engine makes for each run and writes on the program's standard
// input (it says so with GOPITFALLS_PROBE=stdin). The engine believes only lines that
// carry it, so a program that prints "@probe" lines of its own, by accident or to fake
// its numbers, changes nothing the engine measures. Started by hand, the probe is off.
//
// Every identifier starts with gopitfallsProbe to stay out of the program's way.
package main

import (
	"bytes"
	"encoding/json"
	"expvar"
	"io"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The key is read by a variable initializer, in a file whose name sorts first: before
// any init function, and before the variables of the program's own files.
var gopitfallsProbeKey = gopitfallsProbeReadKey()

// gopitfallsProbeInterval is the reporting interval; 0 when the probe is turned off
// ("0" or "off"), as for child processes a program starts with that environment.
func gopitfallsProbeInterval() time.Duration {
	v := os.Getenv("GOPITFALLS_PROBE_INTERVAL")
	if v == "" {
		return 100 * time.Millisecond
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0
	}
	return d
}

// gopitfallsProbeReadKey reads the key line from standard input, or gives up after a
// few seconds (the docker backend sends it once the container runs).
func gopitfallsProbeReadKey() string {
	if os.Getenv("GOPITFALLS_PROBE") != "stdin" || gopitfallsProbeInterval() == 0 {
		return ""
	}
	got := make(chan string, 1)
	go func() {
		var line []byte
		var b [1]byte
		for len(line) < 128 {
			if _, err := io.ReadFull(os.Stdin, b[:]); err != nil || b[0] == '\n' {
				break
			}
			line = append(line, b[0])
		}
		got <- string(line)
	}()
	select {
	case key := <-got:
		if key == "" {
			os.Stderr.WriteString("gopitfalls probe: no key on standard input; telemetry is off\n")
		}
		return key
	case <-time.After(5 * time.Second):
		os.Stderr.WriteString("gopitfalls probe: no key on standard input; telemetry is off\n")
		return ""
	}
}

func init() {
	interval := gopitfallsProbeInterval()
	if gopitfallsProbeKey == "" || interval == 0 {
		return
	}
	// Opened before main runs: a program that uses up its descriptors at once must not
	// leave the probe unable to count them (or to read its RSS).
	gopitfallsProbeFDDir, _ = os.Open("/proc/self/fd")
	gopitfallsProbeStatm, _ = os.Open("/proc/self/statm")
	go gopitfallsProbeLoop(interval)
}

var gopitfallsProbeMetrics = []metrics.Sample{
	{Name: "/sched/goroutines:goroutines"},
	{Name: "/gc/heap/live:bytes"},
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/memory/classes/total:bytes"},
	{Name: "/gc/cycles/total:gc-cycles"},
	{Name: "/sched/threads/total:threads"},
}

func gopitfallsProbeLoop(interval time.Duration) {
	var buf bytes.Buffer
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		buf.Reset()
		gopitfallsProbeSample(&buf)
		// One write per line keeps the line whole when the program logs at the same time.
		os.Stderr.Write(buf.Bytes())
		<-ticker.C
	}
}

func gopitfallsProbeSample(buf *bytes.Buffer) {
	metrics.Read(gopitfallsProbeMetrics)
	value := func(i int) uint64 {
		if v := gopitfallsProbeMetrics[i].Value; v.Kind() == metrics.KindUint64 {
			return v.Uint64()
		}
		return 0
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9

	buf.WriteString("@probe ")
	buf.WriteString(gopitfallsProbeKey)
	buf.WriteString(` {"t":`)
	buf.WriteString(strconv.FormatFloat(float64(time.Now().UnixNano())/1e9, 'f', 4, 64))
	gopitfallsProbeField(buf, "goroutines", value(0))
	gopitfallsProbeField(buf, "heap_live", value(1))
	gopitfallsProbeField(buf, "heap_objects", value(2))
	gopitfallsProbeField(buf, "go_mapped", value(3))
	gopitfallsProbeField(buf, "gc_cycles", value(4))
	gopitfallsProbeField(buf, "threads", value(5))
	gopitfallsProbeField(buf, "rss", gopitfallsProbeRSS())
	gopitfallsProbeField(buf, "fds", gopitfallsProbeFDs())
	buf.WriteString(`,"cpu_s":`)
	buf.WriteString(strconv.FormatFloat(cpu, 'f', 4, 64))
	buf.WriteString(`,"pid":`)
	buf.WriteString(strconv.Itoa(os.Getpid()))
	buf.WriteString(`,"expvar":{`)
	first := true
	expvar.Do(func(kv expvar.KeyValue) {
		// memstats stops the world on every read; cmdline is noise.
		if kv.Key == "memstats" || kv.Key == "cmdline" {
			return
		}
		if !first {
			buf.WriteByte(',')
		}
		first = false
		key, _ := json.Marshal(kv.Key)
		buf.Write(key)
		buf.WriteByte(':')
		buf.WriteString(kv.Value.String())
	})
	buf.WriteString("}}\n")
}

func gopitfallsProbeField(buf *bytes.Buffer, name string, v uint64) {
	buf.WriteString(`,"`)
	buf.WriteString(name)
	buf.WriteString(`":`)
	buf.WriteString(strconv.FormatUint(v, 10))
}

// gopitfallsProbeStatm stays open for the same reason as gopitfallsProbeFDDir.
var gopitfallsProbeStatm *os.File

// gopitfallsProbeRSS reads the resident set size from /proc (Linux); 0 elsewhere.
func gopitfallsProbeRSS() uint64 {
	if gopitfallsProbeStatm == nil {
		return 0
	}
	var data [128]byte
	n, err := gopitfallsProbeStatm.ReadAt(data[:], 0) // /proc regenerates it at offset 0
	if n == 0 && err != nil {
		return 0
	}
	fields := strings.Fields(string(data[:n]))
	if len(fields) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(fields[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

// gopitfallsProbeFDDir stays open, so that open descriptors can still be counted when
// the program has used up its limit (the moment a lesson about fd leaks wants to see).
var gopitfallsProbeFDDir *os.File

// gopitfallsProbeFDs counts the program's open file descriptors (the probe's own two
// handles excluded).
func gopitfallsProbeFDs() uint64 {
	if gopitfallsProbeFDDir == nil {
		return 0
	}
	if _, err := gopitfallsProbeFDDir.Seek(0, 0); err != nil {
		return 0
	}
	names, _ := gopitfallsProbeFDDir.Readdirnames(-1)
	own := 1
	if gopitfallsProbeStatm != nil {
		own++
	}
	if len(names) < own {
		return 0
	}
	return uint64(len(names) - own)
}
