// Package devstorage is what a command needs to reach the local storage
// emulator without starting it: the connection string of an account at an
// endpoint, the port the last local run kept, and the rewrite of
// UseDevelopmentStorage=true in local settings. It starts nothing, so the
// handler binary (through internal/cli) can use it without linking the
// launcher (internal/azurite, used by scripts/devrun and the tests).
package devstorage

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/goldenpipe/goldenpipe/config"
)

// Account is a storage account of the emulator (AZURITE_ACCOUNTS).
type Account struct {
	Name string
	Key  string // base64
}

// ConnectionStringAt returns a connection string for an account on the
// Azurite whose blob endpoint is endpoint, with its table endpoint two
// ports above (devstoreaccount1 when account is empty).
func ConnectionStringAt(endpoint string, account Account) string {
	if account.Name == "" {
		account = Account{Name: config.AzuriteAccount, Key: config.AzuriteKey}
	}
	return fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=%s/%s;TableEndpoint=%s/%s;",
		account.Name, account.Key, endpoint, account.Name, TableEndpointOf(endpoint), account.Name)
}

// TableEndpointOf returns the table endpoint of the Azurite whose blob
// endpoint is endpoint (http://127.0.0.1:<port>): two ports above.
func TableEndpointOf(endpoint string) string {
	i := strings.LastIndex(endpoint, ":")
	p, err := strconv.Atoi(endpoint[i+1:])
	if i < 0 || err != nil {
		return endpoint
	}
	return endpoint[:i+1] + strconv.Itoa(p+2)
}

// PortFile keeps, in Azurite's data folder, the port of the last local
// run: the URLs stored in that data name it.
const PortFile = "goldenpipe-port"

// KeptPort returns the port the last local run on data used.
func KeptPort(data string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(data, PortFile))
	if err != nil {
		return 0, false
	}
	p, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return p, err == nil && p > 0 && p < 65536
}

// KeepPort records the port of endpoint (http://127.0.0.1:<port>) for the
// next run.
func KeepPort(data, endpoint string) error {
	i := strings.LastIndex(endpoint, ":")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(data, PortFile), []byte(endpoint[i+1:]+"\n"), 0o644)
}

// PointAt rewrites local settings values to the Azurite at endpoint:
// UseDevelopmentStorage=true becomes its connection string, and Azurite's
// standard 127.0.0.1:10000 and 10002 its blob and table hosts and ports.
func PointAt(values map[string]string, endpoint string) {
	host := strings.TrimPrefix(endpoint, "http://")
	table := strings.TrimPrefix(TableEndpointOf(endpoint), "http://")
	for k, v := range values {
		if strings.EqualFold(strings.ReplaceAll(v, " ", ""), "UseDevelopmentStorage=true") {
			v = ConnectionStringAt(endpoint, Account{})
		}
		v = strings.ReplaceAll(v, "127.0.0.1:10000", host)
		values[k] = strings.ReplaceAll(v, "127.0.0.1:10002", table)
	}
}
