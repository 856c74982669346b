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
	c, endpoint, err := armREST(cred, opts)
	if err != nil {
		return nil, err
	}
	return &ARMStorageAccounts{client: c, endpoint: endpoint, subscription: subscriptionID}, nil
}

// armREST returns a client for plain ARM REST calls and the endpoint it
// calls (Azure's, or the cloud's or simulator's the options name).
func armREST(cred azcore.TokenCredential, opts *arm.ClientOptions) (*arm.Client, string, error) {
	c, err := arm.NewClient("goldenpipe", "v1.0.0", cred, opts)
	if err != nil {
		return nil, "", err
	}
	endpoint := "https://management.azure.com"
	if opts != nil {
		if svc, ok := opts.Cloud.Services[cloud.ResourceManager]; ok && svc.Endpoint != "" {
			endpoint = strings.TrimSuffix(svc.Endpoint, "/")
		}
	}
	return c, endpoint, nil
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

// CustomizationLogs reads the ends of a build's customization.log and
// validation.log from the packerlogs container of its staging account:
// Image Builder keeps them at packerlogs/<operation GUID>/, and a failed
// run's message names the customization.log's URL.
type CustomizationLogs struct {
	Accounts StagingAccounts
	Source   *VHDSource // its credentials read the staging account
}

// logURLRE finds the log's URL in a failed run's message ("Image Build log
// location: https://…/packerlogs/<guid>/customization.log").
var logURLRE = regexp.MustCompile(`https?://[^\s"'<>]+/packerlogs/[^\s"'<>?]+/customization\.log`)

// Tail returns the ends of a run's customization.log and validation.log
// ("" for one that does not exist). stagingGroup is the template's
// exactStagingResourceGroup (a resource id, or a name); runMessage is the
// run's lastRunStatus.message, whose log URL is used when it has one.
func (l *CustomizationLogs) Tail(ctx context.Context, stagingGroup, runMessage string) (customization, validation string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if u := logURLRE.FindString(strings.ReplaceAll(runMessage, "%2F", "/")); u != "" {
		containerURL, folder := u[:strings.Index(u, "/packerlogs/")+len("/packerlogs")], strings.TrimSuffix(u[strings.Index(u, "/packerlogs/")+len("/packerlogs/"):], "/customization.log")
		c, err := l.Source.containerClient(containerURL)
		if err == nil {
			if text, err := tailBlob(ctx, c, folder+"/customization.log"); err == nil {
				v, _ := tailBlob(ctx, c, folder+"/validation.log")
				return text, v, nil
			}
		}
	}
	rg := ResourceGroupName(stagingGroup)
	if rg == "" {
		return "", "", goldenpipe.Errorf(goldenpipe.ENOTFOUND, "Image Builder reported no staging resource group")
	}
	endpoints, err := l.Accounts.BlobEndpoints(ctx, rg)
	if err != nil {
		return "", "", err
	}
	for _, ep := range endpoints {
		c, err := l.Source.containerClient(strings.TrimSuffix(ep, "/") + "/packerlogs")
		if err != nil {
			return "", "", err
		}
		name, err := findLog(ctx, c)
		if err != nil || name == "" {
			continue
		}
		text, err := tailBlob(ctx, c, name)
		if err != nil {
			return "", "", err
		}
		v, _ := tailBlob(ctx, c, strings.TrimSuffix(name, "customization.log")+"validation.log")
		return text, v, nil
	}
	return "", "", goldenpipe.Errorf(goldenpipe.ENOTFOUND, "no customization.log in the staging group %s", rg)
}

// ResourceGroupName is the name of a resource group given by its resource
// id (/subscriptions/…/resourceGroups/<name>) or by its name.
func ResourceGroupName(idOrName string) string {
	low := strings.ToLower(idOrName)
	if i := strings.Index(low, "/resourcegroups/"); i >= 0 {
		rest := idOrName[i+len("/resourcegroups/"):]
		name, _, _ := strings.Cut(rest, "/")
		return name
	}
	return idOrName
}

// logOverlap is read before the tail, so that what is cut away is cut
// after redaction: a SAS straddling the cut loses its signature first.
const logOverlap = 4 << 10

// tailBlob reads the end of a log blob ("" and ENOTFOUND when none).
func tailBlob(ctx context.Context, c *container.Client, name string) (string, error) {
	b := c.NewBlobClient(name)
	props, err := b.GetProperties(ctx, nil)
	if err != nil {
		return "", StorageError(err, "reading %s failed", name)
	}
	size := int64(0)
	if props.ContentLength != nil {
		size = *props.ContentLength
	}
	off := max(0, size-logTailBytes-logOverlap)
	resp, err := b.DownloadStream(ctx, &blob.DownloadStreamOptions{Range: blob.HTTPRange{Offset: off, Count: size - off}})
	if err != nil {
		return "", StorageError(err, "reading %s failed", name)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(io.LimitReader(resp.Body, logTailBytes+logOverlap))
	if err != nil {
		return "", goldenpipe.Wrap(goldenpipe.EUNAVAILABLE, err, "reading %s failed", name)
	}
	return LogTail(text, off > 0), nil
}

// LogTail is the end of a log, at most logTailBytes, redacted before it
// is cut: a SAS anywhere in what was read loses its signature, and a line
// cut at the start (a part of a token) is dropped.
func LogTail(read []byte, cutAtStart bool) string {
	text := goldenpipe.RedactSAS(string(read))
	if cutAtStart {
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			text = text[i+1:] // the first line was cut: it may hold the end of a token
		} else {
			text = ""
		}
	}
	if len(text) > logTailBytes {
		text = text[len(text)-logTailBytes:]
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			text = text[i+1:]
		}
	}
	return text
}

// findLog finds the newest customization.log in Image Builder's layout,
// packerlogs/<operation GUID>/customization.log (a template's staging
// group holds one template's runs).
func findLog(ctx context.Context, c *container.Client) (string, error) {
	var name string
	var newest time.Time
	pager := c.NewListBlobsFlatPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return "", StorageError(err, "listing packerlogs failed")
		}
		for _, it := range page.Segment.BlobItems {
			if it.Name == nil || !strings.HasSuffix(*it.Name, "/customization.log") || !isGUIDFolder(*it.Name) || it.Properties == nil {
				continue
			}
			if it.Properties.LastModified != nil && it.Properties.LastModified.After(newest) {
				newest, name = *it.Properties.LastModified, *it.Name
			}
		}
	}
	return name, nil
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
