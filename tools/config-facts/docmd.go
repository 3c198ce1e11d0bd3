package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// docKeyLine reads a key line of a YAML block in a configuration page: `key:`, `key: value`,
// `[key: <type> | default = x]`, optionally as a list item.
var docKeyLine = regexp.MustCompile(`^(\s*)(?:-\s+)?\[?([A-Za-z0-9_\-]+):(?:\s|$)`)

type docKey struct {
	path     []string // the keys above it in its block, then its own
	siblings []string // the other keys at its level in its block
	comment  string
	line     int
	values   []string // for `# Deprecated options: a, b`: deprecated values, not a deprecated key
}

var docDeprecatedValues = regexp.MustCompile(`(?i)^deprecated (?:options|values)\s*:\s*(.+)$`)

// docDeprecations reads the `# Deprecated…` comments above keys in the YAML blocks of a
// Markdown configuration page of the checkout. A block may show the whole tree from the top
// or a fragment used in several places; a key is placed where the walked tree has its path
// (exactly, or as a suffix whose parent holds every sibling key the block lists).
func (x *index) docDeprecations(rel string) ([]fact, error) {
	text, err := os.ReadFile(filepath.Join(x.prog.repo, rel))
	if err != nil {
		return nil, err
	}
	type frame struct {
		indent int
		key    string
	}
	var out []fact
	var found []docKey
	var stack []frame
	var pending []string
	inBlock := false
	// Keys by their parent path within the current block, to list siblings.
	children := map[string][]string{}
	var blockKeys []*docKey
	flush := func() {
		for _, k := range blockKeys {
			parent := strings.Join(k.path[:len(k.path)-1], ".")
			for _, s := range children[parent] {
				if s != k.path[len(k.path)-1] {
					k.siblings = append(k.siblings, s)
				}
			}
			found = append(found, *k)
		}
		blockKeys, children, stack, pending = nil, map[string][]string{}, nil, nil
	}
	for i, line := range strings.Split(string(text), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") {
			if inBlock {
				flush()
			}
			inBlock = !inBlock && strings.HasPrefix(trimmed, "```yaml")
			continue
		}
		if !inBlock || trimmed == "" {
			continue
		}
		if strings.HasPrefix(trimmed, "#") {
			pending = append(pending, strings.TrimSpace(strings.TrimLeft(trimmed, "#")))
			continue
		}
		m := docKeyLine.FindStringSubmatch(line)
		if m == nil {
			pending = nil
			continue
		}
		indent := len(m[1])
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		var path []string
		for _, f := range stack {
			path = append(path, f.key)
		}
		parent := strings.Join(path, ".")
		children[parent] = append(children[parent], m[2])
		path = append(path, m[2])
		for _, c := range pending {
			if v := docDeprecatedValues.FindStringSubmatch(c); v != nil {
				var vals []string
				for _, t := range strings.Split(v[1], ",") {
					if t = strings.Trim(strings.TrimSpace(t), "`'\"."); t != "" {
						vals = append(vals, t)
					}
				}
				blockKeys = append(blockKeys, &docKey{path: path, comment: c, line: i + 1, values: vals})
				break
			}
			if deprecationText.MatchString(c) {
				blockKeys = append(blockKeys, &docKey{path: path, comment: strings.Join(pending, " "), line: i + 1})
				break
			}
		}
		pending = nil
		stack = append(stack, frame{indent, m[2]})
	}
	unplaced := 0
	for _, k := range found {
		suffix := strings.Join(k.path, ".")
		var places []string
		if _, ok := x.w.keys[suffix]; ok {
			places = []string{suffix}
		} else {
			for p := range x.w.keys {
				if !strings.HasSuffix(p, "."+suffix) && !strings.HasSuffix(p, ":"+suffix) {
					continue
				}
				parent := strings.TrimSuffix(strings.TrimSuffix(p, suffix), ".")
				all := true
				for _, s := range k.siblings {
					if _, ok := x.w.keys[join(parent, s)]; !ok {
						all = false
					}
				}
				if all && len(k.siblings) > 0 {
					places = append(places, p)
				}
			}
		}
		if len(places) == 0 {
			unplaced++
			fmt.Fprintf(os.Stderr, "config-facts: %s:%d: deprecated key %s not placed in the tree\n", rel, k.line, suffix)
		}
		for _, p := range places {
			ev := fmt.Sprintf("%s:%d (doc comment)", rel, k.line)
			if k.values != nil {
				out = append(out, fact{p, "deprecated-values", joinValues(k.values), ev})
				continue
			}
			out = append(out, fact{p, "deprecated", x.replacement(k.comment, p), ev})
		}
	}
	return out, nil
}
