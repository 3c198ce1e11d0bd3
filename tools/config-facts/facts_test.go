package main

import (
	"reflect"
	"testing"
)

func TestMentionsDeprecated(t *testing.T) {
	cases := []struct {
		msg, name string
		want      bool
	}{
		{"c.StorageConfig.Trace.Cache is deprecated and will be removed in a future release.", "Cache", true},
		{"S3 bucket client config has a deprecated s3.force-path-style flag set. Please, use s3.bucket-lookup-type instead.", "s3.force-path-style", true},
		{"S3 bucket client config has a deprecated s3.force-path-style flag set. Please, use s3.bucket-lookup-type instead.", "s3.bucket-lookup-type", false},
		{"both storage.prefix and storage.storage-prefix are set, please use only storage.prefix, as storage.storage-prefix is deprecated", "prefix", false},
		{"both storage.prefix and storage.storage-prefix are set, please use only storage.prefix, as storage.storage-prefix is deprecated", "storage.storage-prefix", true},
		{"Inline, unscoped overrides are deprecated. Please use the new overrides config format.", "ConfigType", false},
	}
	for _, c := range cases {
		if got := mentionsDeprecated(c.msg, c.name); got != c.want {
			t.Errorf("mentionsDeprecated(%q, %q) = %v, want %v", c.msg, c.name, got, c.want)
		}
	}
}

func TestHelpValues(t *testing.T) {
	cases := []struct {
		usage value
		want  []string
	}{
		// Formatted from a constant list: the list itself.
		{value{s: "S3 bucket lookup style, use one of: [path-style virtual-hosted-style auto]", from: [][]string{{"path-style", "virtual-hosted-style", "auto"}}}, []string{"path-style", "virtual-hosted-style", "auto"}},
		{value{s: "Output log messages in the given format. Valid formats: [logfmt, json]"}, []string{"logfmt", "json"}},
		{value{s: "Minimum TLS version to use. Allowed values: VersionTLS10, VersionTLS11, VersionTLS12, VersionTLS13. If blank, the Go TLS minimum version is used."}, []string{"VersionTLS10", "VersionTLS11", "VersionTLS12", "VersionTLS13"}},
		// Literal values beside a formatted list are kept.
		{value{s: "Backend storage to use. Supported backends are: local, s3, gcs", from: [][]string{{"s3", "gcs"}}}, []string{"local", "s3", "gcs"}},
		// Prose after the marker is no enumeration.
		{value{s: "The mode to use. Supported values are described in the documentation."}, nil},
		{value{s: "Number of retries."}, nil},
	}
	for _, c := range cases {
		got, _ := helpValues(c.usage)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("helpValues(%q) = %q, want %q", c.usage.s, got, c.want)
		}
	}
}

func TestDeprecationText(t *testing.T) {
	cases := map[string]bool{
		"Deprecated, use s3.bucket-lookup-type instead.":                                      true,
		"Set to true to enable auth (deprecated: use multitenancy.enabled)":                   true,
		"This setting is deprecated and will be removed in the next minor release.":           true,
		"Use Alertmanager APIv2. APIv1 was deprecated in Alertmanager 0.16.0 and is removed.": false,
		"Maximum number of traces in a compacted block.":                                      false,
	}
	for text, want := range cases {
		if got := deprecationText.MatchString(text); got != want {
			t.Errorf("deprecationText(%q) = %v, want %v", text, got, want)
		}
	}
}

func TestReplacementText(t *testing.T) {
	cases := map[string]string{
		"Deprecated, use s3.bucket-lookup-type instead.":                         "s3.bucket-lookup-type",
		"Set to true to enable auth (deprecated: use multitenancy.enabled)":      "multitenancy.enabled",
		"WARNING: Deprecated. Use max_block_bytes instead.":                      "max_block_bytes",
		"flag deprecated in favor of -runtime-config.file (runtime_config.file)": "-runtime-config.file",
	}
	for text, want := range cases {
		m := replacementText.FindStringSubmatch(text)
		if m == nil || m[1] != want {
			t.Errorf("replacementText(%q) = %q, want %q", text, m, want)
		}
	}
}

func TestParentPath(t *testing.T) {
	cases := map[string]string{
		"a.b":                   "a",
		"a[].b":                 "a",
		"a.*.b":                 "a",
		"runtime:overrides":     "",
		"runtime:overrides.*.x": "runtime:overrides",
		"top":                   "",
	}
	for p, want := range cases {
		if got := parentPath(p); got != want {
			t.Errorf("parentPath(%q) = %q, want %q", p, got, want)
		}
	}
}

func TestMergeKeepsOneDeprecationWithItsReplacement(t *testing.T) {
	in := []fact{
		{"a.b", "deprecated", "", "x.go:1 (field comment)"},
		{"a.b", "deprecated", "a.c", "x.go:2 (flag help)"},
		{"a.d", "deprecated", "", "x.go:3 (flag help)"},
	}
	got := mergeFacts(mergeDeprecated(in))
	want := []fact{
		{"a.b", "deprecated", "a.c", "x.go:2 (flag help); x.go:1 (field comment)"},
		{"a.d", "deprecated", "", "x.go:3 (flag help)"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
