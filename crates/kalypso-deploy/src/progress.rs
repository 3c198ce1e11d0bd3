//! Live progress of `kalypso up`: one spinner line per release on a terminal (indicatif),
//! one plain line per event otherwise (CI logs).

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where a release is in `kalypso up`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// Its wave has not started.
    Waiting,
    /// Already deployed with the wanted chart and values: helm is not run.
    Unchanged,
    /// `helm upgrade --install` is running (attempt number, from 1).
    Installing { attempt: u32 },
    /// Helm failed transiently; retrying after `delay`.
    Retrying {
        attempt: u32,
        of: u32,
        delay: Duration,
        cause: String,
    },
    /// Installed; waiting for its objects to become healthy (first pending object).
    Gating { pending: String },
    /// Every object is healthy.
    Healthy,
    /// It failed; the reason.
    Failed { reason: String },
    /// Stopped because another release failed.
    Stopped,
}

impl Stage {
    /// A short label.
    pub fn label(&self) -> String {
        match self {
            Stage::Waiting => "waiting".into(),
            Stage::Unchanged => "unchanged (already at the wanted chart and values)".into(),
            Stage::Installing { attempt: 1 } => "installing".into(),
            Stage::Installing { attempt } => format!("installing (attempt {attempt})"),
            Stage::Retrying {
                attempt,
                of,
                delay,
                cause,
            } => format!(
                "transient helm failure ({cause}): retrying in {} (attempt {} of {of})",
                humantime::format_duration(*delay),
                attempt + 1
            ),
            Stage::Gating { pending } => format!("waiting for health: {pending}"),
            Stage::Healthy => "healthy".into(),
            Stage::Failed { reason } => format!("FAILED: {reason}"),
            Stage::Stopped => "stopped (another release failed)".into(),
        }
    }
}

/// Receives progress events. Implementations must be cheap: events come from the install loop.
pub trait Progress: Send + Sync {
    /// A wave starts with these releases.
    fn wave(&self, number: u32, releases: &[String]);
    /// A release starts because what it needs (`after`, possibly nothing) is healthy (when
    /// `up` follows the plan's startup dependencies instead of waves).
    fn start(&self, _release: &str, _after: &[String]) {}
    /// A release changed stage; `elapsed` since its wave started.
    fn update(&self, release: &str, stage: &Stage, elapsed: Duration);
    /// Everything is done; clear live displays.
    fn finish(&self) {}
}

/// The display for this process: spinners when stderr is a terminal, plain lines otherwise.
pub fn for_stderr(show: bool) -> Box<dyn Progress> {
    use std::io::IsTerminal;
    if !show {
        Box::new(NoProgress)
    } else if std::io::stderr().is_terminal() {
        Box::new(BarProgress::new())
    } else {
        Box::new(LineProgress::default())
    }
}

/// `start kalypso-loki (after kalypso-minio)`.
fn start_line(release: &str, after: &[String]) -> String {
    if after.is_empty() {
        format!("start {release} (needs nothing)")
    } else {
        format!("start {release} (after {})", after.join(", "))
    }
}

/// Shows nothing (`--quiet`).
pub struct NoProgress;

impl Progress for NoProgress {
    fn wave(&self, _number: u32, _releases: &[String]) {}
    fn update(&self, _release: &str, _stage: &Stage, _elapsed: Duration) {}
    fn finish(&self) {}
}

/// One line per event on stderr, repeated health waits collapsed.
#[derive(Default)]
pub struct LineProgress {
    last: Mutex<HashMap<String, Stage>>,
}

impl Progress for LineProgress {
    fn wave(&self, number: u32, releases: &[String]) {
        let _ = writeln!(std::io::stderr(), "wave {number}: {}", releases.join(", "));
    }

    fn start(&self, release: &str, after: &[String]) {
        let _ = writeln!(std::io::stderr(), "{}", start_line(release, after));
    }

    fn update(&self, release: &str, stage: &Stage, elapsed: Duration) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.get(release) == Some(stage) {
            return;
        }
        last.insert(release.to_string(), stage.clone());
        let _ = writeln!(
            std::io::stderr(),
            "[{:>6.1}s] {release}: {}",
            elapsed.as_secs_f64(),
            stage.label()
        );
    }
}

/// indicatif spinners, one per release.
pub struct BarProgress {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl BarProgress {
    fn new() -> BarProgress {
        BarProgress {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(HashMap::new()),
        }
    }
}

impl BarProgress {
    fn bar(&self, bars: &mut HashMap<String, ProgressBar>, release: &str) -> ProgressBar {
        if let Some(b) = bars.get(release) {
            return b.clone();
        }
        let bar = self.multi.add(ProgressBar::new_spinner());
        let style = ProgressStyle::with_template("  {spinner} {prefix:20} {elapsed:>4}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.set_prefix(release.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        bars.insert(release.to_string(), bar.clone());
        bar
    }
}

impl Progress for BarProgress {
    fn wave(&self, number: u32, releases: &[String]) {
        let _ = self
            .multi
            .println(format!("wave {number}: {}", releases.join(", ")));
    }

    fn start(&self, release: &str, after: &[String]) {
        let _ = self.multi.println(start_line(release, after));
    }

    fn update(&self, release: &str, stage: &Stage, _elapsed: Duration) {
        let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        let bar = self.bar(&mut bars, release);
        match stage {
            Stage::Healthy | Stage::Failed { .. } | Stage::Stopped => {
                bar.finish_with_message(stage.label())
            }
            _ => bar.set_message(stage.label()),
        }
    }

    fn finish(&self) {
        let bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        for b in bars.values() {
            if !b.is_finished() {
                b.abandon();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_read_as_sentences() {
        let retry = Stage::Retrying {
            attempt: 1,
            of: 5,
            delay: Duration::from_secs(5),
            cause: "failed calling webhook".into(),
        };
        assert_eq!(
            retry.label(),
            "transient helm failure (failed calling webhook): retrying in 5s (attempt 2 of 5)"
        );
        assert_eq!(Stage::Installing { attempt: 1 }.label(), "installing");
    }

    #[test]
    fn the_spinner_display_takes_events_without_a_terminal() {
        let p = BarProgress::new();
        p.wave(1, &["kalypso-a".to_string()]);
        p.update(
            "kalypso-a",
            &Stage::Installing { attempt: 1 },
            Duration::ZERO,
        );
        p.update("kalypso-b", &Stage::Waiting, Duration::ZERO);
        p.update("kalypso-a", &Stage::Healthy, Duration::from_secs(3));
        p.finish();
        let bars = p.bars.lock().unwrap_or_else(|e| e.into_inner());
        assert!(bars["kalypso-a"].is_finished());
        assert!(
            bars["kalypso-b"].is_finished(),
            "finish() abandons bars still waiting"
        );
    }
}
