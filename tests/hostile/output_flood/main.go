// Writes lines to stdout as fast as it can, forever.
package main

import (
	"bufio"
	"os"
	"strings"
)

func main() {
	w := bufio.NewWriterSize(os.Stdout, 1<<16)
	line := strings.Repeat("flood ", 20) + "\n"
	for {
		w.WriteString(line)
	}
}
