// Command config-facts reads a Grafana backend's configuration from its own Go sources with
// go/packages and go/types and prints facts about its YAML keys: each key's Go type, the
// closed value sets the code accepts (one-of), and deprecations, each with the file and line
// it was read from. See README.md.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// rootSpec is one config struct tree: its YAML path prefix and its Go type.
type rootSpec struct {
	prefix string // "" for the main file, "runtime:" for a file, "overrides" for a block
	pkg    string // package pattern relative to the checkout (./pkg/loki)
	typ    string // type name in that package
	// For a legacy format: the prefix its keys are deprecated in favour of.
	legacyTo string
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

type options struct {
	repo, pkg, typ, name, version, source string
	roots                                 []rootSpec
	compare                               string
	docMD                                 []string
	walkModules                           []string
	args                                  []string
}

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "modproxy" || os.Args[1] == "reference") {
		sub := modproxy
		if os.Args[1] == "reference" {
			sub = fromReference
		}
		if err := sub(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "config-facts:", err)
			os.Exit(1)
		}
		return
	}
	o, err := parseOptions(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "config-facts:", err)
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "config-facts:", err)
		os.Exit(1)
	}
}

func parseOptions(args []string) (*options, error) {
	fs := flag.NewFlagSet("config-facts", flag.ContinueOnError)
	o := &options{}
	var roots, legacy, docs, walk multiFlag
	fs.StringVar(&o.repo, "repo", "", "checkout of the backend at the pinned tag")
	fs.StringVar(&o.pkg, "pkg", "", "package of the root config type, relative to -repo (./pkg/loki)")
	fs.StringVar(&o.typ, "type", "Config", "root config type")
	fs.StringVar(&o.name, "name", "", "backend name for the header (loki)")
	fs.StringVar(&o.version, "version", "", "backend version for the header (3.7.6)")
	fs.StringVar(&o.source, "source", "", "owner/repo@commit for the header (default: read from -repo's git, else required)")
	fs.Var(&roots, "root", "another config tree, PREFIX=PKG.TYPE (runtime:=./pkg/validation.RuntimeConfigValues); repeatable")
	fs.Var(&legacy, "legacy", "a legacy format whose keys are deprecated, PREFIX=PKG.TYPE>NEWPREFIX; repeatable")
	fs.Var(&docs, "doc-md", "a Markdown configuration page of the checkout whose YAML blocks mark keys `# Deprecated`; repeatable")
	fs.Var(&walk, "walk-module", "another module whose structs are walked into (besides the checkout's and dskit); repeatable")
	fs.StringVar(&o.compare, "compare", "", "kalypso reference .tsv: print the key paths only one side has (stderr)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if o.repo == "" || o.pkg == "" || o.name == "" || o.version == "" {
		return nil, fmt.Errorf("-repo, -pkg, -name and -version are required")
	}
	o.roots = append(o.roots, rootSpec{pkg: o.pkg, typ: o.typ})
	for _, r := range roots {
		s, err := parseRoot(r)
		if err != nil {
			return nil, err
		}
		o.roots = append(o.roots, s)
	}
	for _, r := range legacy {
		spec, to, ok := strings.Cut(r, ">")
		if !ok {
			return nil, fmt.Errorf("-legacy %q: want PREFIX=PKG.TYPE>NEWPREFIX", r)
		}
		s, err := parseRoot(spec)
		if err != nil {
			return nil, err
		}
		s.legacyTo = to
		o.roots = append(o.roots, s)
	}
	o.docMD = docs
	o.walkModules = walk
	o.args = args
	return o, nil
}

func parseRoot(r string) (rootSpec, error) {
	prefix, rest, ok := strings.Cut(r, "=")
	i := strings.LastIndex(rest, ".")
	if !ok || i <= 0 {
		return rootSpec{}, fmt.Errorf("root %q: want PREFIX=PKG.TYPE", r)
	}
	return rootSpec{prefix: prefix, pkg: rest[:i], typ: rest[i+1:]}, nil
}

func run(o *options) error {
	repo, err := filepath.Abs(o.repo)
	if err != nil {
		return err
	}
	o.repo = repo
	prog, err := load(o)
	if err != nil {
		return err
	}
	w := newWalker(prog, o)
	for _, r := range o.roots {
		if err := w.walkRoot(r); err != nil {
			return err
		}
	}
	idx := newIndex(prog, w)
	var facts []fact
	facts = append(facts, w.keyFacts()...)
	facts = append(facts, idx.oneOfFacts()...)
	facts = append(facts, idx.deprecatedFacts()...)
	for _, d := range o.docMD {
		fs, err := idx.docDeprecations(d)
		if err != nil {
			return err
		}
		facts = append(facts, fs...)
	}
	facts = mergeFacts(mergeDeprecated(facts))
	header, err := headerLines(o, prog)
	if err != nil {
		return err
	}
	out := strings.Join(header, "\n") + "\n"
	for _, f := range facts {
		out += f.line() + "\n"
	}
	if _, err := os.Stdout.WriteString(out); err != nil {
		return err
	}
	summary(o, w, facts)
	if o.compare != "" {
		return compare(o.compare, w)
	}
	return nil
}

// fact is one output line: path, kind, value, evidence.
type fact struct {
	path, kind, value, evidence string
}

func (f fact) line() string {
	clean := func(s string) string {
		return strings.NewReplacer("\t", " ", "\n", " ").Replace(s)
	}
	return clean(f.path) + "\t" + f.kind + "\t" + clean(f.value) + "\t" + clean(f.evidence)
}

// mergeFacts sorts the facts and joins the evidence of identical (path, kind, value) lines.
func mergeFacts(in []fact) []fact {
	type k struct{ path, kind, value string }
	ev := map[k][]string{}
	for _, f := range in {
		key := k{f.path, f.kind, f.value}
		found := false
		for _, e := range ev[key] {
			if e == f.evidence {
				found = true
			}
		}
		if !found {
			ev[key] = append(ev[key], f.evidence)
		}
	}
	out := make([]fact, 0, len(ev))
	for key, es := range ev {
		sort.Strings(es)
		out = append(out, fact{key.path, key.kind, key.value, strings.Join(es, "; ")})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.path != b.path {
			return a.path < b.path
		}
		if a.kind != b.kind {
			return a.kind < b.kind
		}
		return a.value < b.value
	})
	return out
}

// mergeDeprecated keeps one deprecation per path where one source names a replacement and
// another does not: the replacement, with the evidence of both.
func mergeDeprecated(in []fact) []fact {
	named := map[string]int{}
	for i, f := range in {
		if f.kind == "deprecated" && f.value != "" {
			named[f.path] = i
		}
	}
	var out []fact
	var extra = map[int][]string{}
	for _, f := range in {
		if f.kind == "deprecated" && f.value == "" {
			if i, ok := named[f.path]; ok {
				extra[i] = append(extra[i], f.evidence)
				continue
			}
		}
		out = append(out, f)
	}
	for i, evs := range extra {
		for j := range out {
			if out[j] == in[i] {
				out[j].evidence = strings.Join(append([]string{in[i].evidence}, evs...), "; ")
			}
		}
	}
	return out
}

// joinValues renders a value set: comma-separated, a comma inside a value escaped as `\,`.
func joinValues(vs []string) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = strings.ReplaceAll(v, ",", `\,`)
	}
	return strings.Join(out, ",")
}

func headerLines(o *options, prog *program) ([]string, error) {
	src := o.source
	if src == "" {
		return nil, fmt.Errorf("-source owner/repo@commit is required (the checkout is not a git work tree)")
	}
	var roots []string
	for _, r := range o.roots {
		roots = append(roots, strings.TrimPrefix(r.pkg, "./")+"."+r.typ)
	}
	cmd := "go -C tools/config-facts run . " + shellJoin(regenArgs(o))
	return []string{
		fmt.Sprintf("# kalypso config facts: %s %s", o.name, o.version),
		fmt.Sprintf("# source: %s (go/types reading of %s)", src, strings.Join(roots, ", ")),
		fmt.Sprintf("# modules: %s", strings.Join(prog.moduleVersions(), ", ")),
		fmt.Sprintf("# regenerate: %s", cmd),
		"# columns: path, fact, value, evidence (facts: key, one-of, each-one-of, empty-ok, fold-case, deprecated, deprecated-values; see tools/config-facts/README.md)",
	}, nil
}

// regenArgs are the arguments of this run as a regenerate command: the checkout named by the
// commit it must be at, without -compare.
func regenArgs(o *options) []string {
	var out []string
	for i := 0; i < len(o.args); i++ {
		a := o.args[i]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name == "compare" || name == "repo" {
			if !hasVal {
				i++
			}
			if name == "repo" {
				out = append(out, "-repo", "<checkout of "+o.source+">")
			}
			continue
		}
		_ = val
		out = append(out, a)
	}
	return out
}

func shellJoin(args []string) string {
	var out []string
	for _, a := range args {
		if strings.ContainsAny(a, " *'\"$;&|<>()") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out = append(out, a)
	}
	return strings.Join(out, " ")
}

func summary(o *options, w *walker, facts []fact) {
	counts := map[string]int{}
	for _, f := range facts {
		counts[f.kind]++
	}
	var ks []string
	for k := range counts {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%s=%d", k, counts[k]))
	}
	fmt.Fprintf(os.Stderr, "%s %s: %s\n", o.name, o.version, strings.Join(parts, " "))
}
