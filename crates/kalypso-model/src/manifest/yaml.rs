//! YAML parsing with the limits and policies kalypso uses everywhere (serde-saphyr, never
//! serde_yaml): generous budgets for large CRDs, last-wins duplicate keys (as the API server's
//! lenient decoder does), and errors that carry a line number.

use serde::de::DeserializeOwned;
use serde_saphyr::options::DuplicateKeyPolicy;
use serde_saphyr::{Budget, Options};

/// A YAML syntax or shape error, with the 1-based line it points at (when known).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    /// Line of the error inside the parsed text, 1-based (0 when unknown).
    pub line: usize,
    /// What went wrong, without a source snippet.
    pub message: String,
}

fn options() -> Options {
    let mut budget = Budget::default();
    // Rendered CRDs nest deeply and are large; the defaults protect config files, not manifests.
    budget.max_depth = 512;
    budget.max_nodes = 20_000_000;
    budget.max_events = 50_000_000;
    let mut opts = Options::default();
    opts.budget = Some(budget);
    opts.duplicate_keys = DuplicateKeyPolicy::LastWins;
    opts.with_snippet = false;
    opts
}

/// Parses one YAML document.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    serde_saphyr::from_str_with_options(text, options()).map_err(|e| {
        let line = e.location().map(|l| l.line() as usize).unwrap_or(0);
        let message = first_line(&e.to_string());
        YamlError { line, message }
    })
}

fn first_line(s: &str) -> String {
    s.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .to_string()
}

/// Parses text that may be YAML (or JSON) into a JSON value; `None` when it is not.
pub fn value(text: &str) -> Option<serde_json::Value> {
    from_str::<serde_json::Value>(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_the_line() {
        let err = from_str::<serde_json::Value>("a: 1\nb: [1,\nc: 3\n").unwrap_err();
        assert!(err.line >= 2, "{err:?}");
    }

    #[test]
    fn duplicate_keys_keep_the_last_value() {
        let v: serde_json::Value = from_str("a: 1\na: 2\n").unwrap();
        assert_eq!(v["a"], 2);
    }
}
