package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// modproxy writes a one-module file proxy (GOPROXY=file://DIR) serving a source tree as
// module@version. The go command then checks the tree against the requiring go.sum, so a
// version the public proxy refuses can come from a git snapshot of its exact commit.
func modproxy(args []string) error {
	fs := flag.NewFlagSet("modproxy", flag.ExitOnError)
	dir := fs.String("dir", "", "proxy directory to write (GOPROXY=file://DIR)")
	mod := fs.String("module", "", "module path")
	ver := fs.String("version", "", "module version (as the requiring go.mod names it)")
	src := fs.String("src", "", "source tree of that version (its go.mod at the root)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *mod == "" || *ver == "" || *src == "" {
		return fmt.Errorf("modproxy: -dir, -module, -version and -src are required")
	}
	m := module.Version{Path: *mod, Version: *ver}
	ep, err := module.EscapePath(m.Path)
	if err != nil {
		return err
	}
	ev, err := module.EscapeVersion(m.Version)
	if err != nil {
		return err
	}
	at := filepath.Join(*dir, filepath.FromSlash(ep), "@v")
	if err := os.MkdirAll(at, 0o755); err != nil {
		return err
	}
	gomod, err := os.ReadFile(filepath.Join(*src, "go.mod"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(at, ev+".mod"), gomod, 0o644); err != nil {
		return err
	}
	info, _ := json.Marshal(struct {
		Version string
		Time    time.Time
	}{m.Version, time.Unix(0, 0).UTC()})
	if err := os.WriteFile(filepath.Join(at, ev+".info"), info, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(at, "list"), []byte(m.Version+"\n"), 0o644); err != nil {
		return err
	}
	z, err := os.Create(filepath.Join(at, ev+".zip"))
	if err != nil {
		return err
	}
	defer z.Close()
	if err := modzip.CreateFromDir(z, m, *src); err != nil {
		return fmt.Errorf("zipping %s: %w", *src, err)
	}
	return z.Close()
}
