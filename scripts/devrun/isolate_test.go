package main

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/goldenpipe/goldenpipe/internal/azurite"
)

// devrun starts the dev runner bin for a test, isolated from the user's
// files in the repository: the settings are a copy of
// local.settings.json.example in a folder of the test's (never the user's
// local.settings.json), the folder loaded besides the examples is the
// test's -load (an empty one unless the test gives one; never the user's
// local/), and Azurite's data is the test's -data (never .local/). It
// fails the test if devrun says it loads anything from the repository's
// local/ or .local/. Its stdout lines arrive on the channel (the newest
// are dropped when nobody reads them); it is stopped (SIGINT) at the end.
func devrun(t *testing.T, bin string, args ...string) (*exec.Cmd, <-chan string) {
	t.Helper()
	if !slices.Contains(args, "-data") {
		t.Fatal("a test's devrun keeps Azurite's data in the test's folder (-data), never .local/")
	}
	if !slices.Contains(args, "-load") {
		empty := filepath.Join(t.TempDir(), "nothing")
		if err := os.Mkdir(empty, 0o755); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-load", empty)
	}
	if !slices.Contains(args, "-settings") {
		args = append(args, "-settings", exampleSettings(t))
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = "."
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	root, err := azurite.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var violations []string
	lines := make(chan string, 4096)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if readsUsersFiles(root, sc.Text()) {
				mu.Lock()
				violations = append(violations, sc.Text())
				mu.Unlock()
			}
			select {
			case lines <- sc.Text():
			default:
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, v := range violations {
			t.Errorf("devrun read the user's files in the repository: %s", v)
		}
	})
	return cmd, lines
}

var loadsFrom = regexp.MustCompile(`^(loading|settings from|loaded \S+ \S+ from) (\S+)`)

// readsUsersFiles reports a devrun line that says it reads the user's
// local/, .local/ or local.settings.json in the repository root.
func readsUsersFiles(root, line string) bool {
	m := loadsFrom.FindStringSubmatch(line)
	if m == nil {
		return false
	}
	p := filepath.Clean(strings.TrimSuffix(m[2], ","))
	for _, user := range []string{filepath.Join(root, "local"), filepath.Join(root, ".local"), filepath.Join(root, "local.settings.json")} {
		if p == user || strings.HasPrefix(p, user+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// exampleSettings is a folder holding a copy of local.settings.json.example
// as local.settings.json.
func exampleSettings(t *testing.T) string {
	t.Helper()
	root, err := azurite.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "local.settings.json.example"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "local.settings.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestTestsNeverReadTheUsersFiles: every test that runs devrun goes through
// devrun() (which isolates it and checks what it says it reads), and the
// check catches the lines of a devrun that reads the user's files.
func TestTestsNeverReadTheUsersFiles(t *testing.T) {
	root, err := azurite.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		line string
		user bool
	}{
		{"loading " + filepath.Join(root, "local") + ", and what is added to it or changed while this runs (every 1s)", true},
		{"loaded template mine.json from " + filepath.Join(root, "local") + " - its build starts when its plan asks for one", true},
		{"settings from " + filepath.Join(root, "local.settings.json"), true},
		{"loading " + filepath.Join(root, "examples") + ", and what is added to it or changed while this runs (every 1s)", false},
		{"settings from " + filepath.Join(root, "local.settings.json.example"), false},
		{"loading /tmp/TestX/001/nothing, and what is added to it or changed while this runs (every 1s)", false},
	} {
		if got := readsUsersFiles(root, tt.line); got != tt.user {
			t.Errorf("readsUsersFiles(%q) = %v, want %v", tt.line, got, tt.user)
		}
	}
	// no test starts the binary but through devrun()
	files, _ := filepath.Glob("*_test.go")
	direct := regexp.MustCompile(`exec\.Command(Context)?\((ctx, )?bin[,)]`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n := len(direct.FindAll(b, -1))
		if f == "isolate_test.go" {
			n-- // devrun() itself
		}
		if n != 0 {
			t.Errorf("%s starts devrun %d time(s) without devrun(), which keeps the user's local/ out", f, n)
		}
	}
}
