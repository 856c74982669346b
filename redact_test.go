package goldenpipe

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestRedactSecrets(t *testing.T) {
	tests := []struct {
		name, in string
		gone     []string // must not remain
		kept     []string // must remain
	}{
		{"a service SAS URL", "https://a.blob.core.windows.net/c/b.zip?sv=2022-11-02&se=2030-01-01T00%3A00%3A00Z&sr=b&sp=r&sig=AbC%2Bd%2Fe%3D",
			[]string{"AbC%2Bd%2Fe%3D"}, []string{"sv=2022-11-02", "se=2030-01-01T00%3A00%3A00Z", "&sig=" + SecretPrefix}},
		{"sig first", "https://a/b?sig=XYZ123&se=2030", []string{"XYZ123"}, []string{"?sig=REDACTED-", "&se=2030"}},
		{"a JSON escape", `"https://a/b?sv=1\u0026sig=Q1w2E3r4"`, []string{"Q1w2E3r4"}, []string{`\u0026sig=REDACTED-`}},
		{"HTML", `<a href="https://a/b?sv=1&amp;sig=Zz9%2B">`, []string{"Zz9%2B"}, []string{"&amp;sig=REDACTED-"}},
		{"a connection string", "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=a2V5+/key==;EndpointSuffix=core.windows.net",
			[]string{"a2V5+/key=="}, []string{"AccountName=x", ";EndpointSuffix=core.windows.net"}},
		{"a Service Bus key", "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=c2Vj+cmV0=",
			[]string{"c2Vj+cmV0="}, []string{"SharedAccessKeyName=RootManageSharedAccessKey"}},
		{"URL-encoded inside another URL", "https://x/?u=https%3A%2F%2Fa%2Fb%3Fsv%3D1%26sig%3DS3cr3t", []string{"S3cr3t"}, []string{"sig%3DREDACTED-"}},
		{"no secret", "signature=none; keyboard=us; design=flat", nil, []string{"signature=none; keyboard=us; design=flat"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := RedactSecrets(tt.in)
			for _, g := range tt.gone {
				if strings.Contains(out, g) {
					t.Errorf("%q keeps %q", out, g)
				}
			}
			for _, k := range tt.kept {
				if !strings.Contains(out, k) {
					t.Errorf("%q lost %q", out, k)
				}
			}
			if again := RedactSecrets(out); again != out {
				t.Errorf("redacting twice: %q, then %q", out, again)
			}
			if back, err := RestoreSecrets(out, tt.in); err != nil || back != tt.in {
				t.Errorf("restored %q, %v; want %q", back, err, tt.in)
			}
			if l := RedactSAS(tt.in); len(tt.gone) > 0 && strings.Contains(l, tt.gone[0]) {
				t.Errorf("RedactSAS keeps %q: %q", tt.gone[0], l)
			}
		})
	}
}

// A stand-in whose secret the file no longer holds is an error that names
// no value.
func TestRestoreSecretsOfAChangedFile(t *testing.T) {
	red := RedactSecrets("https://a/b?sv=1&sig=OLDsecret")
	_, err := RestoreSecrets(red, "https://a/b?sv=1&sig=NEWsecret")
	if ErrorCode(err) != EINVALID || strings.Contains(err.Error(), "secret=") || strings.Contains(err.Error(), "OLDsecret") || strings.Contains(err.Error(), "NEWsecret") {
		t.Errorf("err = %v", err)
	}
}

func TestRedactingHandler(t *testing.T) {
	var b bytes.Buffer
	l := slog.New(RedactingHandler(slog.NewJSONHandler(&b, nil))).With("conn", "AccountName=x;AccountKey=K3y==")
	l.Info("read https://a/b?sv=1&sig=M3ss4ge", "url", "https://a/b?sig=Attr1", slog.Group("g", "u", "https://a/b?x=1&sig=Gr0up"),
		"err", Errorf(EINVALID, "failed https://a/b?sig=Err0r"))
	for _, s := range []string{"K3y==", "M3ss4ge", "Attr1", "Gr0up", "Err0r"} {
		if strings.Contains(b.String(), s) {
			t.Errorf("the log line keeps %q: %s", s, b.String())
		}
	}
}

// FuzzRedactSecrets: redacting is idempotent, never lengthens a value past
// its stand-in, and restoring from the original gives the original.
func FuzzRedactSecrets(f *testing.F) {
	f.Add("https://a/b?sv=1&sig=AbC%2B")
	f.Add("AccountKey=a+b/c==;x")
	f.Add(`\u0026sig=x`)
	f.Add("sig=REDACTED-0123456789abcdef")
	f.Fuzz(func(t *testing.T, s string) {
		out := RedactSecrets(s)
		if RedactSecrets(out) != out {
			t.Fatalf("not idempotent: %q -> %q", s, out)
		}
		if strings.Contains(strings.ToUpper(s), SecretPrefix) {
			return // a text that already holds stand-ins may not restore to itself
		}
		back, err := RestoreSecrets(out, s)
		if err != nil || back != s {
			t.Fatalf("restore(%q) = %q, %v; want %q", out, back, err, s)
		}
	})
}
