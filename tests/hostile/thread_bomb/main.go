// Pins goroutines to OS threads and blocks them, so the runtime keeps creating threads.
package main

import (
	"runtime"
	"syscall"
)

func main() {
	for {
		go func() {
			runtime.LockOSThread()
			var fds [2]int
			syscall.Pipe(fds[:])
			buf := make([]byte, 1)
			syscall.Read(fds[0], buf) // blocks in a syscall forever, holding its thread
		}()
	}
}
