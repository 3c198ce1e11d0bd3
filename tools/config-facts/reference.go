package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
)

// fromReference writes the facts of a backend whose sources cannot be loaded here (Mimir: its
// repository and module are out of reach at the pinned tag): the deprecations its kalypso
// reference file already carries (read by the reference generator from the tag's own
// config-descriptor.json), and facts read by hand from named commits of its sources, kept in
// a small file beside this tool. Every hand-read path must be a key of the reference.
func fromReference(args []string) error {
	fs := flag.NewFlagSet("reference", flag.ContinueOnError)
	tsv := fs.String("tsv", "", "the backend's kalypso reference file")
	read := fs.String("read", "", "hand-read facts: path, fact, value, evidence naming owner/repo@commit:file:line")
	name := fs.String("name", "", "backend name")
	version := fs.String("version", "", "backend version")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *tsv == "" || *name == "" || *version == "" {
		return fmt.Errorf("reference: -tsv, -name and -version are required")
	}
	rows, source, err := readReference(*tsv)
	if err != nil {
		return err
	}
	var facts []fact
	for _, r := range rows {
		note := r[3]
		if rest, ok := strings.CutPrefix(note, "deprecated"); ok && (rest == "" || strings.HasPrefix(rest, ":")) {
			facts = append(facts, fact{r[0], "deprecated", strings.TrimPrefix(rest, ":"), "reference note (" + source + ")"})
		}
	}
	keys := map[string]bool{}
	for _, r := range rows {
		keys[r[0]] = true
	}
	readSources := map[string]bool{}
	if *read != "" {
		f, err := os.Open(*read)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		n := 0
		for sc.Scan() {
			n++
			line := sc.Text()
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			c := strings.Split(line, "\t")
			if len(c) != 4 {
				return fmt.Errorf("%s:%d: want 4 tab-separated columns", *read, n)
			}
			if !keys[c[0]] {
				return fmt.Errorf("%s:%d: %s is not a key of %s", *read, n, c[0], *tsv)
			}
			for _, src := range commitRef.FindAllString(c[3], -1) {
				readSources[src] = true
			}
			facts = append(facts, fact{c[0], c[1], c[2], c[3]})
		}
		if err := sc.Err(); err != nil {
			return err
		}
	}
	var srcs []string
	for s := range readSources {
		srcs = append(srcs, s)
	}
	sort.Strings(srcs)
	facts = mergeFacts(facts)
	out := []string{
		fmt.Sprintf("# kalypso config facts: %s %s", *name, *version),
		fmt.Sprintf("# source: deprecations: the reference file's notes (%s); other facts: read by hand from %s (not the tag: see tools/config-facts/README.md)", source, strings.Join(srcs, ", ")),
		fmt.Sprintf("# regenerate: go -C tools/config-facts run . reference %s", shellJoin(args)),
		"# columns: path, fact, value, evidence (facts: key, one-of, each-one-of, empty-ok, fold-case, deprecated, deprecated-values; see tools/config-facts/README.md)",
	}
	w := bufio.NewWriter(os.Stdout)
	for _, l := range out {
		fmt.Fprintln(w, l)
	}
	for _, f := range facts {
		fmt.Fprintln(w, f.line())
	}
	return w.Flush()
}

var commitRef = regexp.MustCompile(`[\w.-]+/[\w.-]+@[0-9a-f]{40}`)

// readReference reads a kalypso reference file: its rows (path, type, default, note) and the
// source its header names.
func readReference(path string) ([][4]string, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	var rows [][4]string
	source := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if s, ok := strings.CutPrefix(line, "# source: "); ok {
			source = s
			if i := strings.Index(s, " "); i > 0 {
				source = s[:i]
			}
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		c := strings.Split(line, "\t")
		var r [4]string
		copy(r[:], c)
		rows = append(rows, r)
	}
	return rows, source, sc.Err()
}
