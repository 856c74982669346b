package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/goldenpipe/goldenpipe/internal/apitest"
	"github.com/goldenpipe/goldenpipe/internal/azurite"
)

// descendants lists every process below pid, read from /proc.
func descendants(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, field := range strings.Fields(string(b)) {
			var child int
			fmt.Sscan(field, &child)
			out = append(out, child)
			out = append(out, descendants(child)...)
		}
	}
	return out
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// a zombie (state Z) has exited
	fields := strings.Fields(string(b))
	return len(fields) > 2 && fields[2] != "Z"
}

// TestRunLocallyAndStopCleanly is `make run` from a newcomer's seat: the
// dev runner starts Azurite and the handler, says where it listens, serves
// health, and Ctrl-C (SIGINT) leaves no process behind.
func TestRunLocallyAndStopCleanly(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "devrun")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	// inside the repo, as make run, but with the example settings and an
	// empty folder of the user's (devrun()): what the user put in local/
	// is not this test's business
	cmd, lines := devrun(t, bin, "-port", fmt.Sprint(port), "-data", filepath.Join(dir, "azurite"), "-azurite-port", "0", "-phase", "100ms", "-speed", "1200")

	found := make(chan string, 1)
	go func() {
		for l := range lines {
			if strings.HasPrefix(l, "goldenpipe listening on ") {
				found <- l
			}
		}
		close(found)
	}()
	var line string
	select {
	case line = <-found:
	case <-time.After(90 * time.Second):
		t.Fatal("devrun did not say where it listens within 90 s")
	}
	want := fmt.Sprintf("goldenpipe listening on http://127.0.0.1:%d", port)
	if !strings.HasPrefix(line, want) {
		t.Fatalf("said %q, want %q", line, want)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/health", port))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"status": "ok"`) {
		t.Fatalf("health: %d %s", resp.StatusCode, body)
	}

	// the examples' builds run to the end: the status page says so
	var page string
	for i := 0; i < 300; i++ {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/", port))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			page = string(b)
			if strings.Count(page, `<span class="state ok">succeeded</span>`) == 2 {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, want := range []string{"avd-win11", "ubuntu-web", `<span class="state ok">succeeded</span>`, "avd/install-apps.ps1", "/vhds/avd-win11/",
		"<strong>Simulated:</strong> Image Builder (simulator), Service Bus (in-process)", "0 in flight · 0 waiting · 0 failed in the last 24 h · 0 invalid template(s)"} {
		if !strings.Contains(page, want) {
			t.Errorf("the status page lacks %q after the examples' builds:\n%s", want, page)
		}
	}

	children := descendants(cmd.Process.Pid)
	if len(children) == 0 {
		t.Fatal("no Azurite process below devrun")
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("devrun exited with %v after SIGINT", err)
		}
	case <-ctx.Done():
		t.Fatal("devrun did not stop within 30 s of SIGINT")
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range children {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if alive(pid) {
			t.Errorf("process %d (%s) still running after devrun stopped", pid, cmdline(pid))
		}
	}
}

func cmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.ReplaceAll(string(b), "\x00", " ")
}

// A user's own template, with latest of an image beyond the examples (RHEL
// 9, Windows 10 multi-session AVD), put in a folder of theirs, builds end
// to end on `make run` (devrun -load; local/ by default).
func TestUsersTemplateBuildsLocally(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "devrun")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	mine := filepath.Join(dir, "mine")
	for name, body := range map[string]string{
		"templates/rhel9.json": `{
  "type": "Microsoft.VirtualMachineImages/imageTemplates", "apiVersion": "2022-07-01", "location": "westeurope",
  "identity": {"type": "UserAssigned", "userAssignedIdentities": {"/subscriptions/0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11/resourcegroups/rg-images/providers/Microsoft.ManagedIdentity/userAssignedIdentities/aib": {}}},
  "properties": {
    "source": {"type": "PlatformImage", "publisher": "RedHat", "offer": "RHEL", "sku": "9-lvm-gen2", "version": "latest"},
    "customize": [{"type": "Shell", "name": "update", "inline": ["sudo dnf -y update"]}],
    "distribute": [{"type": "VHD", "runOutputName": "rhel9-vhd"}]
  }
}`,
		"templates/win10-avd.json": `{
  "type": "Microsoft.VirtualMachineImages/imageTemplates", "apiVersion": "2024-02-01", "location": "westeurope",
  "identity": {"type": "UserAssigned", "userAssignedIdentities": {"/subscriptions/0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11/resourcegroups/rg-images/providers/Microsoft.ManagedIdentity/userAssignedIdentities/aib": {}}},
  "properties": {
    "source": {"type": "PlatformImage", "publisher": "MicrosoftWindowsDesktop", "offer": "windows-10", "sku": "win10-22h2-avd", "version": "latest"},
    "customize": [{"type": "PowerShell", "name": "apps", "runElevated": true, "inline": ["Write-Host apps"]}, {"type": "WindowsUpdate"}, {"type": "WindowsRestart"}],
    "distribute": [{"type": "VHD", "runOutputName": "win10-vhd"}]
  }
}`,
	} {
		p := filepath.Join(mine, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	devrun(t, bin, "-port", fmt.Sprint(port), "-data", filepath.Join(dir, "azurite"), "-azurite-port", "0", "-phase", "100ms", "-speed", "1200",
		"-examples=false", "-load", mine)
	var body string
	succeeded := func() int {
		var list []struct{ Template, State string }
		_, _ = apitest.AppendPage([]byte(body), &list)
		n := 0
		for _, b := range list {
			if b.State == "succeeded" {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(120 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/builds", port)); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			if succeeded() == 2 {
				break
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, want := range []string{`"template": "rhel9"`, `"sourceVersion": "9.5.2024111422"`, `"template": "win10-avd"`, `"sourceVersion": "19045.5131.241106"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the builds lack %s:\n%s", want, body)
		}
	}
	if succeeded() != 2 {
		tpls := ""
		if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/templates", port)); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			tpls = string(b)
		}
		t.Errorf("not both succeeded:\n%.2000s\ntemplates:\n%.3000s", body, tpls)
	}
}

// TestUploadsWithAnyToolTriggerTheApp: a script and a template uploaded to
// Azurite with the plain Azure SDK (no app code, no hand-written event)
// are hashed, rendered and built; a change to the script is exactly one
// rebuild, whose reason names the script; the template deleted is gone.
func TestUploadsWithAnyToolTriggerTheApp(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "devrun")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	empty := filepath.Join(dir, "nothing")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	_, lines := devrun(t, bin, "-port", fmt.Sprint(port), "-data", filepath.Join(dir, "azurite"), "-azurite-port", "0", "-phase", "100ms", "-speed", "1200",
		"-watch", "100ms", "-examples=false", "-load", empty)
	connCh := make(chan string, 1)
	go func() {
		for l := range lines {
			if _, cs, ok := strings.Cut(l, "azurite connection string (Storage Explorer, az storage --connection-string, azcopy): "); ok {
				connCh <- cs
			}
		}
	}()
	var conn string
	select {
	case conn = <-connCh:
	case <-time.After(2 * time.Minute):
		t.Fatal("devrun printed no Azurite connection string")
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	get := func(path string, v any) int { return getJSON(base+path, v) }
	waitFor := func(what string, cond func() bool) { t.Helper(); waitUntil(t, what, cond) }
	// make run has no function keys in front: a DNS-rebound Host is refused
	waitFor("the handler", func() bool { return get("/api/health", &struct{}{}) != 0 })
	rebound, _ := http.NewRequest(http.MethodGet, base+"/api/builds", nil)
	rebound.Host = "attacker.example:7071"
	if resp, err := http.DefaultClient.Do(rebound); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("a request for Host attacker.example was answered: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	type build struct{ ID, Template, State, Reason string }
	buildsOf := func() (out []build) {
		var all []build
		get("/api/builds", &all)
		for _, b := range all {
			if b.Template == "mine" {
				out = append(out, b)
			}
		}
		return out
	}
	type record struct {
		Valid    bool
		Problems []struct{ Path, Message string }
		Rendered *struct{ Scripts map[string]string }
		Plan     *struct {
			Rebuild bool
			Reason  string
		}
	}

	// the user's side: the plain SDK, the connection string devrun printed
	client, err := azblob.NewClientFromConnectionString(conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	put := func(container, name, body string) {
		t.Helper()
		if _, err := client.UploadBuffer(ctx, container, name, []byte(body), nil); err != nil {
			t.Fatalf("upload %s/%s: %v", container, name, err)
		}
	}
	scriptURL := client.URL() + "scripts/linux/hello.sh"
	put("scripts", "linux/hello.sh", "#!/bin/bash\necho hello\n")
	put("templates", "mine.json", `{
  "type": "Microsoft.VirtualMachineImages/imageTemplates", "apiVersion": "2024-02-01", "location": "westeurope",
  "identity": {"type": "UserAssigned", "userAssignedIdentities": {"/subscriptions/0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11/resourcegroups/rg-images/providers/Microsoft.ManagedIdentity/userAssignedIdentities/aib": {}}},
  "properties": {
    "source": {"type": "PlatformImage", "publisher": "Canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts-gen2", "version": "latest"},
    "customize": [{"type": "Shell", "name": "hello", "scriptUri": "`+scriptURL+`"}],
    "distribute": [{"type": "VHD", "runOutputName": "mine-vhd"}]
  }
}`)
	var rec record
	waitFor("the template's record with the script's checksum", func() bool {
		rec = record{}
		return get("/api/templates/mine", &rec) == 200 && rec.Rendered != nil && rec.Rendered.Scripts["linux/hello.sh"] != ""
	})
	if !rec.Valid {
		t.Fatalf("the template is not valid: %+v", rec.Problems)
	}
	first := rec.Rendered.Scripts["linux/hello.sh"]
	waitFor("the first build to succeed", func() bool { b := buildsOf(); return len(b) == 1 && b[0].State == "succeeded" })

	put("scripts", "linux/hello.sh", "#!/bin/bash\necho hello again\n")
	waitFor("the rebuild to succeed", func() bool {
		b := buildsOf()
		return len(b) >= 2 && b[0].State == "succeeded" && b[1].State == "succeeded"
	})
	// settled: the plan is up to date; still exactly two builds
	waitFor("the plan to be up to date", func() bool {
		rec = record{}
		return get("/api/templates/mine", &rec) == 200 && rec.Plan != nil && !rec.Plan.Rebuild
	})
	b := buildsOf()
	if len(b) != 2 {
		t.Fatalf("a script change made %d builds, want exactly 1 rebuild: %+v", len(b)-1, b)
	}
	t.Logf("builds: %+v", b)
	rebuild := b[0]
	if b[1].Reason != "" && strings.Contains(b[1].Reason, "linux/hello.sh") {
		rebuild = b[1]
	}
	if !strings.Contains(rebuild.Reason, "linux/hello.sh") || rec.Rendered.Scripts["linux/hello.sh"] == first {
		t.Errorf("the rebuild's reason does not name the script, or the checksum did not change: %+v; %v", b, rec.Rendered.Scripts)
	}

	if _, err := client.DeleteBlob(ctx, "templates", "mine.json", nil); err != nil {
		t.Fatal(err)
	}
	waitFor("the template to be gone", func() bool { return get("/api/templates/mine", &record{}) == 404 })
}

// TestAzuritePortIsKept: the last run's port first (the URLs in its data
// name it), then the standard 10000, then any.
func TestAzuritePortIsKept(t *testing.T) {
	dir := t.TempDir()
	all := func(int) bool { return true }
	none := func(int) bool { return false }
	only := func(p int) func(int) bool { return func(q int) bool { return q == p } }
	if p := azuritePort(dir, all); p != 10000 {
		t.Errorf("fresh data: port %d, want 10000", p)
	}
	if p := azuritePort(dir, none); p != 0 {
		t.Errorf("fresh data, 10000 taken: port %d, want 0 (any)", p)
	}
	if err := azurite.KeepPort(dir, "http://127.0.0.1:41234"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		free func(int) bool
		want int
	}{{all, 41234}, {only(10000), 10000}, {none, 0}} {
		if p := azuritePort(dir, tt.free); p != tt.want {
			t.Errorf("kept 41234: port %d, want %d", p, tt.want)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, azurite.PortFile), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if p := azuritePort(dir, all); p != 10000 {
		t.Errorf("unreadable port file: port %d, want 10000", p)
	}
}

// TestMakeRunTwice: a second `make run` on the same data (same Azurite
// port, kept) re-uploads the examples, sees they did not change, and
// starts no build.
func TestMakeRunTwice(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "devrun")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	free := func() int {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
	data := filepath.Join(dir, "azurite")
	empty := filepath.Join(dir, "nothing")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	azPort := free()
	for !azurite.PortsFree(azPort) {
		azPort = free()
	}
	type record struct {
		ETag string
		Plan *struct {
			Rebuild bool
			Reason  string
		}
	}
	run := func(check func(base string)) {
		port := free()
		for port >= azPort && port <= azPort+2 {
			port = free()
		}
		cmd, _ := devrun(t, bin, "-port", fmt.Sprint(port), "-data", data, "-azurite-port", fmt.Sprint(azPort),
			"-phase", "100ms", "-speed", "1200", "-watch", "100ms", "-load", empty)
		defer func() { _ = cmd.Process.Signal(syscall.SIGINT); _ = cmd.Wait() }()
		check(fmt.Sprintf("http://127.0.0.1:%d", port))
	}
	get := getJSON
	waitFor := func(what string, cond func() bool) { t.Helper(); waitUntil(t, what, cond) }
	type build struct{ ID, Template, State, Reason string }
	examples := []string{"avd-win11", "ubuntu-web"}
	var firstBuilds []build
	etags := map[string]string{}
	run(func(base string) {
		waitFor("one successful build per example", func() bool {
			firstBuilds = nil
			get(base+"/api/builds", &firstBuilds)
			ok := 0
			for _, b := range firstBuilds {
				if b.State == "succeeded" {
					ok++
				}
			}
			return len(firstBuilds) == len(examples) && ok == len(examples)
		})
		for _, name := range examples {
			var rec record
			get(base+"/api/templates/"+name, &rec)
			etags[name] = rec.ETag
		}
	})
	run(func(base string) {
		for _, name := range examples {
			var rec record
			waitFor(name+" uploaded again and planned", func() bool {
				rec = record{}
				return get(base+"/api/templates/"+name, &rec) == 200 && rec.ETag != etags[name] && rec.Plan != nil
			})
			if rec.Plan.Rebuild {
				t.Errorf("%s: the second run plans a rebuild: %s", name, rec.Plan.Reason)
			}
		}
		var builds []build
		get(base+"/api/builds", &builds)
		if len(builds) != len(firstBuilds) {
			t.Errorf("the second run started builds: %+v", builds)
		}
	})
}

// getJSON decodes the answer to a GET of url into v and returns its status
// (0 when the handler does not answer yet).
func getJSON(url string, v any) int { return apitest.Get(url, v) }

// waitUntil polls cond until it holds, failing the test after 2 minutes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
