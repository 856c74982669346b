package host

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/goldenpipe/goldenpipe"
)

// Invocation is one function invocation as the host sent it.
type Invocation struct {
	ID       string // X-Azure-Functions-InvocationId
	Function string // the function's name, from the path
	Data     map[string]json.RawMessage
	Metadata map[string]json.RawMessage
	// Log writes to the handler's stdout and to the Logs of the answer, with
	// the invocation id and function name attached.
	Log *slog.Logger
}

// Binding returns Data[name]. A missing binding means function.json and the
// handler disagree (a deployment bug, not bad input), so the error is
// EINTERNAL: the invocation fails and its trigger redelivers once fixed.
func (inv *Invocation) Binding(name string) (json.RawMessage, error) {
	v, ok := inv.Data[name]
	if !ok || len(bytes.TrimSpace(v)) == 0 {
		have := make([]string, 0, len(inv.Data))
		for k := range inv.Data {
			have = append(have, k)
		}
		sort.Strings(have)
		return nil, goldenpipe.Errorf(goldenpipe.EINTERNAL, "invocation has no binding %q in Data (has: %s): function.json and the handler disagree", name, strings.Join(have, ", "))
	}
	return v, nil
}

// Sys is Metadata.sys.
type Sys struct {
	MethodName String `json:"MethodName"`
	UtcNow     Time   `json:"UtcNow"`
	RandGuid   String `json:"RandGuid"`
}

// Sys decodes Metadata.sys; a missing one yields the zero value.
func (inv *Invocation) Sys() (Sys, error) {
	var s Sys
	raw, ok := inv.Metadata["sys"]
	if !ok {
		return s, nil
	}
	if err := DecodeObject(raw, &s); err != nil {
		return s, fmt.Errorf("metadata sys: %w", err)
	}
	return s, nil
}

// Result is what a function returns to the host besides its logs.
type Result struct {
	// Outputs are the output bindings' values, by binding name.
	Outputs map[string]any
	// ReturnValue is the $return binding's value, if any.
	ReturnValue any
}

// HTTPOutput is the value of an http output binding.
type HTTPOutput struct {
	StatusCode int               `json:"statusCode"`
	Body       string            `json:"body"`
	Headers    map[string]string `json:"headers,omitempty"`
}

// response is the body the handler answers every invocation with.
type response struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}

// logCollector is a writer that keeps each line a slog text handler writes,
// for the Logs of the answer.
type logCollector struct {
	mu    sync.Mutex
	lines []string
	limit int
}

func (c *logCollector) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if len(c.lines) < c.limit {
			c.lines = append(c.lines, line)
		} else if len(c.lines) == c.limit {
			c.lines = append(c.lines, "… further log lines dropped (see the handler's stdout)")
		}
	}
	return len(p), nil
}

func (c *logCollector) Lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string{}, c.lines...)
}
