package azurite

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

func TestNodeOptions(t *testing.T) {
	for _, tc := range []struct{ caller, want string }{
		{"", "--max-semi-space-size=128"},
		{"--max-old-space-size=4096", "--max-old-space-size=4096 --max-semi-space-size=128"},
		{"--max-semi-space-size=32 --trace-warnings", "--max-semi-space-size=32 --trace-warnings"},
	} {
		t.Run(tc.caller, func(t *testing.T) {
			if got := nodeOptions(tc.caller); got != tc.want {
				t.Errorf("nodeOptions(%q) = %q, want %q", tc.caller, got, tc.want)
			}
		})
	}
}

// TestStartedWithItsYoungGeneration: the Azurite Start runs has the young
// generation's size in its environment, beside what the caller's has.
func TestStartedWithItsYoungGeneration(t *testing.T) {
	t.Setenv("NODE_OPTIONS", "--max-old-space-size=2048")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", s.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	want := []byte("NODE_OPTIONS=--max-old-space-size=2048 --max-semi-space-size=128\x00")
	if !bytes.Contains(env, want) {
		t.Errorf("Azurite's environment lacks %q", want)
	}
}
