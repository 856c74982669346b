package config

import (
	"strings"
	"testing"
)

// TestSettingGroups checks the groups Load reads one by one: what each
// sets, and which setting a problem names.
func TestSettingGroups(t *testing.T) {
	tests := []struct {
		name     string
		settings map[string]string
		simulate bool
		read     func(r *reader, s *Settings)
		check    func(s Settings) bool
		problem  string // the setting a problem names, "" for none
	}{
		{"staging groups unset", nil, false, (*reader).stagingGroups, func(s Settings) bool { return !s.ManagedStagingGroups }, ""},
		{"staging groups managed", map[string]string{SettingStagingGroups: "managed"}, false, (*reader).stagingGroups,
			func(s Settings) bool { return s.ManagedStagingGroups }, ""},
		{"staging groups by Image Builder", map[string]string{SettingStagingGroups: "image-builder"}, false, (*reader).stagingGroups,
			func(s Settings) bool { return !s.ManagedStagingGroups }, ""},
		{"staging groups shared", map[string]string{SettingStagingGroups: "shared"}, false, (*reader).stagingGroups,
			func(s Settings) bool { return !s.ManagedStagingGroups }, SettingStagingGroups},

		{"location given", map[string]string{SettingLocation: "northeurope"}, false, (*reader).location,
			func(s Settings) bool { return s.Location == "northeurope" }, ""},
		{"location as a display name", map[string]string{SettingLocation: "West Europe"}, false, (*reader).location,
			func(s Settings) bool { return true }, SettingLocation},
		{"location unset, simulated", nil, true, (*reader).location, func(s Settings) bool { return s.Location == "westeurope" }, ""},
		{"location unset", nil, false, (*reader).location, func(s Settings) bool { return s.Location == "" }, ""},

		{"resource group unset, simulated", nil, true, (*reader).resourceGroup, func(s Settings) bool { return s.ResourceGroup == "goldenpipe-simulated" }, ""},
		{"resource group unset", nil, false, (*reader).resourceGroup, func(s Settings) bool { return s.ResourceGroup == "" }, SettingResourceGroup},
		{"resource group ending in a period", map[string]string{SettingResourceGroup: "rg."}, false, (*reader).resourceGroup,
			func(s Settings) bool { return true }, SettingResourceGroup},

		{"subscription unset, simulated", nil, true, (*reader).subscription, func(s Settings) bool { return s.SubscriptionID == "" }, ""},
		{"subscription unset", nil, false, (*reader).subscription, func(s Settings) bool { return true }, SettingSubscription},
		{"subscription not a GUID", map[string]string{SettingSubscription: "my-sub"}, false, (*reader).subscription,
			func(s Settings) bool { return true }, SettingSubscription},

		{"simulator true", map[string]string{SettingSimulator: "true"}, false, (*reader).simulator,
			func(s Settings) bool { return s.Simulator && s.SimulatorURL == "" }, ""},
		{"simulator on the loopback", map[string]string{SettingSimulator: "http://127.0.0.1:7777/"}, false, (*reader).simulator,
			func(s Settings) bool { return s.Simulator && s.SimulatorURL == "http://127.0.0.1:7777" }, ""},
		{"simulator elsewhere", map[string]string{SettingSimulator: "http://sim.example.com"}, false, (*reader).simulator,
			func(s Settings) bool { return true }, SettingSimulator},
		{"simulator images", map[string]string{SettingSimulatorImages: "images.json"}, false, (*reader).simulator,
			func(s Settings) bool { return !s.Simulator && s.SimulatorImages == "images.json" }, ""},

		{"VHD storage unset", nil, false, (*reader).vhd, func(s Settings) bool { return s.VHDStorage == nil && s.Staging == nil }, ""},
		{"VHD storage by connection string", map[string]string{ConnVHD: "UseDevelopmentStorage=true"}, false, (*reader).vhd,
			func(s Settings) bool {
				return s.VHDStorage != nil && s.VHDStorage.Name == ConnVHD && s.VHDStorage.ServiceURL != ""
			}, ""},
		{"staging storage under AzureWebJobs", map[string]string{"AzureWebJobs" + ConnStaging: "UseDevelopmentStorage=true"}, false, (*reader).vhd,
			func(s Settings) bool { return s.Staging != nil && s.Staging.Name == ConnStaging }, ""},
		{"VHD storage malformed", map[string]string{ConnVHD: "not a connection string"}, false, (*reader).vhd,
			func(s Settings) bool { return s.VHDStorage == nil }, ConnVHD},
		{"VHD destination without a container", map[string]string{SettingVHDDestination: "https://acct.blob.core.windows.net/"}, false, (*reader).vhd,
			func(s Settings) bool { return true }, SettingVHDDestination},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := reader{lookup: MapLookup(tt.settings)}
			s := Settings{Simulator: tt.simulate}
			tt.read(&r, &s)
			if !tt.check(s) {
				t.Errorf("settings %+v", s)
			}
			var named []string
			for _, p := range r.problems {
				named = append(named, strings.SplitN(p, ":", 2)[0])
			}
			switch {
			case tt.problem == "" && len(named) > 0:
				t.Errorf("problems %q, want none", r.problems)
			case tt.problem != "" && (len(named) != 1 || named[0] != tt.problem):
				t.Errorf("problems %q, want one naming %s", r.problems, tt.problem)
			}
		})
	}
}
