// Command package writes the deployable zip of the function app.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/goldenpipe/goldenpipe/internal/pack"
)

func main() {
	bin := flag.String("bin", "bin/goldenpipe", "the built handler binary")
	out := flag.String("out", "dist/goldenpipe.zip", "the zip to write")
	flag.Parse()
	if err := run(*bin, *out); err != nil {
		fmt.Fprintln(os.Stderr, "package:", err)
		os.Exit(1)
	}
}

func run(bin, out string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(out), filepath.Base(out)+".*.tmp") // its own: two packagings at once both land whole
	if err != nil {
		return err
	}
	tmp := f.Name()
	if err := pack.Write(f, ".", bin); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	fmt.Println("wrote", out)
	return nil
}
