package template

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	aib "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/virtualmachineimagebuilder/armvirtualmachineimagebuilder/v2"
)

var (
	armNameRE     = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	sha256RE      = regexp.MustCompile(`^[0-9a-f]{64}$`)
	sha256AnyRE   = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
	versionRE     = regexp.MustCompile(`^[0-9]+(\.[0-9]+){0,3}$`)
	managedImgRE  = regexp.MustCompile(`(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Compute/images/[^/]+$`)
	galleryImgRE  = regexp.MustCompile(`(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Compute/galleries/[^/]+/images/[^/]+$`)
	galleryVerRE  = regexp.MustCompile(`(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Compute/galleries/[^/]+/images/[^/]+/versions/[^/]+$`)
	resourceGrpRE = regexp.MustCompile(`(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+$`)
	subnetRE      = regexp.MustCompile(`(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/virtualNetworks/[^/]+/subnets/[^/]+$`)
)

func checkTemplateName(name string, r *report) {
	if !armNameRE.MatchString(name) {
		r.problem("(name)", "template name %q must be 1-64 letters, digits, '-', '_' or '.' (ARM resource name rules)", name)
	}
}

type validator struct {
	r      *report
	os     string
	opts   Options
	policy Policy
}

func (v *validator) warn(p path, format string, args ...any) { v.r.warn(p, format, args...) }

// required reports a missing value, unless its path was already reported.
func (v *validator) required(p path, what string) {
	if !v.r.bad[p.String()] {
		v.r.problem(p, "is required%s", what)
	}
}

// template checks an upgraded template, one section after another: the
// location and identity, each part of its properties, the goldenpipe
// policy, then the practice checks. The order of the checks is the order
// of the report.
func (v *validator) template(t *aib.ImageTemplate) {
	v.location(t.Location)
	v.identity(t.Identity)
	p := t.Properties
	if p == nil {
		v.required("properties", "")
		return
	}
	v.buildTimeout(p.BuildTimeoutInMinutes)
	v.vmProfile(p.VMProfile)
	v.source(p.Source)
	names := v.customize(p)
	v.distribute(p.Distribute)
	v.errorHandling(p.ErrorHandling)
	v.autoRun(p.AutoRun)
	v.optimize(p.Optimize)
	v.stagingResourceGroup(p.StagingResourceGroup)
	v.goldenpipePolicy(p, names)
	v.practiceChecks(t)
}

// location checks that the template names the region it is built in.
func (v *validator) location(l *string) {
	if l == nil || *l == "" {
		v.required("location", ": the region the image is built in")
	}
}

// identity checks the user-assigned identity Image Builder runs as.
func (v *validator) identity(id *aib.ImageTemplateIdentity) {
	switch {
	case id == nil:
		v.required("identity", " since API 2020-02-14: the user-assigned identity Image Builder runs as")
	case id.Type == nil || *id.Type != aib.ResourceIdentityTypeUserAssigned:
		v.r.problem("identity.type", "must be \"UserAssigned\"")
	case len(id.UserAssignedIdentities) != 1:
		if !v.r.bad["identity.userAssignedIdentities"] && !hasBadPrefix(v.r, "identity.userAssignedIdentities.") {
			v.r.problem("identity.userAssignedIdentities", "must name exactly one identity (Image Builder supports a single one), not %d", len(id.UserAssignedIdentities))
		}
	}
}

// buildTimeout checks properties.buildTimeoutInMinutes: 0 (the default,
// 240) or 6 to 960, and a warning below an hour on Windows.
func (v *validator) buildTimeout(b *int32) {
	if b == nil {
		return
	}
	switch {
	case *b != 0 && (*b < 6 || *b > 960):
		v.r.problem("properties.buildTimeoutInMinutes", "%d is out of range: 0 (the default, 240) or 6 to 960", *b)
	case *b != 0 && *b < 60 && v.os == OSWindows:
		v.warn("properties.buildTimeoutInMinutes", "%d minutes is short for Windows; at least 60 is advised", *b)
	}
}

// vmProfile checks the build VM's disk size and network.
func (v *validator) vmProfile(vm *aib.ImageTemplateVMProfile) {
	if vm == nil {
		return
	}
	if vm.OSDiskSizeGB != nil && *vm.OSDiskSizeGB < 0 {
		v.r.problem("properties.vmProfile.osDiskSizeGB", "must be 0 (keep the source's size) or more")
	}
	if vn := vm.VnetConfig; vn != nil {
		v.vnet(vn)
	}
}

// customize checks the customizers, then every script or file step
// (customizer or validator), and returns the names of the customizers,
// which goldenpipe.pinnedChecksums may refer to.
func (v *validator) customize(p *aib.ImageTemplateProperties) map[string]bool {
	names := map[string]bool{}
	for i, c := range p.Customize {
		v.customizer(path("properties.customize").index(i), c)
	}
	for _, st := range steps(p) {
		if *st.name != nil && !st.path.isValidator() {
			names[**st.name] = true
		}
		v.step(st)
	}
	for _, c := range p.Customize {
		switch c := c.(type) {
		case *aib.ImageTemplateRestartCustomizer:
			names[deref(c.Name)] = true
		case *aib.ImageTemplateWindowsUpdateCustomizer:
			names[deref(c.Name)] = true
		}
	}
	return names
}

// errorHandling checks properties.errorHandling: each of its two fields
// is "cleanup" or "abort".
func (v *validator) errorHandling(eh *aib.ImageTemplatePropertiesErrorHandling) {
	if eh == nil {
		return
	}
	for key, val := range map[string]*aib.OnBuildError{"onCustomizerError": eh.OnCustomizerError, "onValidationError": eh.OnValidationError} {
		if val != nil && *val != aib.OnBuildErrorCleanup && *val != aib.OnBuildErrorAbort {
			v.r.problem(path("properties.errorHandling").key(key), "%q must be \"cleanup\" or \"abort\"", *val)
		}
	}
}

// autoRun checks properties.autoRun.state and warns that Enabled changes
// nothing here.
func (v *validator) autoRun(ar *aib.ImageTemplateAutoRun) {
	if ar == nil || ar.State == nil {
		return
	}
	switch *ar.State {
	case aib.AutoRunStateAutoRunEnabled:
		// "the image build process runs once upon template creation"
		// (MicrosoftDocs image-builder-json.md, autoRun); the app's Run of
		// the running template then answers 409, which it takes as running
		v.warn("properties.autoRun.state", "Enabled makes Image Builder run the build once, as soon as the template is created, before the app asks; the build still runs once (the app's own Run finds it running), so autoRun changes nothing here and can be left out")
	case aib.AutoRunStateAutoRunDisabled:
	default:
		v.r.problem("properties.autoRun.state", "%q must be \"Enabled\" or \"Disabled\"", *ar.State)
	}
}

// optimize checks properties.optimize.vmBoot.state.
func (v *validator) optimize(o *aib.ImageTemplatePropertiesOptimize) {
	if o == nil || o.VMBoot == nil || o.VMBoot.State == nil {
		return
	}
	if s := *o.VMBoot.State; s != aib.VMBootOptimizationStateEnabled && s != aib.VMBootOptimizationStateDisabled {
		v.r.problem("properties.optimize.vmBoot.state", "%q must be \"Enabled\" or \"Disabled\"", s)
	}
}

// stagingResourceGroup checks properties.stagingResourceGroup.
//
// The 2024-02-01 REST spec (azure-rest-api-specs, specification/
// imagebuilder/resource-manager/Microsoft.VirtualMachineImages/stable/
// 2024-02-01/imagebuilder.json, ImageTemplateProperties.
// stagingResourceGroup): "If this field is empty, a resource group with
// a random name will be created"; exactStagingResourceGroup then says
// which.
func (v *validator) stagingResourceGroup(s *string) {
	if s != nil && *s == "" {
		v.r.note("properties.stagingResourceGroup", "empty: Image Builder creates a staging resource group with a random name for each build (properties.exactStagingResourceGroup names it)")
	} else if s != nil && !resourceGrpRE.MatchString(*s) {
		v.r.problem("properties.stagingResourceGroup", "%q is not a resource group id (/subscriptions/…/resourceGroups/…)", *s)
	}
}

// goldenpipePolicy checks the goldenpipe section: pinned checksums name
// customizers (names, from customize), and rebuild, keepVersions,
// versionPolicy and unfinishedVersions hold values the app knows.
func (v *validator) goldenpipePolicy(p *aib.ImageTemplateProperties, names map[string]bool) {
	for _, name := range v.policy.PinnedChecksums {
		if !names[name] {
			v.r.problem("goldenpipe.pinnedChecksums", "%q names no customizer", name)
		}
	}
	if rb := v.policy.Rebuild; rb != "" && rb != RebuildOnChange && rb != RebuildNightly {
		v.r.problem("goldenpipe.rebuild", "%q must be %q or %q", rb, RebuildOnChange, RebuildNightly)
	}
	if k := v.policy.KeepVersions; k < 0 || k > MaxKeepVersions {
		v.r.problem("goldenpipe.keepVersions", "%d must be from 1 to %d (0, the default, keeps every version)", k, MaxKeepVersions)
	} else if k > 0 && !publishesToGallery(p) {
		v.warn("goldenpipe.keepVersions", "has no effect: the template publishes no Azure Compute Gallery version (no SharedImage distributor)")
	}
	if vp := v.policy.VersionPolicy; vp != "" && vp != "nextPatch" && vp != "asWritten" {
		v.r.problem("goldenpipe.versionPolicy", "%q must be \"nextPatch\" (the default: no build is sent whose gallery version exists) or \"asWritten\"", vp)
	}
	if uv := v.policy.UnfinishedVersions; uv != "" && uv != "exclude" && uv != "delete" {
		v.r.problem("goldenpipe.unfinishedVersions", "%q must be \"exclude\" (the default: excluded from latest) or \"delete\"", uv)
	}
}

// versionNameProblem checks a gallery image version name against the
// gallery's rule: "The allowed characters are digit and period. Digits
// must be within the range of a 32-bit integer. Format:
// <MajorVersion>.<MinorVersion>.<Patch>" (Compute REST API, Gallery Image
// Versions - Create Or Update); "" when it follows it. (gallery.ValidName
// is the same rule; this package cannot import gallery.)
func versionNameProblem(name string) string {
	parts := strings.Split(name, ".")
	if len(parts) != 3 {
		return fmt.Sprintf("version %q must be three numbers, Major.Minor.Patch (for example 1.0.0): Azure Compute Gallery refuses any other name at distribution", name)
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return fmt.Sprintf("version %q may hold only digits and periods (Major.Minor.Patch): Azure Compute Gallery refuses it at distribution", name)
		}
		if n, err := strconv.ParseUint(p, 10, 64); err != nil || n > math.MaxInt32 {
			return fmt.Sprintf("version %q: %s is beyond a 32-bit integer (%d), which Azure Compute Gallery refuses at distribution", name, p, math.MaxInt32)
		}
	}
	return ""
}

// MaxKeepVersions bounds goldenpipe.keepVersions.
const MaxKeepVersions = 1000

func publishesToGallery(p *aib.ImageTemplateProperties) bool {
	for _, d := range p.Distribute {
		if _, ok := d.(*aib.ImageTemplateSharedImageDistributor); ok {
			return true
		}
	}
	return false
}

func hasBadPrefix(r *report, prefix string) bool {
	for p := range r.bad {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}

func (v *validator) source(s aib.ImageTemplateSourceClassification) {
	const p = path("properties.source")
	switch s := s.(type) {
	case nil:
		v.required(p, ": PlatformImage, ManagedImage or SharedImageVersion")
	case *aib.ImageTemplatePlatformImageSource:
		for key, val := range map[string]*string{"publisher": s.Publisher, "offer": s.Offer, "sku": s.SKU, "version": s.Version} {
			if val == nil || *val == "" {
				v.required(p.key(key), " for a PlatformImage source")
			}
		}
		if s.Version != nil && *s.Version != "latest" && !versionRE.MatchString(*s.Version) {
			v.r.problem(p.key("version"), "%q is neither \"latest\" nor a version such as 20348.2849.241106", *s.Version)
		}
	case *aib.ImageTemplateManagedImageSource:
		if s.ImageID == nil {
			v.required(p.key("imageId"), " for a ManagedImage source")
		} else if !managedImgRE.MatchString(*s.ImageID) {
			v.r.problem(p.key("imageId"), "%q is not a managed image resource id (/subscriptions/…/providers/Microsoft.Compute/images/…)", *s.ImageID)
		}
	case *aib.ImageTemplateSharedImageVersionSource:
		if s.ImageVersionID == nil {
			v.required(p.key("imageVersionId"), " for a SharedImageVersion source")
		} else if !galleryVerRE.MatchString(*s.ImageVersionID) {
			v.r.problem(p.key("imageVersionId"), "%q is not a gallery image version resource id (…/galleries/…/images/…/versions/…)", *s.ImageVersionID)
		}
	}
}

// script checks what Shell and PowerShell steps share.
func (v *validator) script(p path, kind string, scriptURI, checksum *string, inline []*string) {
	switch {
	case scriptURI != nil && len(inline) > 0:
		v.r.problem(p, "%s gives both scriptUri and inline; give one", kind)
	case scriptURI == nil && len(inline) == 0 && !v.r.bad[p.key("scriptUri").String()] && !v.r.bad[p.key("inline").String()] &&
		!hasBadPrefix(v.r, p.key("inline").String()+"["):
		v.r.problem(p, "%s needs scriptUri or inline", kind)
	}
	if scriptURI != nil {
		v.uri(p.key("scriptUri"), *scriptURI)
	}
	if checksum != nil && scriptURI == nil {
		v.r.problem(p.key("sha256Checksum"), "applies to scriptUri only, not to inline commands")
	}
	v.checksum(p, scriptURI, checksum)
}

func (v *validator) uri(p path, s string) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		v.r.problem(p, "%q is not an http(s) URL", s)
	}
}

func (v *validator) checksum(p path, uri, sum *string) {
	if sum == nil {
		return
	}
	inScripts := uri != nil && v.opts.ScriptsURL != "" && strings.HasPrefix(*uri, strings.TrimSuffix(v.opts.ScriptsURL, "/")+"/")
	switch {
	case sha256RE.MatchString(*sum):
	case sha256AnyRE.MatchString(*sum) && inScripts:
		v.warn(p.key("sha256Checksum"), "is uppercase; Image Builder rejects uppercase hex. The script is in the scripts container, so the catalog's (lowercase) checksum is used")
	case sha256AnyRE.MatchString(*sum):
		v.r.problem(p.key("sha256Checksum"), "must be lowercase hex: Image Builder rejects uppercase (PowerShell's Get-FileHash prints uppercase): %s", strings.ToLower(*sum))
	default:
		v.r.problem(p.key("sha256Checksum"), "%q is not a sha256 (64 hex digits)", *sum)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// vnet checks the network of the build VM (and of the isolated-build
// container, API 2024-02-01).
func (v *validator) vnet(vn *aib.VirtualNetworkConfig) {
	const p = path("properties.vmProfile.vnetConfig")
	if vn.SubnetID != nil && !subnetRE.MatchString(*vn.SubnetID) {
		v.r.problem(p.key("subnetId"), "%q is not a subnet resource id", *vn.SubnetID)
	}
	ci := vn.ContainerInstanceSubnetID
	if ci == nil {
		return
	}
	switch {
	case !subnetRE.MatchString(*ci):
		v.r.problem(p.key("containerInstanceSubnetId"), "%q is not a subnet resource id", *ci)
	case vn.SubnetID == nil:
		v.r.problem(p.key("containerInstanceSubnetId"), "needs subnetId: the container's subnet must be in the build VM's virtual network")
	case subnetRE.MatchString(*vn.SubnetID):
		vnetOf := func(id string) string {
			return strings.ToLower(id[:strings.LastIndex(strings.ToLower(id), "/subnets/")])
		}
		switch {
		case vnetOf(*ci) != vnetOf(*vn.SubnetID):
			v.r.problem(p.key("containerInstanceSubnetId"), "must be in the same virtual network as subnetId")
		case strings.EqualFold(*ci, *vn.SubnetID):
			v.r.problem(p.key("containerInstanceSubnetId"), "must be another subnet than subnetId (the container instance needs a subnet delegated to it)")
		}
	}
	if vn.ProxyVMSize != nil && *vn.ProxyVMSize != "" {
		v.r.problem(p.key("proxyVmSize"), "cannot be given with containerInstanceSubnetId: an isolated build uses a container instance, not a proxy VM")
	}
}

// step checks a script or file step, customizer or validator alike.
func (v *validator) step(st step) {
	switch st.kind {
	case "Shell":
		if v.os == OSWindows {
			v.r.problem(st.path.key("type"), "Shell runs on Linux only; the source is Windows: use PowerShell")
		}
		v.script(st.path, st.kind, *st.uri, *st.checksum, st.inline)
	case "PowerShell":
		if v.os == OSLinux {
			v.r.problem(st.path.key("type"), "PowerShell runs on Windows only; the source is Linux: use Shell")
		}
		if st.elevated != nil && st.asSystem != nil && *st.asSystem && (*st.elevated == nil || !**st.elevated) {
			v.r.problem(st.path.key("runAsSystem"), "can be true only when runElevated is true")
		}
		v.script(st.path, st.kind, *st.uri, *st.checksum, st.inline)
	case "File":
		v.file(st.path, *st.uri, st.dest, *st.checksum)
	}
}

// customizer checks the customizers that run no script. Names are
// friendly names: the API has no uniqueness rule for them (Microsoft's own
// request examples repeat one).
func (v *validator) customizer(p path, c aib.ImageTemplateCustomizerClassification) {
	switch c := c.(type) {
	case *aib.ImageTemplateRestartCustomizer:
		if v.os == OSLinux {
			v.r.problem(p.key("type"), "WindowsRestart runs on Windows only; on Linux restart from a Shell customizer")
		}
		if c.RestartTimeout != nil {
			if d, err := time.ParseDuration(*c.RestartTimeout); err != nil || d <= 0 {
				v.r.problem(p.key("restartTimeout"), "%q is not a duration such as 5m, 2h or 1h30m", *c.RestartTimeout)
			}
		}
	case *aib.ImageTemplateWindowsUpdateCustomizer:
		if v.os == OSLinux {
			v.r.problem(p.key("type"), "WindowsUpdate runs on Windows only")
		}
		if c.UpdateLimit != nil && *c.UpdateLimit < 0 {
			v.r.problem(p.key("updateLimit"), "must be 0 or more")
		}
	}
}

func (v *validator) file(p path, src, dst, sum *string) {
	if src == nil {
		v.required(p.key("sourceUri"), " for a File step")
	} else {
		v.uri(p.key("sourceUri"), *src)
	}
	switch {
	case dst == nil:
		v.required(p.key("destination"), " for a File step")
	case v.os == OSLinux && !strings.HasPrefix(*dst, "/"):
		// A relative destination is where Packer's file provisioner puts
		// it: the build user's working directory. Microsoft's AVM
		// image-template module deploys one in its own e2e test
		// (avm/res/virtual-machine-images/image-template, tests/e2e/max:
		// destination 'Initialize-LinuxSoftware.ps1', then run by a Shell
		// step), so it is no error; /tmp is the documented place.
		v.r.warn(p.key("destination"), "%q is relative: it lands in the build user's working directory; on Linux the documented place is under /tmp", *dst)
	case v.os == OSLinux && !strings.HasPrefix(*dst, "/tmp/"):
		// "Linux OS's – the only path Image builder can write to is /tmp"
		// (Microsoft Learn, image-builder-json, properties: customize, File)
		v.r.problem(p.key("destination"), "%q is outside /tmp: on Linux Image Builder can write only under /tmp", *dst)
	}
	v.checksum(p, src, sum)
}

func (v *validator) distribute(ds []aib.ImageTemplateDistributorClassification) {
	const p = path("properties.distribute")
	if len(ds) == 0 {
		v.required(p, ": at least one of ManagedImage, SharedImage, VHD")
		return
	}
	outputs := map[string]int{}
	for i, d := range ds {
		dp := p.index(i)
		var name *string
		switch d := d.(type) {
		case *aib.ImageTemplateManagedImageDistributor:
			name = d.RunOutputName
			if d.ImageID == nil {
				v.required(dp.key("imageId"), " for a ManagedImage distributor")
			} else if !managedImgRE.MatchString(*d.ImageID) {
				v.r.problem(dp.key("imageId"), "%q is not a managed image resource id", *d.ImageID)
			}
			if d.Location == nil {
				v.required(dp.key("location"), " for a ManagedImage distributor")
			}
		case *aib.ImageTemplateSharedImageDistributor:
			name = d.RunOutputName
			if d.GalleryImageID == nil {
				v.required(dp.key("galleryImageId"), " for a SharedImage distributor")
			} else if !galleryImgRE.MatchString(*d.GalleryImageID) && !galleryVerRE.MatchString(*d.GalleryImageID) {
				v.r.problem(dp.key("galleryImageId"), "%q is not a gallery image resource id (…/galleries/…/images/…)", *d.GalleryImageID)
			} else if i := strings.LastIndex(strings.ToLower(*d.GalleryImageID), "/versions/"); i >= 0 {
				if msg := versionNameProblem((*d.GalleryImageID)[i+len("/versions/"):]); msg != "" {
					v.r.problem(dp.key("galleryImageId"), "%s", msg)
				}
			}
		case *aib.ImageTemplateVhdDistributor:
			name = d.RunOutputName
			if d.URI != nil {
				if u, err := url.Parse(*d.URI); err != nil || u.RawQuery != "" || !(u.Scheme == "https" || u.Scheme == "http" && loopback(u.Hostname())) {
					v.r.problem(dp.key("uri"), "%q must be an https blob URL without a SAS", *d.URI)
				}
			}
		default:
			continue // unknown types were reported by the upgrade
		}
		switch {
		case name == nil:
			v.required(dp.key("runOutputName"), ": a unique name for this output")
		case !armNameRE.MatchString(*name):
			v.r.problem(dp.key("runOutputName"), "%q must be 1-64 letters, digits, '-', '_' or '.'", *name)
		default:
			if first, dup := outputs[*name]; dup {
				v.r.problem(dp.key("runOutputName"), "duplicate %q (also at index %d); each distributor needs its own", *name, first)
			}
			outputs[*name] = i
		}
	}
}

// osOf tells a source's OS family when the source says it.
func osOf(p *aib.ImageTemplateProperties) string {
	if p == nil {
		return ""
	}
	s, ok := p.Source.(*aib.ImageTemplatePlatformImageSource)
	if !ok || s.Publisher == nil {
		return ""
	}
	pub := strings.ToLower(*s.Publisher)
	offer := ""
	if s.Offer != nil {
		offer = strings.ToLower(*s.Offer)
	}
	switch {
	case strings.HasPrefix(pub, "microsoftwindows"), strings.Contains(offer, "windows"), pub == "microsoftvisualstudio":
		return OSWindows
	case pub == "canonical", pub == "redhat", pub == "openlogic", pub == "suse", pub == "debian", pub == "almalinux",
		pub == "resf", pub == "oracle", pub == "kinvolk", strings.Contains(offer, "ubuntu"), strings.Contains(offer, "rhel"),
		strings.Contains(offer, "centos"), strings.Contains(offer, "linux"):
		return OSLinux
	}
	return ""
}

// loopback reports an emulator's host (http is accepted there only).
func loopback(host string) bool { return host == "127.0.0.1" || host == "localhost" || host == "::1" }
