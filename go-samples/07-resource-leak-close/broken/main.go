// An artifact service for a deploy dashboard:
//
//	GET  /fingerprint  size and SHA-256 of the first 4 KiB of the release artifact
//	GET  /bundle       a diagnostics bundle: the head of a few /proc/self files
//	POST /snapshot     saves the fingerprint as JSON to SNAPSHOT_FILE
//
// The artifact is FILE (default: this program's own binary, which exists even in a
// FROM scratch container).
//
// The pitfall: files are opened and never closed. Nothing in the program refers to the
// *os.File once fingerprint returns, so the descriptor stays open until the garbage
// collector finds the dead *os.File and the finalizer of the os package closes it,
// some time after a GC cycle. Collections are paced by allocation, not by open files:
// the count of open descriptors climbs between two cycles and drops at each one (a
// sawtooth). Under a generous RLIMIT_NOFILE the teeth stay below it and nothing fails;
// under a lower one (Go raises the soft limit to the hard one at start, so the hard
// limit is the ceiling) every os.Open, and every accept of a new connection, fails with
// "too many open files" until the next collection.
//
// /bundle does close its files, with a defer inside the loop: the defers run when the
// handler returns, so every file of the bundle stays open until the whole bundle is
// written. /snapshot ignores the errors of its writes.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"expvar"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
)

var (
	filesOpened = expvar.NewInt("files_opened")
	openErrors  = expvar.NewInt("open_errors")
)

type artifactInfo struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	Head4K string `json:"sha256_head_4k"`
}

// fingerprint reads the artifact's size and a hash of its first 4 KiB.
func fingerprint(path string) (artifactInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		openErrors.Add(1)
		return artifactInfo{}, err
	}
	filesOpened.Add(1)
	st, err := f.Stat()
	if err != nil {
		return artifactInfo{}, err
	}
	h := sha256.New()
	if _, err := io.CopyN(h, f, 4096); err != nil && err != io.EOF {
		return artifactInfo{}, err
	}
	return artifactInfo{Path: path, Size: st.Size(), Head4K: hex.EncodeToString(h.Sum(nil))}, nil
}

var bundleFiles = []string{"/proc/self/status", "/proc/self/limits", "/proc/self/maps", "/proc/self/mountinfo"}

func handleBundle(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	for _, path := range bundleFiles {
		f, err := os.Open(path)
		if err != nil {
			openErrors.Add(1)
			fmt.Fprintf(w, "== %s: %v\n", path, err)
			continue
		}
		filesOpened.Add(1)
		defer f.Close() // runs when handleBundle returns, not at the end of this iteration
		fmt.Fprintf(w, "== %s\n", path)
		io.Copy(w, io.LimitReader(f, 4096))
	}
}

func saveSnapshot(path string, info artifactInfo) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	json.NewEncoder(f).Encode(info)
	return nil
}

func routes(artifact, snapshotFile string) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fingerprint", func(w http.ResponseWriter, r *http.Request) {
		info, err := fingerprint(artifact)
		if err != nil {
			log.Printf("fingerprint: %v", err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(info)
	})
	mux.HandleFunc("GET /bundle", handleBundle)
	mux.HandleFunc("POST /snapshot", func(w http.ResponseWriter, r *http.Request) {
		info, err := fingerprint(artifact)
		if err == nil {
			err = saveSnapshot(snapshotFile, info)
		}
		if err != nil {
			log.Printf("snapshot: %v", err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "saved %s\n", snapshotFile)
	})
	return mux
}

func main() {
	artifact := os.Getenv("FILE")
	if artifact == "" {
		artifact, _ = os.Executable()
	}
	snapshotFile := os.Getenv("SNAPSHOT_FILE")
	if snapshotFile == "" {
		snapshotFile = filepath.Join(os.TempDir(), "artifact-snapshot.json")
	}
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	log.Printf("listening on %s, artifact %s", addr, artifact)
	log.Fatal(http.ListenAndServe(addr, routes(artifact, snapshotFile)))
}
