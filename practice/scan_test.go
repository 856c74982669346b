package practice

import "testing"

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
