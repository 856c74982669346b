package template

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// Bases in the shape of Microsoft's quickstart templates (azvmimagebuilder
// quickquickstarts), filled in: each test changes one thing.
const windowsBase = `{
  "type": "Microsoft.VirtualMachineImages/imageTemplates",
  "apiVersion": "2022-02-14",
  "location": "westeurope",
  "identity": {"type": "UserAssigned", "userAssignedIdentities": {
    "/subscriptions/0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11/resourceGroups/rg-images/providers/Microsoft.ManagedIdentity/userAssignedIdentities/aib": {}}},
  "properties": {
    "buildTimeoutInMinutes": 100,
    "vmProfile": {"vmSize": "Standard_D2s_v3", "osDiskSizeGB": 127},
    "source": {"type": "PlatformImage", "publisher": "MicrosoftWindowsServer", "offer": "WindowsServer", "sku": "2022-datacenter-azure-edition", "version": "latest"},
    "customize": [
      {"type": "PowerShell", "name": "CreateBuildPath", "runElevated": false, "scriptUri": "https://raw.githubusercontent.com/azure/azvmimagebuilder/main/testPsScript.ps1"},
      {"type": "WindowsRestart", "restartCheckCommand": "echo Azure-Image-Builder-Restarted-the-VM > c:\\buildArtifacts\\azureImageBuilderRestart.txt", "restartTimeout": "5m"},
      {"type": "WindowsUpdate", "searchCriteria": "IsInstalled=0", "filters": ["exclude:$_.Title -like '*Preview*'", "include:$true"], "updateLimit": 20}
    ],
    "distribute": [
      {"type": "SharedImage", "galleryImageId": "/subscriptions/0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11/resourceGroups/rg-images/providers/Microsoft.Compute/galleries/golden/images/win2022",
       "runOutputName": "win2022", "artifactTags": {"source": "azVmImageBuilder"}, "replicationRegions": ["westeurope", "northeurope"]}
    ]
  }
}`

const linuxBase = `{
  "type": "Microsoft.VirtualMachineImages/imageTemplates",
  "apiVersion": "2024-02-01",
  "location": "westeurope",
  "identity": {"type": "UserAssigned", "userAssignedIdentities": {
    "/subscriptions/0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11/resourceGroups/rg-images/providers/Microsoft.ManagedIdentity/userAssignedIdentities/aib": {}}},
  "properties": {
    "source": {"type": "PlatformImage", "publisher": "Canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts-gen2", "version": "latest"},
    "customize": [
      {"type": "Shell", "name": "RunScriptFromSource", "scriptUri": "https://raw.githubusercontent.com/azure/azvmimagebuilder/main/customizeScript.sh"},
      {"type": "Shell", "name": "setupBuildPath", "inline": ["sudo mkdir /buildArtifacts", "echo '<html>built</html>' | sudo tee /buildArtifacts/index.html"]}
    ],
    "distribute": [
      {"type": "SharedImage", "galleryImageId": "/subscriptions/0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11/resourceGroups/rg-images/providers/Microsoft.Compute/galleries/golden/images/jammy",
       "runOutputName": "jammy", "targetRegions": [{"name": "westeurope", "replicaCount": 1}]}
    ]
  }
}`

// edit returns base with the value at each dotted path (numbers index
// arrays) set; a nil value deletes the key.
func edit(t *testing.T, base string, kv ...any) []byte {
	t.Helper()
	var doc any
	if err := json.Unmarshal([]byte(base), &doc); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(kv); i += 2 {
		parts := strings.Split(kv[i].(string), ".")
		cur := doc
		set := func(any) {} // set replaces cur in its parent, for an append
		for j, p := range parts {
			last := j == len(parts)-1
			switch c := cur.(type) {
			case map[string]any:
				if last {
					if kv[i+1] == nil {
						delete(c, p)
					} else {
						c[p] = kv[i+1]
					}
				} else {
					if c[p] == nil {
						c[p] = map[string]any{}
					}
					cur = c[p]
					set = func(v any) { c[p] = v }
				}
			case []any:
				n, err := strconv.Atoi(p)
				if err != nil {
					t.Fatalf("%s: %q is not an index", kv[i], p)
				}
				if last && n == len(c) { // one past the end appends
					set(append(c, kv[i+1]))
				} else if last {
					c[n] = kv[i+1]
				} else {
					cur = c[n]
				}
			}
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func problemStrings(ps []Problem) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// Templates Azure accepts, which the first version refused.
func TestAcceptsWhatAzureAccepts(t *testing.T) {
	tests := []struct {
		name string
		raw  []byte
		note string // an upgrade note that must be there ("" none)
	}{
		{"root type of az resource create --is-full-object", edit(t, windowsBase, "type", "Microsoft.VirtualMachineImages"),
			`type: "Microsoft.VirtualMachineImages" (the form`},
		{"repeated customizer names (Microsoft's own request examples)", edit(t, windowsBase,
			"properties.customize.1.name", "CreateBuildPath", "properties.customize.2.name", "CreateBuildPath"), ""},
		{"repeated validator names", edit(t, windowsBase, "properties.validate", map[string]any{"inVMValidations": []any{
			map[string]any{"type": "PowerShell", "name": "check", "inline": []any{"Test-Path C:\\buildArtifacts"}},
			map[string]any{"type": "PowerShell", "name": "check", "inline": []any{"Test-Path C:\\buildActions"}}}}), ""},
		{"the ARM comments element", edit(t, windowsBase, "comments", "Windows Server 2022 baseline"), "comments: the ARM comments element is for people; removed"},
		{"restartTimeout as a Go duration", edit(t, windowsBase, "properties.customize.1.restartTimeout", "1h30m"), ""},
		{"runAsSystem with runElevated", edit(t, windowsBase, "properties.customize.0.runElevated", true, "properties.customize.0.runAsSystem", true), ""},
		{"HTML in an inline command is not a placeholder", []byte(linuxBase), ""},
		{"a PowerShell type in an inline command is not an ARM expression", edit(t, windowsBase, "properties.customize.0",
			map[string]any{"type": "PowerShell", "name": "tls", "inline": []any{"[Net.ServicePointManager]::SecurityProtocol = [Net.SecurityProtocolType]::Tls12"}}), ""},
		{"versioning Latest with major -1", edit(t, linuxBase, "properties.distribute.0.versioning", map[string]any{"scheme": "Latest", "major": -1}), ""},
		{"isolated build in a second subnet of the VM's network", edit(t, linuxBase, "properties.vmProfile", map[string]any{"vnetConfig": map[string]any{
			"subnetId":                  "/subscriptions/0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/build",
			"containerInstanceSubnetId": "/subscriptions/0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/aci"}}), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Parse("t", tt.raw, Options{ScriptsURL: testScriptsURL})
			if !p.Valid() {
				t.Fatalf("refused: %v", problemStrings(p.Problems))
			}
			if tt.note != "" && !strings.Contains(strings.Join(p.Notes, "\n"), tt.note) {
				t.Errorf("no note %q in %q", tt.note, p.Notes)
			}
		})
	}
}

// Templates Azure refuses, which the first version sent to build.
func TestRefusesWhatAzureRefuses(t *testing.T) {
	const (
		sub    = "/subscriptions/0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/"
		subnet = sub + "vnet/subnets/build"
	)
	tests := []struct {
		name string
		raw  []byte
		want string // "path: message prefix"
	}{
		{"ARM expression left in a bare resource", edit(t, windowsBase, "location", "[parameters('location')]"),
			`location: "[parameters('location')]" is an ARM template expression, but this file is a bare resource`},
		{"ARM expression as an identity key", edit(t, windowsBase, "identity.userAssignedIdentities", map[string]any{"[parameters('identityId')]": map[string]any{}}),
			`identity.userAssignedIdentities.[parameters('identityId')]: "[parameters('identityId')]" is an ARM template expression`},
		{"placeholder inside a longer string", edit(t, windowsBase, "properties.distribute.0.galleryImageId",
			"/subscriptions/<subscriptionID>/resourceGroups/<rgName>/providers/Microsoft.Compute/galleries/<sharedImageGalName>/images/<imageDefName>"),
			`properties.distribute[0].galleryImageId: "/subscriptions/<subscriptionID>/resourceGroups/<rgName>/providers/Microsoft.Compute/galleries/<sharedImageGalName>/images/<imageDefName>" holds the placeholder <subscriptionID>`},
		{"placeholder inside an identity id", edit(t, windowsBase, "identity.userAssignedIdentities", map[string]any{
			"/subscriptions/<subscriptionID>/resourcegroups/<rgName>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<identityName>": map[string]any{}}),
			"the identity is a placeholder"},
		{"PowerShell customizer on a Linux source", edit(t, linuxBase, "properties.customize.0", map[string]any{"type": "PowerShell", "name": "ps", "inline": []any{"Get-Date"}}),
			"properties.customize[0].type: PowerShell runs on Windows only; the source is Linux"},
		{"PowerShell validator on a Linux source", edit(t, linuxBase, "properties.validate", map[string]any{"inVMValidations": []any{
			map[string]any{"type": "PowerShell", "name": "v", "inline": []any{"Get-Date"}}}}),
			"properties.validate.inVMValidations[0].type: PowerShell runs on Windows only"},
		{"runAsSystem without runElevated", edit(t, windowsBase, "properties.customize.0.runAsSystem", true),
			"properties.customize[0].runAsSystem: can be true only when runElevated is true"},
		{"runAsSystem with runElevated absent", edit(t, windowsBase, "properties.customize.0.runElevated", nil, "properties.customize.0.runAsSystem", true),
			"properties.customize[0].runAsSystem: can be true only when runElevated is true"},
		{"versioning.scheme in lowercase", edit(t, linuxBase, "properties.distribute.0.versioning", map[string]any{"scheme": "latest", "major": 2}),
			`properties.distribute[0].versioning.scheme: "latest" must be written "Latest"`},
		{"versioning major below -1", edit(t, linuxBase, "properties.distribute.0.versioning", map[string]any{"scheme": "Latest", "major": -2}),
			"properties.distribute[0].versioning.major: -2 is below the minimum -1"},
		{"versioning major with Source", edit(t, linuxBase, "properties.distribute.0.versioning", map[string]any{"scheme": "Source", "major": 1}),
			`properties.distribute[0].versioning.major: applies only to the "Latest" scheme`},
		{"storageAccountType in the wrong case", edit(t, linuxBase, "properties.distribute.0.targetRegions.0.storageAccountType", "standard_lrs"),
			`properties.distribute[0].targetRegions[0].storageAccountType: "standard_lrs" must be written "Standard_LRS"`},
		{"storageAccountType not a type", edit(t, windowsBase, "properties.distribute.0.storageAccountType", "Standard_GRS"),
			`properties.distribute[0].storageAccountType: "Standard_GRS" is not a storage account type`},
		{"top-level storageAccountType with targetRegions", edit(t, linuxBase, "properties.distribute.0.storageAccountType", "Standard_LRS"),
			"properties.distribute[0].storageAccountType: can be given only with replicationRegions"},
		{"replicaCount below 1", edit(t, linuxBase, "properties.distribute.0.targetRegions.0.replicaCount", 0),
			"properties.distribute[0].targetRegions[0].replicaCount: 0 must be 1 or more"},
		{"empty replicationRegions", edit(t, windowsBase, "properties.distribute.0.replicationRegions", []any{}),
			"properties.distribute[0].replicationRegions: is empty"},
		{"containerInstanceSubnetId without subnetId", edit(t, linuxBase, "properties.vmProfile", map[string]any{"vnetConfig": map[string]any{
			"containerInstanceSubnetId": sub + "vnet/subnets/aci"}}), "properties.vmProfile.vnetConfig.containerInstanceSubnetId: needs subnetId"},
		{"containerInstanceSubnetId in another network", edit(t, linuxBase, "properties.vmProfile", map[string]any{"vnetConfig": map[string]any{
			"subnetId": subnet, "containerInstanceSubnetId": sub + "other/subnets/aci"}}), "containerInstanceSubnetId: must be in the same virtual network"},
		{"containerInstanceSubnetId the same subnet", edit(t, linuxBase, "properties.vmProfile", map[string]any{"vnetConfig": map[string]any{
			"subnetId": subnet, "containerInstanceSubnetId": subnet}}), "containerInstanceSubnetId: must be another subnet"},
		{"containerInstanceSubnetId with proxyVmSize", edit(t, linuxBase, "properties.vmProfile", map[string]any{"vnetConfig": map[string]any{
			"subnetId": subnet, "containerInstanceSubnetId": sub + "vnet/subnets/aci", "proxyVmSize": "Standard_A1_v2"}}),
			"properties.vmProfile.vnetConfig.proxyVmSize: cannot be given with containerInstanceSubnetId"},
		{"identity missing, with the right API version", edit(t, windowsBase, "identity", nil), "identity: is required since API 2020-02-14"},
		{"restartTimeout that is no duration", edit(t, windowsBase, "properties.customize.1.restartTimeout", "5 minutes"),
			`properties.customize[1].restartTimeout: "5 minutes" is not a duration`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Parse("t", tt.raw, Options{ScriptsURL: testScriptsURL})
			got := problemStrings(p.Problems)
			for _, g := range got {
				if strings.HasPrefix(g, tt.want) || strings.Contains(g, tt.want) {
					return
				}
			}
			t.Errorf("no problem %q among %q", tt.want, got)
		})
	}
}

// replicationRegions with a storageAccountType becomes targetRegions with
// the type on each region, never both at the top (API 2024-02-01 refuses).
func TestReplicationRegionsUpgradeMovesTheStorageType(t *testing.T) {
	raw := edit(t, windowsBase, "properties.distribute.0.storageAccountType", "Standard_ZRS")
	p := Parse("t", raw, Options{ScriptsURL: testScriptsURL})
	if !p.Valid() {
		t.Fatal(problemStrings(p.Problems))
	}
	var body struct {
		Properties struct {
			Distribute []map[string]json.RawMessage
		}
	}
	if err := json.Unmarshal(p.upgradedTo, &body); err != nil {
		t.Fatal(err)
	}
	d := body.Properties.Distribute[0]
	if _, ok := d["storageAccountType"]; ok {
		t.Errorf("storageAccountType left at the top: %s", p.upgradedTo)
	}
	if _, ok := d["replicationRegions"]; ok {
		t.Errorf("replicationRegions left: %s", p.upgradedTo)
	}
	want := `[{"name":"westeurope","storageAccountType":"Standard_ZRS"},{"name":"northeurope","storageAccountType":"Standard_ZRS"}]`
	if string(d["targetRegions"]) != want {
		t.Errorf("targetRegions = %s, want %s", d["targetRegions"], want)
	}
}

// Every problem comes in one pass: a missing script is reported beside the
// template's other problems, not after they are fixed.
func TestEveryProblemInOnePass(t *testing.T) {
	raw := edit(t, linuxBase,
		"properties.customize.0.scriptUri", testScriptsURL+"/linux/missing.sh",
		"properties.buildTimeoutInMinutes", 2000)
	p := Parse("t", raw, Options{ScriptsURL: testScriptsURL})
	r := &Renderer{ScriptsURL: testScriptsURL, Checksums: testScripts, Versions: &Resolver{Lister: testVersions()}}
	c, err := r.Check(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(problemStrings(c.Problems), "\n")
	for _, w := range []string{"properties.buildTimeoutInMinutes: 2000 is out of range", `properties.customize[0]: script "linux/missing.sh" does not exist in the scripts container`} {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in:\n%s", w, got)
		}
	}
}
