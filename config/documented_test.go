package config

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestEverySettingIsDocumented keeps the loader, local.settings.json.example
// and the README's settings table in agreement.
func TestEverySettingIsDocumented(t *testing.T) {
	read := []string{SettingPort, SettingLogLevel, SettingMaxRequestBytes, SettingInvocationTimeout,
		SettingScriptsContainer, SettingTemplatesContain, SettingStateContainer, SettingBuildQueue, SettingEventsTopic,
		ConnScripts, ConnState, ConnServiceBus, SettingSubscription, SettingSimulator, SettingResourceGroup, SettingMaxBuilds, SettingVHDDestination, SettingKeepFailedHours, ConnVHD, ConnStaging}
	b, err := os.ReadFile("../local.settings.json.example")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Values map[string]string }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range read {
		if !strings.Contains(string(readme), "| `"+name+"` |") {
			t.Errorf("README's settings table lacks %s", name)
		}
		if _, ok := f.Values[name]; !ok && name != SettingPort {
			t.Errorf("local.settings.json.example lacks %s", name)
		}
	}
	// the example itself loads cleanly
	f.Values[SettingPort] = "7071"
	if _, err := Load(MapLookup(f.Values)); err != nil {
		t.Errorf("local.settings.json.example does not load: %v", err)
	}
	for name := range f.Values {
		if !strings.Contains(string(readme), "| `"+name+"` |") {
			t.Errorf("local.settings.json.example defines %s, which the README's table does not explain", name)
		}
	}
}
