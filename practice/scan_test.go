package practice

import (
	"bytes"
	"slices"
	"testing"
	"unicode/utf16"
)

func TestScan(t *testing.T) {
	tests := []struct {
		name, script string
		want         []string // "check:line"
	}{
		{"domain join", "$cred = Get-Credential\nAdd-Computer -DomainName contoso.com -Credential $cred -Restart\n", []string{"domain-join:2"}},
		{"djoin", "djoin.exe /requestODJ /loadfile blob.txt /windowspath %SystemRoot% /localos\n", []string{"domain-join:1"}},
		{"domain join only in a comment", "# Add-Computer -DomainName contoso.com (done by the host pool, not here)\n<#\nAdd-Computer -DomainName contoso.com\n#>\nWrite-Host ok\n", nil},
		{"realm join on Linux", "sudo realm join --user=admin contoso.com\n", []string{"domain-join:1"}},
		{"sysprep yourself", "Write-Host done\n& $env:SystemRoot\\System32\\Sysprep\\Sysprep.exe /oobe /generalize /quiet /quit\n", []string{"self-sysprep:2"}},
		{"deprovision yourself", "sudo waagent -force -deprovision+user\n", []string{"self-sysprep:1"}},
		{"sysprep mentioned harmlessly", "Get-ChildItem C:\\Windows\\System32\\Sysprep\n", nil},
		{"antivirus left on", "Start-Process msiexec -ArgumentList '/i CrowdStrikeWindowsSensor.msi /quiet' -Wait\nWrite-Host done\n", []string{"antivirus:1"}},
		{"antivirus then disabled", "Start-Process .\\WindowsSensor.exe -ArgumentList '/install /quiet NO_START=1' -Wait\nStop-Service CSFalconService\n", nil},
		{"antivirus installed then stopped", "sudo dpkg -i falcon-sensor.deb SentinelAgent.deb\nsudo systemctl disable sentinelone\n", nil},
		{"a clean script", "Write-Host 'installing apps'\nStart-Process msiexec -ArgumentList '/i app.msi /quiet' -Wait\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Scan(tt.script)
			var have []string
			for _, f := range got {
				have = append(have, f.Check+":"+itoa(f.Line))
				if Reason(f.Check) == "" {
					t.Errorf("check %s has no reason", f.Check)
				}
			}
			if len(have) != len(tt.want) {
				t.Fatalf("findings %v, want %v", have, tt.want)
			}
			for i := range have {
				if have[i] != tt.want[i] {
					t.Errorf("findings %v, want %v", have, tt.want)
				}
			}
		})
	}
}

func itoa(n int) string {
	s := ""
	for n > 0 {
		s = string(rune('0'+n%10)) + s
		n /= 10
	}
	return s
}

func FuzzScan(f *testing.F) {
	f.Add("Add-Computer -DomainName x\n<#\nsysprep /generalize\n")
	f.Fuzz(func(t *testing.T, s string) {
		for _, fd := range Scan(s) {
			if fd.Line < 1 || Reason(fd.Check) == "" {
				t.Fatalf("%+v", fd)
			}
		}
	})
}

func utf16With(bom []byte, le bool, s string) []byte {
	out := append([]byte{}, bom...)
	for _, u := range utf16.Encode([]rune(s)) {
		if le {
			out = append(out, byte(u), byte(u>>8))
		} else {
			out = append(out, byte(u>>8), byte(u))
		}
	}
	return out
}

// TestScanFile: a script is read in the encodings Windows saves it in, and a
// binary file (an installer that names an antivirus vendor) is not a script.
func TestScanFile(t *testing.T) {
	join := "Write-Host 'café'\nAdd-Computer -DomainName contoso.com\n"
	msi := append([]byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0, 0}, []byte("CrowdStrike WindowsSensor installer\n")...)
	tests := []struct {
		name string
		file []byte
		want []string
	}{
		{"UTF-8", []byte(join), []string{"domain-join:2"}},
		{"UTF-8 with a byte-order mark", append([]byte{0xEF, 0xBB, 0xBF}, join...), []string{"domain-join:2"}},
		{"UTF-16 LE with its mark (Windows PowerShell 5.1's default)", utf16With([]byte{0xFF, 0xFE}, true, join), []string{"domain-join:2"}},
		{"UTF-16 BE with its mark", utf16With([]byte{0xFE, 0xFF}, false, join), []string{"domain-join:2"}},
		{"UTF-16 LE cut in a code unit", utf16With([]byte{0xFF, 0xFE}, true, join)[:len(join)*2+1], []string{"domain-join:2"}},
		{"an MSI naming an antivirus vendor", msi, nil},
		{"a NUL after the probe is still text", append(append([]byte("Add-Computer -DomainName x\n"), bytes.Repeat([]byte("a"), binaryProbe)...), 0), []string{"domain-join:1"}},
		{"empty", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var have []string
			for _, f := range ScanFile(tt.file) {
				have = append(have, f.Check+":"+itoa(f.Line))
			}
			if !slices.Equal(have, tt.want) {
				t.Errorf("findings %v, want %v", have, tt.want)
			}
		})
	}
	if text, ok := Text(utf16With([]byte{0xFF, 0xFE}, true, "é 설치")); !ok || text != "é 설치" {
		t.Errorf("Text(UTF-16 LE) = %q, %v", text, ok)
	}
}

func FuzzScanFile(f *testing.F) {
	f.Add([]byte{0xFF, 0xFE, 'A', 0, '\n', 0})
	f.Add([]byte("Add-Computer -DomainName x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		text, ok := Text(b)
		if !ok && text != "" {
			t.Fatalf("binary with text %q", text)
		}
		if len(text) > 3*len(b) {
			t.Fatalf("%d bytes of text from %d bytes", len(text), len(b))
		}
		for _, fd := range ScanFile(b) {
			if fd.Line < 1 || Reason(fd.Check) == "" {
				t.Fatalf("%+v", fd)
			}
		}
	})
}
