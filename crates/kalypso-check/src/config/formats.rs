//! How the backends' Go decoders read a YAML scalar into the Go type of a setting: durations
//! (Go's `time.ParseDuration` or Prometheus' `model.ParseDuration`), byte sizes (dskit's
//! `flagext.Bytes`, `units.ParseBase2Bytes`), booleans and numbers, with the differences between
//! `gopkg.in/yaml.v2` and `yaml.v3`. A model of other people's code: `tests/it/config_formats.rs`
//! holds it against the real decoders (`tools/format-oracle`).

use serde_json::Value;

/// The YAML library a backend decodes its config file with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoder {
    /// `gopkg.in/yaml.v2` (`UnmarshalStrict`): YAML 1.1 booleans, integers as nanoseconds.
    YamlV2,
    /// `gopkg.in/yaml.v3`: no integer durations.
    YamlV3,
}

impl Decoder {
    /// The decoder of each backend's config file, read from its loader at the pinned version:
    /// Loki `pkg/util/cfg/files.go` (gopkg.in/yaml.v2), Tempo `cmd/tempo/main.go`
    /// (go.yaml.in/yaml/v2 `UnmarshalStrict`), Pyroscope `pkg/cfg/files.go` (go.yaml.in/yaml/v3
    /// `NewDecoder`), Mimir `cmd/mimir/main.go` `LoadConfig` (yaml.v3 `NewDecoder` with
    /// `KnownFields`).
    pub fn of_backend(backend: &str) -> Option<Decoder> {
        match backend {
            "loki" | "tempo" => Some(Decoder::YamlV2),
            "mimir" | "pyroscope" => Some(Decoder::YamlV3),
            _ => None,
        }
    }

    /// The name `tools/format-oracle` takes.
    pub fn name(self) -> &'static str {
        match self {
            Decoder::YamlV2 => "yaml.v2",
            Decoder::YamlV3 => "yaml.v3",
        }
    }
}

/// The Go types whose text format kalypso models, as the facts files name them.
pub const MODELLED_TYPES: &[&str] = &[
    "time.Duration",
    "model.Duration",
    "flagext.Bytes",
    "flagext.ByteSize",
    "bool",
];

/// Whether `decoder` accepts `v` (as kalypso's YAML reader parsed it) for a setting of Go type
/// `go_type`; `None` when the type's format is not modelled, `Some(Err(why))` when the server
/// refuses the value at startup.
pub fn decode(decoder: Decoder, go_type: &str, v: &Value) -> Option<Result<(), String>> {
    if let Value::String(s) = v {
        if s.contains("${") {
            return Some(Ok(())); // expanded by -config.expand-env before decoding
        }
    }
    let result = match go_type {
        "time.Duration" | "model.Duration" => duration(decoder, go_type, v).map(|_| ()),
        "flagext.Bytes" => text_of(v).and_then(|s| base2_bytes(&s)),
        "flagext.ByteSize" => text_of(v).and_then(|s| datasize(&s)),
        "bool" => bool_value(v),
        _ => return None,
    };
    Some(result)
}

/// The nanoseconds a duration setting of Go type `go_type` (`time.Duration` or
/// `model.Duration`) holds after `decoder` reads `v`, exactly as the server computes them.
pub fn duration(decoder: Decoder, go_type: &str, v: &Value) -> Result<i128, String> {
    match go_type {
        "time.Duration" => go_duration_value(decoder, v),
        "model.Duration" => text_of(v).and_then(|s| prom_duration(&s)),
        other => Err(format!("{other} is not a duration type")),
    }
}

/// The scalar's text as a Go decoder hands it to a string-taking `UnmarshalYAML`.
fn text_of(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Ok(String::new()),
        Value::Array(_) | Value::Object(_) => Err("a collection is not a scalar".into()),
    }
}

fn go_duration_value(decoder: Decoder, v: &Value) -> Result<i128, String> {
    match v {
        Value::String(s) => go_duration(s),
        // yaml.v2 stores an integer as nanoseconds; yaml.v3 refuses an integer duration.
        Value::Number(n) if n.is_i64() || n.is_u64() => match decoder {
            Decoder::YamlV2 => Ok(n
                .as_i64()
                .map(i128::from)
                .or_else(|| n.as_u64().map(i128::from))
                .unwrap_or_default()),
            Decoder::YamlV3 => Err(format!(
                "an integer ({n}) is not a duration for yaml.v3: write it with a unit"
            )),
        },
        other => Err(format!("{other} is not a duration")),
    }
}

fn bool_value(v: &Value) -> Result<(), String> {
    match v {
        Value::Bool(_) => Ok(()),
        // Both decoders take YAML 1.1 booleans into a typed bool (plain scalars).
        Value::String(s)
            if matches!(
                s.as_str(),
                "y" | "Y"
                    | "yes"
                    | "Yes"
                    | "YES"
                    | "n"
                    | "N"
                    | "no"
                    | "No"
                    | "NO"
                    | "on"
                    | "On"
                    | "ON"
                    | "off"
                    | "Off"
                    | "OFF"
            ) =>
        {
            Ok(())
        }
        other => Err(format!("{other} is not a boolean")),
    }
}

/// Go's `time.ParseDuration`: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, units ns, us, µs, μs, ms, s,
/// m, h; `0` alone needs no unit; at most 2^63-1 ns (2^63 when negative). Follows Go's
/// integer arithmetic, overflow checks and float64 fractions step by step. Returns the
/// nanoseconds (negative after a `-`).
pub fn go_duration(s: &str) -> Result<i128, String> {
    const LIMIT: u64 = 1 << 63;
    let bad = || format!("{s:?} is not a Go duration (units ns, us, ms, s, m, h; no d or w)");
    let range = || format!("{s:?} is out of range for a Go duration (about 292 years)");
    let negative = s.starts_with('-');
    let mut rest = s.strip_prefix(['-', '+']).unwrap_or(s);
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let first = rest.as_bytes()[0];
        if !(first == b'.' || first.is_ascii_digit()) {
            return Err(bad());
        }
        // leadingInt: digits while the value stays at most 2^63.
        let mut v: u64 = 0;
        let mut digits = 0;
        for b in rest.bytes().take_while(u8::is_ascii_digit) {
            if v > LIMIT / 10 {
                return Err(range());
            }
            v = v * 10 + u64::from(b - b'0');
            if v > LIMIT {
                return Err(range());
            }
            digits += 1;
        }
        rest = &rest[digits..];
        // leadingFraction: digits until the value would pass 2^63, later ones ignored.
        let (mut f, mut scale, mut post) = (0u64, 1f64, false);
        if let Some(after) = rest.strip_prefix('.') {
            let n = after.bytes().take_while(u8::is_ascii_digit).count();
            let mut overflow = false;
            for b in after[..n].bytes() {
                if overflow {
                    continue;
                }
                if f > (LIMIT - 1) / 10 {
                    overflow = true;
                    continue;
                }
                let y = f * 10 + u64::from(b - b'0');
                if y > LIMIT {
                    overflow = true;
                    continue;
                }
                f = y;
                scale *= 10.0;
            }
            post = n > 0;
            rest = &after[n..];
        }
        if digits == 0 && !post {
            return Err(bad());
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        if unit_len == 0 {
            return Err(format!(
                "{s:?} is not a Go duration: a number without a unit"
            ));
        }
        let unit: u64 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            u => {
                return Err(format!(
                    "{s:?} is not a Go duration: unknown unit {u:?} (units ns, us, ms, s, m, h)"
                ))
            }
        };
        rest = &rest[unit_len..];
        if v > LIMIT / unit {
            return Err(range());
        }
        v *= unit;
        if f > 0 {
            // Go adds the fraction through float64, truncated.
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > LIMIT {
                return Err(range());
            }
        }
        total += v;
        if total > LIMIT {
            return Err(range());
        }
    }
    if !negative && total > LIMIT - 1 {
        return Err(range());
    }
    let total = i128::from(total);
    Ok(if negative { -total } else { total })
}

/// Prometheus' `model.ParseDuration`: integer amounts of y, w, d, h, m, s, ms, largest unit
/// first, each at most once; `0` alone needs no unit; no sign, no fraction. Returns the
/// nanoseconds.
pub fn prom_duration(s: &str) -> Result<i128, String> {
    let bad = || {
        format!(
            "{s:?} is not a Prometheus duration (integers with units y, w, d, h, m, s, ms, largest first)"
        )
    };
    match s {
        "0" => return Ok(0),
        "" => return Err("an empty string is not a Prometheus duration".into()),
        _ => {}
    }
    let order = ["y", "w", "d", "h", "m", "s", "ms"];
    let mult: [u128; 7] = [
        365 * 86_400_000_000_000,
        7 * 86_400_000_000_000,
        86_400_000_000_000,
        3_600_000_000_000,
        60_000_000_000,
        1_000_000_000,
        1_000_000,
    ];
    let mut rest = s;
    let mut last: Option<usize> = None;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let n = rest.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return Err(bad());
        }
        let value: u64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest.bytes().take_while(|b| !b.is_ascii_digit()).count();
        if u == 0 {
            return Err(bad());
        }
        let unit = &rest[..u];
        rest = &rest[u..];
        let Some(pos) = order.iter().position(|o| *o == unit) else {
            return Err(format!(
                "{s:?} is not a Prometheus duration: unknown unit {unit:?}"
            ));
        };
        if last.is_some_and(|l| pos <= l) {
            return Err(bad());
        }
        last = Some(pos);
        if u128::from(value) > (1u128 << 63) / mult[pos] {
            return Err(format!("{s:?} is out of range for a Prometheus duration"));
        }
        total += u128::from(value) * mult[pos];
        if total > (1u128 << 63) - 1 {
            return Err(format!("{s:?} is out of range for a Prometheus duration"));
        }
    }
    // At most 2^63 - 1, checked above.
    Ok(total as i128)
}

/// `github.com/alecthomas/units.ParseBase2Bytes` (dskit's `flagext.Bytes`): numbers each with
/// a unit among B, KB/KiB, MB/MiB, GB/GiB, TB/TiB, PB/PiB, EB/EiB (base 2 for both spellings);
/// `0` alone needs no unit.
pub fn base2_bytes(s: &str) -> Result<(), String> {
    let bad = |why: &str| format!("{s:?} is not a byte size ({why}; e.g. 512MiB, 1GB)");
    let mut rest = s.strip_prefix(['-', '+']).unwrap_or(s);
    if rest == "0" {
        return Ok(());
    }
    if rest.is_empty() {
        return Err(bad("empty"));
    }
    while !rest.is_empty() {
        let n = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        if n == 0 || rest[..n].parse::<f64>().is_err() {
            return Err(bad("a number must come first"));
        }
        rest = &rest[n..];
        let u = rest
            .bytes()
            .take_while(|b| !(b.is_ascii_digit() || *b == b'.'))
            .count();
        if u == 0 {
            return Err(bad("a number without a unit"));
        }
        let unit = &rest[..u];
        rest = &rest[u..];
        let known = [
            "B", "KB", "KiB", "MB", "MiB", "GB", "GiB", "TB", "TiB", "PB", "PiB", "EB", "EiB",
        ];
        if !known.contains(&unit) {
            return Err(bad(&format!("unknown unit {unit:?}")));
        }
    }
    Ok(())
}

/// Loki's `flagext.ByteSize` (`pkg/util/flagext/bytesize.go`): the text upper-cased, then
/// `github.com/c2h5oh/datasize`'s `UnmarshalText`: an unsigned integer, then an optional unit
/// (b, byte, k/kb/kilo/kilobyte(s), m…, g…, t…, p…, e/eb), no fraction, no `MiB`.
pub fn datasize(s: &str) -> Result<(), String> {
    let bad = || {
        format!("{s:?} is not a Loki byte size (an integer with an optional unit KB, MB, GB, TB; no fraction, no KiB)")
    };
    let upper = s.to_uppercase();
    if upper.is_empty() {
        return Ok(()); // datasize reads an empty text as 0 bytes
    }
    let digits = upper.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(bad());
    }
    let value: u128 = upper[..digits].parse().map_err(|_| bad())?;
    if value > u128::from(u64::MAX) {
        return Err(format!("{s:?} is out of range for a byte size"));
    }
    let unit = upper[digits..].trim().to_lowercase();
    let shift: u32 = match unit.as_str() {
        "" | "b" | "byte" => 0,
        "k" | "kb" | "kilo" | "kilobyte" | "kilobytes" => 10,
        "m" | "mb" | "mega" | "megabyte" | "megabytes" => 20,
        "g" | "gb" | "giga" | "gigabyte" | "gigabytes" => 30,
        "t" | "tb" | "tera" | "terabyte" | "terabytes" => 40,
        "p" | "pb" | "peta" | "petabyte" | "petabytes" => 50,
        "e" | "eb" => 60,
        _ => return Err(bad()),
    };
    if value > u128::from(u64::MAX) >> shift {
        return Err(format!("{s:?} is out of range for a byte size"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_durations_take_go_units_only() {
        for ok in [
            "0", "5s", "1m30s", "1.5h", "500ms", "-3h", "+1s", ".5s", "1.s", "1µs",
        ] {
            assert!(go_duration(ok).is_ok(), "{ok}");
        }
        for bad in ["", "5", "7d", "1w", "five", "s", "-", ".s", "1h-5m", "1e3s"] {
            assert!(go_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prometheus_durations_take_integers_largest_unit_first() {
        for ok in ["0", "7d", "1w2d", "1h30m", "500ms", "1y"] {
            assert!(prom_duration(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1.5h", "30m1h", "1h1h", "-1h", "5", "1x"] {
            assert!(prom_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_hold_the_nanoseconds_the_servers_compute() {
        const H: i128 = 3_600_000_000_000;
        assert_eq!(go_duration("1h30m"), Ok(H * 3 / 2));
        assert_eq!(go_duration("-3h"), Ok(-3 * H));
        assert_eq!(go_duration("336h0m0s"), Ok(336 * H));
        assert_eq!(go_duration("1.5h"), Ok(H * 3 / 2));
        assert_eq!(prom_duration("1w2d"), Ok(9 * 24 * H));
        assert_eq!(prom_duration("0"), Ok(0));
        assert_eq!(duration(Decoder::YamlV2, "time.Duration", &json!(5)), Ok(5));
        assert_eq!(
            duration(Decoder::YamlV3, "model.Duration", &json!("72h")),
            Ok(72 * H)
        );
    }

    #[test]
    fn byte_sizes_need_a_unit() {
        for ok in ["0", "1KB", "512MiB", "1.5GB", "1GB512MB"] {
            assert_eq!(base2_bytes(ok), Ok(()), "{ok}");
        }
        for bad in ["", "1024", "1kb", "1 GB", "GB"] {
            assert!(base2_bytes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn integer_durations_depend_on_the_decoder() {
        assert_eq!(
            decode(Decoder::YamlV2, "time.Duration", &json!(5)),
            Some(Ok(()))
        );
        assert!(matches!(
            decode(Decoder::YamlV3, "time.Duration", &json!(5)),
            Some(Err(_))
        ));
        assert_eq!(decode(Decoder::YamlV3, "string", &json!("x")), None);
        assert_eq!(
            decode(Decoder::YamlV3, "model.Duration", &json!("${RETENTION}")),
            Some(Ok(()))
        );
    }
}
