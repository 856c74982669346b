package simulator

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	aib "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/virtualmachineimagebuilder/armvirtualmachineimagebuilder/v2"

	"github.com/goldenpipe/goldenpipe"
)

// PackerizerFailure is the run message Image Builder gives when a
// customizer fails ("Packer build command failure", Troubleshoot Azure VM
// Image Builder: MicrosoftDocs/azure-docs
// articles/virtual-machines/linux/image-builder-troubleshoot.md). The run's
// message goes on with " Image Build log location: <customization.log
// URL>. OperationId: <guid>. Use this operationId to search packer logs."
// (status adds it once the log is written).
const PackerizerFailure = "Failed while waiting for packerizer: Microservice has failed: Failed while processing request: " +
	"Error when executing packerizer: Packer build command has failed: exit status 1. During the image build, a failure has occurred, " +
	"please review the build log to identify which build/customization step failed. For more troubleshooting steps go to https://aka.ms/azvmimagebuilderts."

// A stand-in, not a VM: the simulator runs no script. It fails a
// customizer only where the script plainly fails wherever it runs:
//
//   - a PowerShell step (inline or script) with a top-level `exit N`
//     (outside any { } block) whose N is not in validExitCodes (default
//     [0]), or a top-level `throw` (PowerShell exits 1 on an uncaught
//     terminating error);
//   - a Shell step with a top-level `exit N`, N not 0, or a script that
//     `bash -n` refuses (bash's exit status for a syntax error is 2).
//
// The message in customization.log is Packer's for a script exiting with a
// code it was not allowed (packer-plugin-sdk, shell provisioners: "Script
// exited with non-zero exit status: %d. Allowed exit codes are: %v"), and
// the provisioner lines follow the "(telemetry) Starting provisioner …"
// form the troubleshooting page tells people to search for. Anything less
// plain (a failing command under $ErrorActionPreference = 'Stop', set -e)
// succeeds here and may fail in Azure.

// customizerFailure returns how the run of t ends when one of its
// customizers plainly fails (nil when none does). fetch reads a script's
// bytes (nil: only inline steps are looked at; a script that cannot be
// read is not looked at); now dates the log's lines (the simulator's clock).
func customizerFailure(ctx context.Context, t aib.ImageTemplate, fetch func(context.Context, string) ([]byte, error), now time.Time) *Outcome {
	if t.Properties == nil {
		return nil
	}
	read := func(uri *string, inline []*string) (string, bool) {
		if len(inline) > 0 {
			lines := make([]string, len(inline))
			for i, l := range inline {
				if l != nil {
					lines[i] = *l
				}
			}
			return strings.Join(lines, "\n"), true
		}
		if uri == nil || fetch == nil {
			return "", false
		}
		b, err := fetch(ctx, *uri)
		if err != nil {
			return "", false
		}
		return string(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))), true
	}
	var log []string
	telemetry := func(verb, provisioner string) {
		log = append(log, fmt.Sprintf("PACKER ERR %s [INFO] (telemetry) %s %s", now.UTC().Format("2006/01/02 15:04:05"), verb, provisioner))
	}
	for i, c := range t.Properties.Customize {
		var provisioner, what string
		var code int
		failed := false
		allowed := []int{0}
		switch c := c.(type) {
		case *aib.ImageTemplatePowerShellCustomizer:
			provisioner, what = "powershell", describe(c.ScriptURI, c.Inline)
			if len(c.ValidExitCodes) > 0 {
				allowed = allowed[:0]
				for _, v := range c.ValidExitCodes {
					if v != nil {
						allowed = append(allowed, int(*v))
					}
				}
			}
			if text, ok := read(c.ScriptURI, c.Inline); ok {
				if n, ok := powerShellExit(text); ok && !contains(allowed, n) {
					code, failed = n, true
				}
			}
		case *aib.ImageTemplateShellCustomizer:
			provisioner, what = "shell", describe(c.ScriptURI, c.Inline)
			if text, ok := read(c.ScriptURI, c.Inline); ok {
				if n, ok := shellExit(text); ok && n != 0 {
					code, failed = n, true
				}
			}
		case *aib.ImageTemplateWindowsUpdateCustomizer:
			provisioner = "windows-update"
		case *aib.ImageTemplateRestartCustomizer:
			provisioner = "windows-restart"
		case *aib.ImageTemplateFileCustomizer:
			provisioner = "file"
		default:
			provisioner = "shell"
		}
		telemetry("Starting provisioner", provisioner)
		if !failed {
			telemetry("ending", provisioner)
			continue
		}
		packerErr := fmt.Sprintf("Script exited with non-zero exit status: %d. Allowed exit codes are: %v", code, allowed)
		name := ""
		if n := c.GetImageTemplateCustomizer().Name; n != nil {
			name = " (" + *n + ")"
		}
		log = append(log,
			fmt.Sprintf("PACKER OUT ==> azure-arm: Provisioning with %s script: %s", provisioner, what),
			fmt.Sprintf("PACKER OUT     azure-arm: customize[%d]%s exited with code %d", i, name, code),
			"PACKER ERR ==> azure-arm: "+packerErr)
		telemetry("ending", provisioner)
		return &Outcome{State: goldenpipe.RunFailed, Message: PackerizerFailure, Log: log, PackerError: packerErr}
	}
	return nil
}

func describe(uri *string, inline []*string) string {
	if uri != nil && *uri != "" {
		return *uri
	}
	return fmt.Sprintf("(inline, %d line(s))", len(inline))
}

func contains(list []int, n int) bool {
	for _, v := range list {
		if v == n {
			return true
		}
	}
	return false
}

var (
	psExit  = regexp.MustCompile(`(?i)^exit\s+(-?\d+)\s*(;.*)?$`)
	psThrow = regexp.MustCompile(`(?i)^throw(\s|$)`)
	shExit  = regexp.MustCompile(`^exit\s+(\d+)\s*(;.*)?$`)
	psQuote = regexp.MustCompile(`'[^']*'|"(?:[^"` + "`" + `]|` + "`" + `.)*"`)
	shQuote = regexp.MustCompile(`'[^']*'|"(?:[^"\\]|\\.)*"`)
)

// powerShellExit returns the exit code of a PowerShell script that exits
// at its top level (outside any block): `exit N`, or `throw` (1).
func powerShellExit(text string) (int, bool) {
	depth, inComment := 0, false
	for _, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		if inComment {
			i := strings.Index(line, "#>")
			if i < 0 {
				continue
			}
			line, inComment = line[i+2:], false
		}
		line = psQuote.ReplaceAllString(line, "''")
		if i := strings.Index(line, "<#"); i >= 0 {
			if j := strings.Index(line[i:], "#>"); j >= 0 {
				line = line[:i] + line[i+j+2:]
			} else {
				line, inComment = line[:i], true
			}
		}
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		trimmed := strings.TrimSpace(line)
		if depth == 0 {
			if m := psExit.FindStringSubmatch(trimmed); m != nil {
				n, err := strconv.Atoi(m[1])
				return n, err == nil
			}
			if psThrow.MatchString(trimmed) {
				return 1, true
			}
		}
		depth += strings.Count(line, "{") - strings.Count(line, "}")
		if depth < 0 {
			depth = 0
		}
	}
	return 0, false
}

// shellExit returns the exit status of a shell script that plainly fails:
// 2 when `bash -n` refuses it (a syntax error), else N of a top-level
// `exit N` (outside if/case/loops/functions/subshells).
func shellExit(text string) (int, bool) {
	if bash, err := exec.LookPath("bash"); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bash, "-n")
		cmd.Stdin = strings.NewReader(text)
		if err := cmd.Run(); err != nil {
			if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 2 {
				return 2, true
			}
		}
	}
	depth := 0
	for _, line := range strings.Split(text, "\n") {
		line = shQuote.ReplaceAllString(line, "''")
		if i := strings.Index(line, "#"); i >= 0 && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t') {
			line = line[:i]
		}
		trimmed := strings.TrimSpace(line)
		if depth == 0 {
			if m := shExit.FindStringSubmatch(trimmed); m != nil {
				n, err := strconv.Atoi(m[1])
				return n, err == nil
			}
		}
		for _, w := range strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == ';' || r == '&' || r == '|' }) {
			switch {
			case w == "if" || w == "case" || w == "do" || w == "{" || w == "(" || strings.HasSuffix(w, "{"):
				depth++
			case w == "fi" || w == "esac" || w == "done" || w == "}" || w == ")" || strings.HasPrefix(w, "}"):
				depth--
			}
		}
		if depth < 0 {
			depth = 0
		}
	}
	return 0, false
}
