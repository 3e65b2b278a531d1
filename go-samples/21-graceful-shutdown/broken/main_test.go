package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The tests run this test binary again as the server (so SIGTERM reaches a real
// process): TestMain turns into main when LESSON21_SERVE is set.
func TestMain(m *testing.M) {
	if os.Getenv("LESSON21_SERVE") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type server struct {
	cmd   *exec.Cmd
	base  string
	lines chan string // stderr lines after "listening on"
}

func startServer(t *testing.T, env ...string) *server {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), append([]string{"LESSON21_SERVE=1", "ADDR=127.0.0.1:0"}, env...)...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	s := &server{cmd: cmd, lines: make(chan string, 16)}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if _, addr, ok := strings.Cut(sc.Text(), "listening on "); ok {
			s.base = "http://" + addr
			break
		}
	}
	if s.base == "" {
		t.Fatal("server did not start")
	}
	go func() {
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	return s
}

func get(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestInFlightRequestsFail demonstrates the bug: SIGTERM in the middle of three
// requests ends the process at once; none of them gets an answer, and readiness
// said 200 until the end.
func TestInFlightRequestsFail(t *testing.T) {
	s := startServer(t, "WORK_TIME=800ms")
	results := make(chan error, 3)
	for range 3 {
		go func() {
			_, _, err := get(s.base + "/api/work")
			results <- err
		}()
	}
	time.Sleep(200 * time.Millisecond)
	if code, _, err := get(s.base + "/readyz"); err != nil || code != http.StatusOK {
		t.Errorf("readyz before the signal: %d %v", code, err)
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	for range 3 {
		if err := <-results; err == nil {
			t.Errorf("in-flight request succeeded; want it cut by the exit")
		}
	}
	err := s.cmd.Wait()
	if ws, ok := s.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("exit: %v, want killed by SIGTERM", err)
	}
}
