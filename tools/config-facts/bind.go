package main

import (
	"go/ast"
	"go/types"
	"sort"
	"strings"
)

// bind resolves a selector chain (`t.cfg.StorageConfig.Trace.Backend`) to the key paths it
// reads. The chain is anchored at its first struct type the walk knows (app.Config here), so a
// check or a flag on `cfg.Ring.ReplicationFactor` of one component binds to that component's
// ring only, not to every ring; a chain no known type anchors binds to every path of its last
// field.
func (x *index) bind(info *types.Info, e ast.Expr) []string {
	var sels []*types.Selection
	cur := ast.Unparen(e)
	for {
		sel, ok := cur.(*ast.SelectorExpr)
		if !ok {
			break
		}
		s, ok := info.Selections[sel]
		if !ok || s.Kind() != types.FieldVal {
			break
		}
		sels = append(sels, s)
		cur = ast.Unparen(sel.X)
	}
	if len(sels) == 0 {
		return nil
	}
	// From the base outward: each selection's receiver type and the YAML segments it adds.
	n := len(sels)
	anchors := make([]*types.TypeName, n)
	segs := make([][]string, n)
	for i := 0; i < n; i++ {
		s := sels[n-1-i]
		anchors[i] = namedOf(s.Recv())
		sg, ok := yamlSegments(s)
		if !ok {
			return nil // a field the decoder never sets (yaml:"-")
		}
		segs[i] = sg
	}
	for k := 0; k < n; k++ {
		prefixes := x.w.typePrefixes[anchors[k]]
		if len(prefixes) == 0 {
			continue
		}
		var rel []string
		for _, sg := range segs[k:] {
			rel = append(rel, sg...)
		}
		var out []string
		for _, p := range prefixes {
			path := p
			for _, r := range rel {
				path = join(path, r)
			}
			if _, ok := x.w.keys[path]; ok {
				out = append(out, path)
			}
		}
		if len(out) > 0 {
			sort.Strings(out)
			return out
		}
	}
	last, _ := sels[0].Obj().(*types.Var)
	if last == nil {
		return nil
	}
	return append([]string{}, x.w.byField[last.Origin()]...)
}

// yamlSegments is the YAML path one field selection adds, through embedded fields (an inline
// one adds nothing).
func yamlSegments(s *types.Selection) ([]string, bool) {
	t := s.Recv()
	var out []string
	for _, idx := range s.Index() {
		st, ok := derefStruct(t)
		if !ok {
			return nil, false
		}
		f := st.Field(idx)
		y := yamlTag(st.Tag(idx))
		if y == "-" {
			return nil, false
		}
		name, opts, _ := strings.Cut(y, ",")
		inline := false
		for _, o := range strings.Split(opts, ",") {
			inline = inline || o == "inline"
		}
		if !inline {
			if name == "" {
				name = strings.ToLower(f.Name())
			}
			out = append(out, name)
		}
		t = f.Type()
	}
	return out, true
}
