package builds

import (
	"strings"
	"testing"

	"github.com/goldenpipe/goldenpipe"
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		body, want string // want: "" ok, else a fragment of the error
	}{
		{`{"template":"avd-win11","reason":"r","force":true,"requestedBy":"me","correlationId":"c"}`, ""},
		{`{"template":"avd-win11","buildId":"avd-win11-1f3a2b3c4d5e"}`, ""},
		{`{"template":""}`, "template is required"},
		{`{}`, "template is required"},
		{`{"template":"a/b"}`, "is not a template name"},
		{`{"template":"a","force":"yes"}`, "cannot unmarshal string"},
		{`{"template":"a","extra":1}`, `unknown field "extra"`},
		{`{"template":"a"} {"template":"b"}`, "text after the request object"},
		{`{"template":"a","reason":"` + strings.Repeat("x", 501) + `"}`, "reason must be one line"},
		{`{"template":"a","requestedBy":"a\nb"}`, "requestedBy must be one line"},
		{`{"template":"a","buildId":"b-1"}`, "buildId"},
		{`[]`, "not a build request"},
		{`"{\"template\":\"a\"}"`, "not a build request"},
		{``, "not a build request"},
	}
	for _, tt := range tests {
		r, err := ParseRequest([]byte(tt.body))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.body, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || goldenpipe.ErrorCode(err) != goldenpipe.EINVALID):
			t.Errorf("%s: err = %v, want EINVALID with %q (got %+v)", tt.body, err, tt.want, r)
		}
	}
	if _, err := ParseRequest(make([]byte, maxRequestBytes+1)); err == nil || !strings.Contains(err.Error(), "over the limit") {
		t.Errorf("huge body: %v", err)
	}
}

func TestNames(t *testing.T) {
	long := strings.Repeat("t", 64) + "-" + strings.Repeat("f", 12)
	for _, id := range []string{"avd-1f3a2b3c4d5e", long, long + "-f0a1b2c", long + "-2"} {
		n := AIBName(id)
		if len(n) > 64 || !templateNameRE.MatchString(n) || n != AIBName(id) {
			t.Errorf("AIBName(%s) = %s", id, n)
		}
	}
	if AIBName(long) == AIBName(long+"-2") {
		t.Error("two builds share an Image Builder template name")
	}
	first, again := MessageID("a", "fp", ""), MessageID("a", "fp", "")
	if first == MessageID("a", "fp", "nightly-20241210") || first != again || first == MessageID("b", "fp", "") {
		t.Error("message ids are not derived from (template, fingerprint, scope)")
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(`{"template":"avd-win11","reason":"r","force":true}`))
	f.Add([]byte(`{"template":"a","buildId":"a-1"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRequest(b)
		if err != nil {
			if goldenpipe.ErrorCode(err) != goldenpipe.EINVALID {
				t.Fatalf("error not EINVALID: %v", err)
			}
			return
		}
		if !templateNameRE.MatchString(r.Template) {
			t.Fatalf("accepted template %q", r.Template)
		}
	})
}
