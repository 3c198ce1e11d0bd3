//! `kalypso up`: install or upgrade every release and gate it on health (see
//! [`kalypso_cluster::health`] for the gates). Wave by wave, the releases of a wave in parallel
//! and the next wave only when every object of the previous one is healthy; or, when the plan
//! carries the stack's startup dependencies (`kalypso up` computes them with `check`'s ordering
//! knowledge), each release as soon as the releases it needs are healthy. docs/up-order.md says
//! which and why.

use std::fmt;
use std::time::Duration;

use futures::future::join_all;
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use super::plan::{Plan, PlannedRelease, DIGEST_PREFIX};
use super::progress::{Progress, Stage};
use super::releases::{self, transient_cause};
use kalypso_cluster::diagnose::{diagnose, Diagnosis};
use kalypso_cluster::health::{self, Health};
use kalypso_cluster::objects::{operator_made, parse_manifest, MadeObject};
use kalypso_cluster::Cluster;
use kalypso_model::manifest::ObjectRef;
use kalypso_model::stack::POD_SECURITY_ENFORCE_LABEL;
use kalypso_render::chart_dir::HelmChart;
use kalypso_render::helm::Helm;

/// Bounded retry of transient helm failures: `attempts` in all, waiting `base`, `2*base`, …
/// (at most `max`) in between.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Helm runs in all, the first included.
    pub attempts: u32,
    /// First wait.
    pub base: Duration,
    /// Longest wait.
    pub max: Duration,
}

impl RetryPolicy {
    /// The wait before attempt `next` (2, 3, …).
    pub fn delay(&self, next: u32) -> Duration {
        let factor = 2u32.saturating_pow(next.saturating_sub(2));
        self.base.saturating_mul(factor).min(self.max)
    }
}

/// How `up` runs.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Each wave, install and health included, must finish within this.
    pub wave_timeout: Duration,
    /// The longest wait between two health polls; polls start fast (a tenth of it) and double
    /// up to this, because most objects turn ready within a second of helm applying them.
    pub poll_interval: Duration,
    /// Transient helm failure retry.
    pub retry: RetryPolicy,
    /// After SIGTERM at the deadline, how long helm gets before SIGKILL.
    pub term_grace: Duration,
}

impl Default for UpOptions {
    fn default() -> Self {
        UpOptions {
            wave_timeout: Duration::from_secs(600),
            poll_interval: Duration::from_secs(2),
            retry: RetryPolicy {
                attempts: 5,
                base: Duration::from_secs(5),
                max: Duration::from_secs(60),
            },
            term_grace: Duration::from_secs(10),
        }
    }
}

/// What `up` did to a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// `helm upgrade --install` ran.
    Applied,
    /// Already at the wanted chart and values; helm was not run.
    Unchanged,
}

/// Which step of a release failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureStage {
    /// helm reported an error (or the release is stuck from an earlier run).
    Helm,
    /// An object failed for good (failed Job, exceeded progress deadline).
    Health,
    /// The wave timeout passed.
    Timeout,
    /// The cluster could not be read.
    Cluster,
    /// Stopped because another release of the wave failed.
    Stopped,
}

/// Why a release failed, with what the user needs to fix it.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseFailure {
    /// The release.
    pub release: String,
    /// Its namespace.
    pub namespace: String,
    /// Which step failed.
    pub stage: FailureStage,
    /// One line: what went wrong.
    pub message: String,
    /// The tail of helm's stderr, when helm failed.
    pub helm_stderr: Option<String>,
    /// Unhealthy objects with events and log tails.
    pub diagnoses: Vec<Diagnosis>,
}

impl fmt::Display for ReleaseFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "release {} (namespace {}): {}",
            self.release, self.namespace, self.message
        )?;
        if let Some(e) = &self.helm_stderr {
            writeln!(f, "  helm said:")?;
            for l in e.lines() {
                writeln!(f, "    | {l}")?;
            }
        }
        for d in &self.diagnoses {
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// The end of one release.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseOutcome {
    /// Release name.
    pub release: String,
    /// Its wave.
    pub wave: u32,
    /// What helm did, when it got that far.
    pub action: Option<Action>,
    /// Failure, if any.
    pub failure: Option<ReleaseFailure>,
    /// Time from the start of its wave to the end of this release.
    pub elapsed: Duration,
}

/// The result of `up`.
#[derive(Debug, Clone, Serialize)]
pub struct UpReport {
    /// Releases that ran, in wave order.
    pub outcomes: Vec<ReleaseOutcome>,
    /// The wave that failed, if any (later waves were not started).
    pub failed_wave: Option<u32>,
}

impl UpReport {
    /// The failures, root causes first (releases stopped because of another come last).
    pub fn failures(&self) -> Vec<&ReleaseFailure> {
        let mut v: Vec<_> = self
            .outcomes
            .iter()
            .filter_map(|o| o.failure.as_ref())
            .collect();
        v.sort_by_key(|f| f.stage == FailureStage::Stopped);
        v
    }
}

/// Runs the plan: wave by wave, or, when the plan carries startup dependencies
/// ([`Plan::by_needs`]), each release as soon as the releases it needs are healthy. Never panics
/// on cluster or helm trouble: every problem ends up as a [`ReleaseFailure`] in the report.
pub async fn up(
    cluster: &Cluster,
    helm: &Helm,
    plan: &Plan,
    opts: &UpOptions,
    progress: &dyn Progress,
) -> UpReport {
    for r in plan.releases() {
        progress.update(&r.name, &Stage::Waiting, Duration::ZERO);
    }
    let report = if plan.by_needs {
        by_needs(cluster, helm, plan, opts, progress).await
    } else {
        by_waves(cluster, helm, plan, opts, progress).await
    };
    progress.finish();
    report
}

async fn by_waves(
    cluster: &Cluster,
    helm: &Helm,
    plan: &Plan,
    opts: &UpOptions,
    progress: &dyn Progress,
) -> UpReport {
    let mut report = UpReport {
        outcomes: Vec::new(),
        failed_wave: None,
    };
    for wave in &plan.waves {
        let names: Vec<String> = wave.releases.iter().map(|r| r.name.clone()).collect();
        progress.wave(wave.number, &names);
        let started = Instant::now();
        let deadline = started + opts.wave_timeout;
        let (stop_tx, stop_rx) = watch::channel(false);
        let runs = wave.releases.iter().map(|r| {
            let ctx = ReleaseRun {
                cluster,
                helm,
                opts,
                progress,
                started,
                deadline,
                stop: stop_rx.clone(),
            };
            let stop_tx = &stop_tx;
            async move {
                let outcome = ctx.run(r).await;
                if outcome.failure.is_some() {
                    let _ = stop_tx.send(true);
                }
                outcome
            }
        });
        let outcomes = join_all(runs).await;
        let failed = outcomes.iter().any(|o| o.failure.is_some());
        report.outcomes.extend(outcomes);
        if failed {
            report.failed_wave = Some(wave.number);
            break;
        }
    }
    report
}

/// Each release starts when every release it needs is healthy; each gets the wave timeout
/// from its own start. A failure stops the releases still running and keeps the ones not
/// started from starting.
async fn by_needs(
    cluster: &Cluster,
    helm: &Helm,
    plan: &Plan,
    opts: &UpOptions,
    progress: &dyn Progress,
) -> UpReport {
    let (stop_tx, stop_rx) = watch::channel(false);
    // Each release's end: `None` until it is over, then whether it is healthy.
    let ends: Vec<(String, watch::Sender<Option<bool>>)> = plan
        .releases()
        .map(|r| (r.name.clone(), watch::channel(None).0))
        .collect();
    let end_of = |name: &str| ends.iter().find(|(n, _)| n == name).map(|(_, tx)| tx);
    let begun = Instant::now();
    // Every release's namespace first: a chart may render into another release's namespace
    // (Grafana's Roles where dashboards live) before that release starts. A failure here is
    // reported by the release's own install, which labels its namespace again.
    for r in plan.releases() {
        let ctx = ReleaseRun {
            cluster,
            helm,
            opts,
            progress,
            started: begun,
            deadline: begun + opts.wave_timeout,
            stop: stop_rx.clone(),
        };
        let _ = ctx.namespace(r).await;
    }
    let runs = plan.releases().map(|r| {
        let stop_tx = &stop_tx;
        let mut stop = stop_rx.clone();
        let run_stop = stop_rx.clone();
        let done = end_of(&r.name);
        let needs: Vec<(&str, Option<watch::Receiver<Option<bool>>>)> = r
            .needs
            .iter()
            .map(|n| (n.release.as_str(), end_of(&n.release).map(|tx| tx.subscribe())))
            .collect();
        async move {
            let not_started = |message: String| ReleaseOutcome {
                release: r.name.clone(),
                wave: r.wave,
                action: None,
                failure: Some(ReleaseFailure {
                    release: r.name.clone(),
                    namespace: r.namespace.clone(),
                    stage: FailureStage::Stopped,
                    message,
                    helm_stderr: None,
                    diagnoses: Vec::new(),
                }),
                elapsed: begun.elapsed(),
            };
            for (name, rx) in needs {
                let Some(mut rx) = rx else { continue };
                let healthy = tokio::select! {
                    end = rx.wait_for(Option::is_some) => end.map(|e| *e == Some(true)).unwrap_or(false),
                    _ = stop.wait_for(|s| *s) => false,
                };
                if !healthy {
                    if let Some(tx) = done {
                        let _ = tx.send(Some(false));
                    }
                    progress.update(&r.name, &Stage::Stopped, begun.elapsed());
                    return not_started(format!("not started: it needs {name}, which did not get healthy"));
                }
            }
            if *stop.borrow() {
                if let Some(tx) = done {
                    let _ = tx.send(Some(false));
                }
                progress.update(&r.name, &Stage::Stopped, begun.elapsed());
                return not_started("not started: another release failed".into());
            }
            let after: Vec<String> = r.needs.iter().map(|n| n.release.clone()).collect();
            progress.start(&r.name, &after);
            let started = Instant::now();
            let ctx = ReleaseRun {
                cluster,
                helm,
                opts,
                progress,
                started,
                deadline: started + opts.wave_timeout,
                stop: run_stop,
            };
            let mut outcome = ctx.run(r).await;
            if outcome.failure.is_some() {
                let _ = stop_tx.send(true);
            }
            if let Some(tx) = done {
                let _ = tx.send(Some(outcome.failure.is_none()));
            }
            outcome.elapsed = begun.elapsed();
            outcome
        }
    });
    let outcomes = join_all(runs).await;
    let failed_wave = outcomes
        .iter()
        .filter(|o| {
            o.failure
                .as_ref()
                .is_some_and(|f| f.stage != FailureStage::Stopped)
        })
        .map(|o| o.wave)
        .min();
    UpReport {
        outcomes,
        failed_wave,
    }
}

struct ReleaseRun<'a> {
    cluster: &'a Cluster,
    helm: &'a Helm,
    opts: &'a UpOptions,
    progress: &'a dyn Progress,
    started: Instant,
    deadline: Instant,
    stop: watch::Receiver<bool>,
}

enum Wait {
    Elapsed,
    Deadline,
    Stopped,
}

impl ReleaseRun<'_> {
    fn tell(&self, r: &PlannedRelease, stage: Stage) {
        self.progress
            .update(&r.name, &stage, self.started.elapsed());
    }

    async fn run(&self, r: &PlannedRelease) -> ReleaseOutcome {
        let (action, failure) = match self.install(r).await {
            Ok(action) => match self.gate(r).await {
                Ok(()) => (Some(action), None),
                Err(f) => (Some(action), Some(f)),
            },
            Err(f) => (None, Some(f)),
        };
        match &failure {
            None => self.tell(r, Stage::Healthy),
            Some(f) if f.stage == FailureStage::Stopped => self.tell(r, Stage::Stopped),
            Some(f) => self.tell(
                r,
                Stage::Failed {
                    reason: f.message.clone(),
                },
            ),
        }
        ReleaseOutcome {
            release: r.name.clone(),
            wave: r.wave,
            action,
            failure,
            elapsed: self.started.elapsed(),
        }
    }

    fn failure(
        &self,
        r: &PlannedRelease,
        stage: FailureStage,
        message: impl Into<String>,
    ) -> ReleaseFailure {
        ReleaseFailure {
            release: r.name.clone(),
            namespace: r.namespace.clone(),
            stage,
            message: message.into(),
            helm_stderr: None,
            diagnoses: Vec::new(),
        }
    }

    /// Sleeps `d`, or less when the deadline passes or the wave is stopped.
    async fn wait(&self, d: Duration) -> Wait {
        let mut stop = self.stop.clone();
        if *stop.borrow() {
            return Wait::Stopped;
        }
        let until = (Instant::now() + d).min(self.deadline);
        tokio::select! {
            _ = tokio::time::sleep_until(until) => {
                if Instant::now() >= self.deadline { Wait::Deadline } else { Wait::Elapsed }
            }
            _ = stop.wait_for(|s| *s) => Wait::Stopped,
        }
    }

    /// Creates the release's namespace, or updates it, with its Pod Security Standards level,
    /// so PodSecurity admission judges the release's pods as Argo CD's namespaces would.
    async fn namespace(&self, r: &PlannedRelease) -> Result<(), ReleaseFailure> {
        let Some(level) = &r.spec.component.pod_security else {
            return Ok(());
        };
        let ns = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": r.namespace,
                "labels": {
                    POD_SECURITY_ENFORCE_LABEL: level,
                    "app.kubernetes.io/part-of": "kalypso",
                },
            },
        });
        let api = kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(self.cluster.client());
        api.patch(
            &r.namespace,
            &kube::api::PatchParams::apply("kalypso").force(),
            &kube::api::Patch::Apply(&ns),
        )
        .await
        .map(|_| ())
        .map_err(|e| {
            let err = self
                .cluster
                .explain(&format!("labelling namespace {}", r.namespace), e);
            self.failure(r, FailureStage::Cluster, err.to_string())
        })
    }

    /// Runs `helm upgrade --install` unless the release is already at the wanted digest.
    async fn install(&self, r: &PlannedRelease) -> Result<Action, ReleaseFailure> {
        self.namespace(r).await?;
        let digest = r.digest().map_err(|e| {
            self.failure(
                r,
                FailureStage::Helm,
                format!("cannot read the chart: {e:#}"),
            )
        })?;
        let description = PlannedRelease::description(&digest);
        let state = releases::release_state(self.helm, &r.name, &r.namespace)
            .await
            .map_err(|e| self.failure(r, FailureStage::Helm, format!("{e:#}")))?;
        if let Some(s) = &state {
            if s.status.starts_with("pending-") {
                let fix = if s.status == "pending-install" {
                    format!("helm uninstall {} -n {}", r.name, r.namespace)
                } else {
                    format!("helm rollback {} -n {}", r.name, r.namespace)
                };
                return Err(self.failure(
                    r,
                    FailureStage::Helm,
                    format!(
                        "the release is stuck in {} (an earlier helm run was killed); run `{fix}`, then `kalypso up` again",
                        s.status
                    ),
                ));
            }
            if s.status == "deployed" && s.description.trim() == description {
                self.tell(r, Stage::Unchanged);
                return Ok(Action::Unchanged);
            }
        }
        let steps = r
            .chart
            .install_steps()
            .map_err(|e| self.failure(r, FailureStage::Helm, format!("{e:#}")))?;
        let prepared = HelmChart::for_install(&r.spec)
            .map_err(|e| self.failure(r, FailureStage::Helm, format!("{e:#}")))?;
        let chart = prepared.path();
        if let Some((last, first)) = steps.split_last() {
            // A first install (or one interrupted between steps) goes through the chart's
            // steps, each gated on health, so CRDs and webhooks serve before their users.
            let done = match &state {
                None => Some(0),
                Some(s) => completed_step(&s.description),
            };
            if let Some(done) = done {
                if done > 0 {
                    // Resuming: helm applied step `done`, but the run may have stopped before
                    // its gate passed; the next step must not start until it has.
                    self.gate(r).await?;
                }
                for (i, extra) in first.iter().enumerate().skip(done) {
                    let step = format!("{STEP_PREFIX}{}/{}", i + 1, steps.len());
                    self.upgrade(r, chart, &step, extra).await?;
                    self.gate(r).await?;
                }
            }
            self.upgrade(r, chart, &description, last).await?;
            return Ok(Action::Applied);
        }
        self.upgrade(r, chart, &description, &[]).await?;
        Ok(Action::Applied)
    }

    /// One `helm upgrade --install` with `step`'s extra flags, retrying transient failures.
    async fn upgrade(
        &self,
        r: &PlannedRelease,
        chart: &std::path::Path,
        description: &str,
        step: &[String],
    ) -> Result<(), ReleaseFailure> {
        let attempts = self.opts.retry.attempts.max(1);
        let mut attempt = 1;
        loop {
            self.tell(r, Stage::Installing { attempt });
            let remaining = self.deadline.saturating_duration_since(Instant::now());
            let run = releases::run(
                self.helm,
                r.upgrade_args(chart, description, remaining, step),
                Some(self.deadline),
                self.opts.term_grace,
            )
            .await
            .map_err(|e| self.failure(r, FailureStage::Helm, format!("{e:#}")))?;
            if run.success() {
                return Ok(());
            }
            if run.timed_out {
                let mut f = self.failure(
                    r,
                    FailureStage::Timeout,
                    format!(
                        "helm upgrade --install did not finish within the wave timeout ({}); kalypso stopped it",
                        humantime::format_duration(self.opts.wave_timeout)
                    ),
                );
                f.helm_stderr = Some(run.stderr_tail(10)).filter(|s| !s.is_empty());
                return Err(f);
            }
            let cause = transient_cause(&run.stderr);
            match cause {
                Some(cause) if attempt < attempts => {
                    let delay = self.opts.retry.delay(attempt + 1);
                    self.tell(
                        r,
                        Stage::Retrying {
                            attempt,
                            of: attempts,
                            delay,
                            cause: cause.to_string(),
                        },
                    );
                    match self.wait(delay).await {
                        Wait::Elapsed => attempt += 1,
                        Wait::Stopped => {
                            return Err(self.failure(
                                r,
                                FailureStage::Stopped,
                                "stopped: another release failed",
                            ))
                        }
                        Wait::Deadline => {
                            let mut f = self.failure(
                                r,
                                FailureStage::Timeout,
                                "the wave timeout passed while retrying a transient helm failure",
                            );
                            f.helm_stderr = Some(run.stderr_tail(10));
                            return Err(f);
                        }
                    }
                }
                _ => {
                    let message = match cause {
                        Some(c) => format!("helm upgrade --install failed {attempt} times with a transient error ({c}); giving up"),
                        None => "helm upgrade --install failed".to_string(),
                    };
                    let mut f = self.failure(r, FailureStage::Helm, message);
                    f.helm_stderr = Some(run.stderr_tail(10));
                    return Err(f);
                }
            }
        }
    }

    /// Waits until every gated object of the release is healthy.
    async fn gate(&self, r: &PlannedRelease) -> Result<(), ReleaseFailure> {
        let text = releases::manifest(self.helm, &r.name, &r.namespace)
            .await
            .map_err(|e| self.failure(r, FailureStage::Helm, format!("{e:#}")))?;
        let objects = gated_objects(&text, &r.namespace).map_err(|e| {
            self.failure(
                r,
                FailureStage::Helm,
                format!("cannot parse helm get manifest: {e}"),
            )
        })?;
        // CRDs first, then webhooks, then workloads: the order things unblock each other in.
        let mut pending = objects;
        pending.sort_by_key(|(o, _)| gate_rank(&o.kind));
        let mut delay = self.opts.poll_interval / 10;
        loop {
            let mut still = Vec::new();
            let checks =
                join_all(pending.iter().map(|(o, _)| health::check(self.cluster, o))).await;
            for ((o, made), health) in pending.into_iter().zip(checks) {
                match health {
                    Ok(Health::Ready) => {}
                    Ok(Health::Pending(why)) => {
                        let why = match &made {
                            Some(m) => format!("{why} ({} makes it from {})", m.operator, m.from),
                            None => why,
                        };
                        still.push(((o, made), why))
                    }
                    Ok(Health::Failed(why)) => {
                        let mut f =
                            self.failure(r, FailureStage::Health, format!("{o} failed: {why}"));
                        f.diagnoses.push(diagnose(self.cluster, &o, &why).await);
                        return Err(f);
                    }
                    Err(e) => return Err(self.failure(r, FailureStage::Cluster, e.to_string())),
                }
            }
            if still.is_empty() {
                return Ok(());
            }
            let more = if still.len() > 1 {
                format!(" (+{} more)", still.len() - 1)
            } else {
                String::new()
            };
            self.tell(
                r,
                Stage::Gating {
                    pending: format!("{}: {}{more}", still[0].0 .0, still[0].1),
                },
            );
            let this = delay;
            delay = (delay * 2).min(self.opts.poll_interval);
            match self.wait(this).await {
                Wait::Elapsed => pending = still.into_iter().map(|(o, _)| o).collect(),
                Wait::Stopped => {
                    return Err(self.failure(
                        r,
                        FailureStage::Stopped,
                        "stopped: another release failed",
                    ))
                }
                Wait::Deadline => {
                    let ((first, _), why) = &still[0];
                    let mut f = self.failure(
                        r,
                        FailureStage::Timeout,
                        format!(
                            "not healthy within the wave timeout ({}): {first}: {why}",
                            humantime::format_duration(self.opts.wave_timeout)
                        ),
                    );
                    for ((o, _), why) in still.iter().take(3) {
                        f.diagnoses.push(diagnose(self.cluster, o, why).await);
                    }
                    return Err(f);
                }
            }
        }
    }
}

/// What `up` waits on for a release: the gated kinds of its manifest, and the workloads
/// operators make from its custom resources (which must exist and roll out too).
pub fn gated_objects(
    manifest: &str,
    namespace: &str,
) -> Result<Vec<(ObjectRef, Option<MadeObject>)>, String> {
    let mut out: Vec<(ObjectRef, Option<MadeObject>)> = parse_manifest(manifest, namespace)?
        .into_iter()
        .filter(|o| health::is_gated(&o.kind))
        .map(|o| (o, None))
        .collect();
    for m in operator_made(manifest, namespace)? {
        out.push((m.object.clone(), Some(m)));
    }
    Ok(out)
}

fn gate_rank(kind: &str) -> u8 {
    match kind {
        "CustomResourceDefinition" => 0,
        "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration" => 1,
        "Job" => 3,
        _ => 2,
    }
}

/// Prefix of the helm release description after an intermediate install step (`… 1/3`).
pub const STEP_PREFIX: &str = "kalypso-install-step ";

/// How many install steps a release description says are done, if it is a step description.
pub fn completed_step(description: &str) -> Option<usize> {
    let rest = description.trim().strip_prefix(STEP_PREFIX)?;
    rest.split('/').next()?.parse().ok()
}

/// True when `description` carries a kalypso digest or install step (a release kalypso installed).
pub fn installed_by_kalypso(description: &str) -> bool {
    let d = description.trim_start();
    d.starts_with(DIGEST_PREFIX) || d.starts_with(STEP_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_description_says_how_many_steps_are_done() {
        assert_eq!(completed_step("kalypso-install-step 2/3"), Some(2));
        assert_eq!(completed_step("kalypso-digest sha256:00"), None);
        assert_eq!(completed_step("Install complete"), None);
        assert!(installed_by_kalypso("kalypso-install-step 1/2"));
    }

    #[test]
    fn retry_delays_double_up_to_the_cap() {
        let p = RetryPolicy {
            attempts: 5,
            base: Duration::from_secs(5),
            max: Duration::from_secs(12),
        };
        assert_eq!(p.delay(2), Duration::from_secs(5));
        assert_eq!(p.delay(3), Duration::from_secs(10));
        assert_eq!(p.delay(4), Duration::from_secs(12));
    }
}
