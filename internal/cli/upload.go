package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"

	"github.com/goldenpipe/goldenpipe/azure"
	"github.com/goldenpipe/goldenpipe/config"
	"github.com/goldenpipe/goldenpipe/internal/devstorage"
	"github.com/goldenpipe/goldenpipe/internal/placeholder"
	"github.com/goldenpipe/goldenpipe/template"
)

const uploadUsage = `usage: goldenpipe upload [-to scripts|templates] [-prefix FOLDER/] [-settings DIR] FILE|DIR ...

Uploads scripts or templates to the app's storage, with the app's settings:
the environment first, then DIR/local.settings.json (default: this folder).
With UseDevelopmentStorage=true it reaches the Azurite of "make run", on the
port that run keeps. Each file is streamed; a folder is uploaded with the
names of its files below it. The app hears of each upload as it would in
Azure (an Event Grid blob event), locally too.

Without -to, *.json files go to the templates container and the rest to the
scripts container. In templates, ${SCRIPTS_URL} is replaced by the scripts
container's URL (as make run's loader and goldenpipe validate replace it).

flags:
`

// Upload runs `goldenpipe upload`.
func Upload(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	var to, prefix, dir *string
	fl, code := flags("upload", uploadUsage, args, stderr, 1, 1<<20, func(fl *flag.FlagSet) {
		to = fl.String("to", "", `"scripts" or "templates" (default: by the file's name)`)
		prefix = fl.String("prefix", "", "a folder in the container to upload below (e.g. avd/)")
		dir = fl.String("settings", ".", "the folder of local.settings.json")
	})
	if code >= 0 {
		return code
	}
	if *to != "" && *to != "scripts" && *to != "templates" {
		fmt.Fprintf(stderr, "goldenpipe upload: -to %q: must be scripts or templates\n", *to)
		return exitUsage
	}
	s, where, err := appSettings(lookup, *dir)
	if err != nil {
		fmt.Fprintln(stderr, "goldenpipe upload:", err)
		return exitUsage
	}
	svc, err := azure.NewBlobService(s.Scripts)
	if err != nil {
		fmt.Fprintln(stderr, "goldenpipe upload:", err)
		return exitUsage
	}
	type item struct{ file, name string }
	var items []item
	for _, arg := range fl.Args() {
		st, err := os.Stat(arg)
		if err != nil {
			fmt.Fprintln(stderr, "goldenpipe upload:", err)
			return exitUsage
		}
		if !st.IsDir() {
			items = append(items, item{arg, path.Join(*prefix, filepath.Base(arg))})
			continue
		}
		err = filepath.WalkDir(arg, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, err := filepath.Rel(arg, p)
			items = append(items, item{p, path.Join(*prefix, filepath.ToSlash(rel))})
			return err
		})
		if err != nil {
			fmt.Fprintln(stderr, "goldenpipe upload:", err)
			return exitUsage
		}
	}
	fmt.Fprintf(stderr, "settings from %s\n", where)
	values := placeholder.Values{placeholder.ScriptsURL: svc.NewContainerClient(s.ScriptsContainer).URL()}
	for _, it := range items {
		container := *to
		if container == "" {
			container = "scripts"
			if strings.HasSuffix(strings.ToLower(it.name), ".json") {
				container = "templates"
			}
		}
		name := s.ScriptsContainer
		if container == "templates" {
			name = s.TemplatesContainer
		}
		var expand placeholder.Values
		if container == "templates" {
			expand = values
		}
		u, err := uploadFile(ctx, svc.NewContainerClient(name).NewBlockBlobClient(it.name), it.file, expand)
		if err != nil {
			fmt.Fprintf(stderr, "goldenpipe upload: %s: %v\n", it.file, azure.StorageError(err, "uploading to %s/%s failed", name, it.name))
			return exitRefused
		}
		fmt.Fprintf(stdout, "%s → %s\n", it.file, u)
	}
	return exitOK
}

// uploadFile streams a file to a block blob. A template (expand not nil)
// is read whole, at most a template's size, and its placeholders expanded
// (internal/placeholder) first.
func uploadFile(ctx context.Context, b *blockblob.Client, file string, expand placeholder.Values) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	ct := "application/octet-stream"
	switch strings.ToLower(filepath.Ext(file)) {
	case ".json":
		ct = "application/json"
	case ".ps1", ".sh", ".txt", ".cmd", ".bat":
		ct = "text/plain; charset=utf-8"
	}
	headers := &blob.HTTPHeaders{BlobContentType: &ct}
	if expand != nil {
		raw, rerr := io.ReadAll(io.LimitReader(f, template.MaxTemplateBytes+1))
		if rerr != nil {
			return "", rerr
		}
		if len(raw) > template.MaxTemplateBytes {
			return "", fmt.Errorf("larger than a template may be (%d bytes)", template.MaxTemplateBytes)
		}
		_, err = b.UploadBuffer(ctx, placeholder.Expand(raw, expand), &blockblob.UploadBufferOptions{HTTPHeaders: headers})
	} else {
		_, err = b.UploadFile(ctx, f, &blockblob.UploadFileOptions{HTTPHeaders: headers})
	}
	u, uerr := url.PathUnescape(b.URL()) // shown as people write it
	if uerr != nil {
		u = b.URL()
	}
	return u, err
}

// appSettings loads the app's settings as the handler would: the
// environment over dir's local.settings.json (when there is one), with
// Azurite at the port the last local run kept.
func appSettings(lookup func(string) (string, bool), dir string) (config.Settings, string, error) {
	values, name, err := config.LocalSettings(dir)
	where := filepath.Join(dir, name)
	if err != nil {
		values, where = map[string]string{}, "the environment"
	}
	if port, ok := devstorage.KeptPort(filepath.Join(dir, ".local", "azurite")); ok {
		devstorage.PointAt(values, fmt.Sprintf("http://127.0.0.1:%d", port))
	} else {
		devstorage.PointAt(values, "http://127.0.0.1:10000")
	}
	s, err := config.Load(func(k string) (string, bool) {
		if v, ok := lookup(k); ok {
			return v, true
		}
		v, ok := values[k]
		return v, ok
	})
	var p config.Problems
	if errors.As(err, &p) {
		return s, where, fmt.Errorf("the settings (%s) have problems: %w", where, err)
	}
	return s, where, err
}
