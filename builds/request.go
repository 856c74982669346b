// Package builds turns "something changed" into exactly one Image Builder
// build per change and follows it to the end by observation: every step
// reads Image Builder's state and the build's record and does what follows
// from them, so a lost message or a crash never strands a build.
package builds

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/goldenpipe/goldenpipe"
)

// Request is the body of a build request message on the build queue:
//
//	{"template": "avd-win11", "reason": "install-apps.ps1 changed", "force": false,
//	 "requestedBy": "ops@contoso.com", "correlationId": "c-42"}
//
// template is required; force builds even when the last successful build
// had the same fingerprint. buildId is set by senders that answer with it.
type Request struct {
	Template      string `json:"template"`
	Reason        string `json:"reason,omitempty"`
	Force         bool   `json:"force,omitempty"`
	RequestedBy   string `json:"requestedBy,omitempty"`
	CorrelationID string `json:"correlationId,omitempty"`
	BuildID       string `json:"buildId,omitempty"`
}

var (
	templateNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	buildIDRE      = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,100}$`)
)

// maxRequestBytes bounds a request message body.
const maxRequestBytes = 64 << 10

// ParseRequest decodes and checks a request body. Every problem is an
// EINVALID error naming the field.
func ParseRequest(body []byte) (Request, error) {
	var r Request
	if len(body) > maxRequestBytes {
		return r, goldenpipe.Errorf(goldenpipe.EINVALID, "the message body is %d bytes, over the limit of %d", len(body), maxRequestBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Request{}, goldenpipe.Errorf(goldenpipe.EINVALID, "the message is not a build request (JSON {template, reason, force, requestedBy, correlationId}): %v", err)
	}
	if dec.More() {
		return Request{}, goldenpipe.Errorf(goldenpipe.EINVALID, "the message has text after the request object")
	}
	if err := r.Validate(); err != nil {
		return Request{}, err
	}
	return r, nil
}

// Validate checks a request's fields; every problem is named in one
// EINVALID error.
func (r Request) Validate() error {
	var problems []string
	switch {
	case r.Template == "":
		problems = append(problems, "template is required")
	case !templateNameRE.MatchString(r.Template):
		problems = append(problems, fmt.Sprintf("template %q is not a template name (1-64 letters, digits, '-', '_', '.')", clip(r.Template)))
	}
	for name, v := range map[string]string{"reason": r.Reason, "requestedBy": r.RequestedBy, "correlationId": r.CorrelationID} {
		if utf8.RuneCountInString(v) > 500 || strings.ContainsAny(v, "\x00\r\n") {
			problems = append(problems, fmt.Sprintf("%s must be one line of at most 500 characters", name))
		}
	}
	if r.BuildID != "" && (!buildIDRE.MatchString(r.BuildID) || !strings.HasPrefix(r.BuildID, r.Template+"-")) {
		problems = append(problems, fmt.Sprintf("buildId %q must be <template>-… (letters, digits, '-', '_', '.')", clip(r.BuildID)))
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return goldenpipe.Errorf(goldenpipe.EINVALID, "invalid build request: %s", strings.Join(problems, "; "))
	}
	return nil
}

// clipTo cuts s to at most n bytes, marking the cut.
func clipTo(s string, n int) string {
	if len(s) > n {
		return strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
