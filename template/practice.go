package template

import (
	"fmt"
	"regexp"
	"strings"

	aib "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/virtualmachineimagebuilder/armvirtualmachineimagebuilder/v2"

	"github.com/goldenpipe/goldenpipe/practice"
)

// The golden-image practices of the AVD guide, checked on every template
// (practice.Checks lists them with the guide's reasons). A template
// silences one by name in goldenpipe.ignore; the record keeps the list, so
// silence is visible.

// Host pool kinds (Policy.HostPool).
const (
	HostPoolPooled   = "pooled"
	HostPoolPersonal = "personal"
)

var cleanupRE = regexp.MustCompile(`(?i)(clean|cleanmgr|Remove-Item[^\n]*(Temp|Profile)|DeleteTemp|Disk ?Cleanup|Delete-?Profile)`)

// practiceChecks reports what a template does not follow: problems where
// the image would be broken, warnings otherwise. The checks run in the
// order of the template: policy, source, customizers, inline commands,
// distribution.
func (v *validator) practiceChecks(t *aib.ImageTemplate) {
	p := t.Properties
	if p == nil {
		return
	}
	pr := practiceRun{v: v, ignored: v.ignoredChecks()}
	v.practicePolicy()
	src := platformSourceOf(p)
	pr.source(p, src)
	pr.customizers(p, v.policy.HostPool != "" || src.multiSession || src.offer == "office-365")
	pr.inline(p)
	pr.distribution(p)
}

// practiceRun is what the practice checks of one template share: the
// validator and the checks goldenpipe.ignore silences.
type practiceRun struct {
	v       *validator
	ignored map[string]bool
}

// report reports a finding at a path unless its check is silenced: a
// problem or a warning as the finding says, with the guide's reason.
func (pr practiceRun) report(at path, f practice.Finding) {
	if pr.ignored[f.Check] {
		return
	}
	msg := fmt.Sprintf("%s [%s: %s; silence with goldenpipe.ignore]", f.Message, f.Check, practice.Reason(f.Check))
	if f.Severity == practice.Problem {
		pr.v.r.problem(at, "%s", msg)
	} else {
		pr.v.warn(at, "%s", msg)
	}
}

// ignoredChecks returns the checks goldenpipe.ignore names, reporting the
// names that are no practice check.
func (v *validator) ignoredChecks() map[string]bool {
	ignored := map[string]bool{}
	for _, name := range v.policy.Ignore {
		if practice.Reason(name) == "" {
			v.r.problem("goldenpipe.ignore", "%q is not a practice check (one of %s)", name, checkNames())
		}
		ignored[name] = true
	}
	return ignored
}

// practicePolicy checks goldenpipe.hostPool and goldenpipe.stage.
func (v *validator) practicePolicy() {
	switch v.policy.HostPool {
	case "", HostPoolPooled, HostPoolPersonal:
	default:
		v.r.problem("goldenpipe.hostPool", "%q must be %q or %q", v.policy.HostPool, HostPoolPooled, HostPoolPersonal)
	}
	switch v.policy.Stage {
	case "", "test", "production":
	default:
		v.r.problem("goldenpipe.stage", "%q must be \"test\" or \"production\"", v.policy.Stage)
	}
}

// platformSource is what the practice checks read of a PlatformImage
// source, lowercased; the zero value when the source is another kind.
type platformSource struct {
	src                   *aib.ImageTemplatePlatformImageSource
	sku, offer, publisher string
	multiSession          bool
}

// platformSourceOf reads a template's PlatformImage source.
func platformSourceOf(p *aib.ImageTemplateProperties) platformSource {
	src, _ := p.Source.(*aib.ImageTemplatePlatformImageSource)
	if src == nil {
		return platformSource{}
	}
	ps := platformSource{src: src, sku: strings.ToLower(deref(src.SKU)), offer: strings.ToLower(deref(src.Offer)), publisher: strings.ToLower(deref(src.Publisher))}
	ps.multiSession = strings.Contains(ps.sku, "avd") || strings.Contains(ps.sku, "evd")
	return ps
}

// source checks the source image: a Windows image that fits the host
// pool and is Generation 2, and no custom image unless re-customizing is
// intended.
func (pr practiceRun) source(p *aib.ImageTemplateProperties, src platformSource) {
	if src.src != nil && pr.v.os == OSWindows {
		pr.windowsSource(src)
	}
	switch p.Source.(type) {
	case *aib.ImageTemplateManagedImageSource, *aib.ImageTemplateSharedImageVersionSource:
		if !pr.v.policy.Recustomize {
			pr.report("properties.source", practice.Finding{Check: "custom-source", Severity: practice.Warning,
				Message: "the source is a custom image (say goldenpipe.recustomize: true when that is intended)"})
		}
	}
}

// windowsSource checks a Windows PlatformImage: multi-session for a pooled
// host pool, Enterprise for a personal one, and a Generation 2 SKU.
func (pr practiceRun) windowsSource(src platformSource) {
	sku := src.sku
	server := strings.HasPrefix(src.publisher, "microsoftwindowsserver")
	switch {
	case pr.v.policy.HostPool == HostPoolPooled && !src.multiSession && !server:
		pr.report("properties.source.sku", practice.Finding{Check: "avd-image", Severity: practice.Warning,
			Message: fmt.Sprintf("%q is not a multi-session image, and the host pool is pooled", deref(src.src.SKU))})
	case pr.v.policy.HostPool == HostPoolPersonal && (src.multiSession || !(strings.Contains(sku, "ent") || server)):
		pr.report("properties.source.sku", practice.Finding{Check: "avd-image", Severity: practice.Warning,
			Message: fmt.Sprintf("%q is not Windows Enterprise (single-session), and the host pool is personal", deref(src.src.SKU))})
	}
	gen2 := strings.Contains(sku, "g2") || strings.Contains(sku, "gen2") || strings.Contains(sku, "gensecond") ||
		strings.HasPrefix(sku, "win11") || strings.Contains(sku, "azure-edition") || strings.Contains(sku, "2025")
	if !gen2 {
		pr.report("properties.source.sku", practice.Finding{Check: "gen2", Severity: practice.Warning,
			Message: fmt.Sprintf("%q looks like a Generation 1 image", deref(src.src.SKU))})
	}
}

// customizeSteps is where a template's customizers update, restart, ask
// for a restart (a PowerShell step allowing exit code 3010) and whether
// any cleans up; -1 where none does.
type customizeSteps struct {
	update, restart, needsRestart int
	cleanup                       bool
}

// customizeStepsOf finds the customizeSteps of a template.
func customizeStepsOf(p *aib.ImageTemplateProperties) customizeSteps {
	cs := customizeSteps{update: -1, restart: -1, needsRestart: -1}
	for i, c := range p.Customize {
		switch c := c.(type) {
		case *aib.ImageTemplateWindowsUpdateCustomizer:
			cs.update = i
		case *aib.ImageTemplateRestartCustomizer:
			cs.restart = i
		case *aib.ImageTemplatePowerShellCustomizer:
			for _, code := range c.ValidExitCodes {
				if code != nil && *code == 3010 {
					cs.needsRestart = i
				}
			}
			cs.cleanup = cs.cleanup || mentionsCleanup(c.Name, c.ScriptURI, c.Inline)
		case *aib.ImageTemplateShellCustomizer:
			cs.cleanup = cs.cleanup || mentionsCleanup(c.Name, c.ScriptURI, c.Inline)
		}
	}
	return cs
}

// customizers checks a Windows template's customizers: a WindowsUpdate
// step, a WindowsRestart after it and after a step asking for one, and,
// for an AVD image, a cleanup before capture.
func (pr practiceRun) customizers(p *aib.ImageTemplateProperties, avd bool) {
	if pr.v.os != OSWindows {
		return
	}
	cs := customizeStepsOf(p)
	if cs.update < 0 {
		pr.report("properties.customize", practice.Finding{Check: "windows-update", Severity: practice.Warning,
			Message: "no WindowsUpdate step installs the latest updates"})
	}
	for _, step := range []int{cs.update, cs.needsRestart} {
		if step >= 0 && cs.restart < step {
			pr.report(path("properties.customize").index(step), practice.Finding{Check: "restart-after-update", Severity: practice.Warning,
				Message: "no WindowsRestart follows this step"})
		}
	}
	if avd && !cs.cleanup {
		pr.report("properties.customize", practice.Finding{Check: "avd-cleanup", Severity: practice.Warning,
			Message: "no step cleans up (temporary files, user profiles, disk cleanup) before capture"})
	}
}

// inline scans the inline commands of every step for the practices a
// script breaks, reporting each at its line.
func (pr practiceRun) inline(p *aib.ImageTemplateProperties) {
	for _, st := range steps(p) {
		if len(st.inline) == 0 {
			continue
		}
		lines := make([]string, len(st.inline))
		for i, l := range st.inline {
			lines[i] = deref(l)
		}
		for _, f := range practice.Scan(strings.Join(lines, "\n")) {
			pr.report(st.path.key("inline").index(f.Line-1), f)
		}
	}
}

// distribution checks that an image that is not a test image is
// published to an Azure Compute Gallery.
func (pr practiceRun) distribution(p *aib.ImageTemplateProperties) {
	if pr.v.policy.Stage == "test" || len(p.Distribute) == 0 || publishesToGallery(p) {
		return
	}
	pr.report("properties.distribute", practice.Finding{Check: "production-gallery", Severity: practice.Warning,
		Message: "only a VHD or managed image is published (say goldenpipe.stage: \"test\" for a test image)"})
}

func mentionsCleanup(name, uri *string, inline []*string) bool {
	text := deref(name) + " " + deref(uri)
	for _, l := range inline {
		text += "\n" + deref(l)
	}
	return cleanupRE.MatchString(text)
}

func checkNames() string {
	names := make([]string, len(practice.Checks))
	for i, c := range practice.Checks {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}

// scriptFindings reports the practices a script in the scripts container
// breaks (read when it was hashed), at the step that runs it.
func scriptFindings(at path, script string, findings []practice.Finding, ignore []string, rep *report) {
	for _, f := range findings {
		skip := false
		for _, n := range ignore {
			skip = skip || n == f.Check
		}
		if skip {
			continue
		}
		msg := fmt.Sprintf("%s, line %d: %s: %s [%s: %s; silence with goldenpipe.ignore]", script, f.Line, f.Text, f.Message, f.Check, practice.Reason(f.Check))
		if f.Severity == practice.Problem {
			rep.problem(at, "%s", msg)
		} else {
			rep.warn(at, "%s", msg)
		}
	}
}
