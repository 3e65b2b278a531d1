// A map tile server for an offline field app:
//
//	GET /tile?z=2&x=1&y=3   one map tile (4 KiB), read from its file in the data folder
//	GET /sprite             the sprite sheet: the app's 64 map icons, read from their
//	                        files and joined, each behind a line "#icon NAME SIZE"
//
// The data folder (TILE_DIR, default a new folder in the temp dir) is seeded at start.
//
// A wrong fix of lab 07: the tile's file is closed by a defer, and so is each icon, with
// a defer inside the loop of sprite: the defers run only when sprite returns, so one
// sheet holds all 64 icon files open at once.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
)

const (
	zoom      = 2 // tiles exist for zoom levels 0..zoom, x and y in 0..2^z-1
	tileSize  = 4096
	iconCount = 64
)

var pngMagic = []byte("\x89PNG\r\n\x1a\n")

// seed writes the tiles and the icons the server reads.
func seed(dir string) error {
	for _, sub := range []string{"tiles", "icons"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	for z := 0; z <= zoom; z++ {
		for x := 0; x < 1<<z; x++ {
			for y := 0; y < 1<<z; y++ {
				tile := bytes.Repeat([]byte{byte(z*16 + x*4 + y)}, tileSize)
				copy(tile, pngMagic)
				if err := os.WriteFile(tilePath(dir, z, x, y), tile, 0o644); err != nil {
					return err
				}
			}
		}
	}
	for i := range iconCount {
		icon := fmt.Appendf(nil, "%sicon-%02d %s", pngMagic, i, bytes.Repeat([]byte{'.'}, 100+i))
		if err := os.WriteFile(filepath.Join(dir, "icons", iconName(i)), icon, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func tilePath(dir string, z, x, y int) string {
	return filepath.Join(dir, "tiles", fmt.Sprintf("%d-%d-%d.png", z, x, y))
}

func iconName(i int) string { return fmt.Sprintf("marker-%02d.png", i) }

type server struct{ dir string }

func (s *server) tile(w http.ResponseWriter, r *http.Request) {
	var zxy [3]int
	for i, key := range []string{"z", "x", "y"} {
		n, err := strconv.Atoi(r.URL.Query().Get(key))
		if err != nil || n < 0 || (i == 0 && n > zoom) || (i > 0 && n >= 1<<zxy[0]) {
			http.Error(w, "no such tile", http.StatusNotFound)
			return
		}
		zxy[i] = n
	}
	f, err := os.Open(tilePath(s.dir, zxy[0], zxy[1], zxy[2]))
	if err != nil {
		log.Printf("tile: %v", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.FormatInt(st.Size(), 10))
	io.Copy(w, f)
}

func (s *server) sprite(w http.ResponseWriter, r *http.Request) {
	var sheet bytes.Buffer
	for i := range iconCount {
		f, err := os.Open(filepath.Join(s.dir, "icons", iconName(i)))
		if err != nil {
			log.Printf("sprite: %v", err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer f.Close()
		icon, err := io.ReadAll(f)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(&sheet, "#icon %s %d\n", iconName(i), len(icon))
		sheet.Write(icon)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(sheet.Bytes())
}

func main() {
	dir, made := os.Getenv("TILE_DIR"), ""
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "tiles-"); err != nil {
			log.Fatal(err)
		}
		made = dir // removed when the server stops
	}
	defer os.RemoveAll(made)
	if err := seed(dir); err != nil {
		log.Fatal(err)
	}
	s := &server{dir: dir}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /tile", s.tile)
	mux.HandleFunc("GET /sprite", s.sprite)
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	srv := &http.Server{Addr: addr, Handler: mux}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Shutdown(context.Background())
	}()
	log.Printf("listening on %s, tiles in %s", addr, dir)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		os.RemoveAll(made)
		log.Fatal(err)
	}
}
