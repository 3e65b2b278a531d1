// An artifact service for a deploy dashboard:
//
//	GET  /fingerprint  size and SHA-256 of the first 4 KiB of the release artifact
//	GET  /bundle       a diagnostics bundle: the head of a few /proc/self files
//	POST /snapshot     saves the fingerprint as JSON to SNAPSHOT_FILE
//
// The artifact is FILE (default: this program's own binary, which exists even in a
// FROM scratch container).
//
// The fix, in three steps:
//  1. defer f.Close() right after the error check of every os.Open, so each return
//     path closes the file; the number of open files no longer depends on the GC;
//  2. no defer inside a loop: the body of the /bundle loop moved into its own function
//     (writeSection), so each file is closed when its section is written, and a
//     bundle holds one file open at a time instead of all of them;
//  3. for a file being written, the errors of Write and Close are checked and returned:
//     a failed write (a full disk, a network file system) must not be reported as saved.
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

	"gopitfalls/samples/internal/serve"
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
	defer f.Close() // on every return below, errors included: no GC needed
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

// writeSection writes the head of one file; its defer runs at the end of each section.
func writeSection(w io.Writer, path string) {
	f, err := os.Open(path)
	if err != nil {
		openErrors.Add(1)
		fmt.Fprintf(w, "== %s: %v\n", path, err)
		return
	}
	filesOpened.Add(1)
	defer f.Close()
	fmt.Fprintf(w, "== %s\n", path)
	io.Copy(w, io.LimitReader(f, 4096))
}

func handleBundle(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	for _, path := range bundleFiles {
		writeSection(w, path)
	}
}

func saveSnapshot(path string, info artifactInfo) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := json.NewEncoder(f).Encode(info); err != nil {
		f.Close() // the write already failed: that is the error to report
		return err
	}
	// Close can report a write that failed late (a full disk, a network file system).
	return f.Close()
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
	log.Printf("artifact %s", artifact)
	// Server timeouts and a graceful shutdown, as lessons 20 and 21 teach.
	if err := serve.Run(serve.Addr(), routes(artifact, snapshotFile)); err != nil {
		log.Fatal(err)
	}
}
