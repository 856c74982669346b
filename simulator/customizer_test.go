package simulator

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	aib "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/virtualmachineimagebuilder/armvirtualmachineimagebuilder/v2"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/internal/clock"
)

func TestPlainlyFailingScripts(t *testing.T) {
	for _, tt := range []struct {
		name, kind, text string
		code             int
		fails            bool
	}{
		{"ps top-level exit 1", "ps", "Write-Host hi\nexit 1\n", 1, true},
		{"ps exit 0", "ps", "Write-Host hi\nexit 0", 0, true},
		{"ps exit inside a block", "ps", "if ($x) {\n  exit 3\n}\nWrite-Host ok", 0, false},
		{"ps exit in a one-line block", "ps", "function f { exit 5 }\nf", 0, false},
		{"ps top-level throw", "ps", "$ErrorActionPreference = 'Stop'\nthrow 'no installer'\n", 1, true},
		{"ps throw in a catch", "ps", "try {\n  Get-Item x\n} catch {\n  throw\n}", 0, false},
		{"ps exit in a comment", "ps", "# exit 1\n<#\nexit 2\n#>\nWrite-Host 'exit 1'", 0, false},
		{"ps exit with a brace in a string", "ps", "Write-Host '{'\nexit 4", 4, true},
		{"sh top-level exit 1", "sh", "#!/bin/bash\necho hi\nexit 1\n", 1, true},
		{"sh exit in an if", "sh", "#!/bin/bash\nif [ -z \"$X\" ]; then\n  exit 1\nfi\necho ok\n", 0, false},
		{"sh exit in a function", "sh", "die() {\n  exit 7\n}\necho ok\n", 0, false},
		{"sh exit 0", "sh", "echo ok\nexit 0\n", 0, true},
		{"sh syntax error", "sh", "#!/bin/bash\nif [ -f /x ]; then\n  echo x\n", 2, true},
		{"sh fine", "sh", "#!/bin/sh\nset -eu\ncase \"$1\" in\n  a) echo a ;;\nesac\nfor i in 1 2; do echo $i; done\n", 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := powerShellExit
			if tt.kind == "sh" {
				f = shellExit
			}
			code, fails := f(tt.text)
			if code != tt.code || fails != tt.fails {
				t.Errorf("= %d %v, want %d %v", code, fails, tt.code, tt.fails)
			}
		})
	}
}

// A run whose customizer plainly fails (here a script with a top-level
// throw, after an inline step that succeeds) ends Failed with Image
// Builder's message for a customization failure, the customization.log's
// location and operation id in it, and the log names the step, the exit
// code and Packer's message; validExitCodes allows a code.
func TestSimulatorFailsAFailingCustomizer(t *testing.T) {
	c := clock.NewFake(time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC))
	b := NewImageBuilder()
	b.Now, b.CreateDuration, b.PhaseDuration = c.Now, time.Minute, time.Minute
	b.FetchScript = func(_ context.Context, url string) ([]byte, error) {
		if strings.HasSuffix(url, "/broken.ps1") {
			return []byte("\xef\xbb\xbfWrite-Host 'installing'\r\nthrow 'the installer is missing'\r\n"), nil
		}
		return []byte("exit 3010\n"), nil
	}
	var logged Outcome
	b.RunLog = func(_ context.Context, _ string, o Outcome, _ bool) (string, error) {
		logged = o
		return "https://staging.blob.core.windows.net/packerlogs/6a3c9a39-1111-4222-8333-944455556666/customization.log", nil
	}
	tpl := valid()
	tpl.Properties.Customize = []aib.ImageTemplateCustomizerClassification{
		&aib.ImageTemplatePowerShellCustomizer{Type: to.Ptr("PowerShell"), Name: to.Ptr("hello"), Inline: []*string{to.Ptr("Write-Host hello")}},
		&aib.ImageTemplatePowerShellCustomizer{Type: to.Ptr("PowerShell"), Name: to.Ptr("reboot-needed"), ScriptURI: to.Ptr("https://s.blob.core.windows.net/scripts/ok.ps1"),
			ValidExitCodes: []*int32{to.Ptr[int32](0), to.Ptr[int32](3010)}},
		&aib.ImageTemplateRestartCustomizer{Type: to.Ptr("WindowsRestart")},
		&aib.ImageTemplatePowerShellCustomizer{Type: to.Ptr("PowerShell"), Name: to.Ptr("apps"), ScriptURI: to.Ptr("https://s.blob.core.windows.net/scripts/broken.ps1")},
	}
	cl := client(t, b)
	ctx := context.Background()
	if _, err := cl.BeginCreateOrUpdate(ctx, "rg", "t", tpl, nil); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Minute)
	if _, err := cl.BeginRun(ctx, "rg", "t", nil); err != nil {
		t.Fatal(err)
	}
	c.Advance(10 * time.Minute)
	r, err := cl.Get(ctx, "rg", "t", nil)
	if err != nil {
		t.Fatal(err)
	}
	s := r.Properties.LastRunStatus
	if s == nil || string(*s.RunState) != goldenpipe.RunFailed {
		t.Fatalf("run %+v, want Failed", s)
	}
	want := PackerizerFailure + " Image Build log location: https://staging.blob.core.windows.net/packerlogs/6a3c9a39-1111-4222-8333-944455556666/customization.log." +
		" OperationId: 6a3c9a39-1111-4222-8333-944455556666. Use this operationId to search packer logs."
	if *s.Message != want {
		t.Errorf("message\n%s\nwant\n%s", *s.Message, want)
	}
	log := strings.Join(logged.Log, "\n")
	for _, w := range []string{"(telemetry) Starting provisioner powershell", "(telemetry) Starting provisioner windows-restart",
		"Provisioning with powershell script: https://s.blob.core.windows.net/scripts/broken.ps1", "customize[3] (apps) exited with code 1",
		"Script exited with non-zero exit status: 1. Allowed exit codes are: [0]"} {
		if !strings.Contains(log, w) {
			t.Errorf("the log lacks %q:\n%s", w, log)
		}
	}
	if strings.Contains(log, "customize[1]") || logged.PackerError != "Script exited with non-zero exit status: 1. Allowed exit codes are: [0]" {
		t.Errorf("exit 3010, allowed, failed the run, or Packer's error is %q:\n%s", logged.PackerError, log)
	}
	if outs, err := b.outputs("t"); err == nil && len(outs) > 0 {
		t.Errorf("a failed run has outputs: %v", outs)
	}
}

// FuzzPowerShellExit: any script text is looked at without a panic, and a
// code is only reported for a script that has an exit or a throw.
func FuzzPowerShellExit(f *testing.F) {
	for _, s := range []string{"exit 1", "throw 'x'", "if ($a) {\n exit 2\n}", "<# exit 3", "Write-Host '{'\nexit 4", "\"`\"\"\nexit 5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		code, ok := powerShellExit(s)
		low := strings.ToLower(s)
		if ok && !strings.Contains(low, "exit") && !strings.Contains(low, "throw") {
			t.Errorf("%q: exit %d reported without an exit or a throw", s, code)
		}
	})
}
