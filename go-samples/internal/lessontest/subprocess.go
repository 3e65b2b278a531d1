package lessontest

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// ServeEnv is the environment variable that turns a test binary into the program
// itself: StartServer sets it to "1" in the child it starts, and RunMainOrTests
// sees it there.
const ServeEnv = "LESSONTEST_SERVE"

// RunMainOrTests is the body of a TestMain for tests that need the program as a real
// process (to send it a signal, to watch its exit status): in a child started by
// StartServer it runs the program's main and exits 0 when main returns; otherwise
// it runs the tests.
//
//	func TestMain(m *testing.M) { lessontest.RunMainOrTests(m, main) }
func RunMainOrTests(m *testing.M, main func()) {
	if os.Getenv(ServeEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Server is the program running in a child process started by StartServer.
type Server struct {
	Cmd   *exec.Cmd
	Base  string        // "http://" + the address from the "listening on ADDR" line
	Lines <-chan string // the child's stderr lines after that one; closed at EOF
}

// StartServer runs this test binary again as the program (see RunMainOrTests) with
// ADDR=127.0.0.1:0 and the extra environment entries env ("NAME=value"), and waits
// for the "listening on ADDR" line on its stderr. The child is killed, if it is
// still running, when the test ends. Read Lines if the program logs more than a
// few lines, or its stderr pipe fills up.
func StartServer(t *testing.T, env ...string) *Server {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), append([]string{ServeEnv + "=1", "ADDR=127.0.0.1:0"}, env...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string, 16)
	s := &Server{Cmd: cmd, Lines: lines}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if _, addr, ok := strings.Cut(sc.Text(), "listening on "); ok {
			s.Base = "http://" + addr
			break
		}
	}
	if s.Base == "" {
		t.Fatal("server did not start")
	}
	go func() {
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return s
}
