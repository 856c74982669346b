package azure

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/builds"
)

// logTailBytes is how much of customization.log a failed build keeps.
const logTailBytes = 16 << 10

// StagingAccounts lists the blob endpoints of the storage accounts in a
// resource group (Image Builder's staging group).
type StagingAccounts interface {
	BlobEndpoints(ctx context.Context, resourceGroup string) ([]string, error)
}

// ARMStorageAccounts lists storage accounts through Azure Resource Manager
// (Microsoft.Storage/storageAccounts/read on the group).
type ARMStorageAccounts struct {
	client       *arm.Client
	endpoint     string
	subscription string
}

// NewARMStorageAccounts returns a lister for a subscription.
func NewARMStorageAccounts(subscriptionID string, cred azcore.TokenCredential, opts *arm.ClientOptions) (*ARMStorageAccounts, error) {
	c, err := arm.NewClient("goldenpipe", "v1.0.0", cred, opts)
	if err != nil {
		return nil, err
	}
	endpoint := "https://management.azure.com"
	if opts != nil {
		if svc, ok := opts.Cloud.Services[cloud.ResourceManager]; ok && svc.Endpoint != "" {
			endpoint = strings.TrimSuffix(svc.Endpoint, "/")
		}
	}
	return &ARMStorageAccounts{client: c, endpoint: endpoint, subscription: subscriptionID}, nil
}

// BlobEndpoints implements StagingAccounts.
func (a *ARMStorageAccounts) BlobEndpoints(ctx context.Context, rg string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, armCallTimeout)
	defer cancel()
	u := fmt.Sprintf("%s/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Storage/storageAccounts?api-version=2023-05-01",
		a.endpoint, url.PathEscape(a.subscription), url.PathEscape(rg))
	req, err := runtime.NewRequest(ctx, http.MethodGet, u)
	if err != nil {
		return nil, err
	}
	resp, err := a.client.Pipeline().Do(req)
	if err != nil {
		return nil, goldenpipe.Wrap(goldenpipe.EUNAVAILABLE, redactedError{err}, "listing the storage accounts of %s failed", rg)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, StorageError(runtime.NewResponseError(resp), "listing the storage accounts of %s failed", rg)
	}
	var list struct {
		Value []struct {
			Properties struct {
				PrimaryEndpoints struct {
					Blob string `json:"blob"`
				} `json:"primaryEndpoints"`
			} `json:"properties"`
		} `json:"value"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, goldenpipe.Wrap(goldenpipe.EUNAVAILABLE, err, "reading the storage accounts of %s failed", rg)
	}
	var out []string
	for _, v := range list.Value {
		if v.Properties.PrimaryEndpoints.Blob != "" {
			out = append(out, v.Properties.PrimaryEndpoints.Blob)
		}
	}
	return out, nil
}

// FixedAccounts is the staging account of local runs.
type FixedAccounts []string

// BlobEndpoints implements StagingAccounts.
func (f FixedAccounts) BlobEndpoints(context.Context, string) ([]string, error) { return f, nil }

// CustomizationLogs reads the end of a build's customization.log from the
// packerlogs container of its staging account.
type CustomizationLogs struct {
	Accounts StagingAccounts
	Source   *VHDSource // its credentials read the staging account
}

// Tail implements builds.LogTail.
func (l *CustomizationLogs) Tail(ctx context.Context, b builds.Build) (string, error) {
	if b.StagingResourceGroup == "" {
		return "", goldenpipe.Errorf(goldenpipe.ENOTFOUND, "Image Builder reported no staging resource group")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	endpoints, err := l.Accounts.BlobEndpoints(ctx, b.StagingResourceGroup)
	if err != nil {
		return "", err
	}
	for _, ep := range endpoints {
		c, err := l.Source.containerClient(strings.TrimSuffix(ep, "/") + "/packerlogs")
		if err != nil {
			return "", err
		}
		name, size, err := findLog(ctx, c, b.AIBName)
		if err != nil || name == "" {
			continue
		}
		off := max(0, size-logTailBytes)
		resp, err := c.NewBlobClient(name).DownloadStream(ctx, &blob.DownloadStreamOptions{Range: blob.HTTPRange{Offset: off, Count: size - off}})
		if err != nil {
			return "", StorageError(err, "reading %s failed", name)
		}
		defer resp.Body.Close()
		text, err := io.ReadAll(resp.Body)
		if err != nil {
			return "", goldenpipe.Wrap(goldenpipe.EUNAVAILABLE, err, "reading %s failed", name)
		}
		return goldenpipe.RedactSAS(string(text)), nil
	}
	return "", goldenpipe.Errorf(goldenpipe.ENOTFOUND, "no customization.log in the staging group %s", b.StagingResourceGroup)
}

// findLog finds the customization.log of a template in packerlogs (the
// newest when there are several).
func findLog(ctx context.Context, c *container.Client, aibName string) (string, int64, error) {
	var name string
	var size int64
	var newest time.Time
	pager := c.NewListBlobsFlatPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return "", 0, StorageError(err, "listing packerlogs failed")
		}
		for _, it := range page.Segment.BlobItems {
			if it.Name == nil || !strings.HasSuffix(*it.Name, "customization.log") || it.Properties == nil {
				continue
			}
			if aibName != "" && strings.Contains(*it.Name, "/") && !strings.Contains(*it.Name, aibName) && !isGUIDFolder(*it.Name) {
				continue
			}
			if it.Properties.LastModified != nil && it.Properties.LastModified.After(newest) {
				newest, name = *it.Properties.LastModified, *it.Name
				if it.Properties.ContentLength != nil {
					size = *it.Properties.ContentLength
				}
			}
		}
	}
	return name, size, nil
}

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// isGUIDFolder reports Image Builder's own layout: <guid>/customization.log.
func isGUIDFolder(name string) bool {
	dir, _, _ := strings.Cut(name, "/")
	return guidRE.MatchString(dir)
}

// containerClient returns a client of a staging container with the source's
// credentials.
func (s *VHDSource) containerClient(containerURL string) (*container.Client, error) {
	_, account, _, _, err := parts(containerURL + "/x")
	if err != nil {
		return nil, err
	}
	opts := &container.ClientOptions{ClientOptions: StorageClientOptions().ClientOptions}
	if k, ok := s.keys[account]; ok {
		return container.NewClientWithSharedKeyCredential(containerURL, k, opts)
	}
	if s.cred == nil {
		return nil, goldenpipe.Errorf(goldenpipe.EINTERNAL, "no credential for staging account %s", account)
	}
	return container.NewClient(containerURL, s.cred, opts)
}
