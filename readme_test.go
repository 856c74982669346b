package goldenpipe_test

import (
	"github.com/goldenpipe/goldenpipe/practice"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func section(t *testing.T, readme, heading string) string {
	t.Helper()
	_, rest, ok := strings.Cut(readme, "\n## "+heading+"\n")
	if !ok {
		t.Fatalf("README has no section %q", heading)
	}
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// firstShellBlock returns the command lines of a section's first sh block.
func firstShellBlock(t *testing.T, s string) []string {
	t.Helper()
	_, rest, ok := strings.Cut(s, "```sh\n")
	if !ok {
		t.Fatal("no sh block")
	}
	block, _, _ := strings.Cut(rest, "```")
	var out []string
	for _, line := range strings.Split(block, "\n") {
		if cmd, _, _ := strings.Cut(line, "#"); strings.TrimSpace(cmd) != "" {
			out = append(out, strings.TrimSpace(cmd))
		}
	}
	return out
}

// TestReadmeCommands: the README names the two commands, CI runs exactly its
// test command, and its deploy section works, followed literally, up to the
// first command that needs an Azure subscription.
func TestReadmeCommands(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	two := firstShellBlock(t, section(t, readme, "Two commands"))
	if len(two) != 2 || two[0] != "make run" || two[1] != "make test" {
		t.Fatalf("the two commands are %q", two)
	}
	ci, err := os.ReadFile(".ci/run")
	if err != nil {
		t.Fatal(err)
	}
	var ciCommands []string
	for _, line := range strings.Split(string(ci), "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "set ") && !strings.HasPrefix(l, "cd ") {
			ciCommands = append(ciCommands, l)
		}
	}
	if len(ciCommands) == 0 || ciCommands[0] != two[1] {
		t.Errorf(".ci/run runs %q, not the README's test command %q first", ciCommands, two[1])
	}
	for _, extra := range ciCommands[1:] {
		if !strings.HasPrefix(extra, "test -z \"$(git status --porcelain)\"") {
			t.Errorf(".ci/run runs %q besides the README's test command: only the check that the work tree is unchanged may follow", extra)
		}
	}

	steps := firstShellBlock(t, section(t, readme, "Deploy"))
	ran := 0
	for _, cmd := range steps {
		if strings.HasPrefix(cmd, "az login") {
			break
		}
		out, err := exec.Command("bash", "-euo", "pipefail", "-c", cmd).CombinedOutput()
		if err != nil {
			t.Fatalf("README deploy step %q failed: %v\n%s", cmd, err, out)
		}
		ran++
	}
	if ran == 0 || ran == len(steps) {
		t.Errorf("ran %d of %d deploy steps: the section should reach az login after some local steps", ran, len(steps))
	}
}

// TestReadmeListsEveryPracticeCheck: each check the validator can report is
// in the README's table, with how to silence it.
func TestReadmeListsEveryPracticeCheck(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, c := range practice.Checks {
		if !strings.Contains(readme, "| `"+c.Name+"` |") {
			t.Errorf("README does not list the practice check %q", c.Name)
		}
	}
	if !strings.Contains(readme, `"goldenpipe": { "ignore": [`) {
		t.Error("README does not say how to silence a check")
	}
}
