// Command format-oracle decodes YAML scalars the way the backends' own Go decoders do, so that
// kalypso's Rust model of those formats (crates/kalypso/src/check/config/formats.rs) can be
// held against the real thing (crates/kalypso/tests/it/config_formats.rs).
//
// Input, one case per line on stdin: DECODER<TAB>TYPE<TAB>YAML, where DECODER is yaml.v2 or
// yaml.v3 (gopkg.in/yaml.v2 is Loki's and Tempo's decoder, gopkg.in/yaml.v3 Mimir's and
// Pyroscope's), TYPE one of the Go types below, and YAML the scalar exactly as it would appear
// after "key: " in the config file. Output, one line per case: "ok" or "error: <message>".
package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/c2h5oh/datasize"
	"github.com/grafana/dskit/flagext"
	"github.com/prometheus/common/model"
	yamlv2 "gopkg.in/yaml.v2"
	yamlv3 "gopkg.in/yaml.v3"
)

// lokiByteSize is Loki's flagext.ByteSize (grafana/loki@v3.7.6 pkg/util/flagext/bytesize.go),
// whose module the proxy does not serve: the text upper-cased, then datasize's UnmarshalText.
type lokiByteSize uint64

func (b *lokiByteSize) UnmarshalYAML(unmarshal func(interface{}) error) error {
	var s string
	if err := unmarshal(&s); err != nil {
		return err
	}
	var v datasize.ByteSize
	if err := v.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return err
	}
	*b = lokiByteSize(v.Bytes())
	return nil
}

// target returns a pointer to a struct whose field v has the Go type named by name.
func target(name string) (any, error) {
	switch name {
	case "time.Duration":
		return &struct{ V time.Duration }{}, nil
	case "model.Duration":
		return &struct{ V model.Duration }{}, nil
	case "flagext.Bytes":
		return &struct{ V flagext.Bytes }{}, nil
	case "flagext.ByteSize":
		return &struct{ V lokiByteSize }{}, nil
	case "bool":
		return &struct{ V bool }{}, nil
	case "int":
		return &struct{ V int }{}, nil
	case "float64":
		return &struct{ V float64 }{}, nil
	case "string":
		return &struct{ V string }{}, nil
	}
	return nil, fmt.Errorf("unknown type %q", name)
}

func decode(decoder, typ, scalar string) error {
	t, err := target(typ)
	if err != nil {
		return err
	}
	doc := []byte("v: " + scalar + "\n")
	switch decoder {
	case "yaml.v2":
		return yamlv2.UnmarshalStrict(doc, t)
	case "yaml.v3":
		return yamlv3.Unmarshal(doc, t)
	}
	return fmt.Errorf("unknown decoder %q", decoder)
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		parts := strings.SplitN(in.Text(), "\t", 3)
		if len(parts) != 3 {
			fmt.Fprintf(out, "error: malformed case %q\n", in.Text())
			continue
		}
		if err := decode(parts[0], parts[1], parts[2]); err != nil {
			fmt.Fprintf(out, "error: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		} else {
			fmt.Fprintln(out, "ok")
		}
	}
}
