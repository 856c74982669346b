package devstorage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goldenpipe/goldenpipe/config"
)

func TestTableEndpointOf(t *testing.T) {
	cases := []struct{ in, want string }{
		{"http://127.0.0.1:10000", "http://127.0.0.1:10002"},
		{"http://127.0.0.1:41234", "http://127.0.0.1:41236"},
		{"http://127.0.0.1", "http://127.0.0.1"}, // no port: as it is
	}
	for _, c := range cases {
		if got := TableEndpointOf(c.in); got != c.want {
			t.Errorf("TableEndpointOf(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestPointAt(t *testing.T) {
	values := map[string]string{
		"AzureWebJobsStorage": "UseDevelopmentStorage=true",
		"State":               "DefaultEndpointsProtocol=http;BlobEndpoint=http://127.0.0.1:10000/acct;TableEndpoint=http://127.0.0.1:10002/acct;",
		"Other":               "unchanged",
	}
	PointAt(values, "http://127.0.0.1:41234")
	want := map[string]string{
		"AzureWebJobsStorage": "DefaultEndpointsProtocol=http;AccountName=" + config.AzuriteAccount + ";AccountKey=" + config.AzuriteKey +
			";BlobEndpoint=http://127.0.0.1:41234/" + config.AzuriteAccount + ";TableEndpoint=http://127.0.0.1:41236/" + config.AzuriteAccount + ";",
		"State": "DefaultEndpointsProtocol=http;BlobEndpoint=http://127.0.0.1:41234/acct;TableEndpoint=http://127.0.0.1:41236/acct;",
		"Other": "unchanged",
	}
	for k, v := range want {
		if values[k] != v {
			t.Errorf("%s = %q, want %q", k, values[k], v)
		}
	}
	if got := ConnectionStringAt("http://127.0.0.1:1", Account{Name: "a2", Key: "k2"}); !strings.Contains(got, "AccountName=a2;AccountKey=k2;BlobEndpoint=http://127.0.0.1:1/a2;TableEndpoint=http://127.0.0.1:3/a2;") {
		t.Errorf("ConnectionStringAt of another account: %s", got)
	}
}

func TestKeptPort(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if _, ok := KeptPort(dir); ok {
		t.Fatal("a port kept in a folder that does not exist")
	}
	if err := KeepPort(dir, "http://127.0.0.1:41234"); err != nil {
		t.Fatal(err)
	}
	if p, ok := KeptPort(dir); !ok || p != 41234 {
		t.Fatalf("KeptPort = %d %v, want 41234", p, ok)
	}
	for _, junk := range []string{"junk", "0", "70000", "-1"} {
		if err := os.WriteFile(filepath.Join(dir, PortFile), []byte(junk), 0o644); err != nil {
			t.Fatal(err)
		}
		if p, ok := KeptPort(dir); ok {
			t.Errorf("KeptPort of %q = %d, want none", junk, p)
		}
	}
}
