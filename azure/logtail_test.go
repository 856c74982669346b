package azure

import (
	"strings"
	"testing"
)

// A SAS that straddles where the tail is cut loses its signature: the log
// is redacted before it is cut, and a line cut at the start is dropped.
func TestLogTailRedactsBeforeItCuts(t *testing.T) {
	sas := "https://staging.blob.core.windows.net/vhds/x.vhd?sv=2022-11-02&se=2024-12-10T08%3A00%3A00Z&sr=b&sp=r&sig=SECRETSIGNATUREabc%2Bdef%3D"
	line := "PACKER OUT copying " + sas + "\n"
	filler := strings.Repeat("PACKER OUT ==> azure-arm: step\n", 1200) // > 16 KiB after the SAS line
	for cut := 0; cut < len(line); cut += 7 {
		read := []byte(line[cut:] + filler[:len(filler)-logTailBytes/2] + line + strings.Repeat("x\n", 100))
		got := LogTail(read, cut > 0)
		if strings.Contains(got, "SECRET") || strings.Contains(got, "abc%2Bdef") {
			t.Fatalf("cut at %d: the signature survived: …%s", cut, got[max(0, strings.Index(got, "SECRET")-40):])
		}
		if len(got) > logTailBytes {
			t.Fatalf("cut at %d: %d bytes, over %d", cut, len(got), logTailBytes)
		}
	}
	if got := LogTail([]byte("a short log\n"), false); got != "a short log\n" {
		t.Errorf("a short log: %q", got)
	}
}

func TestResourceGroupName(t *testing.T) {
	for in, want := range map[string]string{
		"/subscriptions/0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11/resourceGroups/IT_rg-images_avd_1a2b": "IT_rg-images_avd_1a2b",
		"/subscriptions/s/resourcegroups/rg/providers/Microsoft.Storage/storageAccounts/x":         "rg",
		"IT_rg_name": "IT_rg_name",
	} {
		if got := ResourceGroupName(in); got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
}
