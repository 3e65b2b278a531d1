// Serves HTTP and fills its temp dir: file after file of 16 MB writes, each file until a
// write fails (a file size limit), printing where it writes and each write error. The
// engine must stop it at its disk limit and remove what it wrote.
package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

func main() {
	dir := os.TempDir()
	fmt.Printf("tmpdir=%s\n", dir)
	go func() {
		time.Sleep(300 * time.Millisecond)
		chunk := make([]byte, 16<<20)
		for i := 0; ; i++ {
			f, err := os.Create(filepath.Join(dir, fmt.Sprintf("fill-%d", i)))
			if err != nil {
				fmt.Println("create:", err)
				time.Sleep(100 * time.Millisecond)
				continue
			}
			for {
				if _, err := f.Write(chunk); err != nil {
					fmt.Println("write:", err)
					break
				}
			}
			f.Close()
		}
	}()
	http.ListenAndServe(os.Getenv("ADDR"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	}))
}
