// alloy-oracle reads Grafana Alloy configuration files with Alloy's own parser and scanner
// (github.com/grafana/alloy/syntax) and prints, as one JSON array, what kalypso's Alloy reader
// (crates/kalypso-check/src/dns/alloy.rs) claims to read from each: the block tree with
// attribute values, and every string literal outside comments with its line. It is the real
// implementation in the reader's differential test (crates/kalypso/tests/it/alloy_real.rs).
//
// Usage: alloy-oracle FILE...
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/grafana/alloy/syntax/ast"
	"github.com/grafana/alloy/syntax/parser"
	"github.com/grafana/alloy/syntax/scanner"
	"github.com/grafana/alloy/syntax/token"
)

// Block is a block statement (the file itself is a Block with an empty kind).
type Block struct {
	Kind   string  `json:"kind"`
	Label  *string `json:"label"`
	Line   int     `json:"line"`
	Attrs  []Attr  `json:"attrs"`
	Blocks []Block `json:"blocks"`
}

// Attr is one `name = value`, in source order.
type Attr struct {
	Name  string `json:"name"`
	Value Value  `json:"value"`
}

// Value is what the reader models of an expression: a string, an object literal, a key of a
// remote.kubernetes.secret component's data, or anything else.
type Value struct {
	Str    *string `json:"str,omitempty"`
	Object *[]Attr `json:"object,omitempty"`
	Secret *Secret `json:"secret,omitempty"`
	Other  bool    `json:"other,omitempty"`
}

// Secret is `remote.kubernetes.secret.<label>.data["<key>"]`.
type Secret struct {
	Label string `json:"label"`
	Key   string `json:"key"`
}

// StringLit is a string literal token (comments are not tokens) with the line it starts on.
type StringLit struct {
	Value string `json:"value"`
	Line  int    `json:"line"`
}

// Result is one file's reading, or Alloy's error for it.
type Result struct {
	File    string      `json:"file"`
	Error   string      `json:"error,omitempty"`
	Root    *Block      `json:"root,omitempty"`
	Strings []StringLit `json:"strings"`
}

func main() {
	out := []Result{}
	for _, name := range os.Args[1:] {
		src, err := os.ReadFile(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		out = append(out, read(name, src))
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}

func read(name string, src []byte) Result {
	r := Result{File: name, Strings: []StringLit{}}
	f, err := parser.ParseFile(name, src)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	root := body(Block{Attrs: []Attr{}, Blocks: []Block{}}, f.Body)
	r.Root = &root
	file := token.NewFile(name)
	s := scanner.New(file, src, func(token.Pos, string) {}, 0)
	for {
		pos, tok, lit := s.Scan()
		if tok == token.EOF {
			break
		}
		if tok == token.STRING {
			v, err := strconv.Unquote(lit)
			if err != nil {
				r.Error = fmt.Sprintf("unquoting %s: %v", lit, err)
				return r
			}
			r.Strings = append(r.Strings, StringLit{Value: v, Line: pos.Position().Line})
		}
	}
	return r
}

func body(b Block, stmts ast.Body) Block {
	for _, st := range stmts {
		switch st := st.(type) {
		case *ast.AttributeStmt:
			b.Attrs = append(b.Attrs, Attr{Name: st.Name.Name, Value: value(st.Value)})
		case *ast.BlockStmt:
			child := Block{
				Kind:   strings.Join(st.Name, "."),
				Line:   st.NamePos.Position().Line,
				Attrs:  []Attr{},
				Blocks: []Block{},
			}
			if st.Label != "" {
				label := st.Label
				child.Label = &label
			}
			b.Blocks = append(b.Blocks, body(child, st.Body))
		}
	}
	return b
}

func value(e ast.Expr) Value {
	switch e := e.(type) {
	case *ast.LiteralExpr:
		if e.Kind == token.STRING {
			if s, err := strconv.Unquote(e.Value); err == nil {
				return Value{Str: &s}
			}
		}
	case *ast.ObjectExpr:
		fields := []Attr{}
		for _, f := range e.Fields {
			fields = append(fields, Attr{Name: f.Name.Name, Value: value(f.Value)})
		}
		return Value{Object: &fields}
	}
	if s := secret(e); s != nil {
		return Value{Secret: s}
	}
	return Value{Other: true}
}

// secret recognises a Secret's key, bare, in parentheses or in convert.nonsensitive(…).
func secret(e ast.Expr) *Secret {
	switch e := e.(type) {
	case *ast.ParenExpr:
		return secret(e.Inner)
	case *ast.CallExpr:
		if path(e.Value) == "convert.nonsensitive" && len(e.Args) == 1 {
			return secret(e.Args[0])
		}
	case *ast.IndexExpr:
		lit, ok := e.Index.(*ast.LiteralExpr)
		if !ok || lit.Kind != token.STRING {
			return nil
		}
		key, err := strconv.Unquote(lit.Value)
		if err != nil {
			return nil
		}
		p := path(e.Value)
		label, ok := strings.CutPrefix(p, "remote.kubernetes.secret.")
		if !ok {
			return nil
		}
		label, ok = strings.CutSuffix(label, ".data")
		if !ok || strings.Contains(label, ".") || label == "" {
			return nil
		}
		return &Secret{Label: label, Key: key}
	}
	return nil
}

// path is `a.b.c` for an identifier followed by field accesses, "" for anything else.
func path(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.IdentifierExpr:
		return e.Ident.Name
	case *ast.AccessExpr:
		if p := path(e.Value); p != "" {
			return p + "." + e.Name.Name
		}
	}
	return ""
}
