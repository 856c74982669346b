// Package practice holds the golden-image practices of Microsoft's "Create
// a golden image in Azure" (Azure Virtual Desktop) as checks the app runs
// on every template and every script: each finding names its check, says
// where, and gives the guide's reason in one line.
package practice

import (
	"bytes"
	"regexp"
	"strings"
	"unicode/utf16"

	"github.com/goldenpipe/goldenpipe"
)

// Severity says whether a finding keeps the template from building (a
// domain noun: goldenpipe.Severity).
type Severity = goldenpipe.Severity

// Severities.
const (
	Problem = goldenpipe.SeverityProblem // the image would be broken: the template is invalid until fixed or silenced
	Warning = goldenpipe.SeverityWarning // worth a look; the build goes on
)

// Finding is one practice a template or script does not follow (a domain
// noun: goldenpipe.Finding, which the script checksum records).
type Finding = goldenpipe.Finding

// Checks by name, with the guide's reason (what the README lists).
var Checks = []struct{ Name, Reason string }{
	{"avd-image", "pooled host pools need a multi-session image (Windows 10/11 Enterprise multi-session, with or without Microsoft 365, or Windows Server); personal ones Windows Enterprise"},
	{"gen2", "Generation 2 images are preferred: they boot faster and support Trusted Launch"},
	{"custom-source", "don't make a new golden image from an existing custom image: start from the marketplace image and re-apply your customizations"},
	{"windows-update", "install the latest Windows updates in the image"},
	{"restart-after-update", "restart after installing updates (and after steps that ask for it) so they finish before the image is captured"},
	{"avd-cleanup", "clean up before capture: temporary files, user profiles, disk cleanup"},
	{"domain-join", "don't domain-join the image: hosts are joined when the host pool is deployed, and a joined image breaks generalization"},
	{"self-sysprep", "don't run sysprep or the agent's deprovision yourself: Image Builder generalizes the image at the end"},
	{"antivirus", "antivirus agents left running block generalization: disable them (or install them at deployment) before capture"},
	{"production-gallery", "publish production images to an Azure Compute Gallery: replication, versioning and rollback"},
}

// Reason returns a check's reason.
func Reason(check string) string {
	for _, c := range Checks {
		if c.Name == check {
			return c.Reason
		}
	}
	return ""
}

var (
	domainJoinRE = regexp.MustCompile(`(?i)\b(Add-Computer\b[^\n]*-DomainName|djoin(\.exe)?\b|Join-Domain\b|realm\s+join\b|netdom(\.exe)?\s+join\b)`)
	sysprepRE    = regexp.MustCompile(`(?i)(\bsysprep(\.exe)?\b[^\n]*/generalize|\bwaagent\b[^\n]*-deprovision)`)
	avInstallRE  = regexp.MustCompile(`(?i)\b(CrowdStrike|WindowsSensor|CSFalcon|SentinelOne|SentinelInstaller|Sophos|McAfee|Trellix|Symantec|SEP(64)?\.msi|TrendMicro|Cortex|Cylance|Carbon ?Black|ESET)\w*`)
	avDisableRE  = regexp.MustCompile(`(?i)(Stop-Service|Set-Service[^\n]*-StartupType\s+Disabled|sc(\.exe)?\s+(config|stop)|systemctl\s+(stop|disable)|Disable-|--disable|/disable|NO_START|Start\s*=\s*4|GROUPING_TAGS)`)
)

// binaryProbe is how many of a file's first bytes are looked at for a NUL,
// git's test for a binary file.
const binaryProbe = 8000

// ScanFile scans the start of a file a customizer downloads, as its bytes
// are: a UTF-8 byte-order mark is dropped, UTF-16 text with its mark (what
// Windows PowerShell and Notepad save) is decoded, and a file with a NUL in
// its first 8,000 bytes otherwise is not a script (an installer, an archive)
// and has no findings: its bytes are not read as text, where a vendor's name
// would be taken for a script installing it.
func ScanFile(head []byte) []Finding {
	text, ok := Text(head)
	if !ok {
		return nil
	}
	return Scan(text)
}

// Text returns a file's start as text, and false when it is binary (see
// ScanFile). A UTF-16 start cut in the middle of a code unit loses that
// half unit.
func Text(head []byte) (string, bool) {
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		head = head[3:]
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}), bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		le := head[0] == 0xFF
		head = head[2:]
		units := make([]uint16, len(head)/2)
		for i := range units {
			if le {
				units[i] = uint16(head[2*i]) | uint16(head[2*i+1])<<8
			} else {
				units[i] = uint16(head[2*i])<<8 | uint16(head[2*i+1])
			}
		}
		return string(utf16.Decode(units)), true
	}
	if bytes.IndexByte(head[:min(len(head), binaryProbe)], 0) >= 0 {
		return "", false
	}
	return string(head), true
}

// Scan reads a script's text and returns what breaks a golden image:
// domain join and generalizing it yourself (problems), antivirus installed
// and not disabled later in the script (a warning). Comments are not
// read: a line starting with # (PowerShell, shell), <# … #> blocks, REM
// and :: lines.
func Scan(text string) []Finding {
	var out []Finding
	lines := strings.Split(text, "\n")
	inBlock := false
	avLine, avText, disabledAfter := 0, "", false
	for i, raw := range lines {
		line := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
		if inBlock {
			if strings.Contains(line, "#>") {
				inBlock = false
			}
			continue
		}
		if strings.HasPrefix(line, "<#") {
			inBlock = !strings.Contains(line, "#>")
			continue
		}
		upper := strings.ToUpper(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(upper, "REM ") || strings.HasPrefix(line, "::") {
			continue
		}
		if j := strings.Index(line, " #"); j >= 0 { // a trailing comment
			line = line[:j]
		}
		cut := line
		if len(cut) > 160 {
			cut = cut[:157] + "…"
		}
		switch {
		case domainJoinRE.MatchString(line):
			out = append(out, Finding{Check: "domain-join", Severity: Problem, Line: i + 1, Text: cut, Message: "joins a domain"})
		case sysprepRE.MatchString(line):
			out = append(out, Finding{Check: "self-sysprep", Severity: Problem, Line: i + 1, Text: cut, Message: "generalizes the image itself"})
		}
		if avInstallRE.MatchString(line) && avLine == 0 && !avDisableRE.MatchString(line) {
			avLine, avText = i+1, cut
		} else if avLine != 0 && avDisableRE.MatchString(line) {
			disabledAfter = true
		}
	}
	if avLine != 0 && !disabledAfter {
		out = append(out, Finding{Check: "antivirus", Severity: Warning, Line: avLine, Text: avText, Message: "installs an antivirus agent and does not disable it before capture"})
	}
	return out
}
