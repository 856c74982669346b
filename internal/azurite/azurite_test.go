package azurite

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"
)

func TestNodeOptions(t *testing.T) {
	for _, tc := range []struct{ caller, want string }{
		{"", "--max-semi-space-size=64"},
		{"--max-old-space-size=4096", "--max-old-space-size=4096 --max-semi-space-size=64"},
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
	want := []byte("NODE_OPTIONS=--max-old-space-size=2048 --max-semi-space-size=64\x00")
	if !bytes.Contains(env, want) {
		t.Errorf("Azurite's environment lacks %q", want)
	}
	// no one reads its output (Options.Log nil): no access log is written
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", s.Pid()))
	if err != nil || !bytes.Contains(cmdline, []byte("\x00--silent")) {
		t.Errorf("Azurite runs %q (%v), want --silent", bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}), err)
	}
}

// TestSeparateServices: with SeparateServices the blob and table services
// run as two processes (azurite-blob, azurite-table) on the usual ports,
// each answering on its own, and Stop ends both.
func TestSeparateServices(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Start(ctx, Options{SeparateServices: true})
	if err != nil {
		t.Fatal(err)
	}
	pids := s.Pids()
	if len(pids) != 2 || pids[0] == pids[1] {
		t.Fatalf("processes %v, want two", pids)
	}
	for i, want := range []string{"azurite-blob", "azurite-table"} {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pids[i]))
		if err != nil || !bytes.Contains(cmdline, []byte(want)) {
			t.Errorf("process %d runs %q (%v), want %s", pids[i], bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}), err, want)
		}
	}
	for _, u := range []string{s.BlobEndpoint + "/devstoreaccount1?comp=list", s.TableEndpoint + "/devstoreaccount1/Tables"} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Errorf("GET %s: %s", u, resp.Status)
		}
	}
	s.Stop()
	for _, pid := range pids {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
			if st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); !bytes.Contains(st, []byte(") Z ")) {
				t.Errorf("process %d still runs after Stop", pid)
			}
		}
	}
}
