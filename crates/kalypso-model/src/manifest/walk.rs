//! Walking JSON values with field paths (`spec.containers[0].env[2].value`), the form findings
//! name fields in.

use serde_json::{Map, Value};

/// `base.key` (or `key` when `base` is empty).
pub fn join(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_string()
    } else {
        format!("{base}.{key}")
    }
}

/// `base[i]`.
pub fn index(base: &str, i: usize) -> String {
    format!("{base}[{i}]")
}

/// Calls `f(path, map)` for every mapping under `v` (including `v` itself).
pub fn maps<'a>(v: &'a Value, base: &str, f: &mut dyn FnMut(&str, &'a Map<String, Value>)) {
    match v {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                maps(item, &index(base, i), f);
            }
        }
        Value::Object(map) => {
            f(base, map);
            for (k, item) in map {
                maps(item, &join(base, k), f);
            }
        }
        _ => {}
    }
}

/// Looks a key up case-insensitively.
pub fn get_ci<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// A scalar as text (strings as they are, numbers and booleans printed).
pub fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_dotted_with_indexes() {
        assert_eq!(index(&join("spec", "args"), 1), "spec.args[1]");
        assert_eq!(join("", "spec"), "spec");
    }
}
