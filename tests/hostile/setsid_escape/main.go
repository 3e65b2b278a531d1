// Serves HTTP and starts a copy of itself in a session of its own (Setsid: a new
// session and process group, as a daemon does), which sleeps for an hour. It prints the
// child's pid. The engine must end the child with the run although it left the group.
package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

func main() {
	if os.Getenv("ESCAPED") == "1" {
		time.Sleep(time.Hour)
		return
	}
	self, _ := os.Executable()
	child := exec.Command(self)
	child.Env = append(os.Environ(), "ESCAPED=1")
	child.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := child.Start(); err != nil {
		fmt.Println("start failed:", err)
		os.Exit(1)
	}
	fmt.Printf("child=%d\n", child.Process.Pid)
	http.ListenAndServe(os.Getenv("ADDR"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	}))
}
