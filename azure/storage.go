// Package azure holds the adapters to Azure services: clients built from the
// app settings, with explicit timeouts and retries on every call.
package azure

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/config"
)

// Storage call limits: one try of one request, and the retries around it.
const (
	StorageTryTimeout = 60 * time.Second
	storageRetries    = 4
)

// StorageClientOptions are the options every blob client of the app uses.
func StorageClientOptions() *service.ClientOptions {
	return &service.ClientOptions{ClientOptions: policy.ClientOptions{
		Retry: policy.RetryOptions{
			MaxRetries:    storageRetries,
			TryTimeout:    StorageTryTimeout,
			RetryDelay:    200 * time.Millisecond,
			MaxRetryDelay: 5 * time.Second,
		},
		Telemetry:        policy.TelemetryOptions{ApplicationID: "goldenpipe"},
		PerRetryPolicies: []policy.Policy{transactionCounter{}},
	}}
}

// Transactions counts the storage requests this process sent, as the
// storage account bills them (each try of each request): reads (GET,
// HEAD) and writes (everything else). Benchmarks read it.
var Transactions struct{ Reads, Writes atomic.Int64 }

type transactionCounter struct{}

func (transactionCounter) Do(req *policy.Request) (*http.Response, error) {
	switch req.Raw().Method {
	case http.MethodGet, http.MethodHead:
		Transactions.Reads.Add(1)
	default:
		Transactions.Writes.Add(1)
	}
	return req.Next()
}

// NewBlobService returns a blob service client for a storage connection.
func NewBlobService(c config.StorageConnection) (*service.Client, error) {
	if !c.IdentityBased() {
		cl, err := service.NewClientFromConnectionString(c.ConnectionString, StorageClientOptions())
		if err != nil {
			// the SDK's message may quote the string; say only which setting failed
			return nil, fmt.Errorf("connection %s: the connection string was refused by the storage SDK", c.Name)
		}
		return cl, nil
	}
	cred, err := Credential(c.Credential)
	if err != nil {
		return nil, fmt.Errorf("connection %s: %w", c.Name, err)
	}
	cl, err := service.NewClient(c.ServiceURL, cred, StorageClientOptions())
	if err != nil {
		return nil, fmt.Errorf("connection %s: creating the blob client: %w", c.Name, err)
	}
	return cl, nil
}

// NewTableService returns a table service client for a storage
// connection (its TableURL, or the connection string's table endpoint).
func NewTableService(c config.StorageConnection) (*aztables.ServiceClient, error) {
	opts := &aztables.ClientOptions{ClientOptions: StorageClientOptions().ClientOptions}
	if c.TableURL == "" {
		return nil, fmt.Errorf("connection %s: no table endpoint: give TableEndpoint in the connection string or %s__tableServiceUri (the app keeps its lists in Table storage)", c.Name, c.Name)
	}
	if !c.IdentityBased() {
		cl, err := aztables.NewServiceClientFromConnectionString(c.ConnectionString, opts)
		if err != nil {
			return nil, fmt.Errorf("connection %s: the connection string was refused by the table SDK", c.Name)
		}
		return cl, nil
	}
	cred, err := Credential(c.Credential)
	if err != nil {
		return nil, fmt.Errorf("connection %s: %w", c.Name, err)
	}
	cl, err := aztables.NewServiceClient(c.TableURL, cred, opts)
	if err != nil {
		return nil, fmt.Errorf("connection %s: creating the table client: %w", c.Name, err)
	}
	return cl, nil
}

// Credential returns the token credential an identity-based connection uses.
func Credential(c config.Credential) (azcore.TokenCredential, error) {
	if c.ManagedIdentity {
		opts := &azidentity.ManagedIdentityCredentialOptions{}
		if c.ClientID != "" {
			opts.ID = azidentity.ClientID(c.ClientID)
		}
		cred, err := azidentity.NewManagedIdentityCredential(opts)
		if err != nil {
			return nil, fmt.Errorf("creating the managed identity credential: %w", err)
		}
		return cred, nil
	}
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, fmt.Errorf("creating the default Azure credential: %w", err)
	}
	return cred, nil
}

// EnsureContainer creates a container if it does not exist.
func EnsureContainer(ctx context.Context, svc *service.Client, name string) error {
	_, err := svc.NewContainerClient(name).Create(ctx, nil)
	if err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return StorageError(err, "creating container %s failed", name)
	}
	return nil
}

// StorageError classifies a storage error into a domain error: 404 is
// ENOTFOUND, 409/412 ECONFLICT, 400 EINVALID, 401/403 EFORBIDDEN, 5xx/429
// and network errors EUNAVAILABLE. The message never includes a URL's
// query (a SAS).
func StorageError(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf(format, args...)
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		detail := fmt.Errorf("%s (HTTP %d)", re.ErrorCode, re.StatusCode)
		switch {
		case re.StatusCode == http.StatusNotFound:
			return goldenpipe.Wrap(goldenpipe.ENOTFOUND, detail, "%s", msg)
		case re.StatusCode == http.StatusConflict || re.StatusCode == http.StatusPreconditionFailed:
			return goldenpipe.Wrap(goldenpipe.ECONFLICT, detail, "%s", msg)
		case re.StatusCode == http.StatusBadRequest:
			return goldenpipe.Wrap(goldenpipe.EINVALID, detail, "%s", msg)
		case re.StatusCode == http.StatusForbidden || re.StatusCode == http.StatusUnauthorized:
			return goldenpipe.Wrap(goldenpipe.EFORBIDDEN, detail, "%s", msg)
		}
		return goldenpipe.Wrap(goldenpipe.EUNAVAILABLE, detail, "%s", msg)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return goldenpipe.Wrap(goldenpipe.EUNAVAILABLE, err, "%s", msg)
	}
	return goldenpipe.Wrap(goldenpipe.EUNAVAILABLE, redactedError{err}, "%s", msg)
}

// redactedError hides the query string of any URL in a transport error.
type redactedError struct{ err error }

func (r redactedError) Error() string { return goldenpipe.RedactSAS(r.err.Error()) }
func (r redactedError) Unwrap() error { return r.err }

// LocalCredential is the credential for a simulator served on the loopback
// address: a fixed token that never leaves the machine.
type LocalCredential struct{}

// GetToken implements azcore.TokenCredential.
func (LocalCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "local-simulator", ExpiresOn: time.Now().Add(time.Hour)}, nil
}
