package azure

import (
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
)

// A checksum record's url names a script in a folder with slashes, not
// %2F (issue 26); other escapes stay.
func TestBlobURLKeepsFolderSlashes(t *testing.T) {
	svc, err := service.NewClientWithNoCredential("http://127.0.0.1:10000/devstoreaccount1", nil)
	if err != nil {
		t.Fatal(err)
	}
	b := NewBlobs(svc, "scripts")
	for name, want := range map[string]string{
		"avd/install-apps.ps1":   "http://127.0.0.1:10000/devstoreaccount1/scripts/avd/install-apps.ps1",
		"a/b/c.sh":               "http://127.0.0.1:10000/devstoreaccount1/scripts/a/b/c.sh",
		"with space/and%sign.sh": "http://127.0.0.1:10000/devstoreaccount1/scripts/with%20space/and%25sign.sh",
	} {
		if got := b.URL(name); got != want {
			t.Errorf("URL(%q) = %s, want %s", name, got, want)
		}
	}
}
