package template

import (
	aib "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/virtualmachineimagebuilder/armvirtualmachineimagebuilder/v2"
)

// step is what customizers and in-VM validators that run a script or copy a
// file share, with pointers into the SDK value so rendering can fill it in.
type step struct {
	kind     string // Shell, PowerShell, File
	path     path
	name     **string
	uri      **string // scriptUri or sourceUri
	checksum **string
	inline   []*string
	dest     *string // File only
	elevated **bool  // PowerShell only
	asSystem *bool   // PowerShell only
}

// steps lists the script and file steps of a template, customizers first,
// then in-VM validators, with their paths.
func steps(p *aib.ImageTemplateProperties) []step {
	if p == nil {
		return nil
	}
	var out []step
	for i, c := range p.Customize {
		pp := path("properties.customize").index(i)
		switch c := c.(type) {
		case *aib.ImageTemplateShellCustomizer:
			out = append(out, step{"Shell", pp, &c.Name, &c.ScriptURI, &c.SHA256Checksum, c.Inline, nil, nil, nil})
		case *aib.ImageTemplatePowerShellCustomizer:
			out = append(out, step{"PowerShell", pp, &c.Name, &c.ScriptURI, &c.SHA256Checksum, c.Inline, nil, &c.RunElevated, c.RunAsSystem})
		case *aib.ImageTemplateFileCustomizer:
			out = append(out, step{"File", pp, &c.Name, &c.SourceURI, &c.SHA256Checksum, nil, c.Destination, nil, nil})
		}
	}
	if p.Validate != nil {
		for i, c := range p.Validate.InVMValidations {
			pp := path("properties.validate.inVMValidations").index(i)
			switch c := c.(type) {
			case *aib.ImageTemplateShellValidator:
				out = append(out, step{"Shell", pp, &c.Name, &c.ScriptURI, &c.SHA256Checksum, c.Inline, nil, nil, nil})
			case *aib.ImageTemplatePowerShellValidator:
				out = append(out, step{"PowerShell", pp, &c.Name, &c.ScriptURI, &c.SHA256Checksum, c.Inline, nil, &c.RunElevated, c.RunAsSystem})
			case *aib.ImageTemplateFileValidator:
				out = append(out, step{"File", pp, &c.Name, &c.SourceURI, &c.SHA256Checksum, nil, c.Destination, nil, nil})
			}
		}
	}
	return out
}
