//! `config/value`'s model of the backends' value formats (`check::config::formats`) held against
//! the real Go decoders: `tools/format-oracle` decodes each YAML scalar into the Go type with
//! `gopkg.in/yaml.v2` (Loki, Tempo) or `yaml.v3` (Mimir, Pyroscope), as the servers do, and
//! says whether it was accepted. The same scalar goes through kalypso's YAML reader and model;
//! both must agree on every case. `.ci/run` builds the oracle into `.cache/bin`; without it
//! the test prints a SKIP line.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use kalypso::check::config::formats::{decode, Decoder, MODELLED_TYPES};

use crate::support::{repo_root, skip};

fn oracle() -> Option<PathBuf> {
    let path = std::env::var_os("KALYPSO_FORMAT_ORACLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".cache/bin/format-oracle"));
    path.is_file().then_some(path)
}

/// Scalars as they are written in a config file, chosen to cross every branch of the formats.
const SCALARS: &[&str] = &[
    "0",
    "5",
    "-5",
    "5s",
    "1m30s",
    "1.5h",
    ".5s",
    "1.s",
    "500ms",
    "1us",
    "1µs",
    "7d",
    "1w",
    "1y",
    "1w2d",
    "30m1h",
    "1h1h",
    "-1h",
    "+1s",
    "1e3s",
    "s",
    "''",
    "\"5m\"",
    "1KB",
    "1KiB",
    "512MiB",
    "1.5GB",
    "1GB512MB",
    "1024",
    "1kb",
    "GB",
    "true",
    "false",
    "yes",
    "no",
    "on",
    "off",
    "True",
    "FALSE",
    "y",
    "n",
    "1",
    "'true'",
    "9223372036854775807ns",
    "9223372036854775808ns",
    "300000h",
    "2562047h",
    "2562048h",
    "106751d",
    "106752d",
];

#[test]
fn value_formats_agree_with_the_go_decoders_the_backends_use() {
    let Some(oracle) = oracle() else {
        skip("format-oracle not built (value formats against the Go decoders); bash .ci/run builds it");
        return;
    };
    let mut cases = Vec::new();
    for decoder in [Decoder::YamlV2, Decoder::YamlV3] {
        for go_type in MODELLED_TYPES {
            for scalar in SCALARS {
                cases.push((decoder, *go_type, *scalar));
            }
        }
    }
    let mut child = Command::new(&oracle)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start format-oracle");
    let input: String = cases
        .iter()
        .map(|(d, t, s)| format!("{}\t{t}\t{s}\n", d.name()))
        .collect();
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write cases");
    let out = child.wait_with_output().expect("format-oracle output");
    let answers: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(answers.len(), cases.len(), "one answer per case");
    let mut disagreements = Vec::new();
    for ((decoder, go_type, scalar), go) in cases.iter().zip(&answers) {
        let doc = kalypso::manifest::yaml::value(&format!("v: {scalar}\n")).expect("YAML");
        let ours = decode(*decoder, go_type, &doc["v"]).expect("modelled type");
        let go_ok = go == "ok";
        if ours.is_ok() != go_ok {
            disagreements.push(format!(
                "{} {go_type} {scalar}: Go says {go}, kalypso says {ours:?}",
                decoder.name()
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {} cases disagree:\n{}",
        disagreements.len(),
        cases.len(),
        disagreements.join("\n")
    );
    eprintln!(
        "value formats: {} cases agree with the Go decoders",
        cases.len()
    );
}
