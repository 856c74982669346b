package config

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

var local = map[string]string{
	"FUNCTIONS_CUSTOMHANDLER_PORT": "7071",
	"Scripts":                      "UseDevelopmentStorage=true",
	"State":                        "UseDevelopmentStorage=true",
	"ServiceBus":                   "inprocess",
	"AIB_SIMULATOR":                "true",
}

func with(base map[string]string, kv ...string) map[string]string {
	m := map[string]string{}
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "<unset>" {
			delete(m, kv[i])
		} else {
			m[kv[i]] = kv[i+1]
		}
	}
	return m
}

func TestLoadDefaults(t *testing.T) {
	s, err := Load(MapLookup(local))
	if err != nil {
		t.Fatal(err)
	}
	if s.Port != 7071 || s.LogLevel != slog.LevelInfo || s.MaxRequestBytes != 8<<20 || s.InvocationTimeout != 9*time.Minute {
		t.Errorf("settings = %+v", s)
	}
	if s.ScriptsContainer != "scripts" || s.TemplatesContainer != "templates" || s.StateContainer != "goldenpipe-state" || s.BuildQueue != "build-requests" || s.EventsTopic != "image-events" {
		t.Errorf("names = %+v", s)
	}
	if s.Scripts.ServiceURL != "http://127.0.0.1:10000/devstoreaccount1/" || s.Scripts.IdentityBased() {
		t.Errorf("Scripts = %+v", s.Scripts)
	}
	if !strings.Contains(s.Scripts.ConnectionString, "AccountKey=") || strings.Contains(s.Scripts.String(), AzuriteKey) {
		t.Errorf("Scripts connection string not expanded, or String leaks the key: %s", s.Scripts)
	}
	if !s.ServiceBus.InProcess {
		t.Error("ServiceBus=inprocess not recognised")
	}
}

func TestLoadIdentityBased(t *testing.T) {
	m := with(local, "Scripts", "<unset>", "Scripts__blobServiceUri", "https://goldenscripts.blob.core.windows.net",
		"Scripts__credential", "managedidentity", "Scripts__clientId", "0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11",
		"State", "<unset>", "State__accountName", "goldenstate",
		"ServiceBus", "<unset>", "ServiceBus__fullyQualifiedNamespace", "golden.servicebus.windows.net",
		"FUNCTIONS_CUSTOMHANDLER_PORT", "<unset>", "FUNCTIONS_HTTPWORKER_PORT", "9001")
	s, err := Load(MapLookup(m))
	if err != nil {
		t.Fatal(err)
	}
	if !s.Scripts.IdentityBased() || s.Scripts.ServiceURL != "https://goldenscripts.blob.core.windows.net/" || !s.Scripts.Credential.ManagedIdentity || s.Scripts.Credential.ClientID == "" {
		t.Errorf("Scripts = %+v", s.Scripts)
	}
	if s.State.ServiceURL != "https://goldenstate.blob.core.windows.net/" || s.State.Credential.ManagedIdentity {
		t.Errorf("State = %+v", s.State)
	}
	if s.ServiceBus.Namespace != "golden.servicebus.windows.net" || s.ServiceBus.InProcess {
		t.Errorf("ServiceBus = %+v", s.ServiceBus)
	}
	if s.Port != 9001 {
		t.Errorf("legacy port = %d", s.Port)
	}
}

func TestLoadAzureWebJobsPrefix(t *testing.T) {
	m := with(local, "State", "<unset>", "AzureWebJobsState", "DefaultEndpointsProtocol=https;AccountName=goldenstate;AccountKey=a2V5;EndpointSuffix=core.windows.net")
	s, err := Load(MapLookup(m))
	if err != nil {
		t.Fatal(err)
	}
	if s.State.ServiceURL != "https://goldenstate.blob.core.windows.net/" {
		t.Errorf("State = %s", s.State)
	}
}

func TestLoadReportsEveryProblemAtOnce(t *testing.T) {
	m := map[string]string{
		"FUNCTIONS_CUSTOMHANDLER_PORT": "http",
		"LOG_LEVEL":                    "loud",
		"MAX_REQUEST_BYTES":            "-1",
		"INVOCATION_TIMEOUT":           "forever",
		"SCRIPTS_CONTAINER":            "Scripts_Container",
		"BUILD_QUEUE":                  "bad queue!",
		"Scripts":                      "AccountName=x;AccountKey=SECRETKEY;BlobEndpoint=ftp://x",
		"State__blobServiceUri":        "http://storage.example.com",
		"State__clientId":              "not-a-guid",
		"ServiceBus":                   "Endpoint=https://nope;SharedAccessKey=SECRETKEY",
		"AIB_SIMULATOR":                "true",
	}
	_, err := Load(MapLookup(m))
	var p Problems
	if !errors.As(err, &p) {
		t.Fatalf("err = %v, want Problems", err)
	}
	wants := []string{
		`FUNCTIONS_CUSTOMHANDLER_PORT: "http" is not a TCP port`,
		`LOG_LEVEL: "loud" is not a log level`,
		`MAX_REQUEST_BYTES: "-1" is not a whole number`,
		`INVOCATION_TIMEOUT: "forever" is not a duration`,
		`SCRIPTS_CONTAINER: "Scripts_Container" is not a blob container name`,
		`BUILD_QUEUE: "bad queue!" is not a Service Bus entity name`,
		`Scripts: has a bad blob endpoint`,
		`State__blobServiceUri: "http://storage.example.com" uses http to a non-loopback host`,
		`ServiceBus: is not a Service Bus connection string`,
	}
	msg := err.Error()
	for _, w := range wants {
		if !strings.Contains(msg, w) {
			t.Errorf("message lacks %q:\n%s", w, msg)
		}
	}
	if len(p) != len(wants) {
		t.Errorf("%d problems, want %d:\n%s", len(p), len(wants), msg)
	}
	if strings.Contains(msg, "SECRETKEY") {
		t.Errorf("the message quotes a secret:\n%s", msg)
	}
}

func TestLoadMissingConnections(t *testing.T) {
	_, err := Load(MapLookup(map[string]string{}))
	msg := err.Error()
	for _, w := range []string{"Scripts: is not set", "State: is not set", "ServiceBus: is not set", "AZURE_SUBSCRIPTION_ID: is not set", "AIB_RESOURCE_GROUP: is not set", "5 app setting problem(s)"} {
		if !strings.Contains(msg, w) {
			t.Errorf("message lacks %q:\n%s", w, msg)
		}
	}
}

func TestLoadSettingChecks(t *testing.T) {
	tests := []struct {
		name string
		kv   []string
		want string // "" = accepted
	}{
		{"clientId without credential", []string{"Scripts", "<unset>", "Scripts__serviceUri", "https://a.blob.core.windows.net", "Scripts__clientId", "0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11"}, "needs Scripts__credential=managedidentity"},
		{"unknown credential", []string{"Scripts", "<unset>", "Scripts__serviceUri", "https://a.blob.core.windows.net", "Scripts__credential", "clientsecret"}, `"clientsecret" is not supported`},
		{"service uri with SAS", []string{"Scripts", "<unset>", "Scripts__serviceUri", "https://a.blob.core.windows.net/?sv=1&sig=x"}, "must carry no credentials or query"},
		{"bad account name", []string{"State", "<unset>", "State__accountName", "Bad_Name"}, "is not a storage account name"},
		{"connection string without key", []string{"Scripts", "AccountName=a;EndpointSuffix=core.windows.net"}, "needs AccountName and AccountKey"},
		{"SAS connection string", []string{"Scripts", "BlobEndpoint=https://a.blob.core.windows.net/;SharedAccessSignature=sv=2024&sig=abc"}, ""},
		{"state container equal to scripts on one account", []string{"STATE_CONTAINER", "scripts"}, "must differ from SCRIPTS_CONTAINER"},
		{"container with double hyphen", []string{"TEMPLATES_CONTAINER", "a--b"}, "is not a blob container name"},
		{"namespace without dot", []string{"ServiceBus", "<unset>", "ServiceBus__fullyQualifiedNamespace", "golden"}, "is not a namespace host name"},
		{"debug level", []string{"LOG_LEVEL", "DEBUG"}, ""},
		{"subscription not a guid", []string{"AZURE_SUBSCRIPTION_ID", "my-sub"}, "is not a subscription id"},
		{"simulator not a bool", []string{"AIB_SIMULATOR", "maybe"}, `"maybe" is not true or false`},
		{"simulator URL", []string{"AIB_SIMULATOR", "http://127.0.0.1:7999"}, ""},
		{"simulator URL not loopback", []string{"AIB_SIMULATOR", "http://sim.example.com"}, "must be http on the loopback address"},
		{"real ARM needs a subscription", []string{"AIB_SIMULATOR", "false", "AIB_RESOURCE_GROUP", "rg-images"}, "AZURE_SUBSCRIPTION_ID: is not set"},
		{"real ARM needs a resource group", []string{"AIB_SIMULATOR", "false", "AZURE_SUBSCRIPTION_ID", "0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11"}, "AIB_RESOURCE_GROUP: is not set"},
		{"real ARM with subscription", []string{"AIB_SIMULATOR", "false", "AZURE_SUBSCRIPTION_ID", "0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11", "AIB_RESOURCE_GROUP", "rg-images", "Arm__credential", "managedidentity"}, ""},
		{"vhd destination", []string{"VHD_DESTINATION", "https://goldenvhds.blob.core.windows.net/vhds"}, ""},
		{"vhd destination without container", []string{"VHD_DESTINATION", "https://goldenvhds.blob.core.windows.net/"}, "names no container"},
		{"vhd destination with SAS", []string{"VHD_DESTINATION", "https://goldenvhds.blob.core.windows.net/vhds?sv=1&sig=x"}, "must carry no credentials"},
		{"vhd storage of another account", []string{"VHD_DESTINATION", "https://goldenvhds.blob.core.windows.net/vhds", "VhdStorage", "UseDevelopmentStorage=true"}, "names account"},
		{"staging connection", []string{"StagingStorage", "DefaultEndpointsProtocol=http;AccountName=aibstaging;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:10000/aibstaging;"}, ""},
		{"keep failed", []string{"KEEP_FAILED_HOURS", "1000"}, "KEEP_FAILED_HOURS"},
		{"bad resource group", []string{"AIB_RESOURCE_GROUP", "rg/images"}, "is not a resource group name"},
		{"too many builds", []string{"MAX_CONCURRENT_BUILDS", "0"}, "MAX_CONCURRENT_BUILDS"},
		{"timeout too short", []string{"INVOCATION_TIMEOUT", "10ms"}, "is not a duration from 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(MapLookup(with(local, tt.kv...)))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestLoadTableEndpoint: the State account's table endpoint, where the
// app keeps its lists, from each form of connection (the Functions
// convention <CONN>__tableServiceUri for identity-based ones).
func TestLoadTableEndpoint(t *testing.T) {
	for _, tt := range []struct {
		name string
		kv   []string
		want string
	}{
		{"development storage", nil, "http://127.0.0.1:10002/devstoreaccount1/"},
		{"account key", []string{"State", "DefaultEndpointsProtocol=https;AccountName=goldenstate;AccountKey=a2V5;EndpointSuffix=core.windows.net"}, "https://goldenstate.table.core.windows.net/"},
		{"explicit endpoint", []string{"State", "AccountName=x;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:41000/x;TableEndpoint=http://127.0.0.1:41002/x"}, "http://127.0.0.1:41002/x/"},
		{"blob endpoint only", []string{"State", "AccountName=x;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:41000/x"}, ""},
		{"account name", []string{"State", "<unset>", "State__accountName", "goldenstate"}, "https://goldenstate.table.core.windows.net/"},
		{"blob service uri", []string{"State", "<unset>", "State__blobServiceUri", "https://goldenstate.blob.core.windows.net/"}, "https://goldenstate.table.core.windows.net/"},
		{"table service uri", []string{"State", "<unset>", "State__blobServiceUri", "https://goldenstate.blob.core.windows.net/", "State__tableServiceUri", "https://tables.example.com"}, "https://tables.example.com/"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Load(MapLookup(with(local, tt.kv...)))
			if err != nil {
				t.Fatal(err)
			}
			if s.State.TableURL != tt.want {
				t.Errorf("TableURL = %q, want %q", s.State.TableURL, tt.want)
			}
		})
	}
}
