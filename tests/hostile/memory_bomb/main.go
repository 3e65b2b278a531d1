// Allocates and touches memory as fast as it can, forever.
package main

func main() {
	var keep [][]byte
	for {
		b := make([]byte, 16<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		keep = append(keep, b)
	}
}
