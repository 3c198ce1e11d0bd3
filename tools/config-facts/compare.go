package main

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strings"
)

// compare prints, on stderr, the key paths only the reference .tsv or only the Go walk has,
// each under the nearest ancestor both know (the place the two readings part), and the keys
// whose types differ. It is the differential check of this reader against the reference
// generator's own Go parser.
func compare(tsv string, w *walker) error {
	f, err := os.Open(tsv)
	if err != nil {
		return err
	}
	defer f.Close()
	ref := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, "\t")
		typ := ""
		if len(cols) > 1 {
			typ = cols[1]
		}
		ref[cols[0]] = typ
	}
	if err := sc.Err(); err != nil {
		return err
	}
	goKind := func(p string) (string, bool) {
		k, ok := w.keys[p]
		if !ok {
			return "", false
		}
		return k.kind, true
	}
	refKind := func(p string) (string, bool) { t, ok := ref[p]; return t, ok }
	onlyRef := diffSide(ref, func(p string) bool { _, ok := w.keys[p]; return ok }, goKind, refKind)
	goSet := map[string]string{}
	for p, k := range w.keys {
		goSet[p] = k.kind
	}
	onlyGo := diffSide(goSet, func(p string) bool { _, ok := ref[p]; return ok }, refKind, goKind)
	var types []string
	for p, k := range w.keys {
		if t, ok := ref[p]; ok && t != k.kind {
			types = append(types, fmt.Sprintf("%s: tsv %s, go %s (%s)", p, t, k.kind, k.goType))
		}
	}
	sort.Strings(types)
	both := 0
	for p := range w.keys {
		if _, ok := ref[p]; ok {
			both++
		}
	}
	fmt.Fprintf(os.Stderr, "compare %s: %d paths in the tsv, %d in the Go walk, %d in both; %d only in the tsv, %d only in the Go walk; %d types differ\n",
		tsv, len(ref), len(w.keys), both, countAll(onlyRef), countAll(onlyGo), len(types))
	printGroups("only in the tsv", onlyRef)
	printGroups("only in the Go walk", onlyGo)
	for _, t := range types {
		fmt.Fprintf(os.Stderr, "  type: %s\n", t)
	}
	return nil
}

// group is the paths one side lacks below one place: the nearest ancestor block the other
// side has, and what the other side has there.
type group struct {
	where string
	paths []string
}

func diffSide(side map[string]string, other func(string) bool, otherKind, sideKind func(string) (string, bool)) map[string]*group {
	groups := map[string]*group{}
	for p := range side {
		if other(p) {
			continue
		}
		// The nearest ancestor the other side has.
		a := p
		where := "(root)"
		for {
			a = parentPath(a)
			if a == "" {
				break
			}
			if k, ok := otherKind(a); ok {
				where = a + " [" + k + " there]"
				break
			}
		}
		if a == "" {
			if i := strings.Index(p, ":"); i >= 0 {
				where = "(file " + p[:i+1] + ")"
			}
		}
		g := groups[where]
		if g == nil {
			g = &group{where: where}
			groups[where] = g
		}
		g.paths = append(g.paths, p)
	}
	return groups
}

// parentPath is the key path a key lives in: `a` for `a.b`, `a[].b`, `a.*.b`; the file
// prefix alone is not a key.
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".:")
	if i < 0 {
		return ""
	}
	if p[i] == ':' {
		return ""
	}
	q := p[:i]
	q = strings.TrimSuffix(q, "[]")
	q = strings.TrimSuffix(q, ".*")
	q = strings.TrimSuffix(q, "[]")
	if strings.HasSuffix(q, ":") {
		return ""
	}
	return q
}

func countAll(g map[string]*group) int {
	n := 0
	for _, x := range g {
		n += len(x.paths)
	}
	return n
}

func printGroups(title string, groups map[string]*group) {
	var ws []string
	for w := range groups {
		ws = append(ws, w)
	}
	sort.Strings(ws)
	for _, w := range ws {
		g := groups[w]
		sort.Strings(g.paths)
		fmt.Fprintf(os.Stderr, "  %s, under %s: %d\n", title, w, len(g.paths))
		for _, p := range g.paths {
			fmt.Fprintf(os.Stderr, "    %s\n", p)
		}
	}
}
