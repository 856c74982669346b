package template

import (
	"bytes"
	"sort"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	aib "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/virtualmachineimagebuilder/armvirtualmachineimagebuilder/v2"
)

// findingPaths lists a report's findings as "problem path", "warning
// path" and "note path", sorted.
func findingPaths(r *report) []string {
	var out []string
	for _, p := range r.problems {
		out = append(out, "problem "+p.Path)
	}
	for _, w := range r.warningsList {
		out = append(out, "warning "+w.Path)
	}
	for _, n := range r.notes {
		out = append(out, "note "+strings.SplitN(n, ": ", 2)[0])
	}
	sort.Strings(out)
	return out
}

const (
	testGalleryImage = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/i"
	testManagedImage = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/images/old"
	testVersion      = testGalleryImage + "/versions/1.0.0"
)

// TestValidatorSections checks each section check of validator.template
// on its own: what it reports, and where.
func TestValidatorSections(t *testing.T) {
	gallery := &aib.ImageTemplateProperties{Distribute: []aib.ImageTemplateDistributorClassification{
		&aib.ImageTemplateSharedImageDistributor{GalleryImageID: to.Ptr(testGalleryImage)}}}
	vhdOnly := &aib.ImageTemplateProperties{Distribute: []aib.ImageTemplateDistributorClassification{&aib.ImageTemplateVhdDistributor{}}}
	withNames := func(names ...string) map[string]bool {
		m := map[string]bool{}
		for _, n := range names {
			m[n] = true
		}
		return m
	}
	one := map[string]*aib.UserAssignedIdentity{"/id/1": {}}
	tests := []struct {
		name   string
		os     string
		policy Policy
		check  func(v *validator)
		want   []string
	}{
		{"location missing", "", Policy{}, func(v *validator) { v.location(nil) }, []string{"problem location"}},
		{"location empty", "", Policy{}, func(v *validator) { v.location(to.Ptr("")) }, []string{"problem location"}},
		{"location given", "", Policy{}, func(v *validator) { v.location(to.Ptr("westeurope")) }, nil},

		{"identity missing", "", Policy{}, func(v *validator) { v.identity(nil) }, []string{"problem identity"}},
		{"identity system-assigned", "", Policy{}, func(v *validator) {
			v.identity(&aib.ImageTemplateIdentity{Type: to.Ptr(aib.ResourceIdentityTypeNone), UserAssignedIdentities: one})
		}, []string{"problem identity.type"}},
		{"identity without a type", "", Policy{}, func(v *validator) { v.identity(&aib.ImageTemplateIdentity{UserAssignedIdentities: one}) },
			[]string{"problem identity.type"}},
		{"two identities", "", Policy{}, func(v *validator) {
			v.identity(&aib.ImageTemplateIdentity{Type: to.Ptr(aib.ResourceIdentityTypeUserAssigned),
				UserAssignedIdentities: map[string]*aib.UserAssignedIdentity{"/id/1": {}, "/id/2": {}}})
		}, []string{"problem identity.userAssignedIdentities"}},
		{"two identities, one already refused", "", Policy{}, func(v *validator) {
			v.r.bad = map[string]bool{"identity.userAssignedIdentities./id/2": true}
			v.identity(&aib.ImageTemplateIdentity{Type: to.Ptr(aib.ResourceIdentityTypeUserAssigned),
				UserAssignedIdentities: map[string]*aib.UserAssignedIdentity{"/id/1": {}, "/id/2": {}}})
		}, nil},
		{"one user-assigned identity", "", Policy{}, func(v *validator) {
			v.identity(&aib.ImageTemplateIdentity{Type: to.Ptr(aib.ResourceIdentityTypeUserAssigned), UserAssignedIdentities: one})
		}, nil},

		{"build timeout unset", OSWindows, Policy{}, func(v *validator) { v.buildTimeout(nil) }, nil},
		{"build timeout 0 (the default)", OSWindows, Policy{}, func(v *validator) { v.buildTimeout(to.Ptr[int32](0)) }, nil},
		{"build timeout 5", OSLinux, Policy{}, func(v *validator) { v.buildTimeout(to.Ptr[int32](5)) }, []string{"problem properties.buildTimeoutInMinutes"}},
		{"build timeout 961", OSLinux, Policy{}, func(v *validator) { v.buildTimeout(to.Ptr[int32](961)) }, []string{"problem properties.buildTimeoutInMinutes"}},
		{"build timeout 30 on Windows", OSWindows, Policy{}, func(v *validator) { v.buildTimeout(to.Ptr[int32](30)) }, []string{"warning properties.buildTimeoutInMinutes"}},
		{"build timeout 30 on Linux", OSLinux, Policy{}, func(v *validator) { v.buildTimeout(to.Ptr[int32](30)) }, nil},
		{"build timeout 960 on Windows", OSWindows, Policy{}, func(v *validator) { v.buildTimeout(to.Ptr[int32](960)) }, nil},

		{"no vmProfile", "", Policy{}, func(v *validator) { v.vmProfile(nil) }, nil},
		{"negative disk size", "", Policy{}, func(v *validator) { v.vmProfile(&aib.ImageTemplateVMProfile{OSDiskSizeGB: to.Ptr[int32](-1)}) },
			[]string{"problem properties.vmProfile.osDiskSizeGB"}},
		{"a subnet that is no subnet id", "", Policy{}, func(v *validator) {
			v.vmProfile(&aib.ImageTemplateVMProfile{OSDiskSizeGB: to.Ptr[int32](0), VnetConfig: &aib.VirtualNetworkConfig{SubnetID: to.Ptr("subnet1")}})
		}, []string{"problem properties.vmProfile.vnetConfig.subnetId"}},

		{"no errorHandling", "", Policy{}, func(v *validator) { v.errorHandling(nil) }, nil},
		{"errorHandling cleanup and abort", "", Policy{}, func(v *validator) {
			v.errorHandling(&aib.ImageTemplatePropertiesErrorHandling{OnCustomizerError: to.Ptr(aib.OnBuildErrorCleanup), OnValidationError: to.Ptr(aib.OnBuildErrorAbort)})
		}, nil},
		{"errorHandling retry", "", Policy{}, func(v *validator) {
			v.errorHandling(&aib.ImageTemplatePropertiesErrorHandling{OnValidationError: to.Ptr(aib.OnBuildError("retry"))})
		}, []string{"problem properties.errorHandling.onValidationError"}},

		{"no autoRun", "", Policy{}, func(v *validator) { v.autoRun(nil) }, nil},
		{"autoRun without state", "", Policy{}, func(v *validator) { v.autoRun(&aib.ImageTemplateAutoRun{}) }, nil},
		{"autoRun enabled", "", Policy{}, func(v *validator) {
			v.autoRun(&aib.ImageTemplateAutoRun{State: to.Ptr(aib.AutoRunStateAutoRunEnabled)})
		},
			[]string{"warning properties.autoRun.state"}},
		{"autoRun disabled", "", Policy{}, func(v *validator) {
			v.autoRun(&aib.ImageTemplateAutoRun{State: to.Ptr(aib.AutoRunStateAutoRunDisabled)})
		}, nil},
		{"autoRun sometimes", "", Policy{}, func(v *validator) { v.autoRun(&aib.ImageTemplateAutoRun{State: to.Ptr(aib.AutoRunState("Sometimes"))}) },
			[]string{"problem properties.autoRun.state"}},

		{"no optimize", "", Policy{}, func(v *validator) { v.optimize(nil) }, nil},
		{"optimize without vmBoot", "", Policy{}, func(v *validator) { v.optimize(&aib.ImageTemplatePropertiesOptimize{}) }, nil},
		{"vmBoot enabled", "", Policy{}, func(v *validator) {
			v.optimize(&aib.ImageTemplatePropertiesOptimize{VMBoot: &aib.ImageTemplatePropertiesOptimizeVMBoot{State: to.Ptr(aib.VMBootOptimizationStateEnabled)}})
		}, nil},
		{"vmBoot fast", "", Policy{}, func(v *validator) {
			v.optimize(&aib.ImageTemplatePropertiesOptimize{VMBoot: &aib.ImageTemplatePropertiesOptimizeVMBoot{State: to.Ptr(aib.VMBootOptimizationState("Fast"))}})
		}, []string{"problem properties.optimize.vmBoot.state"}},

		{"no staging group", "", Policy{}, func(v *validator) { v.stagingResourceGroup(nil) }, nil},
		{"empty staging group", "", Policy{}, func(v *validator) { v.stagingResourceGroup(to.Ptr("")) }, []string{"note properties.stagingResourceGroup"}},
		{"staging group by name", "", Policy{}, func(v *validator) { v.stagingResourceGroup(to.Ptr("rg-staging")) },
			[]string{"problem properties.stagingResourceGroup"}},
		{"staging group by id", "", Policy{}, func(v *validator) { v.stagingResourceGroup(to.Ptr("/subscriptions/s/resourceGroups/rg-staging")) }, nil},

		{"policy defaults", "", Policy{}, func(v *validator) { v.goldenpipePolicy(gallery, nil) }, nil},
		{"pinned checksum of a customizer", "", Policy{PinnedChecksums: []string{"setup"}}, func(v *validator) { v.goldenpipePolicy(gallery, withNames("setup")) }, nil},
		{"pinned checksum of no customizer", "", Policy{PinnedChecksums: []string{"setup"}}, func(v *validator) { v.goldenpipePolicy(gallery, withNames("other")) },
			[]string{"problem goldenpipe.pinnedChecksums"}},
		{"rebuild weekly", "", Policy{Rebuild: "weekly"}, func(v *validator) { v.goldenpipePolicy(gallery, nil) }, []string{"problem goldenpipe.rebuild"}},
		{"rebuild nightly", "", Policy{Rebuild: RebuildNightly}, func(v *validator) { v.goldenpipePolicy(gallery, nil) }, nil},
		{"keep -1 versions", "", Policy{KeepVersions: -1}, func(v *validator) { v.goldenpipePolicy(gallery, nil) }, []string{"problem goldenpipe.keepVersions"}},
		{"keep too many versions", "", Policy{KeepVersions: MaxKeepVersions + 1}, func(v *validator) { v.goldenpipePolicy(gallery, nil) }, []string{"problem goldenpipe.keepVersions"}},
		{"keep versions with no gallery", "", Policy{KeepVersions: 3}, func(v *validator) { v.goldenpipePolicy(vhdOnly, nil) }, []string{"warning goldenpipe.keepVersions"}},
		{"keep versions of a gallery", "", Policy{KeepVersions: 3}, func(v *validator) { v.goldenpipePolicy(gallery, nil) }, nil},
		{"versionPolicy latest", "", Policy{VersionPolicy: "latest"}, func(v *validator) { v.goldenpipePolicy(gallery, nil) }, []string{"problem goldenpipe.versionPolicy"}},
		{"versionPolicy asWritten", "", Policy{VersionPolicy: "asWritten"}, func(v *validator) { v.goldenpipePolicy(gallery, nil) }, nil},
		{"unfinishedVersions keep", "", Policy{UnfinishedVersions: "keep"}, func(v *validator) { v.goldenpipePolicy(gallery, nil) }, []string{"problem goldenpipe.unfinishedVersions"}},
		{"unfinishedVersions delete", "", Policy{UnfinishedVersions: "delete"}, func(v *validator) { v.goldenpipePolicy(gallery, nil) }, nil},

		{"no source", "", Policy{}, func(v *validator) { v.source(nil) }, []string{"problem properties.source"}},
		{"platform image without fields", "", Policy{}, func(v *validator) { v.source(&aib.ImageTemplatePlatformImageSource{}) },
			[]string{"problem properties.source.offer", "problem properties.source.publisher", "problem properties.source.sku", "problem properties.source.version"}},
		{"platform image of version newest", "", Policy{}, func(v *validator) {
			v.source(&aib.ImageTemplatePlatformImageSource{Publisher: to.Ptr("Canonical"), Offer: to.Ptr("ubuntu"), SKU: to.Ptr("22_04-lts"), Version: to.Ptr("newest")})
		}, []string{"problem properties.source.version"}},
		{"platform image of a version", "", Policy{}, func(v *validator) {
			v.source(&aib.ImageTemplatePlatformImageSource{Publisher: to.Ptr("Canonical"), Offer: to.Ptr("ubuntu"), SKU: to.Ptr("22_04-lts"), Version: to.Ptr("22.04.202401010")})
		}, nil},
		{"managed image without id", "", Policy{}, func(v *validator) { v.source(&aib.ImageTemplateManagedImageSource{}) }, []string{"problem properties.source.imageId"}},
		{"managed image of a gallery id", "", Policy{}, func(v *validator) { v.source(&aib.ImageTemplateManagedImageSource{ImageID: to.Ptr(testGalleryImage)}) },
			[]string{"problem properties.source.imageId"}},
		{"managed image", "", Policy{}, func(v *validator) { v.source(&aib.ImageTemplateManagedImageSource{ImageID: to.Ptr(testManagedImage)}) }, nil},
		{"gallery version without id", "", Policy{}, func(v *validator) { v.source(&aib.ImageTemplateSharedImageVersionSource{}) },
			[]string{"problem properties.source.imageVersionId"}},
		{"gallery version of an image id", "", Policy{}, func(v *validator) {
			v.source(&aib.ImageTemplateSharedImageVersionSource{ImageVersionID: to.Ptr(testGalleryImage)})
		}, []string{"problem properties.source.imageVersionId"}},
		{"gallery version", "", Policy{}, func(v *validator) {
			v.source(&aib.ImageTemplateSharedImageVersionSource{ImageVersionID: to.Ptr(testVersion)})
		}, nil},

		{"uri without a host", "", Policy{}, func(v *validator) { v.uri("x", "https:///a.sh") }, []string{"problem x"}},
		{"ftp uri", "", Policy{}, func(v *validator) { v.uri("x", "ftp://host/a.sh") }, []string{"problem x"}},
		{"https uri", "", Policy{}, func(v *validator) { v.uri("x", "https://host/a.sh") }, nil},

		{"file without source or destination", OSLinux, Policy{}, func(v *validator) { v.file("f", nil, nil, nil) },
			[]string{"problem f.destination", "problem f.sourceUri"}},
		{"file to a relative path on Linux", OSLinux, Policy{}, func(v *validator) { v.file("f", to.Ptr("https://h/a"), to.Ptr("a.sh"), nil) },
			[]string{"warning f.destination"}},
		{"file to /etc on Linux", OSLinux, Policy{}, func(v *validator) { v.file("f", to.Ptr("https://h/a"), to.Ptr("/etc/a"), nil) },
			[]string{"problem f.destination"}},
		{"file to /tmp on Linux", OSLinux, Policy{}, func(v *validator) { v.file("f", to.Ptr("https://h/a"), to.Ptr("/tmp/a"), nil) }, nil},
		{"file to C: on Windows", OSWindows, Policy{}, func(v *validator) { v.file("f", to.Ptr("https://h/a"), to.Ptr(`C:\a`), nil) }, nil},

		{"host pool and stage unset", "", Policy{}, func(v *validator) { v.practicePolicy() }, nil},
		{"host pool shared", "", Policy{HostPool: "shared"}, func(v *validator) { v.practicePolicy() }, []string{"problem goldenpipe.hostPool"}},
		{"stage staging", "", Policy{Stage: "staging"}, func(v *validator) { v.practicePolicy() }, []string{"problem goldenpipe.stage"}},
		{"personal host pool in production", "", Policy{HostPool: HostPoolPersonal, Stage: "production"}, func(v *validator) { v.practicePolicy() }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &validator{r: &report{}, os: tt.os, policy: tt.policy}
			tt.check(v)
			got := findingPaths(v.r)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("findings:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

// TestCustomizeNames checks the names customize collects for
// goldenpipe.pinnedChecksums: every customizer's, no validator's.
func TestCustomizeNames(t *testing.T) {
	p := &aib.ImageTemplateProperties{
		Customize: []aib.ImageTemplateCustomizerClassification{
			&aib.ImageTemplateShellCustomizer{Type: to.Ptr("Shell"), Name: to.Ptr("setup"), Inline: []*string{to.Ptr("echo")}},
			&aib.ImageTemplateRestartCustomizer{Type: to.Ptr("WindowsRestart"), Name: to.Ptr("restart")},
			&aib.ImageTemplateWindowsUpdateCustomizer{Type: to.Ptr("WindowsUpdate"), Name: to.Ptr("update")},
			&aib.ImageTemplateFileCustomizer{Type: to.Ptr("File"), Name: to.Ptr("copy"), SourceURI: to.Ptr("https://h/a"), Destination: to.Ptr("/tmp/a")},
		},
		Validate: &aib.ImageTemplatePropertiesValidate{InVMValidations: []aib.ImageTemplateInVMValidatorClassification{
			&aib.ImageTemplateShellValidator{Type: to.Ptr("Shell"), Name: to.Ptr("check"), Inline: []*string{to.Ptr("true")}},
		}},
	}
	v := &validator{r: &report{}, os: OSLinux}
	names := v.customize(p)
	var got []string
	for n := range names {
		got = append(got, n)
	}
	sort.Strings(got)
	if want := "copy restart setup update"; strings.Join(got, " ") != want {
		t.Errorf("names %q, want %q", strings.Join(got, " "), want)
	}
	// WindowsRestart and WindowsUpdate run on Windows only
	if want := []string{"problem properties.customize[1].type", "problem properties.customize[2].type"}; strings.Join(findingPaths(v.r), " ") != strings.Join(want, " ") {
		t.Errorf("findings %q, want %q", findingPaths(v.r), want)
	}
}

// TestUpgradeKinds checks the upgrade of a value of each field kind: what
// it becomes, and what is reported.
func TestUpgradeKinds(t *testing.T) {
	tests := []struct {
		name     string
		kind     kind
		text     bool
		in, want string // JSON; want "" when the value is dropped
		findings []string
	}{
		{"bool", kBool, false, `true`, `true`, nil},
		{"bool as a string", kBool, false, `"False"`, `false`, []string{"note v"}},
		{"bool as a number", kBool, false, `1`, ``, []string{"problem v"}},
		{"strings", kStrings, false, `["a","b"]`, `["a","b"]`, nil},
		{"one string as strings", kStrings, false, `"a"`, `["a"]`, []string{"note v"}},
		{"a placeholder as strings", kStrings, false, `"<your region>"`, ``, []string{"problem v"}},
		{"a placeholder in free text", kStrings, true, `["echo <name>"]`, `["echo \u003cname\u003e"]`, nil}, // the encoder escapes < and >,
		{"a number as strings", kStrings, false, `3`, ``, []string{"problem v"}},
		{"strings with a number", kStrings, false, `["a",3]`, `["a"]`, []string{"problem v[1]"}},
		{"ints", kInts, false, `[0,3010]`, `[0,3010]`, nil},
		{"one int as ints", kInts, false, `3010`, `[3010]`, []string{"note v"}},
		{"a word as ints", kInts, false, `"x"`, ``, []string{"problem v"}},
		{"ints with a word", kInts, false, `[0,"x"]`, `[0]`, []string{"problem v[1]"}},
		{"tags", kStringMap, false, `{"env":"prod"}`, `{"env":"prod"}`, nil},
		{"tags as an array", kStringMap, false, `["env"]`, ``, []string{"problem v"}},
		{"tags with a placeholder key", kStringMap, false, `{"<tag>":"x","env":"prod"}`, `{"env":"prod"}`, []string{"problem v.<tag>"}},
		{"tags with a number", kStringMap, false, `{"env":1}`, `{}`, []string{"problem v.env"}},
		{"identities", kIdentities, false, `{"/id/1":{"principalId":"p"}}`, `{"/id/1":{}}`, nil},
		{"identities as a string", kIdentities, false, `"/id/1"`, ``, []string{"problem v"}},
		{"a placeholder identity", kIdentities, false, `{"/subscriptions/<subscriptionID>/x":{}}`, `{}`, []string{"problem v./subscriptions/<subscriptionID>/x"}},
		{"an expression identity", kIdentities, false, `{"[parameters('id')]":{}}`, `{}`, []string{"problem v.[parameters('id')]"}},
		{"objects", kObjects, false, `[{"a":"x"}]`, `[{"a":"x"}]`, nil},
		{"one object as objects", kObjects, false, `{"a":"x"}`, `[{"a":"x"}]`, []string{"note v"}},
		{"objects as a string", kObjects, false, `"x"`, ``, []string{"problem v"}},
		{"objects with a string", kObjects, false, `["x",{"a":"y"}]`, `[{},{"a":"y"}]`, []string{"problem v[0]"}},
		{"dropped", kDropped, false, `"x"`, ``, nil},
	}
	obj := &object{fields: map[string]*field{"a": {kind: kString}}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := parseJSON([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			r := &report{}
			out := upgradeValue(n, &field{kind: tt.kind, text: tt.text, obj: obj}, "v", r)
			got := ""
			if out != nil {
				var b bytes.Buffer
				out.Encode(&b)
				got = b.String()
			}
			if got != tt.want {
				t.Errorf("value %s, want %s", got, tt.want)
			}
			if f := findingPaths(r); strings.Join(f, "|") != strings.Join(tt.findings, "|") {
				t.Errorf("findings %q, want %q", f, tt.findings)
			}
		})
	}
}
