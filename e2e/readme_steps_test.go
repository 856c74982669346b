package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe/internal/apitest"
	"github.com/goldenpipe/goldenpipe/internal/azurite"
)

// firstHourHeading is the README's section of the steps this test runs.
const firstHourHeading = "### The first hour, step by step"

// readmeSteps returns the command lines of the first sh block after the
// heading (comments dropped).
func readmeSteps(t *testing.T, readme string) []string {
	t.Helper()
	_, rest, ok := strings.Cut(readme, "\n"+firstHourHeading+"\n")
	if !ok {
		t.Fatalf("the README has no %q", firstHourHeading)
	}
	_, rest, ok = strings.Cut(rest, "```sh\n")
	if !ok {
		t.Fatalf("no sh block under %q", firstHourHeading)
	}
	block, _, _ := strings.Cut(rest, "```")
	var out []string
	for _, line := range strings.Split(block, "\n") {
		if cmd, _, _ := strings.Cut(line, " #"); strings.TrimSpace(cmd) != "" && !strings.HasPrefix(strings.TrimSpace(line), "#") {
			out = append(out, strings.TrimSpace(cmd))
		}
	}
	return out
}

var buildRequested = regexp.MustCompile(`^build (\S+) requested`)

// TestReadmeStepsOnAFreshClone: the README's first-hour steps, run in
// order on a fresh clone of HEAD (git clone; nothing of the working tree's
// untracked files, no local/, no .local/): `make run` with the user's
// folder, then in another shell validate, upload, status, build and logs
// against it. Every command exits 0; the user's template is uploaded with
// ${SCRIPTS_URL} replaced, valid and built; build asks for a build and
// logs shows it. Then, with that local/ still populated, make test's
// devrun test passes in the clone. Stand-ins, so it stays bounded: the
// clone uses this tree's node_modules (make run's `npm ci` is the same
// pinned Azurite), and make run runs on ports of its own and a faster
// clock (ARGS, as the README shows).
func TestReadmeStepsOnAFreshClone(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is needed to clone the repository")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make is needed: the README's first command is make run")
	}
	root, err := azurite.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	clone := filepath.Join(t.TempDir(), "goldenpipe")
	if out, err := exec.CommandContext(ctx, "git", "clone", "--quiet", "--no-hardlinks", root, clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	for _, untracked := range []string{"local", ".local", "local.settings.json", "node_modules"} {
		if _, err := os.Stat(filepath.Join(clone, untracked)); err == nil {
			t.Fatalf("the fresh clone has %s", untracked)
		}
	}
	if err := os.Symlink(filepath.Join(root, "node_modules"), filepath.Join(clone, "node_modules")); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC) // npm ci is done: Azurite is older than package.json in make's eyes
	for _, f := range []string{"package.json", "package-lock.json"} {
		if err := os.Chtimes(filepath.Join(clone, f), old, old); err != nil {
			t.Fatal(err)
		}
	}
	readme, err := os.ReadFile(filepath.Join(clone, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	steps := readmeSteps(t, string(readme))
	if len(steps) < 6 || steps[0] != "make run" {
		t.Fatalf("the README's steps do not start with make run: %q", steps)
	}
	port := freePort(t)
	azPort := freePort(t)
	for !azurite.PortsFree(azPort) || azPort == port || azPort+2 == port {
		azPort = freePort(t)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	env := append(os.Environ(), "GOLDENPIPE_URL="+base, "GOPROXY=off", "GOFLAGS=-mod=readonly",
		fmt.Sprintf("ARGS=-port %d -azurite-port %d -speed 1200 -phase 100ms -watch 100ms", port, azPort))

	var buildID string
	ran := map[string]string{}
	for _, step := range steps {
		if step == "make run" {
			startMakeRun(t, ctx, clone, env, base)
			continue
		}
		cmdline := step
		if strings.Contains(cmdline, "<build id>") {
			if buildID == "" {
				t.Fatalf("step %q needs the id the build step printed, and none was printed", step)
			}
			cmdline = strings.ReplaceAll(cmdline, "<build id>", buildID)
		}
		sctx, scancel := context.WithTimeout(ctx, 3*time.Minute)
		cmd := exec.CommandContext(sctx, "bash", "-euo", "pipefail", "-c", cmdline)
		cmd.Dir, cmd.Env = clone, env
		out, err := cmd.CombinedOutput()
		scancel()
		if err != nil {
			t.Fatalf("README step %q failed: %v\n%s", cmdline, err, out)
		}
		t.Logf("$ %s\n%s", cmdline, out)
		for _, line := range strings.Split(string(out), "\n") {
			if m := buildRequested.FindStringSubmatch(line); m != nil {
				buildID = m[1]
			}
		}
		ran[strings.Fields(cmdline + " x x x x")[3]] = string(out) // by subcommand of go run ./cmd/goldenpipe
	}
	for _, sub := range []string{"validate", "upload", "status", "build", "logs"} {
		if _, ok := ran[sub]; !ok {
			t.Errorf("the README's steps do not run goldenpipe %s", sub)
		}
	}
	if !strings.Contains(ran["logs"], "build "+buildID+" of ") {
		t.Errorf("logs does not show the build that build asked for (%s):\n%s", buildID, ran["logs"])
	}
	if !strings.Contains(ran["upload"], "→ http://127.0.0.1:") {
		t.Errorf("upload did not say where it uploaded:\n%s", ran["upload"])
	}

	// the user's template: uploaded with ${SCRIPTS_URL} replaced, valid, built
	mine := userTemplates(t, clone)
	if len(mine) == 0 {
		t.Fatal("the steps put no template in local/templates")
	}
	for _, name := range mine {
		var rec struct {
			Valid    bool
			Problems []struct{ Path, Message string }
			Source   string
		}
		waitFor(t, name+" checked", func() bool { return apitest.Get(base+"/api/templates/"+name, &rec) == 200 })
		if !rec.Valid || strings.Contains(rec.Source, "${SCRIPTS_URL}") {
			t.Errorf("%s: valid %v, problems %v; placeholder left: %v", name, rec.Valid, rec.Problems, strings.Contains(rec.Source, "${SCRIPTS_URL}"))
		}
		waitFor(t, name+" built", func() bool {
			var list []struct{ Template, State string }
			apitest.Get(base+"/api/builds", &list)
			for _, b := range list {
				if b.Template == name && b.State == "succeeded" {
					return true
				}
			}
			return false
		})
	}
	waitFor(t, "the build asked for to end", func() bool {
		var b struct{ State string }
		apitest.Get(base+"/api/builds/"+buildID, &b)
		return b.State == "succeeded"
	})

	// make test's devrun test, with local/ populated as the steps left it
	test := exec.CommandContext(ctx, "go", "test", "-count=1", "-run", "^TestRunLocallyAndStopCleanly$", "./scripts/devrun/")
	test.Dir, test.Env = clone, env
	if out, err := test.CombinedOutput(); err != nil {
		t.Errorf("with local/ populated, make test's devrun test fails in the clone: %v\n%s", err, out)
	}
}

// userTemplates lists the template names under the clone's local/templates.
func userTemplates(t *testing.T, clone string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(clone, "local", "templates", "*.json"))
	var out []string
	for _, f := range files {
		if !strings.HasSuffix(f, ".parameters.json") {
			out = append(out, strings.TrimSuffix(filepath.Base(f), ".json"))
		}
	}
	return out
}

// startMakeRun runs `make run` in the clone, in a process group of its own
// that SIGINT (Ctrl-C) stops at the end of the test, and waits until it
// says where it listens and its health answers.
func startMakeRun(t *testing.T, ctx context.Context, dir string, env []string, base string) {
	t.Helper()
	cmd := exec.Command("make", "run")
	cmd.Dir, cmd.Env = dir, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var output strings.Builder
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			mu.Lock()
			output.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if strings.HasPrefix(sc.Text(), "goldenpipe listening on ") {
				once.Do(func() { close(listening) })
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
			t.Error("make run did not stop within 30 s of Ctrl-C")
		}
	})
	select {
	case <-listening:
	case err := <-exited:
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("make run exited: %v\n%s", err, output.String())
	case <-time.After(5 * time.Minute):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("make run did not say where it listens within 5 minutes:\n%s", output.String())
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	waitFor(t, "make run's health", func() bool { return apitest.Get(base+"/api/health", &struct{}{}) == 200 })
}

// waitFor polls cond until it holds, failing the test after 3 minutes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
