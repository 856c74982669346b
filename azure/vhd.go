package azure

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/config"
)

// VHDSource reads VHDs in Image Builder's staging accounts and signs
// short-lived read-only SAS for them, without stored secrets: a user
// delegation SAS from the app's identity (which needs Storage Blob Data
// Reader and Storage Blob Delegator on the staging account). For local runs
// the staging account's key can be given instead (StagingStorage).
type VHDSource struct {
	cred azcore.TokenCredential
	keys map[string]*service.SharedKeyCredential // account → key (local runs)

	mu  sync.Mutex
	udc map[string]*delegation // account URL → delegation key
}

type delegation struct {
	cred    *service.UserDelegationCredential
	expires time.Time
}

// NewVHDSource returns a source using the identity cred, and the keys of
// staging (if set).
func NewVHDSource(cred azcore.TokenCredential, staging *config.StorageConnection) (*VHDSource, error) {
	s := &VHDSource{cred: cred, keys: map[string]*service.SharedKeyCredential{}, udc: map[string]*delegation{}}
	if staging != nil {
		name, key := config.AccountKey(staging.ConnectionString)
		if name == "" || key == "" {
			return nil, fmt.Errorf("connection %s: needs AccountName and AccountKey to sign a SAS", staging.Name)
		}
		k, err := service.NewSharedKeyCredential(name, key)
		if err != nil {
			return nil, fmt.Errorf("connection %s: the key was refused", staging.Name)
		}
		s.keys[name] = k
	}
	return s, nil
}

// parts splits a blob URL into its account URL, account name, container and
// blob name (for both account.blob.core.windows.net and Azurite's
// 127.0.0.1:port/account styles). A URL carrying a SAS is refused.
func parts(blobURL string) (accountURL, account, containerName, blobName string, err error) {
	p, err := sas.ParseURL(blobURL)
	if err != nil || p.ContainerName == "" || p.BlobName == "" {
		return "", "", "", "", goldenpipe.Errorf(goldenpipe.EINVALID, "%q is not a blob URL", goldenpipe.RedactSAS(blobURL))
	}
	if p.SAS.Signature() != "" {
		return "", "", "", "", goldenpipe.Errorf(goldenpipe.EINVALID, "the blob URL carries a SAS; run outputs should not")
	}
	account = p.IPEndpointStyleInfo.AccountName
	accountURL = p.Scheme + "://" + p.Host
	if account != "" {
		accountURL += "/" + account
	} else {
		account = strings.SplitN(p.Host, ".", 2)[0]
	}
	return accountURL, account, p.ContainerName, p.BlobName, nil
}

func (s *VHDSource) client(blobURL string) (*blob.Client, string, error) {
	_, account, _, _, err := parts(blobURL)
	if err != nil {
		return nil, "", err
	}
	if k, ok := s.keys[account]; ok {
		c, err := blob.NewClientWithSharedKeyCredential(blobURL, k, &blob.ClientOptions{ClientOptions: StorageClientOptions().ClientOptions})
		return c, account, err
	}
	if s.cred == nil {
		return nil, "", goldenpipe.Errorf(goldenpipe.EINTERNAL, "no credential for staging account %s", account)
	}
	c, err := blob.NewClient(blobURL, s.cred, &blob.ClientOptions{ClientOptions: StorageClientOptions().ClientOptions})
	return c, account, err
}

// Properties returns the version of a staging VHD.
func (s *VHDSource) Properties(ctx context.Context, blobURL string) (goldenpipe.BlobVersion, error) {
	c, _, err := s.client(blobURL)
	if err != nil {
		return goldenpipe.BlobVersion{}, err
	}
	p, err := c.GetProperties(ctx, nil)
	if err != nil {
		return goldenpipe.BlobVersion{}, StorageError(err, "reading the staging VHD %s failed", goldenpipe.RedactSAS(blobURL))
	}
	return versionOf(p), nil
}

// SignRead returns the blob URL with a read-only SAS valid for ttl. The
// result is a secret: it goes to the copy request and nowhere else.
func (s *VHDSource) SignRead(ctx context.Context, blobURL string, ttl time.Duration) (string, time.Time, error) {
	accountURL, account, containerName, blobName, err := parts(blobURL)
	if err != nil {
		return "", time.Time{}, err
	}
	start := time.Now().UTC().Add(-5 * time.Minute) // clock skew
	expiry := time.Now().UTC().Add(ttl)
	values := sas.BlobSignatureValues{Protocol: sas.ProtocolHTTPSandHTTP, StartTime: start, ExpiryTime: expiry,
		Permissions: (&sas.BlobPermissions{Read: true}).String(), ContainerName: containerName, BlobName: blobName}
	if strings.HasPrefix(blobURL, "https://") {
		values.Protocol = sas.ProtocolHTTPS
	}
	var q sas.QueryParameters
	if k, ok := s.keys[account]; ok {
		q, err = values.SignWithSharedKey(k)
	} else {
		var udc *service.UserDelegationCredential
		udc, err = s.delegation(ctx, accountURL, expiry)
		if err == nil {
			q, err = values.SignWithUserDelegation(udc)
		}
	}
	if err != nil {
		return "", time.Time{}, goldenpipe.Wrap(goldenpipe.EUNAVAILABLE, redactedError{err}, "signing a read SAS for the staging VHD failed")
	}
	return blobURL + "?" + q.Encode(), expiry, nil
}

// delegation returns a user delegation key valid past expiry, cached.
func (s *VHDSource) delegation(ctx context.Context, accountURL string, expiry time.Time) (*service.UserDelegationCredential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.udc[accountURL]; ok && d.expires.After(expiry.Add(time.Minute)) {
		return d.cred, nil
	}
	if s.cred == nil {
		return nil, fmt.Errorf("no identity to sign a user delegation SAS")
	}
	svc, err := service.NewClient(accountURL+"/", s.cred, StorageClientOptions())
	if err != nil {
		return nil, err
	}
	keyStart := time.Now().UTC().Add(-5 * time.Minute)
	keyExpiry := expiry.Add(time.Hour)
	if limit := keyStart.Add(7 * 24 * time.Hour); keyExpiry.After(limit) {
		keyExpiry = limit // a user delegation key lives 7 days at most
	}
	udc, err := svc.GetUserDelegationCredential(ctx, service.KeyInfo{
		Start: to.Ptr(keyStart.Format(sas.TimeFormat)), Expiry: to.Ptr(keyExpiry.Format(sas.TimeFormat))}, nil)
	if err != nil {
		return nil, err
	}
	s.udc[accountURL] = &delegation{cred: udc, expires: keyExpiry}
	return udc, nil
}

// VHDDestination is the container VHDs are copied into.
type VHDDestination struct {
	c *container.Client
}

// NewVHDDestination returns the destination at containerURL, with a
// connection string when given, else the identity cred.
func NewVHDDestination(containerURL string, conn *config.StorageConnection, cred azcore.TokenCredential) (*VHDDestination, error) {
	if conn != nil {
		svc, err := NewBlobService(*conn)
		if err != nil {
			return nil, err
		}
		name := containerURL[strings.LastIndex(containerURL, "/")+1:]
		return &VHDDestination{c: svc.NewContainerClient(name)}, nil
	}
	c, err := container.NewClient(containerURL, cred, &container.ClientOptions{ClientOptions: StorageClientOptions().ClientOptions})
	if err != nil {
		return nil, err
	}
	return &VHDDestination{c: c}, nil
}

// NewVHDDestinationClient returns the destination over a container
// client made elsewhere (a test's, with its own transport).
func NewVHDDestinationClient(c *container.Client) *VHDDestination { return &VHDDestination{c: c} }

// URL returns a destination blob's URL (no SAS).
func (d *VHDDestination) URL(name string) string {
	return strings.ReplaceAll(d.c.NewBlobClient(name).URL(), "%2F", "/")
}

// Properties returns the state of a destination blob and its last copy.
func (d *VHDDestination) Properties(ctx context.Context, name string) (goldenpipe.CopyState, error) {
	p, err := d.c.NewBlobClient(name).GetProperties(ctx, nil)
	if err != nil {
		err = StorageError(err, "reading the VHD copy %s failed", name)
		if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
			return goldenpipe.CopyState{}, nil
		}
		return goldenpipe.CopyState{}, err
	}
	st := goldenpipe.CopyState{Exists: true, ID: deref(p.CopyID), Description: goldenpipe.RedactSAS(deref(p.CopyStatusDescription)),
		Metadata: map[string]string{}}
	if p.CopyStatus != nil {
		st.Status = string(*p.CopyStatus)
	}
	if p.ContentLength != nil {
		st.Length = *p.ContentLength
	}
	if cp := deref(p.CopyProgress); cp != "" { // "copied/total"
		a, b, _ := strings.Cut(cp, "/")
		st.Copied, _ = strconv.ParseInt(a, 10, 64)
		st.Total, _ = strconv.ParseInt(b, 10, 64)
	}
	for k, v := range p.Metadata {
		if v != nil {
			st.Metadata[strings.ToLower(k)] = *v
		}
	}
	return st, nil
}

// StartCopy starts a server-side copy from source (a URL with a SAS, never
// logged) into the named blob, and returns the copy id.
func (d *VHDDestination) StartCopy(ctx context.Context, name, source string, metadata map[string]string) (string, error) {
	md := map[string]*string{}
	for k, v := range metadata {
		md[k] = to.Ptr(v)
	}
	resp, err := d.c.NewBlobClient(name).StartCopyFromURL(ctx, source, &blob.StartCopyFromURLOptions{Metadata: md})
	if err != nil {
		return "", StorageError(redactedError{err}, "starting the copy into %s failed", name)
	}
	return deref(resp.CopyID), nil
}

// Abort stops a pending copy.
func (d *VHDDestination) Abort(ctx context.Context, name, copyID string) error {
	_, err := d.c.NewBlobClient(name).AbortCopyFromURL(ctx, copyID, nil)
	if err = StorageError(err, "aborting the copy into %s failed", name); goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND || goldenpipe.ErrorCode(err) == goldenpipe.ECONFLICT {
		return nil // gone, or no copy pending
	}
	return err
}

// Ensure creates the destination container if it does not exist.
func (d *VHDDestination) Ensure(ctx context.Context) error {
	_, err := d.c.Create(ctx, nil)
	if err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return StorageError(err, "creating the VHD destination container failed")
	}
	return nil
}
