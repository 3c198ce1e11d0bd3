package main

import (
	"go/ast"
	"go/token"
	"go/types"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"golang.org/x/tools/go/packages"
)

// deprecationText recognises a text that says its own key is deprecated (not that something
// else was: "APIv1 was deprecated in Alertmanager 0.16.0" is not).
var deprecationText = regexp.MustCompile(`(?i)^\W*(warning:\s*)?deprecated\b|(?-i:\bDEPRECATED\b)|\(deprecated\b|\bflag deprecated\b|\b(this|the) (flag|setting|option|field|config(uration)?|parameter|key|block)( is| has been)( now)? deprecated\b|\bis deprecated\b`)

// replacementText finds the key a deprecation text points to.
var replacementText = regexp.MustCompile("(?i)(?:\\buse|\\busing|in favou?r of|replaced by|migrate to|instead,? see)\\s+(?:the\\s+|only\\s+)?(?:flag\\s+|option\\s+|setting\\s+)?[`'\"]?(-{0,2}[A-Za-z0-9_][A-Za-z0-9_.\\-]*[A-Za-z0-9_])")

func (x *index) deprecatedFacts() []fact {
	var out []fact
	addPaths := func(paths []string, text, ev string) {
		for _, p := range paths {
			out = append(out, fact{p, "deprecated", x.replacement(text, p), ev})
		}
	}
	add := func(f *types.Var, text, ev string) { addPaths(x.w.byField[f], text, ev) }
	// Tags and comments of every walked field.
	for f := range x.w.byField {
		fl := x.fieldDecl[f.Pos()]
		if fl == nil {
			continue
		}
		where := x.prog.where(f.Pos())
		tag := ""
		if fl.Tag != nil {
			tag = strings.Trim(fl.Tag.Value, "`")
		}
		st := reflect.StructTag(tag)
		if st.Get("category") == "deprecated" {
			add(f, "", where+" (category tag)")
		}
		for _, part := range strings.Split(st.Get("doc"), "|") {
			desc, isDesc := strings.CutPrefix(part, "description=")
			if part == "deprecated" {
				add(f, descOf(st.Get("doc")), where+" (doc tag)")
			} else if isDesc && deprecationText.MatchString(firstSentence(desc)) {
				add(f, desc, where+" (doc tag description)")
			}
		}
		for _, cg := range []*ast.CommentGroup{fl.Doc, fl.Comment} {
			if cg == nil {
				continue
			}
			text := cg.Text()
			for _, line := range strings.Split(text, "\n") {
				if deprecationText.MatchString(line) && !strings.Contains(strings.ToLower(line), "deprecated in ") {
					add(f, text, where+" (field comment)")
					break
				}
			}
		}
	}
	// Flag help texts.
	for path, regs := range x.flags {
		for _, r := range regs {
			if r.usageOK && deprecationText.MatchString(r.usage.s) && !strings.Contains(r.usage.s, "was deprecated") &&
				!strings.Contains(r.usage.s, "the deprecated ") {
				addPaths([]string{path}, r.usage.s, x.prog.where(r.pos)+" (flag help)")
			}
		}
	}
	out = append(out, x.warnings()...)
	out = append(out, x.legacyFacts()...)
	return out
}

func descOf(doc string) string {
	for _, part := range strings.Split(doc, "|") {
		if d, ok := strings.CutPrefix(part, "description="); ok {
			return d
		}
	}
	return ""
}

func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i]
	}
	return s
}

// replacement resolves the key a deprecation text names, as a path next to `path` (the same
// file prefix, the nearest in the tree): a flag name, a sibling key or a unique key name.
func (x *index) replacement(text, path string) string {
	for _, m := range replacementText.FindAllStringSubmatch(text, -1) {
		cand := strings.TrimLeft(m[1], "-")
		parent := path[:len(path)-len(lastSegment(path))]
		// A flag name: the keys registered under exactly that name.
		var paths []string
		for _, p := range x.flagPaths[cand] {
			if p != path {
				paths = append(paths, p)
			}
		}
		if p := nearest(path, paths); p != "" {
			return p
		}
		// A flag registered as prefix+tail, the text naming it with its prefix: a sibling.
		paths = nil
		for name, ps := range x.flagPaths {
			if strings.HasSuffix(cand, "."+name) || strings.HasSuffix(cand, "-"+name) {
				for _, p := range ps {
					if p != path && p[:len(p)-len(lastSegment(p))] == parent {
						paths = append(paths, p)
					}
				}
			}
		}
		if p := nearest(path, paths); p != "" {
			return p
		}
		// A key: a sibling, or any key path ending with it.
		if _, ok := x.w.keys[parent+cand]; ok && parent+cand != path {
			return parent + cand
		}
		paths = nil
		for p := range x.w.keys {
			if p != path && (p == cand || strings.HasSuffix(p, "."+cand) || strings.HasSuffix(p, ":"+cand)) {
				paths = append(paths, p)
			}
		}
		if p := nearest(path, paths); p != "" {
			return p
		}
	}
	return ""
}

func lastSegment(p string) string {
	if i := strings.LastIndexAny(p, ".:"); i >= 0 {
		return p[i+1:]
	}
	return p
}

// nearest picks the candidate in path's file (prefix before ':') sharing the longest prefix
// with it; "" when there is none or a tie.
func nearest(path string, cands []string) string {
	file := func(p string) string {
		if i := strings.Index(p, ":"); i >= 0 {
			return p[:i]
		}
		return ""
	}
	best, bestLen, tie := "", -1, false
	seen := map[string]bool{}
	for _, c := range cands {
		if seen[c] || file(c) != file(path) {
			continue
		}
		seen[c] = true
		n := 0
		for n < len(c) && n < len(path) && c[n] == path[n] {
			n++
		}
		switch {
		case n > bestLen:
			best, bestLen, tie = c, n, false
		case n == bestLen:
			tie = true
		}
	}
	if tie {
		return ""
	}
	return best
}

// warnings finds `if <config field set> { warn("… is deprecated …") }`: the fields of the
// condition the message names as deprecated.
func (x *index) warnings() []fact {
	var out []fact
	x.prog.eachFile(func(pk *packages.Package, f *ast.File) {
		info := pk.TypesInfo
		ast.Inspect(f, func(n ast.Node) bool {
			is, ok := n.(*ast.IfStmt)
			if !ok {
				return true
			}
			msgs := x.messages(pk, is.Body)
			if len(msgs) == 0 {
				return true
			}
			// The keys the condition reads: whole selector chains only (c.Overrides.ConfigType
			// reads ConfigType, not Overrides).
			type read struct {
				name  string
				paths []string
			}
			var reads []read
			ast.Inspect(is.Cond, func(m ast.Node) bool {
				if sel, ok := m.(*ast.SelectorExpr); ok {
					if s, ok := info.Selections[sel]; ok && s.Kind() == types.FieldVal {
						if ps := x.bind(info, sel); len(ps) > 0 {
							reads = append(reads, read{sel.Sel.Name, ps})
						}
						return false
					}
				}
				return true
			})
			for _, r := range reads {
				for _, msg := range msgs {
					if x.namedDeprecated(msg, r.name, r.paths) {
						for _, p := range r.paths {
							out = append(out, fact{p, "deprecated", x.replacement(msg, p), x.prog.where(is.Pos()) + " (warning)"})
						}
						break
					}
				}
			}
			return true
		})
	})
	return out
}

// messages are the constant strings saying "deprecat…" that a branch logs or collects, at its
// top level (directly, or through a package-level variable such as a ConfigWarning literal).
func (x *index) messages(pk *packages.Package, body *ast.BlockStmt) []string {
	var out []string
	var visit func(pk *packages.Package, n ast.Node, depth int)
	visit = func(pk *packages.Package, n ast.Node, depth int) {
		ast.Inspect(n, func(m ast.Node) bool {
			switch v := m.(type) {
			case *ast.FuncLit, *ast.IfStmt, *ast.ForStmt, *ast.RangeStmt, *ast.SwitchStmt:
				return m == n
			case ast.Expr:
				if val, ok := x.ev.eval(pk, v, 0); ok && !val.isList {
					if strings.Contains(strings.ToLower(val.s), "deprecat") {
						out = append(out, val.s)
					}
					return false
				}
				if depth == 0 {
					var obj types.Object
					switch id := v.(type) {
					case *ast.Ident:
						obj = pk.TypesInfo.Uses[id]
					case *ast.SelectorExpr:
						obj = pk.TypesInfo.Uses[id.Sel]
					}
					if vr, ok := obj.(*types.Var); ok && !vr.IsField() && vr.Pkg() != nil && vr.Parent() == vr.Pkg().Scope() {
						if def, ok := x.d.expr[vr]; ok {
							visit(x.d.pkg[vr], def, depth+1)
						}
					}
				}
			}
			return true
		})
	}
	for _, st := range body.List {
		visit(pk, st, 0)
	}
	return out
}

// namedDeprecated reports whether msg calls the field (by Go name, YAML key or flag name)
// deprecated: "X is deprecated", "X is a deprecated option", "a deprecated X flag".
func (x *index) namedDeprecated(msg, goName string, paths []string) bool {
	names := map[string]bool{goName: true}
	for _, p := range paths {
		names[lastSegment(p)] = true
		for _, r := range x.flags[p] {
			if r.name != "" {
				names[r.name] = true
			}
		}
	}
	for name := range names {
		if name != "" && mentionsDeprecated(msg, name) {
			return true
		}
	}
	return false
}

// mentionsDeprecated reports whether msg calls name deprecated: "X is deprecated", "X is a
// deprecated option", "a deprecated X flag". The name stands alone (not the tail of
// storage.storage-prefix when it is prefix); a Go selector before it is fine
// (c.StorageConfig.Trace.Cache).
func mentionsDeprecated(msg, name string) bool {
	q := "[`'\"]?"
	word := q + regexp.QuoteMeta(name) + q + `(?:$|[^A-Za-z0-9_.\-]|\.\s)`
	re := regexp.MustCompile(`(?i)(deprecated\s+(\S+\s+)?` + word + `|(?:^|[^A-Za-z0-9_\-])` + word + `\s*(is|has been|was|are)\s+(now\s+)?(a\s+)?deprecated)`)
	return re.MatchString(msg)
}

// legacyFacts marks every key of a legacy format deprecated, with the new key it maps to
// where a conversion literal (`LegacyT{Field: c.New.Path}`) says so.
func (x *index) legacyFacts() []fact {
	var out []fact
	mapping := x.legacyMapping()
	for _, p := range sortedPaths(x.w.keys) {
		k := x.w.keys[p]
		if k.legacyTo == "" {
			continue
		}
		repl := ""
		ev := x.prog.where(k.pos) + " (legacy format)"
		// The legacy field at the top of this key, and the path below it.
		rel := strings.TrimPrefix(strings.TrimPrefix(p, k.rootPrefix), ".")
		seg := rel
		if i := strings.IndexAny(rel, ".["); i >= 0 {
			seg = rel[:i]
		}
		if top := x.w.keys[join(k.rootPrefix, seg)]; top != nil && top.field != nil {
			if m, ok := mapping[top.field]; ok {
				cand := join(k.legacyTo, m.path) + rel[len(seg):]
				if _, ok := x.w.keys[cand]; ok {
					repl = cand
				}
				ev += "; " + x.prog.where(m.pos) + " (conversion)"
			}
		}
		out = append(out, fact{p, "deprecated", repl, ev})
	}
	return out
}

type legacyTarget struct {
	path string
	pos  token.Pos
}

// legacyMapping reads the conversion literals of the legacy roots' types: each field of a
// `LegacyT{Field: c.A.B}` literal maps to the YAML path of c.A.B below c's type.
func (x *index) legacyMapping() map[*types.Var]legacyTarget {
	legacyTypes := map[*types.TypeName]bool{}
	for _, r := range x.prog.specs {
		if r.legacyTo == "" {
			continue
		}
		for i, rr := range x.prog.specs {
			if rr == r {
				if tn, ok := x.prog.roots[i].Types.Scope().Lookup(r.typ).(*types.TypeName); ok {
					legacyTypes[tn] = true
				}
			}
		}
	}
	out := map[*types.Var]legacyTarget{}
	x.prog.eachFile(func(pk *packages.Package, f *ast.File) {
		info := pk.TypesInfo
		ast.Inspect(f, func(n ast.Node) bool {
			cl, ok := n.(*ast.CompositeLit)
			if !ok || !legacyTypes[namedOf(info.TypeOf(cl))] {
				return true
			}
			for _, el := range cl.Elts {
				kv, ok := el.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				id, ok := kv.Key.(*ast.Ident)
				if !ok {
					continue
				}
				lf, ok := info.Uses[id].(*types.Var)
				if !ok {
					continue
				}
				if p, ok := yamlPathOf(info, kv.Value); ok {
					out[lf.Origin()] = legacyTarget{p, kv.Pos()}
				} else if p, ok := commonParent(info, kv.Value); ok {
					out[lf.Origin()] = legacyTarget{p, kv.Pos()}
				}
			}
			return true
		})
	})
	if len(out) == 0 && len(legacyTypes) > 0 {
		os.Stderr.WriteString("config-facts: no conversion literal found for the legacy types\n")
	}
	return out
}

// commonParent maps a nested literal `T{A: c.X.A, B: c.X.B}` to c.X: the parent every
// element's path shares.
func commonParent(info *types.Info, e ast.Expr) (string, bool) {
	cl, ok := ast.Unparen(e).(*ast.CompositeLit)
	if !ok || len(cl.Elts) == 0 {
		return "", false
	}
	parent := ""
	for i, el := range cl.Elts {
		kv, ok := el.(*ast.KeyValueExpr)
		if !ok {
			return "", false
		}
		p, ok := yamlPathOf(info, kv.Value)
		j := strings.LastIndex(p, ".")
		if !ok || j < 0 || (i > 0 && p[:j] != parent) {
			return "", false
		}
		parent = p[:j]
	}
	return parent, true
}

// yamlPathOf turns a selector chain `c.A.B` into the YAML path of B below c's type.
func yamlPathOf(info *types.Info, e ast.Expr) (string, bool) {
	var segs []string
	for {
		sel, ok := ast.Unparen(e).(*ast.SelectorExpr)
		if !ok {
			break
		}
		s, ok := info.Selections[sel]
		if !ok || s.Kind() != types.FieldVal {
			return "", false
		}
		// The field's tag lives on the struct it belongs to.
		st, ok := derefStruct(s.Recv())
		if !ok {
			return "", false
		}
		idx := s.Index()[len(s.Index())-1]
		if len(s.Index()) > 1 {
			return "", false // promoted through an embedded field
		}
		name, _, _ := strings.Cut(yamlTag(st.Tag(idx)), ",")
		if name == "" {
			name = strings.ToLower(st.Field(idx).Name())
		}
		segs = append([]string{name}, segs...)
		e = sel.X
	}
	if len(segs) == 0 {
		return "", false
	}
	return strings.Join(segs, "."), true
}

func derefStruct(t types.Type) (*types.Struct, bool) {
	t = types.Unalias(t)
	if p, ok := t.(*types.Pointer); ok {
		t = p.Elem()
	}
	st, ok := t.Underlying().(*types.Struct)
	return st, ok
}

var _ = sort.Strings
