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
// the image would be broken, warnings otherwise.
func (v *validator) practiceChecks(t *aib.ImageTemplate) {
	p := t.Properties
	if p == nil {
		return
	}
	ignored := map[string]bool{}
	for _, name := range v.policy.Ignore {
		if practice.Reason(name) == "" {
			v.r.problem("goldenpipe.ignore", "%q is not a practice check (one of %s)", name, checkNames())
		}
		ignored[name] = true
	}
	report := func(at path, f practice.Finding) {
		if ignored[f.Check] {
			return
		}
		msg := fmt.Sprintf("%s [%s: %s; silence with goldenpipe.ignore]", f.Message, f.Check, practice.Reason(f.Check))
		if f.Severity == practice.Problem {
			v.r.problem(at, "%s", msg)
		} else {
			v.warn(at, "%s", msg)
		}
	}
	src, _ := p.Source.(*aib.ImageTemplatePlatformImageSource)
	sku, offer, publisher := "", "", ""
	if src != nil {
		sku, offer, publisher = strings.ToLower(deref(src.SKU)), strings.ToLower(deref(src.Offer)), strings.ToLower(deref(src.Publisher))
	}
	multiSession := strings.Contains(sku, "avd") || strings.Contains(sku, "evd")
	avd := v.policy.HostPool != "" || multiSession || offer == "office-365"
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

	// source
	if src != nil && v.os == OSWindows {
		server := strings.HasPrefix(publisher, "microsoftwindowsserver")
		switch {
		case v.policy.HostPool == HostPoolPooled && !multiSession && !server:
			report("properties.source.sku", practice.Finding{Check: "avd-image", Severity: practice.Warning,
				Message: fmt.Sprintf("%q is not a multi-session image, and the host pool is pooled", deref(src.SKU))})
		case v.policy.HostPool == HostPoolPersonal && (multiSession || !(strings.Contains(sku, "ent") || server)):
			report("properties.source.sku", practice.Finding{Check: "avd-image", Severity: practice.Warning,
				Message: fmt.Sprintf("%q is not Windows Enterprise (single-session), and the host pool is personal", deref(src.SKU))})
		}
		gen2 := strings.Contains(sku, "g2") || strings.Contains(sku, "gen2") || strings.Contains(sku, "gensecond") ||
			strings.HasPrefix(sku, "win11") || strings.Contains(sku, "azure-edition") || strings.Contains(sku, "2025")
		if !gen2 {
			report("properties.source.sku", practice.Finding{Check: "gen2", Severity: practice.Warning,
				Message: fmt.Sprintf("%q looks like a Generation 1 image", deref(src.SKU))})
		}
	}
	switch p.Source.(type) {
	case *aib.ImageTemplateManagedImageSource, *aib.ImageTemplateSharedImageVersionSource:
		if !v.policy.Recustomize {
			report("properties.source", practice.Finding{Check: "custom-source", Severity: practice.Warning,
				Message: "the source is a custom image (say goldenpipe.recustomize: true when that is intended)"})
		}
	}

	// customizers
	update, restart := -1, -1
	needsRestart := -1 // a step that asks for a restart (exit code 3010 allowed)
	cleanup := false
	for i, c := range p.Customize {
		switch c := c.(type) {
		case *aib.ImageTemplateWindowsUpdateCustomizer:
			update = i
		case *aib.ImageTemplateRestartCustomizer:
			restart = i
		case *aib.ImageTemplatePowerShellCustomizer:
			for _, code := range c.ValidExitCodes {
				if code != nil && *code == 3010 {
					needsRestart = i
				}
			}
			cleanup = cleanup || mentionsCleanup(c.Name, c.ScriptURI, c.Inline)
		case *aib.ImageTemplateShellCustomizer:
			cleanup = cleanup || mentionsCleanup(c.Name, c.ScriptURI, c.Inline)
		}
	}
	if v.os == OSWindows {
		if update < 0 {
			report("properties.customize", practice.Finding{Check: "windows-update", Severity: practice.Warning,
				Message: "no WindowsUpdate step installs the latest updates"})
		}
		for _, step := range []int{update, needsRestart} {
			if step >= 0 && restart < step {
				report(path("properties.customize").index(step), practice.Finding{Check: "restart-after-update", Severity: practice.Warning,
					Message: "no WindowsRestart follows this step"})
			}
		}
		if avd && !cleanup {
			report("properties.customize", practice.Finding{Check: "avd-cleanup", Severity: practice.Warning,
				Message: "no step cleans up (temporary files, user profiles, disk cleanup) before capture"})
		}
	}
	for _, st := range steps(p) {
		if len(st.inline) == 0 {
			continue
		}
		lines := make([]string, len(st.inline))
		for i, l := range st.inline {
			lines[i] = deref(l)
		}
		for _, f := range practice.Scan(strings.Join(lines, "\n")) {
			report(st.path.key("inline").index(f.Line-1), f)
		}
	}

	// distribution
	if v.policy.Stage != "test" && len(p.Distribute) > 0 {
		gallery := false
		for _, d := range p.Distribute {
			_, ok := d.(*aib.ImageTemplateSharedImageDistributor)
			gallery = gallery || ok
		}
		if !gallery {
			report("properties.distribute", practice.Finding{Check: "production-gallery", Severity: practice.Warning,
				Message: "only a VHD or managed image is published (say goldenpipe.stage: \"test\" for a test image)"})
		}
	}
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
