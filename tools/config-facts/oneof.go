package main

import (
	"go/ast"
	"go/constant"
	"go/token"
	"go/types"
	"regexp"
	"sort"
	"strings"

	"golang.org/x/tools/go/packages"
)

// subject is what a check tests: a config field, or every value of a named type (the string
// its Set/UnmarshalText/UnmarshalYAML method parses, or its receiver).
type subject struct {
	paths []string // the key paths of a config field
	typ   *types.TypeName
	each  bool // the elements of a list-valued field (a range variable)
	ci    bool // compared after strings.ToLower/ToUpper
}

func (s subject) same(t subject) bool {
	return strings.Join(s.paths, "|") == strings.Join(t.paths, "|") && s.typ == t.typ && s.each == t.each
}

// check is one closed value set the code enforces on a subject.
type check struct {
	subj    subject
	values  []string
	emptyOK bool
	how     string
	pos     token.Pos
}

var errorIface = types.Universe.Lookup("error").Type().Underlying().(*types.Interface)

// funcCtx is the function a check is read in.
type funcCtx struct {
	pk   *packages.Package
	decl *ast.FuncDecl
	recv *types.TypeName
	// Parameters and locals that hold the text a parsing method parses.
	parsed map[*types.Var]bool
	self   *types.Var // the receiver variable
}

var parsingMethods = map[string]bool{"Set": true, "UnmarshalText": true, "UnmarshalYAML": true, "UnmarshalJSON": true, "UnmarshalFlag": true}

func (x *index) newFuncCtx(pk *packages.Package, fd *ast.FuncDecl) *funcCtx {
	c := &funcCtx{pk: pk, decl: fd, parsed: map[*types.Var]bool{}}
	info := pk.TypesInfo
	if fd.Recv != nil && len(fd.Recv.List) == 1 {
		c.recv = namedOf(info.TypeOf(fd.Recv.List[0].Type))
		if len(fd.Recv.List[0].Names) == 1 {
			c.self, _ = info.Defs[fd.Recv.List[0].Names[0]].(*types.Var)
		}
	}
	if c.recv != nil && parsingMethods[fd.Name.Name] {
		for _, fl := range fd.Type.Params.List {
			for _, id := range fl.Names {
				if v, ok := info.Defs[id].(*types.Var); ok {
					c.parsed[v] = true
				}
			}
		}
		// `var s string; unmarshal(&s)`: a local declared without a value.
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			if vs, ok := n.(*ast.ValueSpec); ok && len(vs.Values) == 0 {
				for _, id := range vs.Names {
					if v, ok := info.Defs[id].(*types.Var); ok {
						if b, ok := v.Type().Underlying().(*types.Basic); ok && b.Info()&types.IsString != 0 {
							c.parsed[v] = true
						}
					}
				}
			}
			return true
		})
	}
	return c
}

// subjectOf resolves what expression e tests.
func (x *index) subjectOf(c *funcCtx, pk *packages.Package, e ast.Expr, depth int) (subject, bool) {
	if depth > 8 {
		return subject{}, false
	}
	info := pk.TypesInfo
	e = ast.Unparen(e)
	switch v := e.(type) {
	case *ast.StarExpr:
		return x.subjectOf(c, pk, v.X, depth+1)
	case *ast.CallExpr:
		if tv, ok := info.Types[v.Fun]; ok && tv.IsType() && len(v.Args) == 1 {
			return x.subjectOf(c, pk, v.Args[0], depth+1)
		}
		switch calleeName(info, v) {
		case "strings.ToLower", "strings.ToUpper":
			s, ok := x.subjectOf(c, pk, v.Args[0], depth+1)
			s.ci = true
			return s, ok
		case "strings.TrimSpace":
			return x.subjectOf(c, pk, v.Args[0], depth+1)
		}
		if sel, ok := v.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "String" && len(v.Args) == 0 {
			return x.subjectOf(c, pk, sel.X, depth+1)
		}
	case *ast.SelectorExpr:
		if ps := x.bind(info, v); len(ps) > 0 {
			return subject{paths: ps}, true
		}
	case *ast.Ident:
		vr, ok := info.Uses[v].(*types.Var)
		if !ok {
			return subject{}, false
		}
		if c != nil && pk == c.pk && c.recv != nil {
			if c.parsed[vr] {
				return subject{typ: c.recv}, true
			}
			if vr == c.self {
				if b, ok := c.recv.Type().Underlying().(*types.Basic); ok && b.Info()&(types.IsString|types.IsInteger) != 0 {
					return subject{typ: c.recv}, true
				}
			}
		}
		if x.d.assigns[vr] > 0 {
			return subject{}, false
		}
		if def, ok := x.d.expr[vr]; ok && x.d.pkg[vr] == pk {
			return x.subjectOf(c, pk, def, depth+1)
		}
		if r, ok := x.d.rangeOf[vr]; ok && x.d.pkg[vr] == pk {
			s, ok := x.subjectOf(c, pk, r, depth+1)
			if ok && len(s.paths) > 0 && !s.each {
				s.each = true
				return s, true
			}
		}
	}
	return subject{}, false
}

// constString is the value of a constant expression as the YAML text that decodes to it.
func constString(info *types.Info, e ast.Expr) (string, bool) {
	tv, ok := info.Types[e]
	if !ok || tv.Value == nil {
		return "", false
	}
	if tv.Value.Kind() == constant.String {
		return constant.StringVal(tv.Value), true
	}
	return tv.Value.ExactString(), true
}

// rejects reports whether a branch refuses the value: at its top level it returns a non-nil
// error, assigns one to an error variable, or panics.
func rejects(info *types.Info, stmts []ast.Stmt) bool {
	for _, s := range stmts {
		switch v := s.(type) {
		case *ast.ReturnStmt:
			for _, r := range v.Results {
				if isError(info, r) {
					return true
				}
			}
		case *ast.AssignStmt:
			for i, l := range v.Lhs {
				if i < len(v.Rhs) && len(v.Lhs) == len(v.Rhs) && isErrorVar(info, l) && isError(info, v.Rhs[i]) {
					return true
				}
			}
		case *ast.ExprStmt:
			if c, ok := v.X.(*ast.CallExpr); ok {
				n := calleeName(info, c)
				if n == "panic" || strings.HasSuffix(n, ".Fatal") || strings.HasSuffix(n, ".Fatalf") || n == "os.Exit" {
					return true
				}
			}
		}
	}
	return false
}

// isError reports whether e is certainly a non-nil error: an error constructor's result
// (fmt.Errorf, an errors package, a function named for errors), a literal of an error type, or
// a package-level error variable. A call that may return nil (`return validate()`) is not.
func isError(info *types.Info, e ast.Expr) bool {
	e = ast.Unparen(e)
	t := info.TypeOf(e)
	if t == nil || !(types.Implements(t, errorIface) || types.Implements(types.NewPointer(t), errorIface)) {
		return false
	}
	switch v := e.(type) {
	case *ast.CallExpr:
		n := calleeName(info, v)
		if n == "fmt.Errorf" {
			return true
		}
		pkgPath, fn := "", n
		if i := strings.LastIndex(n, "."); i >= 0 {
			pkgPath, fn = n[:i], n[i+1:]
		}
		return strings.HasSuffix(pkgPath, "errors") || strings.Contains(fn, "Err") || strings.Contains(fn, "err")
	case *ast.CompositeLit:
		return true
	case *ast.UnaryExpr:
		_, ok := v.X.(*ast.CompositeLit)
		return ok && v.Op == token.AND
	case *ast.Ident:
		vr, ok := info.Uses[v].(*types.Var)
		return ok && vr.Parent() == vr.Pkg().Scope()
	case *ast.SelectorExpr:
		vr, ok := info.Uses[v.Sel].(*types.Var)
		return ok && !vr.IsField() && vr.Pkg() != nil && vr.Parent() == vr.Pkg().Scope()
	}
	return false
}

func isErrorVar(info *types.Info, e ast.Expr) bool {
	t := info.TypeOf(e)
	return t != nil && types.Identical(t.Underlying(), errorIface)
}

// conjuncts splits an && chain.
func conjuncts(e ast.Expr) []ast.Expr {
	e = ast.Unparen(e)
	if b, ok := e.(*ast.BinaryExpr); ok && b.Op == token.LAND {
		return append(conjuncts(b.X), conjuncts(b.Y)...)
	}
	return []ast.Expr{e}
}

func disjuncts(e ast.Expr) []ast.Expr {
	e = ast.Unparen(e)
	if b, ok := e.(*ast.BinaryExpr); ok && b.Op == token.LOR {
		return append(disjuncts(b.X), disjuncts(b.Y)...)
	}
	return []ast.Expr{e}
}

// comparison reads `subj OP const` (either order).
func (x *index) comparison(c *funcCtx, e ast.Expr, op token.Token) (subject, string, bool) {
	b, ok := ast.Unparen(e).(*ast.BinaryExpr)
	if !ok || b.Op != op {
		return subject{}, "", false
	}
	info := c.pk.TypesInfo
	if v, ok := constString(info, b.Y); ok {
		if s, ok := x.subjectOf(c, c.pk, b.X, 0); ok {
			return s, v, true
		}
	}
	if v, ok := constString(info, b.X); ok {
		if s, ok := x.subjectOf(c, c.pk, b.Y, 0); ok {
			return s, v, true
		}
	}
	return subject{}, "", false
}

// emptyGuard reads `subj != ""` or `len(subj) > 0` / `!= 0`.
func (x *index) emptyGuard(c *funcCtx, e ast.Expr, s subject) bool {
	if t, v, ok := x.comparison(c, e, token.NEQ); ok && v == "" && t.same(s) {
		return true
	}
	b, ok := ast.Unparen(e).(*ast.BinaryExpr)
	if !ok || (b.Op != token.GTR && b.Op != token.NEQ) {
		return false
	}
	call, ok := ast.Unparen(b.X).(*ast.CallExpr)
	if !ok || calleeName(c.pk.TypesInfo, call) != "len" || len(call.Args) != 1 {
		return false
	}
	if v, ok := constString(c.pk.TypesInfo, b.Y); !ok || v != "0" {
		return false
	}
	t, ok := x.subjectOf(c, c.pk, call.Args[0], 0)
	return ok && t.same(s)
}

var containsName = regexp.MustCompile(`^(Contains|ContainsString|StringsContain|StringInSlice|StringsContains|Includes|InSlice|SliceContains|ContainsAny)$`)

// checks finds every closed value set enforced in the loaded packages.
func (x *index) checks() []check {
	var out []check
	x.prog.eachFile(func(pk *packages.Package, f *ast.File) {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			c := x.newFuncCtx(pk, fd)
			var stack []ast.Node
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				if n == nil {
					stack = stack[:len(stack)-1]
					return true
				}
				for _, ch := range x.checksAt(c, n, stack) {
					ch.emptyOK = ch.emptyOK || x.emptyByContext(c, n, stack, ch.subj)
					out = append(out, ch)
				}
				stack = append(stack, n)
				return true
			})
		}
	})
	return out
}

func (x *index) checksAt(c *funcCtx, n ast.Node, stack []ast.Node) []check {
	info := c.pk.TypesInfo
	switch v := n.(type) {
	case *ast.SwitchStmt:
		return x.switchCheck(c, v)
	case *ast.IfStmt:
		var out []check
		if !rejects(info, v.Body.List) {
			// `if subj == A || subj == B { … } else { return err }`
			if els, ok := v.Else.(*ast.BlockStmt); ok && rejects(info, els.List) {
				if s, vals, ok := x.equalityChain(c, v.Cond); ok {
					out = append(out, x.mkCheck(s, vals, false, "== chain, else error", v.Pos()))
				}
			}
			return out
		}
		conds := conjuncts(v.Cond)
		// The subject of the check, then every other conjunct must be an empty guard on it.
		var core []ast.Expr
		var guards []ast.Expr
		for _, e := range conds {
			core = append(core, e)
		}
		// (b) !Contains(list, subj)
		for i, e := range conds {
			u, ok := ast.Unparen(e).(*ast.UnaryExpr)
			if !ok || u.Op != token.NOT {
				continue
			}
			call, ok := ast.Unparen(u.X).(*ast.CallExpr)
			if !ok || len(call.Args) != 2 {
				continue
			}
			name := calleeName(info, call)
			short := name[strings.LastIndex(name, ".")+1:]
			if !containsName.MatchString(short) {
				continue
			}
			for j := 0; j < 2; j++ {
				s, ok := x.subjectOf(c, c.pk, call.Args[j], 0)
				if !ok {
					continue
				}
				l, ok := x.ev.eval(c.pk, call.Args[1-j], 0)
				if !ok || !l.isList {
					continue
				}
				guards = append(append([]ast.Expr{}, conds[:i]...), conds[i+1:]...)
				if empty, ok := x.onlyGuards(c, guards, s); ok {
					out = append(out, x.mkCheck(s, l.list, empty, "!"+short+" with error", v.Pos()))
				}
			}
		}
		// (c) subj != A && subj != B …
		if s, vals, empty, ok := x.inequalityChain(c, core); ok {
			out = append(out, x.mkCheck(s, vals, empty, "!= chain with error", v.Pos()))
		}
		// (d) _, ok := m[subj]; !ok
		if s, keys, ok := x.mapLookup(c, v, stack); ok {
			out = append(out, x.mkCheck(s, keys, false, "map lookup with error", v.Pos()))
		}
		return out
	}
	return nil
}

func (x *index) mkCheck(s subject, vals []string, empty bool, how string, pos token.Pos) check {
	var vs []string
	seen := map[string]bool{}
	for _, v := range vals {
		if v == "" {
			empty = true
			continue
		}
		if !seen[v] {
			seen[v] = true
			vs = append(vs, v)
		}
	}
	return check{subj: s, values: vs, emptyOK: empty, how: how, pos: pos}
}

// onlyGuards accepts extra conjuncts only when each is an empty guard on the subject.
func (x *index) onlyGuards(c *funcCtx, guards []ast.Expr, s subject) (bool, bool) {
	empty := false
	for _, g := range guards {
		if !x.emptyGuard(c, g, s) {
			return false, false
		}
		empty = true
	}
	return empty, true
}

func (x *index) switchCheck(c *funcCtx, sw *ast.SwitchStmt) []check {
	info := c.pk.TypesInfo
	var s subject
	tagged := sw.Tag != nil
	if tagged {
		var ok bool
		if s, ok = x.subjectOf(c, c.pk, sw.Tag, 0); !ok {
			return nil
		}
	}
	var vals []string
	hasDefault, first := false, true
	for _, st := range sw.Body.List {
		cc := st.(*ast.CaseClause)
		if cc.List == nil {
			if !rejects(info, cc.Body) {
				return nil
			}
			hasDefault = true
			continue
		}
		refused := rejects(info, cc.Body)
		for _, e := range cc.List {
			var v string
			if tagged {
				var ok bool
				if v, ok = constString(info, e); !ok {
					return nil
				}
				if !refused {
					vals = append(vals, v)
				}
				continue
			}
			// `switch { case subj == A || subj == B: … }`
			t, vs, ok := x.equalityChain(c, e)
			if !ok || (!first && !t.same(s)) {
				return nil
			}
			s, first = t, false
			if !refused {
				vals = append(vals, vs...)
			}
		}
	}
	if !hasDefault || (!tagged && first) {
		return nil
	}
	return []check{x.mkCheck(s, vals, false, "switch, default error", sw.Pos())}
}

// equalityChain reads `subj == A || subj == B …` on one subject.
func (x *index) equalityChain(c *funcCtx, e ast.Expr) (subject, []string, bool) {
	var s subject
	var vals []string
	for i, d := range disjuncts(e) {
		t, v, ok := x.comparison(c, d, token.EQL)
		if !ok {
			if call, ok2 := ast.Unparen(d).(*ast.CallExpr); ok2 && calleeName(c.pk.TypesInfo, call) == "strings.EqualFold" && len(call.Args) == 2 {
				for j := 0; j < 2; j++ {
					if cv, ok3 := constString(c.pk.TypesInfo, call.Args[1-j]); ok3 {
						if tt, ok4 := x.subjectOf(c, c.pk, call.Args[j], 0); ok4 {
							t, v, ok = tt, cv, true
							t.ci = true
							break
						}
					}
				}
			}
			if !ok {
				return subject{}, nil, false
			}
		}
		if i > 0 && !t.same(s) {
			return subject{}, nil, false
		}
		s = t
		vals = append(vals, v)
	}
	return s, vals, true
}

// inequalityChain reads `subj != A && subj != B …` (at least two values, one non-empty).
func (x *index) inequalityChain(c *funcCtx, conds []ast.Expr) (subject, []string, bool, bool) {
	if len(conds) < 2 {
		return subject{}, nil, false, false
	}
	var s subject
	var vals []string
	empty := false
	for i, e := range conds {
		t, v, ok := x.comparison(c, e, token.NEQ)
		if !ok {
			if i > 0 && x.emptyGuard(c, e, s) {
				empty = true
				continue
			}
			return subject{}, nil, false, false
		}
		if i > 0 && !t.same(s) {
			return subject{}, nil, false, false
		}
		s = t
		if v == "" {
			empty = true
			continue
		}
		vals = append(vals, v)
	}
	if len(vals) == 0 {
		return subject{}, nil, false, false
	}
	return s, vals, empty, true
}

// mapLookup reads `_, ok := m[subj]` (in the if's init or the statement before it) followed
// by `if !ok { return err }`, m a map literal with constant keys.
func (x *index) mapLookup(c *funcCtx, v *ast.IfStmt, stack []ast.Node) (subject, []string, bool) {
	u, ok := ast.Unparen(v.Cond).(*ast.UnaryExpr)
	if !ok || u.Op != token.NOT {
		return subject{}, nil, false
	}
	okID, ok := ast.Unparen(u.X).(*ast.Ident)
	if !ok {
		return subject{}, nil, false
	}
	info := c.pk.TypesInfo
	okVar := info.Uses[okID]
	var as *ast.AssignStmt
	if a, ok := v.Init.(*ast.AssignStmt); ok {
		as = a
	} else if len(stack) > 0 {
		if blk, ok := stack[len(stack)-1].(*ast.BlockStmt); ok {
			for i, st := range blk.List {
				if st == v && i > 0 {
					as, _ = blk.List[i-1].(*ast.AssignStmt)
				}
			}
		}
	}
	if as == nil || len(as.Lhs) != 2 || len(as.Rhs) != 1 {
		return subject{}, nil, false
	}
	if id, ok := as.Lhs[1].(*ast.Ident); !ok || (info.Defs[id] != okVar && info.Uses[id] != okVar) {
		return subject{}, nil, false
	}
	ix, ok := ast.Unparen(as.Rhs[0]).(*ast.IndexExpr)
	if !ok {
		return subject{}, nil, false
	}
	if _, isMap := types.Unalias(info.TypeOf(ix.X)).Underlying().(*types.Map); !isMap {
		return subject{}, nil, false
	}
	s, ok := x.subjectOf(c, c.pk, ix.Index, 0)
	if !ok {
		return subject{}, nil, false
	}
	keys, ok := x.ev.eval(c.pk, ix.X, 0)
	if !ok || !keys.isList {
		return subject{}, nil, false
	}
	return s, keys.list, true
}

// emptyByContext reports whether the check only runs for a non-empty value: inside
// `if subj != "" {…}`, or after `if subj == "" { return … }` without an error.
func (x *index) emptyByContext(c *funcCtx, n ast.Node, stack []ast.Node, s subject) bool {
	child := n
	for i := len(stack) - 1; i >= 0; i-- {
		switch p := stack[i].(type) {
		case *ast.IfStmt:
			if p.Body == child {
				for _, e := range conjuncts(p.Cond) {
					if x.emptyGuard(c, e, s) {
						return true
					}
				}
			}
		case *ast.BlockStmt:
			for _, st := range p.List {
				if st == child {
					break
				}
				is, ok := st.(*ast.IfStmt)
				if !ok {
					continue
				}
				t, v, ok := x.comparison(c, is.Cond, token.EQL)
				if !ok || v != "" || !t.same(s) || len(is.Body.List) == 0 {
					continue
				}
				if r, ok := is.Body.List[len(is.Body.List)-1].(*ast.ReturnStmt); ok && !rejects(c.pk.TypesInfo, []ast.Stmt{r}) {
					return true
				}
			}
		}
		child = stack[i]
	}
	return false
}

// helpValues reads a closed set from a flag's help text: a marker phrase followed by an
// enumeration; the list a Sprintf/Join formatted it from when there is exactly one.
var helpMarker = regexp.MustCompile(`(?i)(supported values(?: are)?|supported (?:backends|types|formats|modes|options|algorithms)(?: are)?|valid (?:values|options|formats|modes|backends|types)(?: are)?|possible values(?: are)?|allowed values(?: are)?|available (?:options|values)(?: are)?|accepted values(?: are)?|(?:use |be |must be |should be |set to |is |are )?one of|options(?: are)?)\s*[:=]?\s*`)
var helpToken = regexp.MustCompile(`^[A-Za-z0-9_.\-+/:@]+$`)

func helpValues(usage value) ([]string, bool) {
	loc := helpMarker.FindStringIndex(usage.s)
	if loc == nil {
		return nil, false
	}
	if vals, ok := enumeration(usage.s[loc[1]:]); ok {
		return vals, true
	}
	// `%v` of a list renders "[a b c]": the list it was formatted from, when there is one.
	if len(usage.from) == 1 && len(usage.from[0]) > 0 {
		return usage.from[0], true
	}
	return nil, false
}

// enumeration reads "a, b or c" up to the end of its sentence or bracket.
func enumeration(rest string) ([]string, bool) {
	// The enumeration ends with its sentence or its bracket.
	end := len(rest)
	if strings.HasPrefix(rest, "[") {
		if i := strings.Index(rest, "]"); i > 0 {
			rest, end = rest[1:i], i-1
		}
	}
	for _, stop := range []string{". ", ".\n", "; ", ")", " (", "\n"} {
		if i := strings.Index(rest[:end], stop); i >= 0 && i < end {
			end = i
		}
	}
	body := strings.TrimSuffix(strings.TrimSpace(rest[:end]), ".")
	body = strings.NewReplacer(" or ", ",", " and ", ",", "|", ",", ", ", ",").Replace(body)
	var out []string
	for _, t := range strings.Split(body, ",") {
		t = strings.Trim(strings.TrimSpace(t), "`'\"")
		if t == "" {
			continue
		}
		if !helpToken.MatchString(t) {
			return nil, false
		}
		out = append(out, t)
	}
	if len(out) < 2 {
		return nil, false
	}
	return out, true
}

// oneOfFacts turns the checks and help texts into facts on key paths.
func (x *index) oneOfFacts() []fact {
	var out []fact
	checked := map[string]bool{}
	for _, ch := range x.checks() {
		paths := x.pathsOf(ch.subj)
		if len(paths) == 0 || len(ch.values) == 0 {
			continue
		}
		vals := append([]string{}, ch.values...)
		if ch.subj.ci {
			for i := range vals {
				vals[i] = strings.ToLower(vals[i])
			}
		}
		sort.Strings(vals)
		kind := "one-of"
		if ch.subj.each {
			kind = "each-one-of"
		}
		ev := x.prog.where(ch.pos) + " (" + ch.how + ")"
		for _, p := range paths {
			checked[p] = true
			out = append(out, fact{p, kind, joinValues(vals), ev})
			if ch.emptyOK {
				out = append(out, fact{p, "empty-ok", "", ev})
			}
			if ch.subj.ci {
				out = append(out, fact{p, "fold-case", "", ev})
			}
		}
	}
	for path, regs := range x.flags {
		if k := x.w.keys[path]; k == nil || strings.Contains(k.goType, "[]") || strings.Contains(k.goType, "Slice") {
			// A list's help names its elements, and often only some of them.
			continue
		}
		paths := []string{path}
		for _, r := range regs {
			if !r.usageOK {
				continue
			}
			vals, ok := helpValues(r.usage)
			if !ok {
				continue
			}
			how := "flag help"
			if len(r.usage.from) == 1 {
				how = "flag help formatted from a constant list"
			}
			for _, p := range paths {
				if checked[p] {
					continue
				}
				out = append(out, fact{p, "one-of", joinValues(vals), x.prog.where(r.pos) + " (" + how + ")"})
			}
		}
	}
	return out
}

func (x *index) pathsOf(s subject) []string {
	var ps []string
	if len(s.paths) > 0 {
		ps = s.paths
	} else if s.typ != nil {
		ps = x.w.byType[s.typ]
	}
	out := append([]string{}, ps...)
	sort.Strings(out)
	return out
}
