package azure

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"

	"github.com/goldenpipe/goldenpipe"
)

func TestARMStorageAccounts(t *testing.T) {
	var path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.String()
		if strings.Contains(r.URL.Path, "/resourceGroups/IT_gone/") {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":{"code":"ResourceGroupNotFound","message":"gone"}}`))
			return
		}
		_, _ = w.Write([]byte(`{"value":[{"name":"abc","properties":{"primaryEndpoints":{"blob":"https://abc.blob.core.windows.net/"}}},{"name":"nb","properties":{}}]}`))
	}))
	defer srv.Close()
	a, err := NewARMStorageAccounts("0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11", &azfake.TokenCredential{}, ARMEndpointOptions(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.BlobEndpoints(context.Background(), "IT_rg-images_gp-avd_1234")
	if err != nil || len(got) != 1 || got[0] != "https://abc.blob.core.windows.net/" {
		t.Fatalf("= %v, %v", got, err)
	}
	if !strings.Contains(path, "/subscriptions/0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11/resourceGroups/IT_rg-images_gp-avd_1234/providers/Microsoft.Storage/storageAccounts?api-version=") {
		t.Errorf("path %s", path)
	}
	if _, err := a.BlobEndpoints(context.Background(), "IT_gone"); goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
		t.Errorf("a gone group: %v", err)
	}
}

func TestIsGUIDFolder(t *testing.T) {
	for name, want := range map[string]bool{
		"0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11/customization.log": true,
		"gp-avd-0dc02dd8e57e-fd56909-e27c48c2/customization.log": false, // 36 characters, 4 hyphens: a build's own folder
		"customization.log": false,
	} {
		if got := isGUIDFolder(name); got != want {
			t.Errorf("isGUIDFolder(%q) = %v", name, got)
		}
	}
}
