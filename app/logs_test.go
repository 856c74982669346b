package app

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"

	"github.com/goldenpipe/goldenpipe/azure"
	"github.com/goldenpipe/goldenpipe/config"
	"github.com/goldenpipe/goldenpipe/internal/azurite"
)

// Build logs are found as Image Builder lays them out: the staging group
// given by its resource id, the logs under their run's GUID folder
// (customization.log and validation.log), or straight at the URL a failed
// run's message names.
func TestBuildLogsAsImageBuilderLaysThemOut(t *testing.T) {
	// an account of its own (the simulator writes the shared staging
	// account's logs), as a template's staging group has in Azure
	conn := az.ConnectionString(azurite.Account{})
	st := &config.StorageConnection{Name: "StagingStorage", ConnectionString: conn, ServiceURL: az.BlobEndpoint + "/devstoreaccount1/"}
	svc, err := azure.NewBlobService(*st)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := svc.NewContainerClient("packerlogs")
	_, _ = c.Create(ctx, nil)
	var id [16]byte
	_, _ = rand.Read(id[:]) // a run of its own: the suite runs twice in one Azurite
	guid := fmt.Sprintf("%x-%x-%x-%x-%x", id[0:4], id[4:6], id[6:8], id[8:10], id[10:16])
	put := func(name, text string) {
		if _, err := c.NewBlockBlobClient(name).UploadBuffer(ctx, []byte(text), nil); err != nil {
			t.Fatal(err)
		}
	}
	put(guid+"/customization.log", "PACKER OUT Build 'azure-arm' is starting\nPACKER ERR ==> azure-arm: install-apps.ps1 exited 1\n")
	put(guid+"/validation.log", "PACKER OUT validation: Test-Path C:\\apps: False\n")
	src, err := azure.NewVHDSource(nil, st)
	if err != nil {
		t.Fatal(err)
	}
	logs := &azure.CustomizationLogs{Accounts: azure.FixedAccounts{az.BlobEndpoint + "/devstoreaccount1"}, Source: src}

	group := "/subscriptions/0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11/resourceGroups/IT_rg-images_avd_" + guid
	custom, validation, err := logs.Tail(ctx, group, "customizer install-apps exited 1")
	if err != nil || !strings.Contains(custom, "install-apps.ps1 exited 1") || !strings.Contains(validation, "Test-Path") {
		t.Errorf("by the staging group's resource id: %q %q %v", custom, validation, err)
	}
	url := c.URL() + "/" + guid + "/customization.log"
	custom, validation, err = logs.Tail(ctx, "", "Failed while running customizer install-apps\nImage Build log location: "+url)
	if err != nil || !strings.Contains(custom, "install-apps.ps1 exited 1") || !strings.Contains(validation, "Test-Path") {
		t.Errorf("by the URL in the run's message: %q %q %v", custom, validation, err)
	}
}
