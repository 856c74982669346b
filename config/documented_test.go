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
	var read []string
	for _, s := range Known() {
		if s.Name != ConnARM { // documented as Arm__credential, Arm__clientId
			read = append(read, s.Name)
		}
	}
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
	if !strings.Contains(string(readme), "| `Arm__credential`, `Arm__clientId` |") {
		t.Error("README's settings table lacks Arm__credential, Arm__clientId")
	}
	// the example itself loads cleanly
	f.Values[SettingPort] = "7071"
	if _, err := Load(MapLookup(f.Values)); err != nil {
		t.Errorf("local.settings.json.example does not load: %v", err)
	}
	for name := range f.Values {
		if strings.HasPrefix(name, "Arm__") {
			continue
		}
		if !strings.Contains(string(readme), "| `"+name+"` |") {
			t.Errorf("local.settings.json.example defines %s, which the README's table does not explain", name)
		}
	}
}
