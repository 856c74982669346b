package blobevent

import (
	"strings"
	"testing"
)

func TestCheckURLAcceptsEncodingsOfTheSameName(t *testing.T) {
	const c = "http://127.0.0.1:10000/devstoreaccount1/scripts"
	tests := []struct{ url, name string }{
		{c + "/avd/Install Teams.ps1", "avd/Install Teams.ps1"},
		{c + "/avd/Install%20Teams.ps1", "avd/Install Teams.ps1"},
		{c + "/%EC%84%A4%EC%B9%98.ps1", "설치.ps1"},
		{"http://127.0.0.1:10000/devstoreaccount1/scripts/a%2Bb.sh", "a+b.sh"},
	}
	for _, tt := range tests {
		if err := checkURL(tt.url, c, target{container: "scripts", name: tt.name}); err != nil {
			t.Errorf("%s: %v", tt.url, err)
		}
	}
	adls := "https://acct.dfs.core.windows.net/scripts/x.sh"
	if err := checkURL(adls, "https://acct.blob.core.windows.net/scripts", target{"scripts", "x.sh"}); err != nil {
		t.Errorf("ADLS dfs url: %v", err)
	}
}

// FuzzBlobEventTarget feeds arbitrary subjects and URLs through the checks a
// blob event passes before any blob is read: nothing panics, and whatever
// passes names a blob in the scripts container without traversal.
func FuzzBlobEventTarget(f *testing.F) {
	const c = "https://acct.blob.core.windows.net/scripts"
	f.Add("/blobServices/default/containers/scripts/blobs/a.ps1", c+"/a.ps1")
	f.Add("/blobServices/default/containers/scripts/blobs/avd/x y.ps1", c+"/avd/x%20y.ps1")
	f.Add("/blobServices/default/containers/scripts/blobs/../x", c+"/../x")
	f.Add("/blobServices/default/containers/scripts/blobs/a", "https://evil.blob.core.windows.net/scripts/a")
	f.Fuzz(func(t *testing.T, subject, url string) {
		tg, err := parseSubject(subject)
		if err != nil {
			return
		}
		if err := CheckName(tg.name); err != nil {
			return
		}
		if err := checkURL(url, c, tg); err != nil {
			return
		}
		for _, seg := range strings.Split(tg.name, "/") {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("accepted name %q with segment %q", tg.name, seg)
			}
		}
		if strings.ContainsAny(tg.name, "\\\n\r\x00") {
			t.Fatalf("accepted name %q", tg.name)
		}
	})
}
