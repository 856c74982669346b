package config

// Setting describes one app setting the handler reads.
type Setting struct {
	Name string
	// Connection settings may be given as <Name> or <Name>__<property>.
	Connection bool
	// LocalOnly settings serve local runs (Azurite, the simulator) and are
	// not set in Azure, where identities replace them.
	LocalOnly bool
	// HostSet settings are set by the Functions host itself.
	HostSet bool
}

// Known lists every setting Load reads.
func Known() []Setting {
	return []Setting{
		{Name: SettingPort, HostSet: true},
		{Name: SettingLogLevel}, {Name: SettingMaxRequestBytes}, {Name: SettingInvocationTimeout},
		{Name: SettingScriptsContainer}, {Name: SettingTemplatesContain}, {Name: SettingStateContainer},
		{Name: SettingBuildQueue}, {Name: SettingEventsTopic},
		{Name: ConnScripts, Connection: true}, {Name: ConnState, Connection: true}, {Name: ConnServiceBus, Connection: true},
		{Name: SettingSubscription}, {Name: SettingSimulator}, {Name: SettingResourceGroup}, {Name: SettingLocation}, {Name: SettingStagingGroups}, {Name: SettingMaxBuilds},
		{Name: SettingVHDDestination}, {Name: SettingKeepFailedHours},
		{Name: ConnARM, Connection: true, LocalOnly: false},
		{Name: ConnVHD, Connection: true, LocalOnly: true}, {Name: SettingSimulatorImages, LocalOnly: true}, {Name: ConnStaging, Connection: true, LocalOnly: true},
	}
}

// HostSettings are read by the Functions host, not by the handler (besides
// the %NAME% placeholders of function.json files).
var HostSettings = []string{"AzureWebJobsStorage", "FUNCTIONS_WORKER_RUNTIME", "APPLICATIONINSIGHTS_CONNECTION_STRING",
	"APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "REBUILD_SCHEDULE", "MONITOR_SCHEDULE"}
