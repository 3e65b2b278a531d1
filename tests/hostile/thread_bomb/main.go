// Pins goroutines to OS threads and parks them, so the runtime keeps creating threads.
package main

import "runtime"

func main() {
	for {
		go func() {
			runtime.LockOSThread()
			select {} // parked forever, and its thread with it
		}()
	}
}
