// Package config loads every app setting the handler reads, following the
// Azure Functions conventions so one local.settings.json (or one set of app
// settings in Azure) serves both the Functions host and this handler.
//
// Every problem is collected and reported at once: a handler that starts with
// a missing or malformed setting fails with one message listing them all.
package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Names of the settings the handler reads. Tests check that each is documented
// in local.settings.json.example and the README.
const (
	SettingPort              = "FUNCTIONS_CUSTOMHANDLER_PORT"
	SettingLegacyPort        = "FUNCTIONS_HTTPWORKER_PORT"
	SettingLogLevel          = "LOG_LEVEL"
	SettingMaxRequestBytes   = "MAX_REQUEST_BYTES"
	SettingInvocationTimeout = "INVOCATION_TIMEOUT"
	SettingScriptsContainer  = "SCRIPTS_CONTAINER"
	SettingTemplatesContain  = "TEMPLATES_CONTAINER"
	SettingStateContainer    = "STATE_CONTAINER"
	SettingBuildQueue        = "BUILD_QUEUE"
	SettingEventsTopic       = "EVENTS_TOPIC"
	SettingSubscription      = "AZURE_SUBSCRIPTION_ID"
	SettingSimulator         = "AIB_SIMULATOR"
	SettingResourceGroup     = "AIB_RESOURCE_GROUP"
	SettingLocation          = "AIB_LOCATION"
	SettingSimulatorImages   = "AIB_SIMULATOR_IMAGES"
	SettingStagingGroups     = "AIB_STAGING_GROUPS"
	SettingMaxBuilds         = "MAX_CONCURRENT_BUILDS"
	SettingVHDDestination    = "VHD_DESTINATION"
	SettingKeepFailedHours   = "KEEP_FAILED_HOURS"

	// Connection names (the "connection" property of bindings).
	ConnScripts    = "Scripts"
	ConnState      = "State"
	ConnServiceBus = "ServiceBus"
	// ConnARM names the credential of Azure Resource Manager calls
	// (Arm__credential, Arm__clientId).
	ConnARM = "Arm"
	// ConnVHD optionally gives a connection string for the VHD destination
	// account (local runs); without it the app's identity is used.
	ConnVHD = "VhdStorage"
	// ConnStaging optionally gives a connection string for Image Builder's
	// staging account (local runs, where the simulator makes the VHDs);
	// without it the app's identity reads the staging account and signs a
	// user delegation SAS.
	ConnStaging = "StagingStorage"
)

// Settings is every setting the handler needs, parsed and validated.
type Settings struct {
	Port              int
	LogLevel          slog.Level
	MaxRequestBytes   int64
	InvocationTimeout time.Duration

	ScriptsContainer   string
	TemplatesContainer string
	StateContainer     string
	BuildQueue         string
	EventsTopic        string

	Scripts    StorageConnection
	State      StorageConnection
	ServiceBus ServiceBusConnection

	// Simulator replaces Azure Resource Manager (Image Builder, the
	// marketplace) with the simulator, for local runs: in-process, or the
	// one served at SimulatorURL (shared by several handler processes).
	Simulator    bool
	SimulatorURL string
	// SimulatorImages names a file of images the simulated marketplace
	// knows besides its own (the shape of simulator/marketplace.json).
	SimulatorImages string
	// SubscriptionID is where templates are built; required unless Simulator.
	SubscriptionID string
	// ARM is the identity ARM calls use.
	ARM Credential
	// ResourceGroup holds the Image Builder templates the app creates.
	ResourceGroup string
	// Location is ResourceGroup's region: what resourceGroup().location
	// gives in ARM deployment templates ("" when not set).
	Location string
	// ManagedStagingGroups: the app gives each Image Builder template a
	// staging resource group of its own (AIB_STAGING_GROUPS=managed).
	ManagedStagingGroups bool
	// MaxConcurrentBuilds bounds the builds in flight across templates.
	MaxConcurrentBuilds int

	// VHDDestination is the container VHDs are copied to (account URL +
	// container); empty means VHD outputs cannot be rescued.
	VHDDestination string
	// VHDStorage and Staging are set only when given (local runs).
	VHDStorage *StorageConnection
	Staging    *StorageConnection
	// KeepFailed is how long a failed build's Image Builder template is
	// kept for debugging before it is deleted.
	KeepFailed time.Duration
}

// Lookup returns the value of a setting and whether it is set. os.LookupEnv
// fits; tests pass a map's lookup.
type Lookup func(name string) (string, bool)

// LocalSettings reads the Values of dir's local.settings.json (the file
// Core Tools reads), or of local.settings.json.example when there is none;
// name says which.
func LocalSettings(dir string) (values map[string]string, name string, err error) {
	for _, name := range []string{"local.settings.json", "local.settings.json.example"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		var f struct {
			Values map[string]string `json:"Values"`
		}
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, "", fmt.Errorf("%s: %w", name, err)
		}
		return f.Values, name, nil
	}
	return nil, "", fmt.Errorf("neither local.settings.json nor local.settings.json.example in %s", dir)
}

// MapLookup adapts a map to Lookup.
func MapLookup(m map[string]string) Lookup {
	return func(name string) (string, bool) { v, ok := m[name]; return v, ok }
}

// Problems is the error Load returns: every setting that is missing or
// malformed, one per line, sorted by setting name.
type Problems []string

func (p Problems) Error() string {
	return fmt.Sprintf("%d app setting problem(s):\n  - %s", len(p), strings.Join(p, "\n  - "))
}

// Load reads and validates all settings.
func Load(lookup Lookup) (Settings, error) {
	r := reader{lookup: lookup}
	var s Settings
	r.handler(&s)
	r.names(&s)
	s.Scripts = r.storage(ConnScripts)
	s.State = r.storage(ConnState)
	s.ServiceBus = r.serviceBus(ConnServiceBus)
	r.simulator(&s)
	s.ARM = r.credential(ConnARM)
	r.subscription(&s)
	if s.ScriptsContainer != "" && s.ScriptsContainer == s.StateContainer && s.Scripts.sameAccount(s.State) {
		r.fail(SettingStateContainer, "must differ from %s: the app's own writes would trigger ScriptUploaded", SettingScriptsContainer)
	}
	s.MaxConcurrentBuilds = int(r.int64(SettingMaxBuilds, 5, 1, 100))
	s.KeepFailed = time.Duration(r.int64(SettingKeepFailedHours, 24, 0, 24*30)) * time.Hour
	r.vhd(&s)
	r.resourceGroup(&s)
	r.stagingGroups(&s)
	r.location(&s)
	if len(r.problems) > 0 {
		sort.Strings(r.problems)
		return Settings{}, r.problems
	}
	return s, nil
}

// handler reads the custom handler's own settings: its port (the
// Functions host's, else the legacy one), log level, request bound and
// invocation timeout.
func (r *reader) handler(s *Settings) {
	if _, ok := r.lookup(SettingPort); ok {
		s.Port = r.port(SettingPort, 0)
	} else {
		s.Port = r.port(SettingLegacyPort, 8080)
	}
	s.LogLevel = r.logLevel(SettingLogLevel, slog.LevelInfo)
	s.MaxRequestBytes = r.int64(SettingMaxRequestBytes, 8<<20, 1<<10, 100<<20)
	s.InvocationTimeout = r.duration(SettingInvocationTimeout, 9*time.Minute, time.Second, 4*time.Hour)
}

// names reads the containers, queue and topic the app uses.
func (r *reader) names(s *Settings) {
	s.ScriptsContainer = r.container(SettingScriptsContainer, "scripts")
	s.TemplatesContainer = r.container(SettingTemplatesContain, "templates")
	s.StateContainer = r.container(SettingStateContainer, "goldenpipe-state")
	s.BuildQueue = r.entityName(SettingBuildQueue, "build-requests")
	s.EventsTopic = r.entityName(SettingEventsTopic, "image-events")
}

// simulator reads the simulator settings: true, or the loopback URL of a
// simulator running apart, and its images.
func (r *reader) simulator(s *Settings) {
	if v, ok := r.get(SettingSimulator); ok && strings.HasPrefix(v, "http") {
		if err := checkURL(v); err != nil || !strings.HasPrefix(v, "http://127.0.0.1") && !strings.HasPrefix(v, "http://localhost") {
			r.fail(SettingSimulator, "%q: a simulator URL must be http on the loopback address", v)
		}
		s.Simulator, s.SimulatorURL = true, strings.TrimSuffix(v, "/")
	} else {
		s.Simulator = r.boolean(SettingSimulator, false)
	}
	if v, ok := r.get(SettingSimulatorImages); ok {
		s.SimulatorImages = v
	}
}

// subscription reads the subscription id, required unless simulated.
func (r *reader) subscription(s *Settings) {
	if v, ok := r.get(SettingSubscription); ok {
		if !guidRE.MatchString(v) {
			r.fail(SettingSubscription, "%q is not a subscription id (a GUID)", v)
		}
		s.SubscriptionID = v
	} else if !s.Simulator {
		r.fail(SettingSubscription, "is not set: the subscription Image Builder templates are created in (or %s=true for the local simulator)", SettingSimulator)
	}
}

// vhd reads where VHDs are copied to and the storage connections for the
// copy, which must agree on the account.
func (r *reader) vhd(s *Settings) {
	if v, ok := r.get(SettingVHDDestination); ok {
		if err := checkURL(v); err != nil {
			r.fail(SettingVHDDestination, "%q %v", v, err)
		} else if u, _ := url.Parse(v); strings.Trim(u.Path, "/") == "" {
			r.fail(SettingVHDDestination, "%q names no container: give <account URL>/<container>", v)
		}
		s.VHDDestination = strings.TrimSuffix(v, "/")
	}
	s.VHDStorage = r.optionalStorage(ConnVHD)
	s.Staging = r.optionalStorage(ConnStaging)
	if s.VHDStorage != nil && s.VHDDestination != "" && !strings.HasPrefix(s.VHDDestination+"/", s.VHDStorage.ServiceURL) {
		r.fail(ConnVHD, "names account %s, but %s is %s", s.VHDStorage.ServiceURL, SettingVHDDestination, s.VHDDestination)
	}
}

// optionalStorage reads a storage connection that is set only for local
// runs; nil when it is not set or malformed (reported).
func (r *reader) optionalStorage(name string) *StorageConnection {
	_, v, ok := r.connectionString(name)
	if !ok {
		return nil
	}
	cs, endpoint, err := parseStorageConnectionString(v)
	if err != nil {
		r.fail(name, "%v", err)
		return nil
	}
	return &StorageConnection{Name: name, ConnectionString: cs, ServiceURL: endpoint}
}

// resourceGroup reads the resource group Image Builder templates are
// created in, required unless simulated.
func (r *reader) resourceGroup(s *Settings) {
	if v, ok := r.get(SettingResourceGroup); ok {
		if !resourceGroupRE.MatchString(v) || strings.HasSuffix(v, ".") {
			r.fail(SettingResourceGroup, "%q is not a resource group name (1-90 letters, digits, '-', '_', '.', '(', ')')", v)
		}
		s.ResourceGroup = v
	} else if s.Simulator {
		s.ResourceGroup = "goldenpipe-simulated"
	} else {
		r.fail(SettingResourceGroup, "is not set: the resource group Image Builder templates are created in")
	}
}

// stagingGroups reads who makes the staging resource groups: "managed"
// (the app) or Image Builder.
func (r *reader) stagingGroups(s *Settings) {
	v, ok := r.get(SettingStagingGroups)
	if !ok {
		return
	}
	switch v {
	case "managed":
		s.ManagedStagingGroups = true
	case "", "image-builder":
	default:
		r.fail(SettingStagingGroups, "%q must be \"managed\" (a staging group per template, made by the app) or empty (Image Builder makes its own)", v)
	}
}

// location reads the region, westeurope when simulated.
func (r *reader) location(s *Settings) {
	if v, ok := r.get(SettingLocation); ok {
		if !locationRE.MatchString(v) {
			r.fail(SettingLocation, "%q is not an Azure region name such as westeurope (lowercase letters and digits)", v)
		}
		s.Location = v
	} else if s.Simulator {
		s.Location = "westeurope"
	}
}

type reader struct {
	lookup   Lookup
	problems Problems
}

func (r *reader) fail(name, format string, args ...any) {
	r.problems = append(r.problems, name+": "+fmt.Sprintf(format, args...))
}

// get returns a trimmed value; set is false for unset or blank values.
func (r *reader) get(name string) (string, bool) {
	v, ok := r.lookup(name)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

func (r *reader) port(name string, def int) int {
	v, ok := r.get(name)
	if !ok {
		if def == 0 {
			r.fail(name, "is empty; the Functions host sets it to the port the handler must listen on")
		}
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		r.fail(name, "%q is not a TCP port (1-65535)", v)
		return 0
	}
	return n
}

func (r *reader) logLevel(name string, def slog.Level) slog.Level {
	v, ok := r.get(name)
	if !ok {
		return def
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		r.fail(name, "%q is not a log level (debug, info, warn, error)", v)
		return def
	}
	return l
}

func (r *reader) boolean(name string, def bool) bool {
	v, ok := r.get(name)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(name, "%q is not true or false", v)
		return def
	}
	return b
}

func (r *reader) int64(name string, def, lo, hi int64) int64 {
	v, ok := r.get(name)
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		r.fail(name, "%q is not a whole number from %d to %d", v, lo, hi)
		return def
	}
	return n
}

func (r *reader) duration(name string, def, lo, hi time.Duration) time.Duration {
	v, ok := r.get(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		r.fail(name, "%q is not a duration from %s to %s (e.g. 9m, 90s)", v, lo, hi)
		return def
	}
	return d
}

var resourceGroupRE = regexp.MustCompile(`^[-\w._()]{1,90}$`)

var locationRE = regexp.MustCompile(`^[a-z][a-z0-9]{1,39}$`)

var containerRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9]|-[a-z0-9]){2,62}$`)

func (r *reader) container(name, def string) string {
	v, ok := r.get(name)
	if !ok {
		return def
	}
	if len(v) > 63 || !containerRE.MatchString(v) {
		r.fail(name, "%q is not a blob container name (3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit)", v)
		return ""
	}
	return v
}

var entityRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,259}$`)

func (r *reader) entityName(name, def string) string {
	v, ok := r.get(name)
	if !ok {
		return def
	}
	if !entityRE.MatchString(v) || strings.HasSuffix(v, "/") || strings.HasSuffix(v, ".") {
		r.fail(name, "%q is not a Service Bus entity name (1-260 letters, digits, '.', '-', '_', '/')", v)
		return ""
	}
	return v
}

// checkURL validates an https (or, for loopback emulators, http) endpoint.
func checkURL(v string) error {
	u, err := url.Parse(v)
	if err != nil {
		return err
	}
	if u.Host == "" {
		return fmt.Errorf("has no host")
	}
	switch u.Scheme {
	case "https":
	case "http":
		h := u.Hostname()
		if h != "127.0.0.1" && h != "localhost" && h != "::1" {
			return fmt.Errorf("uses http to a non-loopback host; use https")
		}
	default:
		return fmt.Errorf("scheme %q is neither https nor http", u.Scheme)
	}
	if u.User != nil || u.RawQuery != "" {
		return fmt.Errorf("must carry no credentials or query (identity-based connections need no SAS)")
	}
	return nil
}
