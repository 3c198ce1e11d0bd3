package main

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/tools/go/packages"
)

type pkgT = packages.Package

// program is the checkout's packages, type-checked from source with all their dependencies.
type program struct {
	fset     *token.FileSet
	repo     string
	modCache string
	module   string
	// Every package, by import path.
	pkgs map[string]*packages.Package
	// The packages the roots name, in -root order.
	roots []*packages.Package
	// Modules other than the checkout's whose structs are walked into.
	walkModules []string
	specs       []rootSpec
}

func (p *program) rootSpecs() []rootSpec { return p.specs }

func load(o *options) (*program, error) {
	patterns := []string{}
	seen := map[string]bool{}
	for _, r := range o.roots {
		if !seen[r.pkg] {
			seen[r.pkg] = true
			patterns = append(patterns, r.pkg)
		}
	}
	fset := token.NewFileSet()
	cfg := &packages.Config{
		Mode: packages.NeedName | packages.NeedFiles | packages.NeedImports | packages.NeedDeps |
			packages.NeedTypes | packages.NeedSyntax | packages.NeedTypesInfo | packages.NeedModule,
		Dir:  o.repo,
		Fset: fset,
		// Toolchain downloads are not possible here; the checkout builds with the local Go.
		Env: append(os.Environ(), "GOTOOLCHAIN=local", "CGO_ENABLED=0", "GOFLAGS=-mod="+modMode(o.repo)),
		// Type errors in a dependency (a vendored file the snapshot lacks) do not stop the reading.
		ParseFile: nil,
	}
	pkgs, err := packages.Load(cfg, patterns...)
	if err != nil {
		return nil, fmt.Errorf("loading %v in %s: %w", patterns, o.repo, err)
	}
	p := &program{fset: fset, repo: o.repo, pkgs: map[string]*packages.Package{}, specs: o.roots}
	p.modCache = strings.TrimSpace(goEnv(o.repo, "GOMODCACHE"))
	errs := 0
	packages.Visit(pkgs, nil, func(pk *packages.Package) {
		p.pkgs[pk.PkgPath] = pk
		errs += len(pk.Errors)
	})
	if errs > 0 {
		fmt.Fprintf(os.Stderr, "config-facts: %d package errors while loading (type errors in files the analysis may not need; first ones below)\n", errs)
		n := 0
		packages.Visit(pkgs, nil, func(pk *packages.Package) {
			for _, e := range pk.Errors {
				if n < 5 {
					fmt.Fprintf(os.Stderr, "  %s: %v\n", pk.PkgPath, e)
				}
				n++
			}
		})
	}
	for _, r := range o.roots {
		var found *packages.Package
		for _, pk := range pkgs {
			if pk.Types != nil && samePattern(o.repo, pk, r.pkg) {
				found = pk
			}
		}
		if found == nil {
			return nil, fmt.Errorf("package %s not loaded", r.pkg)
		}
		p.roots = append(p.roots, found)
	}
	if m := p.roots[0].Module; m != nil {
		p.module = m.Path
	}
	p.walkModules = append([]string{"github.com/grafana/dskit"}, o.walkModules...)
	return p, nil
}

func modMode(repo string) string {
	if _, err := os.Stat(filepath.Join(repo, "vendor", "modules.txt")); err == nil {
		return "vendor"
	}
	return "readonly"
}

func goEnv(dir, name string) string {
	cmd := execCommand(dir, "go", "env", name)
	return cmd
}

func samePattern(repo string, pk *packages.Package, pattern string) bool {
	if len(pk.GoFiles) == 0 {
		return false
	}
	dir := filepath.Dir(pk.GoFiles[0])
	want := filepath.Clean(filepath.Join(repo, pattern))
	return dir == want || pk.PkgPath == pattern
}

// owned reports whether the structs of package path are walked into: the checkout's module,
// modules it replaces with a local directory, dskit and -walk-module ones. Another module's
// struct decodes by its own rules (Prometheus configs…): its keys are not this tool's to list.
func (p *program) owned(pkgPath string) bool {
	under := func(m string) bool { return pkgPath == m || strings.HasPrefix(pkgPath, m+"/") }
	if p.module != "" && under(p.module) {
		return true
	}
	for _, m := range p.walkModules {
		if under(m) {
			return true
		}
	}
	if pk := p.pkgs[pkgPath]; pk != nil && pk.Module != nil {
		if r := pk.Module.Replace; r != nil && (strings.HasPrefix(r.Path, ".") || strings.HasPrefix(r.Path, "/")) {
			return true
		}
	}
	return false
}

// where renders a position as the file relative to the checkout (or module@version/file for
// the module cache) and its line.
func (p *program) where(pos token.Pos) string {
	ps := p.fset.Position(pos)
	return p.relFile(ps.Filename) + ":" + fmt.Sprint(ps.Line)
}

func (p *program) relFile(f string) string {
	if r, err := filepath.Rel(p.repo, f); err == nil && !strings.HasPrefix(r, "..") {
		return filepath.ToSlash(r)
	}
	if p.modCache != "" {
		if r, err := filepath.Rel(p.modCache, f); err == nil && !strings.HasPrefix(r, "..") {
			r = filepath.ToSlash(r)
			if i := strings.Index(r, "@"); i >= 0 {
				if j := strings.Index(r[i:], "/"); j >= 0 {
					return r[:i+j] + ":" + r[i+j+1:]
				}
			}
			return r
		}
	}
	return f
}

// moduleVersions lists the non-vendored modules (outside the checkout) whose files facts may
// cite, with their versions, for the header.
func (p *program) moduleVersions() []string {
	if modMode(p.repo) == "vendor" {
		return []string{"vendor/ of the checkout"}
	}
	set := map[string]bool{}
	for _, pk := range p.pkgs {
		if pk.Module == nil || pk.Module.Main || !p.owned(pk.PkgPath) {
			continue
		}
		v := pk.Module.Path + "@" + pk.Module.Version
		if pk.Module.Replace != nil {
			v += " => " + pk.Module.Replace.Path
			if pk.Module.Replace.Version != "" {
				v += "@" + pk.Module.Replace.Version
			}
		}
		set[v] = true
	}
	var out []string
	for v := range set {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// info returns the type information of the package a node's file belongs to.
func (p *program) pkgOf(obj types.Object) *packages.Package {
	if obj == nil || obj.Pkg() == nil {
		return nil
	}
	return p.pkgs[obj.Pkg().Path()]
}

// files yields every syntax file with its package.
func (p *program) eachFile(fn func(pk *packages.Package, f *ast.File)) {
	var paths []string
	for path := range p.pkgs {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	for _, path := range paths {
		pk := p.pkgs[path]
		if pk.TypesInfo == nil {
			continue
		}
		for _, f := range pk.Syntax {
			fn(pk, f)
		}
	}
}
