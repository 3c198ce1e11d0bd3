//! What the probes write: one [`Payload`] per run (verify) or per round (canary).
//!
//! Everything a reader checks (trace id, metric value, log line, function name) is derived from
//! a seed with SHA-256: verify seeds from a random run id; canary from its instance id and the
//! round number, so any reader can rebuild what round N of instance I must have written.

use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

/// Who wrote a payload: a one-shot verify run or a canary round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `kalypso verify`, identified by a random run id.
    Verify { run_id: String },
    /// `kalypso canary`, identified by its instance and round.
    Canary { instance: String, round: u64 },
}

/// The content one probe round writes and expects to read back.
#[derive(Debug, Clone)]
pub struct Payload {
    /// Who wrote it.
    pub origin: Origin,
    /// The unique id of this payload (run id, or `<instance>-<round>`).
    pub id: String,
    /// OTLP trace id (16 bytes).
    pub trace_id: [u8; 16],
    /// OTLP span id (8 bytes).
    pub span_id: [u8; 8],
    /// The metric sample value.
    pub metric_value: f64,
    /// The log line.
    pub log_line: String,
    /// The leaf function of the profile's only stack.
    pub function_name: String,
    /// When it was written.
    pub written_at: SystemTime,
}

/// `service.name` of verify's traces and logs.
pub const VERIFY_SERVICE: &str = "kalypso-verify";
/// `service.name` of canary's traces and logs.
pub const CANARY_SERVICE: &str = "kalypso-canary";
/// Span attribute that carries the payload id.
pub const TRACE_TAG: &str = "kalypso.verify.id";

impl Payload {
    /// A payload for `kalypso verify` with a fresh random run id.
    pub fn verify() -> Payload {
        let run_id = format!("{:016x}", rand::random::<u64>());
        Payload::for_run(&run_id, SystemTime::now())
    }

    /// The payload of verify run `run_id` (deterministic except for the time).
    pub fn for_run(run_id: &str, at: SystemTime) -> Payload {
        let seed = seed(&["verify", run_id]);
        Payload::build(
            Origin::Verify {
                run_id: run_id.to_string(),
            },
            run_id.to_string(),
            &seed,
            at,
            0,
        )
    }

    /// The payload of round `round` of canary `instance`.
    pub fn canary(instance: &str, round: u64, at: SystemTime) -> Payload {
        let seed = seed(&["canary", instance, &round.to_string()]);
        Payload::build(
            Origin::Canary {
                instance: instance.to_string(),
                round,
            },
            format!("{instance}-{round}"),
            &seed,
            at,
            round,
        )
    }

    fn build(origin: Origin, id: String, seed: &[u8; 32], at: SystemTime, round: u64) -> Payload {
        let mut trace_id = [0u8; 16];
        trace_id.copy_from_slice(&seed[..16]);
        let mut span_id = [0u8; 8];
        span_id.copy_from_slice(&seed[16..24]);
        // A value that is unique per payload and exact in binary floating point.
        let fraction = u64::from(u16::from_be_bytes([seed[24], seed[25]])) as f64 / 65536.0;
        let metric_value = round as f64 + fraction;
        let check = hex(&seed[26..32]);
        let (log_line, function_name) = match &origin {
            Origin::Verify { run_id } => (
                format!("kalypso verify probe run_id={run_id} check={check}"),
                format!("kalypso_verify_probe_{run_id}"),
            ),
            Origin::Canary { instance, round } => (
                format!("kalypso canary probe instance={instance} round={round} check={check}"),
                format!("kalypso_canary_round_{round}"),
            ),
        };
        Payload {
            origin,
            id,
            trace_id,
            span_id,
            metric_value,
            log_line,
            function_name,
            written_at: at,
        }
    }

    /// The trace id in lower-case hex, as Tempo's `/api/traces/<id>` takes it.
    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }

    /// `service.name` for traces and logs.
    pub fn service_name(&self) -> &'static str {
        match self.origin {
            Origin::Verify { .. } => VERIFY_SERVICE,
            Origin::Canary { .. } => CANARY_SERVICE,
        }
    }

    /// `service.name` of the profile: one per verify run, one per canary instance.
    pub fn profile_service(&self) -> String {
        match &self.origin {
            Origin::Verify { run_id } => format!("kalypso-verify-{run_id}"),
            Origin::Canary { instance, .. } => format!("kalypso-canary-{instance}"),
        }
    }

    /// The metric name.
    pub fn metric_name(&self) -> &'static str {
        match self.origin {
            Origin::Verify { .. } => "kalypso_verify_probe",
            Origin::Canary { .. } => "kalypso_canary_probe",
        }
    }

    /// The label that tells this writer apart: `run_id` or `canary_instance`, and its value.
    pub fn identity_label(&self) -> (&'static str, &str) {
        match &self.origin {
            Origin::Verify { run_id } => ("run_id", run_id),
            Origin::Canary { instance, .. } => ("canary_instance", instance),
        }
    }

    /// Nanoseconds since the epoch of `written_at`.
    pub fn unix_nanos(&self) -> u64 {
        self.written_at
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    }

    /// Milliseconds since the epoch of `written_at`.
    pub fn unix_millis(&self) -> i64 {
        (self.unix_nanos() / 1_000_000) as i64
    }
}

fn seed(parts: &[&str]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    h.finalize().into()
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_canary_round_is_rebuilt_from_instance_and_round() {
        let a = Payload::canary("pod-1", 7, SystemTime::now());
        let b = Payload::canary("pod-1", 7, UNIX_EPOCH);
        assert_eq!(a.trace_id, b.trace_id);
        assert_eq!(a.log_line, b.log_line);
        assert_eq!(a.metric_value, b.metric_value);
        assert!(a.metric_value >= 7.0 && a.metric_value < 8.0);
        let c = Payload::canary("pod-2", 7, UNIX_EPOCH);
        assert_ne!(a.trace_id, c.trace_id);
        assert_eq!(a.identity_label(), ("canary_instance", "pod-1"));
        assert_eq!(a.function_name, "kalypso_canary_round_7");
    }

    #[test]
    fn verify_runs_are_unique_and_tagged() {
        let a = Payload::verify();
        let b = Payload::verify();
        assert_ne!(a.id, b.id);
        assert_eq!(a.trace_id_hex().len(), 32);
        assert!(a.log_line.contains(&a.id));
        assert_eq!(a.profile_service(), format!("kalypso-verify-{}", a.id));
    }
}
