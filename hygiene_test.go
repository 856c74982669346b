package goldenpipe

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

// maxTrackedBytes bounds a tracked file: binaries and data that a script
// can make again stay out of the repository (a build output at the root
// once made a submission too big to land).
const maxTrackedBytes = 2 << 20

// TestNoLargeTrackedFiles fails on any tracked file over maxTrackedBytes.
func TestNoLargeTrackedFiles(t *testing.T) {
	out, err := exec.Command("git", "ls-files", "-z").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v (the tests run in a git checkout)", err)
	}
	files := bytes.Split(bytes.TrimRight(out, "\x00"), []byte{0})
	if len(files) < 50 {
		t.Fatalf("git lists %d files: not this repository's checkout?", len(files))
	}
	for _, f := range files {
		st, err := os.Stat(string(f))
		if err != nil {
			continue // deleted in the work tree, not yet committed
		}
		if st.Size() > maxTrackedBytes {
			t.Errorf("%s is tracked and %d bytes (limit %d): build outputs and generated data belong in bin/, dist/ or .local/", f, st.Size(), maxTrackedBytes)
		}
	}
}
