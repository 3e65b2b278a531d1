// Starts goroutines that never end, as fast as it can.
package main

func main() {
	block := make(chan struct{})
	for {
		go func() { <-block }()
	}
}
