// Spins forever without listening anywhere.
package main

func main() {
	x := 0
	for {
		x++
	}
}
