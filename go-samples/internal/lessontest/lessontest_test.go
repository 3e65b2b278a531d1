package lessontest

import (
	"go/parser"
	"go/token"
	"io/fs"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestMainGoFilesStayStandalone: no program file of a lesson imports this package;
// only its tests do.
func TestMainGoFilesStayStandalone(t *testing.T) {
	const self = "gopitfalls/samples/internal/lessontest"
	root := filepath.Join("..", "..")
	users := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path == filepath.Join(root, "internal") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == self {
				if !strings.HasSuffix(path, "_test.go") {
					t.Errorf("%s imports %s; only *_test.go files may", path, self)
				}
				users++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if users == 0 {
		t.Errorf("no test file under %s imports %s: is the walk looking in the right place?", root, self)
	}
}

func TestSyncBufferConcurrentWrites(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				b.Write([]byte("x\n"))
			}
		})
	}
	wg.Wait()
	if n := strings.Count(b.String(), "x\n"); n != 800 {
		t.Errorf("%d lines, want 800", n)
	}
}

func TestDoReportsDroppedConnections(t *testing.T) {
	srv, logs := StartWithErrorLog(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("boom")
		}
		w.WriteHeader(http.StatusTeapot)
		w.Write([]byte("short and stout"))
	}))
	if o := Do(t, srv, "GET", "/", ""); o != (Outcome{418, "short and stout"}) {
		t.Errorf("got %+v", o)
	}
	if o := Do(t, srv, "GET", "/panic", ""); o != (Outcome{}) {
		t.Errorf("got %+v, want no response", o)
	}
	if !strings.Contains(logs.String(), "http: panic serving") {
		t.Errorf("the panic is missing from the server log %q", logs.String())
	}
}
