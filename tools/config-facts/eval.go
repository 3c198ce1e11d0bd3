package main

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/token"
	"go/types"
	"sort"
	"strings"

	"golang.org/x/tools/go/packages"
)

// defs maps each variable defined once (package-level `var x = …`, a local `x := …`, a range
// value) to the expression it is defined from, with the package whose types describe it.
type defs struct {
	expr    map[*types.Var]ast.Expr
	pkg     map[*types.Var]*packages.Package
	rangeOf map[*types.Var]ast.Expr // range value variable -> ranged expression
	assigns map[*types.Var]int      // how many times a variable is assigned after its definition
}

func buildDefs(p *program) *defs {
	d := &defs{expr: map[*types.Var]ast.Expr{}, pkg: map[*types.Var]*packages.Package{}, rangeOf: map[*types.Var]ast.Expr{}, assigns: map[*types.Var]int{}}
	p.eachFile(func(pk *packages.Package, f *ast.File) {
		info := pk.TypesInfo
		ast.Inspect(f, func(n ast.Node) bool {
			switch s := n.(type) {
			case *ast.ValueSpec:
				if len(s.Values) == len(s.Names) {
					for i, id := range s.Names {
						if v, ok := info.Defs[id].(*types.Var); ok {
							d.expr[v], d.pkg[v] = s.Values[i], pk
						}
					}
				}
			case *ast.AssignStmt:
				if len(s.Lhs) == len(s.Rhs) {
					for i, l := range s.Lhs {
						id, ok := l.(*ast.Ident)
						if !ok {
							continue
						}
						if v, ok := info.Defs[id].(*types.Var); ok && s.Tok == token.DEFINE {
							d.expr[v], d.pkg[v] = s.Rhs[i], pk
						} else if v, ok := info.Uses[id].(*types.Var); ok {
							d.assigns[v]++
						}
					}
				}
			case *ast.RangeStmt:
				if id, ok := s.Value.(*ast.Ident); ok {
					if v, ok := info.Defs[id].(*types.Var); ok {
						d.rangeOf[v], d.pkg[v] = s.X, pk
					}
				}
			}
			return true
		})
	})
	return d
}

// value is what a constant expression evaluates to: a string or a list of strings.
type value struct {
	s      string
	list   []string
	isList bool
	// The lists an evaluated string was formatted from (fmt.Sprintf, strings.Join).
	from [][]string
}

// evaluator folds the constant string and []string expressions a help text or a check is
// built from: constants (go/types values), composite literals, package-level and once-defined
// variables, fmt.Sprintf, strings.Join, `+`, and the keys of map literals.
type evaluator struct {
	p *program
	d *defs
}

func (e *evaluator) eval(pk *packages.Package, x ast.Expr, depth int) (value, bool) {
	if depth > 12 || x == nil {
		return value{}, false
	}
	info := pk.TypesInfo
	if tv, ok := info.Types[x]; ok && tv.Value != nil && tv.Value.Kind() == constant.String {
		return value{s: constant.StringVal(tv.Value)}, true
	}
	switch v := x.(type) {
	case *ast.ParenExpr:
		return e.eval(pk, v.X, depth+1)
	case *ast.Ident, *ast.SelectorExpr:
		var obj types.Object
		if id, ok := v.(*ast.Ident); ok {
			obj = info.Uses[id]
		} else {
			obj = info.Uses[v.(*ast.SelectorExpr).Sel]
		}
		vr, ok := obj.(*types.Var)
		if !ok || vr.IsField() || e.d.assigns[vr] > 0 {
			return value{}, false
		}
		def, ok := e.d.expr[vr]
		if !ok {
			return value{}, false
		}
		return e.eval(e.d.pkg[vr], def, depth+1)
	case *ast.CompositeLit:
		switch types.Unalias(info.TypeOf(v)).Underlying().(type) {
		case *types.Slice, *types.Array:
			var out []string
			for _, el := range v.Elts {
				ev, ok := e.eval(pk, el, depth+1)
				if !ok || ev.isList {
					return value{}, false
				}
				out = append(out, ev.s)
			}
			return value{list: out, isList: true}, true
		case *types.Map:
			var out []string
			for _, el := range v.Elts {
				kv, ok := el.(*ast.KeyValueExpr)
				if !ok {
					return value{}, false
				}
				ev, ok := e.eval(pk, kv.Key, depth+1)
				if !ok || ev.isList {
					return value{}, false
				}
				out = append(out, ev.s)
			}
			sort.Strings(out)
			return value{list: out, isList: true}, true
		}
	case *ast.BinaryExpr:
		if v.Op != token.ADD {
			return value{}, false
		}
		a, ok1 := e.eval(pk, v.X, depth+1)
		b, ok2 := e.eval(pk, v.Y, depth+1)
		if !ok1 || !ok2 || a.isList || b.isList {
			return value{}, false
		}
		return value{s: a.s + b.s, from: append(append([][]string{}, a.from...), b.from...)}, true
	case *ast.CallExpr:
		name := calleeName(info, v)
		switch name {
		case "fmt.Sprintf":
			if len(v.Args) == 0 || v.Ellipsis != token.NoPos {
				return value{}, false
			}
			f, ok := e.eval(pk, v.Args[0], depth+1)
			if !ok || f.isList {
				return value{}, false
			}
			var args []any
			var from [][]string
			for _, a := range v.Args[1:] {
				ev, ok := e.eval(pk, a, depth+1)
				if !ok {
					return value{}, false
				}
				if ev.isList {
					args = append(args, ev.list)
					from = append(from, ev.list)
				} else {
					args = append(args, ev.s)
					from = append(from, ev.from...)
				}
			}
			return value{s: fmt.Sprintf(f.s, args...), from: from}, true
		case "strings.Join":
			if len(v.Args) != 2 {
				return value{}, false
			}
			l, ok1 := e.eval(pk, v.Args[0], depth+1)
			sep, ok2 := e.eval(pk, v.Args[1], depth+1)
			if !ok1 || !ok2 || !l.isList || sep.isList {
				return value{}, false
			}
			return value{s: strings.Join(l.list, sep.s), from: [][]string{l.list}}, true
		case "golang.org/x/exp/maps.Keys", "maps.Keys", "github.com/samber/lo.Keys", "slices.Collect", "slices.Sorted":
			if len(v.Args) != 1 {
				return value{}, false
			}
			return e.eval(pk, v.Args[0], depth+1)
		}
	}
	return value{}, false
}

// calleeName is the called function as `pkgpath.Name` for a package function, `Type.Name` for a
// method, or "" when unknown.
func calleeName(info *types.Info, c *ast.CallExpr) string {
	var id *ast.Ident
	switch f := ast.Unparen(c.Fun).(type) {
	case *ast.Ident:
		id = f
	case *ast.SelectorExpr:
		id = f.Sel
	case *ast.IndexExpr: // generic instantiation
		switch g := f.X.(type) {
		case *ast.Ident:
			id = g
		case *ast.SelectorExpr:
			id = g.Sel
		}
	}
	if id == nil {
		return ""
	}
	fn, ok := info.Uses[id].(*types.Func)
	if !ok {
		if b, ok := info.Uses[id].(*types.Builtin); ok {
			return b.Name()
		}
		return ""
	}
	if sig, ok := fn.Type().(*types.Signature); ok && sig.Recv() != nil {
		if n := namedOf(sig.Recv().Type()); n != nil {
			return n.Name() + "." + fn.Name()
		}
		return fn.Name()
	}
	if fn.Pkg() == nil {
		return fn.Name()
	}
	return fn.Pkg().Path() + "." + fn.Name()
}
