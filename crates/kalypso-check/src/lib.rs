//! The rules of `kalypso check`, one module per rule family. Each rule is a function over the
//! [`Context`] (parsed objects, components, policy) returning [`Finding`]s.
//!
//! Every rule, its module, the severities it reports and what it checks are in [`RULES`] and
//! [`RULE_FAMILIES`]; `docs/rules.md` is generated from them (a test keeps it current).
//!
//! What the stack does not render but the cluster has (Secrets created by hand, …) and which
//! workloads may use host access are declared in the [`policy`] (built-in defaults plus
//! `kalypso-policy.yaml` at the repository root). Offline, charts whose upstream archives
//! are missing render with empty stand-ins; a reference into what a stand-in would have
//! rendered is reported as `info` ("not verified"), never as an error, and the report lists
//! which charts were checked in full.

pub mod config;
pub mod context;
pub mod determinism;
pub mod dns;
pub mod hygiene;
pub mod netpol;
pub mod ops;
pub mod ordering;
pub mod podsecurity;
pub mod policy;
pub mod production;
pub mod refs;
pub mod relabel;
pub mod schema;
pub mod selfmon;
pub mod services;
mod stand_in_values;
pub mod storage;
pub mod tenant;

pub use context::{ChartInfo, Context};
/// The nginx reader `wiring/dns` uses (public for the differential test against nginx).
pub use dns::nginx;
pub use kalypso_model::finding::{self, Finding, Severity};

pub mod report;
pub use policy::Policy;
pub use schema::SchemaOptions;
/// The environment variable naming the local copy of monitoring files loaded by URL.
pub use selfmon::MONITORING_DIR_ENV;

use kalypso_render::ChartRender;

/// Rule id of the contract-against-component-list check (`commands::check` runs it, since it
/// compares two files rather than rendered objects).
pub const CONTRACT_RULE: &str = "wiring/contract";

/// Every rule id with a one-line description (for `--output sarif` and `docs/rules.md`; each
/// id also belongs to one of [`RULE_FAMILIES`], which a test enforces).
pub const RULES: &[(&str, &str)] = &[
    (
        CONTRACT_RULE,
        "contract.yaml names the ApplicationSet's components in the same namespaces",
    ),
    (
        netpol::RULE,
        "Every wire is allowed by the NetworkPolicies of both ends",
    ),
    (
        podsecurity::RULE,
        "Every pod passes the Pod Security Standards level its namespace enforces",
    ),
    (
        production::CREDENTIALS,
        "No development default credential in a production render",
    ),
    (
        production::EXISTING_SECRET,
        "Production credentials come from Secrets the operator manages (existingSecret)",
    ),
    (
        production::REPLICAS,
        "Stateful backends run at least two replicas in production",
    ),
    (
        production::WAIVERS,
        "Every checkov waiver has a reason and names a rendered object",
    ),
    (
        config::UNKNOWN_KEY,
        "Backend and collector configs use only settings of the version that runs",
    ),
    (
        config::TYPE,
        "Backend config values have the type the version that runs decodes",
    ),
    (
        config::VALUE,
        "Backend config values are in the domain the version that runs accepts (closed sets, durations, byte sizes)",
    ),
    (
        config::NULL,
        "No null scalar that the backend silently replaces by its default",
    ),
    (
        config::DEPRECATED,
        "No deprecated setting (the replacement is named)",
    ),
    (
        config::COMPONENT,
        "Collector components exist in the distribution that runs",
    ),
    (
        config::REFERENCE,
        "Reference data exists for every backend version the stack runs",
    ),
    (
        dns::RULE,
        "In-cluster DNS names resolve to a rendered Service exposing the port used",
    ),
    (
        dns::objects::RULE,
        "Ingress, Gateway API and Istio routes, StatefulSets, APIServices and webhooks name a rendered Service and one of its ports",
    ),
    (
        refs::SECRET_RULE,
        "Secrets that workloads mount or reference exist in their namespace",
    ),
    (
        refs::CONFIGMAP_RULE,
        "ConfigMaps that workloads mount or reference exist in their namespace",
    ),
    (
        storage::BUCKET_RULE,
        "Buckets that backends use are created by the object store",
    ),
    (
        storage::CREDENTIALS_RULE,
        "A backend's S3 access key is an object-store user with the same secret",
    ),
    (
        tenant::RULE,
        "Writers and readers of a backend use the same tenant (X-Scope-OrgID)",
    ),
    (
        ordering::CRD_RULE,
        "Custom resources come after the chart that installs their CRD",
    ),
    (
        ordering::WAVES_RULE,
        "Startup dependencies sit in earlier waves, and the GitOps manifests enforce the waves",
    ),
    (
        hygiene::IMAGE_RULE,
        "Images are pinned (no latest, no missing tag)",
    ),
    (
        hygiene::REQUESTS_RULE,
        "Every container requests CPU and memory",
    ),
    (hygiene::LIMITS_RULE, "Every container has a memory limit"),
    (
        hygiene::PROBES_RULE,
        "Long-running containers have a readiness or liveness probe",
    ),
    (
        hygiene::PRIVILEGED_RULE,
        "Privileged mode and host access only where the allow-list grants them",
    ),
    (determinism::RULE, "Two renders are identical"),
    (
        schema::RULE,
        "Objects validate against the Kubernetes (or CRD) schema in strict mode",
    ),
    (
        schema::TYPES_RULE,
        "Objects of built-in kinds decode into their Kubernetes API types (the types the rules read)",
    ),
    (
        selfmon::RULE,
        "Every self-monitoring dashboard panel and loaded rule selects series the scrapes produce",
    ),
    (
        ops::retention::RULE,
        "Every backend's retention is bounded, and what they keep fits the bundled object store",
    ),
    (
        ops::rings::RULE,
        "Every memberlist ring has its own cluster_label, and its gossip ports are TCP to Istio",
    ),
];

/// A family of rules: the module that implements them, the severity each reports and what
/// they check in full. With [`RULES`] it is the registry `docs/rules.md` is generated from.
#[derive(Debug, Clone, Copy)]
pub struct RuleFamily {
    /// The rule ids of the family (each one of [`RULES`]), with the severities each reports
    /// and when.
    pub rules: &'static [(&'static str, &'static str)],
    /// Where the rules are implemented, from the repository root.
    pub source: &'static str,
    /// What the rules check (Markdown).
    pub checks: &'static str,
}

/// Every rule of [`RULES`] in exactly one family (a test enforces it).
pub const RULE_FAMILIES: &[RuleFamily] = &[
    RuleFamily {
        rules: &[(
            dns::RULE,
            "error; info for namespaces outside the input or charts rendered with stand-ins",
        )],
        source: "crates/kalypso-check/src/dns/mod.rs",
        checks:
            "every in-cluster DNS name (in configs, env, args, datasource provisioning, custom \
                 resources), and every same-namespace short name used as an address \
                 (`http://svc:port`, `svc:port`, a bare `svc` under a host key such as \
                 `DB_HOST`), resolves to a rendered Service that exposes that port; the Services \
                 operators make from custom resources are data \
                 (`crates/kalypso-check/data/operators.yaml`, with each operator's source); a \
                 dangling name containing a custom resource's name is info (\"probably made by \
                 the operator of …\")",
    },
    RuleFamily {
        rules: &[(
            dns::objects::RULE,
            "error; warning for a StatefulSet's missing governing Service; info for namespaces \
                 outside the input, stand-ins, and names an operator probably makes",
        )],
        source: "crates/kalypso-check/src/dns/objects.rs",
        checks: "Ingress backends, Gateway API route `backendRefs`, Istio `VirtualService` \
                 destinations and `DestinationRule` hosts, a StatefulSet's `serviceName`, an \
                 `APIService`'s and a webhook's `service` name a rendered (or operator-made) \
                 Service, with the port used",
    },
    RuleFamily {
        rules: &[
            (
                refs::SECRET_RULE,
                "error (info when the namespace's chart used stand-ins)",
            ),
            (
                refs::CONFIGMAP_RULE,
                "error (info when the namespace's chart used stand-ins)",
            ),
        ],
        source: "crates/kalypso-check/src/refs.rs",
        checks:
            "every Secret and ConfigMap a workload mounts or references exists in its namespace",
    },
    RuleFamily {
        rules: &[(CONTRACT_RULE, "error")],
        source: "crates/kalypso/src/commands/check.rs",
        checks: "`contract.yaml` names the ApplicationSet's components, in the same namespaces",
    },
    RuleFamily {
        rules: &[(
            storage::BUCKET_RULE,
            "error; info when no object store is rendered",
        )],
        source: "crates/kalypso-check/src/storage.rs",
        checks: "every bucket a backend is configured with is created by the object store \
                 (MinIO's bucket script or SeaweedFS's bucket Job; offline: compared in the \
                 values a stand-in would have passed to the upstream chart)",
    },
    RuleFamily {
        rules: &[(tenant::RULE, "error")],
        source: "crates/kalypso-check/src/tenant.rs",
        checks: "writers (collector exporters, Tempo remote write, Grafana Alloy's `loki.write`, \
                 `prometheus.remote_write`, `pyroscope.write` and OTLP exporters, with a tenant \
                 from a literal or from the Secret a `remote.kubernetes.secret` names) and \
                 readers (Grafana datasources) agree on `X-Scope-OrgID`",
    },
    RuleFamily {
        rules: &[(
            storage::CREDENTIALS_RULE,
            "error; info when no object store is rendered",
        )],
        source: "crates/kalypso-check/src/storage.rs",
        checks: "each backend's S3 access key exists as an object-store user (MinIO user or \
                 SeaweedFS identity) with the same secret key, that user may read, write and \
                 list the backend's buckets, and no other backend's",
    },
    RuleFamily {
        rules: &[(netpol::RULE, "error")],
        source: "crates/kalypso-check/src/netpol/mod.rs",
        checks: "every wire (`wiring/dns` use, and every pod port a collector's Prometheus \
                 receiver finds by Kubernetes service discovery and keeps after its \
                 `relabel_configs`) is allowed by the NetworkPolicies of both ends: the source's \
                 egress and the destination's ingress, on that port",
    },
    RuleFamily {
        rules: &[(
            podsecurity::RULE,
            "error; warning for a namespace without a level",
        )],
        source: "crates/kalypso-check/src/podsecurity.rs",
        checks:
            "every pod meets the Pod Security Standards level its namespace enforces (the \
                 component's `podSecurity` in the ApplicationSet), naming each field that breaks it",
    },
    RuleFamily {
        rules: &[
            (config::UNKNOWN_KEY, "error"),
            (config::TYPE, "error"),
            (config::VALUE, "error"),
            (config::NULL, "warning"),
            (config::DEPRECATED, "warning"),
        ],
        source: "crates/kalypso-check/src/config/mod.rs",
        checks: "Mimir, Loki, Tempo and Pyroscope configs use only keys of the pinned version, \
                 with the types its decoder takes and values in the domain it accepts (closed \
                 sets, durations and byte sizes as its Go types parse them), no `null` the \
                 backend would silently replace, no deprecated key (reference data and source \
                 facts in `crates/kalypso-check/data/config-reference/`)",
    },
    RuleFamily {
        rules: &[
            (config::COMPONENT, "error; warning for a deprecated alias"),
            (config::REFERENCE, "warning"),
        ],
        source: "crates/kalypso-check/src/config/mod.rs",
        checks: "collector components exist in the collector distribution that runs; reference \
                 data exists for every backend version pinned",
    },
    RuleFamily {
        rules: &[
            (
                production::CREDENTIALS,
                "error (with `--profile production` only)",
            ),
            (
                production::EXISTING_SECRET,
                "error (with `--profile production` only)",
            ),
            (
                production::REPLICAS,
                "error (with `--profile production` only)",
            ),
        ],
        source: "crates/kalypso-check/src/production.rs",
        checks: "with `--profile production`: no development default credential, every \
                 credential from a Secret the operator manages, stateful backends with at least \
                 two replicas",
    },
    RuleFamily {
        rules: &[(production::WAIVERS, "error (every profile)")],
        source: "crates/kalypso-check/src/production.rs",
        checks: "every checkov waiver in `kalypso-waivers.yaml` has a reason and names an object \
                 the stack renders",
    },
    RuleFamily {
        rules: &[(ordering::CRD_RULE, "error")],
        source: "crates/kalypso-check/src/ordering.rs",
        checks: "custom resources come after the CRDs they need (a later wave, or a later sync \
                 wave in the same chart)",
    },
    RuleFamily {
        rules: &[(
            ordering::WAVES_RULE,
            "error; warning or info for dependencies needed only at run time",
        )],
        source: "crates/kalypso-check/src/ordering.rs",
        checks: "startup dependencies sit in earlier waves; the ApplicationSet's RollingSync \
                 steps enforce the wave list; the AppProject allows every namespace and \
                 cluster-scoped kind rendered",
    },
    RuleFamily {
        rules: &[
            (hygiene::IMAGE_RULE, "error"),
            (hygiene::REQUESTS_RULE, "error"),
            (hygiene::LIMITS_RULE, "error"),
            (hygiene::PROBES_RULE, "warning"),
            (hygiene::PRIVILEGED_RULE, "error"),
        ],
        source: "crates/kalypso-check/src/hygiene.rs",
        checks: "pinned image tags, CPU and memory requests, memory limits, probes on \
                 long-running containers, privileged/hostPID/hostPath only on an allow-list \
                 with a reason",
    },
    RuleFamily {
        rules: &[(determinism::RULE, "error")],
        source: "crates/kalypso-check/src/determinism.rs",
        checks: "two renders are byte-identical (no `lookup`/`randAlphaNum` drift under Argo \
                 CD); every chart is rendered twice in whole by helm",
    },
    RuleFamily {
        rules: &[(
            schema::RULE,
            "error; info for kinds without a schema and when schemas are missing",
        )],
        source: "crates/kalypso-check/src/schema.rs",
        checks: "every object validates in strict mode against the Kubernetes JSON schemas of \
                 `--kube-version` (from PyPI `kubernetes-validate`), custom resources against \
                 the CRDs the stack renders",
    },
    RuleFamily {
        rules: &[(schema::TYPES_RULE, "error")],
        source: "crates/kalypso-check/src/schema.rs",
        checks: "every object of a built-in kind (Pod, Service, the workload kinds, \
                 NetworkPolicy, Ingress, PersistentVolumeClaim, webhooks, CRDs, APIServices, \
                 RBAC, …) decodes into its `k8s-openapi` type, naming the field that does not \
                 (a string where an integer is required, …); the rules read these kinds typed \
                 and skip such an object, and this rule needs no schema files",
    },
    RuleFamily {
        rules: &[(
            selfmon::RULE,
            "warning; error for a rule that does not parse; info for metrics the stack \
                   does not collect",
        )],
        source: "crates/kalypso-check/src/selfmon.rs",
        checks: "every provisioned dashboard query and every rule loaded into Mimir's ruler \
                 parses as PromQL (`promql-parser`), and a panel, alert or recording rule whose \
                 selectors match no target the collectors scrape (their `relabel_configs` \
                 evaluated on every pod, as for `wiring/netpol`) nor any loaded recording \
                 rule's output is reported, naming the dashboard, the panel and the selector",
    },
    RuleFamily {
        rules: &[
            (
                ops::retention::RULE,
                "error; info with the store budget's figures when it fits",
            ),
            (ops::rings::RULE, "error"),
        ],
        source: "crates/kalypso-check/src/ops/",
        checks: "`ops/retention`: every backend's rendered retention is bounded (Mimir \
                 `limits.compactor_blocks_retention_period` > 0; Loki \
                 `limits_config.retention_period` > 0 with `compactor.retention_enabled: true` \
                 and a `delete_request_store`; Tempo `compactor.compaction.block_retention`; \
                 Pyroscope 2 `limits.retention_period` with its index cleaner on; per-tenant \
                 overrides included), and on a bundled object store the contract's `perDay` \
                 ingest × (retention + each backend's deletion delay) of all signals stays \
                 within 80% of the store's claim, every figure named in the finding. \
                 `ops/rings`: every memberlist ring runs with a `cluster_label` (the \
                 `-memberlist.cluster-label` flag wins over the config) unique across the \
                 stack, verification left on, and every Service port carrying gossip is TCP to \
                 Istio (`appProtocol: tcp`, or a `tcp`/`tcp-*` name)",
    },
];

/// The family of a rule id.
pub fn rule_family(id: &str) -> Option<&'static RuleFamily> {
    RULE_FAMILIES
        .iter()
        .find(|f| f.rules.iter().any(|(r, _)| *r == id))
}

/// What `run` needs besides the context.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    pub schema: SchemaOptions,
    /// Skip the schema rule entirely (tests).
    pub skip_schema: bool,
    /// The Pod Security Standards level each namespace enforces, from the component list;
    /// `None` when the input is not a stack (manifests, fixtures): levels then come from
    /// rendered Namespaces only, and a namespace without one is not reported.
    pub pod_security: Option<std::collections::BTreeMap<String, String>>,
    /// The render is the production profile's: the `production/*` rules apply.
    pub production: bool,
    /// The `--profile` rendered (`None`: the default values).
    pub profile: Option<String>,
    /// The checkov waivers (`kalypso-waivers.yaml`), checked by `policy/waivers`.
    pub waivers: Vec<production::Waiver>,
    /// The contract's retention and ingest budget per signal, for `ops/retention`'s store
    /// budget (empty when the input is not a stack).
    pub retention: std::collections::BTreeMap<String, kalypso_model::contract::Retention>,
}

/// Runs every rule. `renders` carries the render passes for the determinism rule (empty for
/// `-f` input). Findings come sorted: severity (worst first), component, rule, object, field.
pub fn run(ctx: &Context, renders: &[ChartRender], opts: &CheckOptions) -> Vec<Finding> {
    let mut findings = std::thread::scope(|s| {
        let schema = spawn_schema(s, ctx.manifest, opts);
        let mut f = rules(ctx, renders);
        f.extend(option_rules(ctx, opts));
        f.extend(join_schema(schema));
        f
    });
    apply_accepted(ctx.policy, &mut findings);
    ctx.policy.apply_severity(&mut findings);
    sort(&mut findings);
    findings
}

/// Like [`run`], but builds the [`Context`] itself while the schema rule already runs.
pub fn run_on(
    manifest: &kalypso_model::manifest::Manifest,
    charts: &[ChartInfo],
    policy: &Policy,
    renders: &[ChartRender],
    opts: &CheckOptions,
) -> Vec<Finding> {
    let mut findings = std::thread::scope(|s| {
        let schema = spawn_schema(s, manifest, opts);
        let ctx = Context::new(manifest, charts, policy);
        let mut f = rules(&ctx, renders);
        f.extend(option_rules(&ctx, opts));
        f.extend(join_schema(schema));
        f
    });
    apply_accepted(policy, &mut findings);
    policy.apply_severity(&mut findings);
    sort(&mut findings);
    findings
}

/// The rules that depend on how `check` was asked to run.
fn option_rules(ctx: &Context, opts: &CheckOptions) -> Vec<Finding> {
    let mut f = podsecurity::check(ctx, opts.pod_security.as_ref());
    f.extend(production::check_waivers(
        ctx,
        &opts.waivers,
        opts.profile.as_deref(),
    ));
    if opts.production {
        f.extend(production::check(ctx));
    }
    f.extend(ops::retention::check(ctx, &opts.retention));
    f
}

/// Downgrades findings the policy accepts to `info`, naming the reason.
pub fn apply_accepted(policy: &Policy, findings: &mut [Finding]) {
    for f in findings.iter_mut() {
        let ns = f.object.namespace.as_deref().unwrap_or("");
        if let Some(a) = policy.accepted(&f.rule, &f.object.kind, ns, &f.object.name, &f.field) {
            f.severity = Severity::Info;
            f.message = format!("{} (accepted: {})", f.message, a.reason);
        }
    }
}

type SchemaHandle<'s> = Option<std::thread::ScopedJoinHandle<'s, Vec<Finding>>>;

/// Schema validation is the heaviest rule: it runs on its own thread.
fn spawn_schema<'s, 'e: 's>(
    s: &'s std::thread::Scope<'s, 'e>,
    manifest: &'e kalypso_model::manifest::Manifest,
    opts: &'e CheckOptions,
) -> SchemaHandle<'s> {
    (!opts.skip_schema).then(|| {
        s.spawn(move || {
            let t = std::time::Instant::now();
            let found = schema::check(manifest, &opts.schema);
            tracing::info!("schema rule {:.2}s", t.elapsed().as_secs_f64());
            found
        })
    })
}

fn join_schema(handle: SchemaHandle<'_>) -> Vec<Finding> {
    match handle.map(|h| h.join()) {
        None => Vec::new(),
        Some(Ok(found)) => found,
        Some(Err(_)) => vec![Finding::general(
            schema::RULE,
            Severity::Error,
            "",
            kalypso_model::manifest::ObjectRef {
                api_version: String::new(),
                kind: "Schema".into(),
                namespace: None,
                name: "validation".into(),
            },
            "schema validation crashed; please report this",
        )],
    }
}

/// Every rule but the schema rule.
fn rules(ctx: &Context, renders: &[ChartRender]) -> Vec<Finding> {
    let mut f = Vec::new();
    f.extend(dns::check(ctx));
    f.extend(dns::objects::check(ctx));
    f.extend(config::check(ctx));
    f.extend(netpol::check(ctx));
    f.extend(refs::check(ctx));
    f.extend(storage::check_buckets(ctx));
    f.extend(storage::check_credentials(ctx));
    f.extend(tenant::check(ctx));
    f.extend(ordering::check_crds(ctx));
    f.extend(ordering::check_dependencies(ctx));
    f.extend(ordering::check_gitops(ctx));
    f.extend(hygiene::check(ctx));
    f.extend(schema::check_types(ctx.manifest));
    f.extend(determinism::check(renders));
    f.extend(selfmon::check(ctx));
    f.extend(ops::rings::check(ctx));
    f
}

/// Sorts findings (worst first, then component, rule, object, field) and drops duplicates.
pub fn sort(findings: &mut Vec<Finding>) {
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.component.cmp(&b.component))
            .then_with(|| a.rule.cmp(&b.rule))
            .then_with(|| a.object.cmp(&b.object))
            .then_with(|| a.field.cmp(&b.field))
            .then_with(|| a.message.cmp(&b.message))
    });
    findings.dedup();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_is_in_exactly_one_family_and_every_family_rule_is_registered() {
        for (id, _) in RULES {
            let n = RULE_FAMILIES
                .iter()
                .filter(|f| f.rules.iter().any(|(r, _)| r == id))
                .count();
            assert_eq!(n, 1, "{id} is in {n} families of RULE_FAMILIES");
        }
        for family in RULE_FAMILIES {
            for (id, _) in family.rules {
                assert!(
                    RULES.iter().any(|(r, _)| r == id),
                    "{id} is in RULE_FAMILIES but not in RULES"
                );
            }
        }
    }
}
