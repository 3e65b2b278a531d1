package lessontest

import (
	"os"
	"testing"
)

func TestWithFreeDescriptors(t *testing.T) {
	WithFreeDescriptors(t, 2, func() {
		var files []*os.File
		defer func() {
			for _, f := range files {
				f.Close()
			}
		}()
		for range 3 {
			f, err := os.Open(Executable(t))
			if err != nil {
				if len(files) != 2 {
					t.Errorf("open %d failed (%v), want the third to fail", len(files)+1, err)
				}
				return
			}
			files = append(files, f)
		}
		t.Errorf("opened 3 files with 2 free descriptors")
	})
}
