package config

import (
	"fmt"
	"regexp"
	"strings"
)

// AzuriteAccount and AzuriteKey are Azurite's well-known development account,
// which UseDevelopmentStorage=true stands for.
const (
	AzuriteAccount = "devstoreaccount1"
	AzuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// Credential says how an identity-based connection authenticates.
type Credential struct {
	// ManagedIdentity is set by <CONN>__credential=managedidentity; otherwise
	// the default chain is used (managed identity in Azure, az CLI locally).
	ManagedIdentity bool
	// ClientID selects a user-assigned identity (<CONN>__clientId).
	ClientID string
}

// StorageConnection is a blob storage connection: either a connection string
// (local/Azurite, or a key-based account) or an identity-based service URL.
type StorageConnection struct {
	Name string // the connection name, e.g. "Scripts"
	// ConnectionString is set for key- or SAS-based connections. It is a
	// secret: never log it; String redacts it.
	ConnectionString string
	// ServiceURL is the blob endpoint, e.g. https://acct.blob.core.windows.net/.
	ServiceURL string
	// TableURL is the same account's table endpoint, e.g.
	// https://acct.table.core.windows.net/ ("" when the setting names none
	// and it cannot be derived: only the State connection needs it).
	TableURL string
	// Credential applies when ConnectionString is empty.
	Credential Credential
}

// IdentityBased reports whether the connection uses Entra ID instead of keys.
func (c StorageConnection) IdentityBased() bool { return c.ConnectionString == "" }

// String describes the connection without secrets.
func (c StorageConnection) String() string {
	if c.IdentityBased() {
		return fmt.Sprintf("%s: %s (identity%s)", c.Name, c.ServiceURL, c.Credential.describe())
	}
	return fmt.Sprintf("%s: %s (connection string)", c.Name, c.ServiceURL)
}

func (c StorageConnection) sameAccount(o StorageConnection) bool {
	return strings.TrimSuffix(c.ServiceURL, "/") == strings.TrimSuffix(o.ServiceURL, "/")
}

func (c Credential) describe() string {
	switch {
	case c.ManagedIdentity && c.ClientID != "":
		return ", user-assigned " + c.ClientID
	case c.ManagedIdentity:
		return ", managed identity"
	}
	return ", default chain"
}

// ServiceBusConnection is a Service Bus connection: a connection string, an
// identity-based namespace, or the in-process bus used for local runs.
type ServiceBusConnection struct {
	Name string
	// InProcess selects the in-process bus (the setting's value "inprocess").
	InProcess bool
	// ConnectionString is a secret: never log it.
	ConnectionString string
	// Namespace is the fully qualified namespace, e.g. ns.servicebus.windows.net.
	Namespace  string
	Credential Credential
}

// String describes the connection without secrets.
func (c ServiceBusConnection) String() string {
	switch {
	case c.InProcess:
		return c.Name + ": in-process bus"
	case c.ConnectionString != "":
		return fmt.Sprintf("%s: %s (connection string)", c.Name, c.Namespace)
	}
	return fmt.Sprintf("%s: %s (identity%s)", c.Name, c.Namespace, c.Credential.describe())
}

// connectionString returns the plain connection setting, trying the name and
// then the AzureWebJobs-prefixed name, as the Functions host does.
func (r *reader) connectionString(conn string) (name, value string, ok bool) {
	for _, n := range []string{conn, "AzureWebJobs" + conn} {
		if v, set := r.get(n); set {
			return n, v, true
		}
	}
	return conn, "", false
}

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func (r *reader) credential(conn string) Credential {
	var c Credential
	if v, ok := r.get(conn + "__credential"); ok {
		if !strings.EqualFold(v, "managedidentity") {
			r.fail(conn+"__credential", "%q is not supported; the only value is managedidentity", v)
		}
		c.ManagedIdentity = true
	}
	if v, ok := r.get(conn + "__clientId"); ok {
		if !guidRE.MatchString(v) {
			r.fail(conn+"__clientId", "%q is not a client id (a GUID)", v)
		} else if !c.ManagedIdentity {
			r.fail(conn+"__clientId", "needs %s__credential=managedidentity beside it", conn)
		}
		c.ClientID = v
	}
	return c
}

var accountRE = regexp.MustCompile(`^[a-z0-9]{3,24}$`)

func (r *reader) storage(conn string) StorageConnection {
	c := StorageConnection{Name: conn}
	if name, v, ok := r.connectionString(conn); ok {
		cs, endpoint, err := parseStorageConnectionString(v)
		if err != nil {
			r.fail(name, "%v", err)
			return c
		}
		c.ConnectionString, c.ServiceURL = cs, endpoint
		c.TableURL = tableEndpoint(cs, endpoint)
		return c
	}
	var sources []string
	for _, key := range []string{"__blobServiceUri", "__serviceUri"} {
		if v, ok := r.get(conn + key); ok {
			if err := checkURL(v); err != nil {
				r.fail(conn+key, "%q %v", v, err)
				return c
			}
			c.ServiceURL = strings.TrimSuffix(v, "/") + "/"
			sources = append(sources, conn+key)
			break
		}
	}
	if v, ok := r.get(conn + "__accountName"); ok && c.ServiceURL == "" {
		if !accountRE.MatchString(v) {
			r.fail(conn+"__accountName", "%q is not a storage account name (3-24 lowercase letters and digits)", v)
			return c
		}
		c.ServiceURL = "https://" + v + ".blob.core.windows.net/"
		sources = append(sources, conn+"__accountName")
	}
	if v, ok := r.get(conn + "__tableServiceUri"); ok {
		if err := checkURL(v); err != nil {
			r.fail(conn+"__tableServiceUri", "%q %v", v, err)
			return c
		}
		c.TableURL = strings.TrimSuffix(v, "/") + "/"
	} else if strings.Contains(c.ServiceURL, ".blob.") {
		c.TableURL = strings.Replace(c.ServiceURL, ".blob.", ".table.", 1)
	}
	if len(sources) == 0 {
		r.fail(conn, "is not set: give a connection string (%s, e.g. UseDevelopmentStorage=true) or an identity-based %s__blobServiceUri / %s__serviceUri / %s__accountName", conn, conn, conn, conn)
		return c
	}
	c.Credential = r.credential(conn)
	return c
}

// tableEndpoint returns the table endpoint of a valid storage connection
// string: its TableEndpoint, or the account's standard one when it names
// no blob endpoint either (or one of the standard form).
func tableEndpoint(cs, blobEndpoint string) string {
	kv := map[string]string{}
	for _, part := range strings.Split(cs, ";") {
		if k, v, ok := strings.Cut(part, "="); ok {
			kv[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
	}
	if t := kv["tableendpoint"]; t != "" {
		return strings.TrimSuffix(t, "/") + "/"
	}
	if strings.Contains(blobEndpoint, ".blob.") {
		return strings.Replace(blobEndpoint, ".blob.", ".table.", 1)
	}
	return ""
}

// parseStorageConnectionString validates a storage connection string and
// returns it (UseDevelopmentStorage=true expanded for Azurite) with its blob
// endpoint. Errors never quote the value: it holds a key.
func parseStorageConnectionString(v string) (cs, endpoint string, err error) {
	if strings.EqualFold(strings.ReplaceAll(v, " ", ""), "UseDevelopmentStorage=true") {
		v = "DefaultEndpointsProtocol=http;AccountName=" + AzuriteAccount + ";AccountKey=" + AzuriteKey +
			";BlobEndpoint=http://127.0.0.1:10000/" + AzuriteAccount + ";TableEndpoint=http://127.0.0.1:10002/" + AzuriteAccount + ";"
	}
	kv := map[string]string{}
	for _, part := range strings.Split(v, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			return "", "", fmt.Errorf("is not a storage connection string (a part has no '=')")
		}
		kv[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(val)
	}
	hasKey := kv["accountname"] != "" && kv["accountkey"] != ""
	hasSAS := kv["sharedaccesssignature"] != ""
	if !hasKey && !hasSAS {
		return "", "", fmt.Errorf("is not a storage connection string: it needs AccountName and AccountKey, or SharedAccessSignature")
	}
	endpoint = kv["blobendpoint"]
	if endpoint == "" {
		if kv["accountname"] == "" {
			return "", "", fmt.Errorf("has a SharedAccessSignature but no BlobEndpoint")
		}
		proto, suffix := kv["defaultendpointsprotocol"], kv["endpointsuffix"]
		if proto == "" {
			proto = "https"
		}
		if suffix == "" {
			suffix = "core.windows.net"
		}
		endpoint = proto + "://" + kv["accountname"] + ".blob." + suffix
	}
	if err := checkURL(endpoint); err != nil {
		return "", "", fmt.Errorf("has a bad blob endpoint: %v", err)
	}
	return v, strings.TrimSuffix(endpoint, "/") + "/", nil
}

var namespaceRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]*[A-Za-z0-9](:\d+)?$`)

func (r *reader) serviceBus(conn string) ServiceBusConnection {
	c := ServiceBusConnection{Name: conn}
	if name, v, ok := r.connectionString(conn); ok {
		if strings.EqualFold(v, "inprocess") {
			c.InProcess = true
			return c
		}
		endpoint := ""
		for _, part := range strings.Split(v, ";") {
			k, val, _ := strings.Cut(part, "=")
			if strings.EqualFold(strings.TrimSpace(k), "Endpoint") {
				endpoint = strings.TrimSpace(val)
			}
		}
		host := strings.TrimSuffix(strings.TrimPrefix(endpoint, "sb://"), "/")
		if !strings.HasPrefix(endpoint, "sb://") || !namespaceRE.MatchString(host) {
			r.fail(name, "is not a Service Bus connection string (Endpoint=sb://<namespace>/;SharedAccessKeyName=…;SharedAccessKey=…) nor \"inprocess\"")
			return c
		}
		c.ConnectionString, c.Namespace = v, host
		return c
	}
	if v, ok := r.get(conn + "__fullyQualifiedNamespace"); ok {
		if !namespaceRE.MatchString(v) || !strings.Contains(v, ".") {
			r.fail(conn+"__fullyQualifiedNamespace", "%q is not a namespace host name (e.g. myns.servicebus.windows.net)", v)
			return c
		}
		c.Namespace = v
		c.Credential = r.credential(conn)
		return c
	}
	r.fail(conn, "is not set: give a connection string, \"inprocess\" for local runs, or an identity-based %s__fullyQualifiedNamespace", conn)
	return c
}

// AccountKey returns the AccountName and AccountKey of a storage connection
// string ("" when absent). The key is a secret: never log it.
func AccountKey(connectionString string) (name, key string) {
	for _, part := range strings.Split(connectionString, ";") {
		k, v, _ := strings.Cut(part, "=")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "accountname":
			name = strings.TrimSpace(v)
		case "accountkey":
			key = strings.TrimSpace(v)
		}
	}
	return name, key
}
