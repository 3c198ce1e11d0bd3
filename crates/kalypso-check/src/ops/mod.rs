//! `ops/*`: day-two properties of the rendered stack that no single wire shows: every backend
//! forgets its data after a bounded time and the bundled object store holds what they keep
//! ([`retention`]); every memberlist ring is its own and its gossip passes Istio's sidecars
//! ([`rings`]). Both read the configs the backends really load, found the way `config/*` finds
//! them ([`super::config::backend_configs`]).

pub mod retention;
pub mod rings;

use serde_json::Value;

use super::config::formats::{self, Decoder};
use super::config::reference::{BackendReference, KeyType};
use super::config::BackendConfig;

/// One duration setting as the backend runs with it.
#[derive(Debug, Clone)]
pub struct Setting {
    /// Its path in the config (`limits.compactor_blocks_retention_period`).
    pub key: String,
    /// Nanoseconds.
    pub nanos: i128,
    /// Rendered (`false`: the version's default, not written in the config).
    pub rendered: bool,
}

impl Setting {
    /// The value as hours (`170h`, `1.5h`), the unit every figure of these rules uses.
    pub fn hours(&self) -> String {
        hours(self.nanos)
    }
}

/// Nanoseconds as hours, one decimal at most.
pub fn hours(nanos: i128) -> String {
    let h = nanos as f64 / 3.6e12;
    if (h - h.round()).abs() < 0.05 {
        format!("{}h", h.round())
    } else {
        format!("{h:.1}h")
    }
}

/// The value at a dotted `path` of a parsed config.
pub fn at<'v>(config: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.')
        .try_fold(config, |v, k| v.get(k))
        .filter(|v| !v.is_null())
}

/// The duration setting at `path` (reference pattern `pattern`, the same without a prefix for
/// the main file), read as the backend's decoder reads it; the version's default when the
/// config does not set it. `Err` when the value does not parse (config/value reports that).
pub fn duration(
    cfg: &BackendConfig<'_>,
    reference: &BackendReference,
    config: &Value,
    path: &str,
    pattern: &str,
    default: Option<&str>,
) -> Result<Setting, String> {
    let key = reference.key(pattern);
    let go_type = key
        .and_then(|k| k.go_type.clone())
        .or_else(|| {
            key.filter(|k| k.kind == KeyType::Duration)
                .map(|_| "time.Duration".to_string())
        })
        .ok_or_else(|| {
            format!(
                "{} {} has no duration setting {pattern}",
                cfg.backend, cfg.version
            )
        })?;
    let decoder = Decoder::of_backend(cfg.backend).unwrap_or(Decoder::YamlV3);
    let (value, rendered) = match at(config, path) {
        Some(v) => (v.clone(), true),
        None => {
            let text = default
                .map(str::to_string)
                .or_else(|| key.map(|k| k.default.clone()))
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| "0".into());
            (Value::String(text), false)
        }
    };
    let nanos = formats::duration(decoder, &go_type, &value)?;
    Ok(Setting {
        key: path.to_string(),
        nanos,
        rendered,
    })
}
