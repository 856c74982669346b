// Package pack builds the deployment zip of the function app: host.json at
// the root, one folder per function holding its function.json, and the
// handler binary (executable) where host.json's customHandler points.
package pack

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"
)

// HostJSON is the part of host.json the packager reads.
type HostJSON struct {
	Version       string `json:"version"`
	CustomHandler struct {
		Description struct {
			DefaultExecutablePath string `json:"defaultExecutablePath"`
		} `json:"description"`
		EnableForwardingHTTPRequest bool `json:"enableForwardingHttpRequest"`
	} `json:"customHandler"`
	ExtensionBundle struct {
		ID      string `json:"id"`
		Version string `json:"version"`
	} `json:"extensionBundle"`
}

// ReadHostJSON reads and checks root/host.json.
func ReadHostJSON(root string) (HostJSON, error) {
	var h HostJSON
	b, err := os.ReadFile(filepath.Join(root, "host.json"))
	if err != nil {
		return h, err
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return h, fmt.Errorf("host.json: %w", err)
	}
	if h.Version != "2.0" || h.CustomHandler.Description.DefaultExecutablePath == "" {
		return h, fmt.Errorf("host.json: needs version 2.0 and customHandler.description.defaultExecutablePath")
	}
	return h, nil
}

// fixed time for reproducible archives
var modTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Write writes the zip of the app in root (host.json, functions/*) with the
// binary at bin to w.
func Write(w io.Writer, root, bin string) error {
	h, err := ReadHostJSON(root)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(w)
	add := func(name, src string, mode fs.FileMode) error {
		f, err := os.Open(src)
		if err != nil {
			return err
		}
		defer f.Close()
		hdr := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: modTime}
		hdr.SetMode(mode)
		dst, err := zw.CreateHeader(hdr)
		if err != nil {
			return err
		}
		_, err = io.Copy(dst, f)
		return err
	}
	if err := add("host.json", filepath.Join(root, "host.json"), 0o644); err != nil {
		return fmt.Errorf("adding host.json: %w", err)
	}
	dirs, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		return fmt.Errorf("reading functions/: %w", err)
	}
	sort.Slice(dirs, func(i, j int) bool { return dirs[i].Name() < dirs[j].Name() })
	n := 0
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		src := filepath.Join(root, "functions", d.Name(), "function.json")
		if _, err := os.Stat(src); err != nil {
			return fmt.Errorf("function %s has no function.json", d.Name())
		}
		if err := add(path.Join(d.Name(), "function.json"), src, 0o644); err != nil {
			return fmt.Errorf("adding %s: %w", d.Name(), err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("no functions under %s", filepath.Join(root, "functions"))
	}
	if err := add(h.CustomHandler.Description.DefaultExecutablePath, bin, 0o755); err != nil {
		return fmt.Errorf("adding the handler binary: %w", err)
	}
	return zw.Close()
}
