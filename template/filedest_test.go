package template

import (
	"strings"
	"testing"
)

// A File step's destination on Linux: under /tmp is what Microsoft Learn
// documents ("the only path Image builder can write to is /tmp"), another
// absolute path is refused, and a relative one (what the AVM
// image-template module's own e2e test deploys) is a warning, not an error.
func TestLinuxFileDestination(t *testing.T) {
	tests := []struct {
		dst           string
		problem, warn string // fragments; "" for none
	}{
		{"/tmp/app.conf", "", ""},
		{"/etc/app.conf", "is outside /tmp", ""},
		{"Initialize-LinuxSoftware.ps1", "", "is relative"},
	}
	for _, tc := range tests {
		t.Run(tc.dst, func(t *testing.T) {
			raw := `{"type": "Microsoft.VirtualMachineImages/imageTemplates", "apiVersion": "2024-02-01", "location": "westeurope",
			  "identity": {"type": "UserAssigned", "userAssignedIdentities": {"/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/aib": {}}},
			  "properties": {
			    "source": {"type": "PlatformImage", "publisher": "canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"},
			    "customize": [{"type": "File", "name": "f", "sourceUri": "https://example.blob.core.windows.net/s/f.ps1", "destination": "` + tc.dst + `"}],
			    "distribute": [{"type": "VHD", "runOutputName": "vhd"}]}}`
			p := Parse("linux", []byte(raw), Options{})
			find := func(list []Problem, frag string) bool {
				for _, x := range list {
					if x.Path == "properties.customize[0].destination" && strings.Contains(x.Message, frag) {
						return true
					}
				}
				return false
			}
			if tc.problem != "" && !find(p.Problems, tc.problem) {
				t.Errorf("problems %v lack %q", p.Problems, tc.problem)
			}
			if tc.problem == "" && find(p.Problems, "") {
				t.Errorf("unexpected destination problem: %v", p.Problems)
			}
			if tc.warn != "" && !find(p.Warnings, tc.warn) {
				t.Errorf("warnings %v lack %q", p.Warnings, tc.warn)
			}
			if tc.warn == "" && find(p.Warnings, "") {
				t.Errorf("unexpected destination warning: %v", p.Warnings)
			}
		})
	}
}
