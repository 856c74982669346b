// Package azuritetest starts one Azurite for a test binary's tests.
package azuritetest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe/internal/azurite"
)

// Run starts Azurite (with accounts), stores it in *srv, runs the tests and
// stops Azurite. Use it from TestMain: os.Exit(azuritetest.Run(m, &srv)).
// When Azurite cannot start, the tests fail: they never skip silently.
func Run(m *testing.M, srv **azurite.Server, accounts ...azurite.Account) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var log *os.File
	if os.Getenv("AZURITE_DEBUG") != "" {
		log = os.Stderr
	}
	opts := azurite.Options{Accounts: accounts}
	if log != nil {
		opts.Log = log
	}
	s, err := azurite.Start(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: the tests need Azurite:", err)
		return 1
	}
	*srv = s
	code := m.Run()
	s.Stop()
	return code
}
