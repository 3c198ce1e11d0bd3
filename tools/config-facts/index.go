package main

import (
	"go/ast"
	"go/token"
	"go/types"
	"strings"

	"golang.org/x/tools/go/packages"
)

// flagReg is one flag registration of a config field: `f.XxxVar(&cfg.Field, name, …, usage)`.
type flagReg struct {
	name     string // the constant tail of the name (prefix+"s3.bucket-name" gives s3.bucket-name)
	prefixed bool   // the name had a non-constant prefix
	usage    value
	usageOK  bool
	pos      token.Pos
}

// index holds what the checks need from every package: flags, field declarations and the
// definitions of variables.
type index struct {
	prog *program
	w    *walker
	d    *defs
	ev   *evaluator
	// Flag registrations by the key path of their field.
	flags map[string][]flagReg
	// Flag name (constant tail) -> key paths registered under it.
	flagPaths map[string][]string
	// Struct field declarations by the field's position.
	fieldDecl map[token.Pos]*ast.Field
}

func newIndex(p *program, w *walker) *index {
	d := buildDefs(p)
	x := &index{prog: p, w: w, d: d, ev: &evaluator{p: p, d: d},
		flags: map[string][]flagReg{}, flagPaths: map[string][]string{}, fieldDecl: map[token.Pos]*ast.Field{}}
	p.eachFile(func(pk *packages.Package, f *ast.File) {
		ast.Inspect(f, func(n ast.Node) bool {
			switch v := n.(type) {
			case *ast.StructType:
				for _, fl := range v.Fields.List {
					for _, id := range fl.Names {
						x.fieldDecl[id.Pos()] = fl
					}
					if len(fl.Names) == 0 {
						// An embedded field's position is its type's.
						x.fieldDecl[embeddedPos(fl.Type)] = fl
					}
				}
			case *ast.CallExpr:
				x.flagCall(pk, v)
			}
			return true
		})
	})
	return x
}

func embeddedPos(t ast.Expr) token.Pos {
	switch v := t.(type) {
	case *ast.StarExpr:
		return embeddedPos(v.X)
	case *ast.SelectorExpr:
		return v.Sel.Pos()
	case *ast.IndexExpr:
		return embeddedPos(v.X)
	}
	return t.Pos()
}

// flagCall records `f.XxxVar(&x.Field, name, [default,] usage)` and flagext helpers of that
// shape: the first argument the address of a field, the second its name, the last its usage.
func (x *index) flagCall(pk *packages.Package, c *ast.CallExpr) {
	sel, ok := ast.Unparen(c.Fun).(*ast.SelectorExpr)
	if !ok || !strings.HasSuffix(sel.Sel.Name, "Var") || len(c.Args) < 3 {
		return
	}
	u, ok := c.Args[0].(*ast.UnaryExpr)
	if !ok || u.Op != token.AND {
		return
	}
	paths := x.bind(pk.TypesInfo, u.X)
	if len(paths) == 0 {
		return
	}
	r := flagReg{pos: c.Pos()}
	switch n := ast.Unparen(c.Args[1]).(type) {
	case *ast.BinaryExpr:
		if v, ok := x.ev.eval(pk, n.Y, 0); ok && !v.isList {
			r.name, r.prefixed = v.s, true
		}
	default:
		if v, ok := x.ev.eval(pk, n, 0); ok && !v.isList {
			r.name = v.s
		}
	}
	if v, ok := x.ev.eval(pk, c.Args[len(c.Args)-1], 0); ok && !v.isList {
		r.usage, r.usageOK = v, true
	}
	for _, p := range paths {
		x.flags[p] = append(x.flags[p], r)
		if r.name != "" {
			x.flagPaths[r.name] = append(x.flagPaths[r.name], p)
		}
	}
}

// fieldOfExpr is the struct field a selector expression reads (x.a.B gives B).
func fieldOfExpr(info *types.Info, e ast.Expr) *types.Var {
	sel, ok := ast.Unparen(e).(*ast.SelectorExpr)
	if !ok {
		return nil
	}
	s, ok := info.Selections[sel]
	if !ok || s.Kind() != types.FieldVal {
		return nil
	}
	v, _ := s.Obj().(*types.Var)
	if v == nil {
		return nil
	}
	return v.Origin()
}
