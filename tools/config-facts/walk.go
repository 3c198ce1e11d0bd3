package main

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"reflect"
	"sort"
	"strings"
)

// keyInfo is one YAML key path of the config tree.
type keyInfo struct {
	path   string
	goType string // the field's Go type, package-qualified by name (*s3.Config)
	kind   string // the reference's type vocabulary (block, list(block), duration…)
	field  *types.Var
	pos    token.Pos
	tag    string
	named  *types.TypeName // the key's named type, pointers removed (log.Level)
	// The prefix the legacy format this key belongs to is deprecated in favour of.
	legacyTo string
	// The prefix of the root the key was found under.
	rootPrefix string
}

// walker follows the yaml tags of a config struct tree as gopkg.in/yaml.v2 and v3 decode it.
type walker struct {
	prog    *program
	keys    map[string]*keyInfo
	byField map[*types.Var][]string
	byType  map[*types.TypeName][]string
	// Method declarations by object, for UnmarshalYAML bodies.
	funcs map[*types.Func]*ast.FuncDecl
	// The root being walked.
	root rootSpec
	// Where each named struct type is walked: the key path prefixes its fields live under.
	typePrefixes map[*types.TypeName][]string
}

func newWalker(p *program, o *options) *walker {
	w := &walker{
		prog:    p,
		keys:    map[string]*keyInfo{},
		byField: map[*types.Var][]string{},
		byType:  map[*types.TypeName][]string{},
		funcs:   map[*types.Func]*ast.FuncDecl{},

		typePrefixes: map[*types.TypeName][]string{},
	}
	p.eachFile(func(pk *pkgT, f *ast.File) {
		info := pk.TypesInfo
		ast.Inspect(f, func(n ast.Node) bool {
			switch d := n.(type) {
			case *ast.FuncDecl:
				if fn, ok := info.Defs[d.Name].(*types.Func); ok {
					w.funcs[fn] = d
				}
			}
			return true
		})
	})
	return w
}

// namedOf returns the type name of t with pointers and aliases removed, the generic origin for
// an instance.
func namedOf(t types.Type) *types.TypeName {
	if t == nil {
		return nil
	}
	t = types.Unalias(t)
	if p, ok := t.(*types.Pointer); ok {
		t = types.Unalias(p.Elem())
	}
	if n, ok := t.(*types.Named); ok {
		return n.Origin().Obj()
	}
	return nil
}

func (w *walker) walkRoot(r rootSpec) error {
	var pk *pkgT
	for i, rr := range w.prog.rootSpecs() {
		if rr.pkg == r.pkg {
			pk = w.prog.roots[i]
			break
		}
	}
	if pk == nil {
		return fmt.Errorf("root %s.%s: package not loaded", r.pkg, r.typ)
	}
	obj, ok := pk.Types.Scope().Lookup(r.typ).(*types.TypeName)
	if !ok {
		return fmt.Errorf("root %s: no type %s", r.pkg, r.typ)
	}
	st, ok := obj.Type().Underlying().(*types.Struct)
	if !ok {
		return fmt.Errorf("root %s.%s is not a struct", r.pkg, r.typ)
	}
	w.root = r
	w.at(obj, r.prefix)
	w.walkStruct(st, r.prefix, []*types.TypeName{obj}, r.legacyTo)
	return nil
}

func join(prefix, key string) string {
	if prefix == "" || strings.HasSuffix(prefix, ":") {
		return prefix + key
	}
	return prefix + "." + key
}

// yamlTag is the yaml tag as yaml.v2/v3 read it: a tag without any `key:"value"` pair is the
// yaml tag as a whole.
func yamlTag(tag string) string {
	if v, ok := reflect.StructTag(tag).Lookup("yaml"); ok {
		return v
	}
	if tag != "" && !strings.Contains(tag, ":") {
		return tag
	}
	return ""
}

func (w *walker) walkStruct(st *types.Struct, prefix string, stack []*types.TypeName, legacyTo string) {
	if len(stack) > 40 {
		return
	}
	for i := 0; i < st.NumFields(); i++ {
		f := st.Field(i)
		tag := st.Tag(i)
		y := yamlTag(tag)
		// Only the whole tag "-" drops a field ("-,inline" would inline it).
		if y == "-" {
			continue
		}
		name, opts, _ := strings.Cut(y, ",")
		inline := false
		for _, o := range strings.Split(opts, ",") {
			if o == "inline" {
				inline = true
			}
		}
		if !f.Exported() && !f.Embedded() {
			continue
		}
		switch types.Unalias(f.Type()).Underlying().(type) {
		case *types.Signature, *types.Chan:
			continue
		}
		s := w.shapeOf(f.Type(), 0)
		if inline {
			switch s.kind {
			case shapeStruct:
				if !onStack(stack, s.id) {
					w.at(s.id, prefix)
					w.walkStruct(s.st, prefix, push(stack, s.id), legacyTo)
				}
			case shapeMap:
				if s.elem.kind == shapeStruct && !onStack(stack, s.elem.id) {
					w.walkStruct(s.elem.st, join(prefix, "*"), push(stack, s.elem.id), legacyTo)
				}
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name())
		}
		path := join(prefix, name)
		w.add(&keyInfo{path: path, goType: typeString(derefType(f.Type())), kind: s.kindName(), field: f.Origin(), pos: f.Pos(), tag: tag, named: namedOf(f.Type()), legacyTo: legacyTo})
		w.descend(s, path, stack, legacyTo)
	}
}

func (w *walker) descend(s *shape, path string, stack []*types.TypeName, legacyTo string) {
	switch s.kind {
	case shapeStruct:
		if !onStack(stack, s.id) {
			w.at(s.id, path)
			w.walkStruct(s.st, path, push(stack, s.id), legacyTo)
		}
	case shapeList:
		w.descend(s.elem, path+"[]", stack, legacyTo)
	case shapeMap:
		w.descend(s.elem, path+".*", stack, legacyTo)
	}
}

// at records that the fields of type id live under prefix.
func (w *walker) at(id *types.TypeName, prefix string) {
	if id == nil {
		return
	}
	for _, p := range w.typePrefixes[id] {
		if p == prefix {
			return
		}
	}
	w.typePrefixes[id] = append(w.typePrefixes[id], prefix)
}

func onStack(stack []*types.TypeName, id *types.TypeName) bool {
	if id == nil {
		return false
	}
	for _, s := range stack {
		if s == id {
			return true
		}
	}
	return false
}

func push(stack []*types.TypeName, id *types.TypeName) []*types.TypeName {
	out := append([]*types.TypeName{}, stack...)
	return append(out, id)
}

func (w *walker) add(k *keyInfo) {
	if _, ok := w.keys[k.path]; ok {
		return
	}
	k.rootPrefix = w.root.prefix
	w.keys[k.path] = k
	if k.field != nil {
		w.byField[k.field] = append(w.byField[k.field], k.path)
	}
	if k.named != nil {
		w.byType[k.named] = append(w.byType[k.named], k.path)
	}
}

// derefType removes one pointer: YAML decodes a *T as it decodes a T.
func derefType(t types.Type) types.Type {
	if p, ok := types.Unalias(t).(*types.Pointer); ok {
		return p.Elem()
	}
	return t
}

func typeString(t types.Type) string {
	return types.TypeString(t, func(p *types.Package) string { return p.Name() })
}

const (
	shapeScalar = iota
	shapeStruct
	shapeList
	shapeMap
)

// shape is how a Go type decodes from YAML.
type shape struct {
	kind   int
	scalar string // for shapeScalar: the reference's name (string, int, duration, any…)
	st     *types.Struct
	id     *types.TypeName // the struct's type name (nil for an anonymous struct)
	elem   *shape
}

func (s *shape) kindName() string {
	switch s.kind {
	case shapeStruct:
		return "block"
	case shapeList:
		if s.elem.kind == shapeScalar && s.elem.scalar == "any" {
			return "list"
		}
		return "list(" + s.elem.kindName() + ")"
	case shapeMap:
		if s.elem.kind == shapeScalar && s.elem.scalar == "any" {
			return "map"
		}
		return "map(" + s.elem.kindName() + ")"
	}
	return s.scalar
}

func scalar(name string) *shape { return &shape{kind: shapeScalar, scalar: name} }

// knownTypes decode from text by their own code: the reference's type for each.
var knownTypes = map[string]string{
	"time.Duration": "duration",
	"time.Time":     "time",
	"net/url.URL":   "string",
	"regexp.Regexp": "string",
	"github.com/prometheus/common/model.Duration":          "duration",
	"github.com/prometheus/common/config.Secret":           "string",
	"github.com/prometheus/common/config.URL":              "string",
	"github.com/grafana/dskit/flagext.Secret":              "string",
	"github.com/grafana/dskit/flagext.URLValue":            "string",
	"github.com/grafana/dskit/flagext.StringSliceCSV":      "string",
	"github.com/grafana/dskit/flagext.CIDRSliceCSV":        "string",
	"github.com/grafana/dskit/flagext.StringSlice":         "list(string)",
	"github.com/grafana/dskit/flagext.StringSliceCSVMulti": "list(string)",
	"github.com/grafana/dskit/flagext.Time":                "time",
	"github.com/grafana/dskit/flagext.DayValue":            "time",
	"github.com/grafana/dskit/flagext.ByteSize":            "int",
	"github.com/grafana/dskit/log.Level":                   "string",
	"github.com/grafana/dskit/log.Format":                  "string",
}

func (w *walker) shapeOf(t types.Type, depth int) *shape {
	if depth > 40 {
		return scalar("any")
	}
	t = types.Unalias(t)
	switch u := t.(type) {
	case *types.Pointer:
		return w.shapeOf(u.Elem(), depth+1)
	case *types.Named:
		return w.namedShape(u, depth)
	case *types.Basic:
		return basicShape(u)
	case *types.Slice:
		if b, ok := types.Unalias(u.Elem()).(*types.Basic); ok && b.Kind() == types.Byte {
			return scalar("any")
		}
		return &shape{kind: shapeList, elem: w.shapeOf(u.Elem(), depth+1)}
	case *types.Array:
		return &shape{kind: shapeList, elem: w.shapeOf(u.Elem(), depth+1)}
	case *types.Map:
		return &shape{kind: shapeMap, elem: w.shapeOf(u.Elem(), depth+1)}
	case *types.Struct:
		return &shape{kind: shapeStruct, st: u}
	}
	return scalar("any")
}

func basicShape(b *types.Basic) *shape {
	switch {
	case b.Info()&types.IsBoolean != 0:
		return scalar("bool")
	case b.Info()&types.IsInteger != 0:
		return scalar("int")
	case b.Info()&types.IsFloat != 0:
		return scalar("float")
	case b.Info()&types.IsString != 0:
		return scalar("string")
	}
	return scalar("any")
}

func (w *walker) namedShape(n *types.Named, depth int) *shape {
	obj := n.Origin().Obj()
	full := obj.Name()
	if obj.Pkg() != nil {
		full = obj.Pkg().Path() + "." + obj.Name()
	}
	if k, ok := knownTypes[full]; ok {
		return scalar(k)
	}
	if full == "github.com/grafana/dskit/flagext.LimitsMap" {
		// A generic map whose values are its type argument.
		var elem *shape = scalar("any")
		if n.TypeArgs().Len() > 0 {
			elem = w.shapeOf(n.TypeArgs().At(0), depth+1)
		}
		return &shape{kind: shapeMap, elem: elem}
	}
	if obj.Pkg() == nil {
		return scalar("any") // error
	}
	custom := w.method(n, "UnmarshalYAML")
	text := w.method(n, "UnmarshalText") != nil
	switch u := n.Underlying().(type) {
	case *types.Struct:
		if custom != nil {
			return w.decodedAs(n, custom, depth)
		}
		if text {
			return scalar("string")
		}
		if !w.prog.owned(obj.Pkg().Path()) {
			return scalar("any")
		}
		return &shape{kind: shapeStruct, st: u, id: obj}
	default:
		if custom != nil {
			if s := w.decodedAs(n, custom, depth); s.kind != shapeScalar || s.scalar != "any" {
				return s
			}
		}
		under := w.shapeOf(u, depth+1)
		if custom != nil || text {
			// An enum or a size decoded from its text.
			if under.kind == shapeScalar && under.scalar != "any" {
				return scalar("string")
			}
			return scalar("any")
		}
		return under
	}
}

// decodedAs is the shape of a struct with its own UnmarshalYAML: what the first value that
// method decodes into (`unmarshal(x)`, yaml.v3 `node.Decode(x)`) decodes as. A defined copy of
// the struct (`type plain T; unmarshal((*plain)(t))`) gives the struct's own fields; another
// type (`unmarshal((*aws.StorageConfig)(cfg))`, an anonymous struct) its own shape. A method
// declared elsewhere (promoted from an embedded field) or none found: opaque.
func (w *walker) decodedAs(n *types.Named, m *types.Func, depth int) *shape {
	obj := n.Origin().Obj()
	sig, ok := m.Type().(*types.Signature)
	if !ok || sig.Recv() == nil || namedOf(sig.Recv().Type()) != obj || sig.Params().Len() != 1 {
		return scalar("any")
	}
	fd := w.funcs[m.Origin()]
	pk := w.prog.pkgOf(m)
	if fd == nil || fd.Body == nil || pk == nil || len(fd.Type.Params.List) != 1 || len(fd.Type.Params.List[0].Names) != 1 {
		return scalar("any")
	}
	info := pk.TypesInfo
	param := info.Defs[fd.Type.Params.List[0].Names[0]]
	var target types.Type
	ast.Inspect(fd.Body, func(nd ast.Node) bool {
		if target != nil {
			return false
		}
		c, ok := nd.(*ast.CallExpr)
		if !ok || len(c.Args) != 1 {
			return true
		}
		switch f := ast.Unparen(c.Fun).(type) {
		case *ast.Ident: // yaml.v2: unmarshal(x)
			if info.Uses[f] != param {
				return true
			}
		case *ast.SelectorExpr: // yaml.v3: node.Decode(x)
			id, ok := f.X.(*ast.Ident)
			if !ok || info.Uses[id] != param || f.Sel.Name != "Decode" {
				return true
			}
		default:
			return true
		}
		if p, ok := types.Unalias(info.TypeOf(c.Args[0])).(*types.Pointer); ok {
			target = types.Unalias(p.Elem())
		}
		return false
	})
	if target == nil {
		return scalar("any")
	}
	if tn, ok := target.(*types.Named); ok && tn.Origin().Obj() != obj && types.Identical(tn.Underlying(), n.Underlying()) &&
		w.method(tn, "UnmarshalYAML") == nil && w.method(tn, "UnmarshalText") == nil {
		// A defined copy without methods: the struct's own fields.
		st := n.Underlying().(*types.Struct)
		if !w.prog.owned(obj.Pkg().Path()) {
			return scalar("any")
		}
		return &shape{kind: shapeStruct, st: st, id: obj}
	}
	if tn, ok := target.(*types.Named); ok && tn.Origin().Obj() == obj {
		return scalar("any") // decodes into itself through another path: not followed
	}
	return w.shapeOf(target, depth+1)
}

// method returns the method name of *T (declared or promoted), or nil.
func (w *walker) method(n *types.Named, name string) *types.Func {
	obj, _, _ := types.LookupFieldOrMethod(types.NewPointer(n), true, n.Obj().Pkg(), name)
	fn, _ := obj.(*types.Func)
	return fn
}

func (w *walker) keyFacts() []fact {
	var out []fact
	for _, k := range w.keys {
		out = append(out, fact{k.path, "key", k.goType, w.prog.where(k.pos)})
	}
	return out
}

// paths lists key paths, sorted.
func sortedPaths(m map[string]*keyInfo) []string {
	out := make([]string, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
