//! The real OpenTelemetry Collector against the configs the charts render: `kalypso check`
//! models the collectors' configs; these tests compare that model's subject with the real
//! thing.
//!
//! `.ci/collector.sh` builds two collectors with the OpenTelemetry Collector Builder, from the
//! manifests `.ci/otelcol-k8s.yaml` (otelcol-k8s 0.158.0, kalypso-otel's gateway and node
//! agent) and `.ci/otelcol-ebpf-profiler.yaml` (otelcol-ebpf-profiler 0.159.0,
//! kalypso-pyroscope's profiler). The manifests are committed, and the first test here keeps
//! them honest: each build must hold exactly the components the rendered configs use. (Deriving
//! the manifests from the render instead would need each component's Go module, which only the
//! upstream distribution manifests and module sources know.)
//!
//! The collectors come from `kalypso render --out` of kalypso-otel and kalypso-pyroscope in
//! both profiles, plus the gateway with its optional profiles pipeline; each runs with the
//! command-line flags and environment its pod would have. The tests need the binaries
//! (`$KALYPSO_OTELCOL_BIN`, set by `bash .ci/run`; a SKIP line without them) and a loopback-only
//! network namespace.

mod gateway;
mod otelcol;
mod sink;

use std::collections::BTreeSet;

use kalypso::contract::Contract;
use serde_json::{json, Value};

use crate::support::{repo_root, skip};
use otelcol::{binaries_or_skip, gateways, mutated, rendered, validate, Build, RenderedCollector};

fn contract() -> Contract {
    Contract::load(&repo_root()).expect("contract.yaml")
}

/// The rendered collectors, or `None` after a SKIP line.
fn collectors(test: &str) -> Option<&'static [RenderedCollector]> {
    let all = rendered();
    if all.is_none() {
        skip(&format!("collector ({test}): nothing rendered"));
    }
    all
}

#[test]
fn each_collector_build_holds_exactly_the_components_the_rendered_configs_use() {
    let Some(bins) = binaries_or_skip("components") else {
        return;
    };
    let Some(all) = collectors("components") else {
        return;
    };
    let mut problems = Vec::new();
    for build in Build::ALL {
        let runs: Vec<&RenderedCollector> = all.iter().filter(|c| c.build() == build).collect();
        assert!(
            !runs.is_empty(),
            "no rendered collector runs {}",
            build.name()
        );
        let built = bins.components(build);
        let version = bins.version(build);
        let mut used: BTreeSet<(String, String)> = BTreeSet::new();
        for c in &runs {
            if c.image_tag() != version {
                problems.push(format!(
                    "{}: image {} but .ci/{}.yaml builds {version}",
                    c.label,
                    c.image,
                    build.name()
                ));
            }
            for (kind, types) in c.component_types() {
                used.extend(types.into_iter().map(|t| (kind.to_string(), t)));
            }
            used.extend(
                c.provider_schemes()
                    .into_iter()
                    .map(|s| ("providers".into(), s)),
            );
        }
        for (kind, name) in &used {
            let has = built
                .get(kind)
                .is_some_and(|modules| modules.values().flatten().any(|n| n == name));
            if !has {
                problems.push(format!(
                    "the rendered configs use {kind} {name}; .ci/{}.yaml does not build it",
                    build.name()
                ));
            }
        }
        for (kind, modules) in &built {
            for (module, names) in modules {
                if !names
                    .iter()
                    .any(|n| used.contains(&(kind.clone(), n.clone())))
                {
                    problems.push(format!(
                        ".ci/{}.yaml builds {module} ({kind} {names:?}), which no rendered config uses",
                        build.name()
                    ));
                }
            }
        }
        let count = |providers: bool| {
            built
                .iter()
                .filter(|(kind, _)| (kind.as_str() == "providers") == providers)
                .map(|(_, modules)| modules.len())
                .sum::<usize>()
        };
        eprintln!(
            "{} {version}: {} components and {} config providers for {} rendered collectors",
            build.name(),
            count(false),
            count(true),
            runs.len()
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_rendered_collector_config_is_valid_for_the_real_collector() {
    let Some(bins) = binaries_or_skip("validate") else {
        return;
    };
    let Some(all) = collectors("validate") else {
        return;
    };
    let mut problems = Vec::new();
    for c in all {
        let env: BTreeSet<&str> = c.env.iter().map(|(k, _)| k.as_str()).collect();
        for name in c.env_references() {
            if !env.contains(name.as_str()) {
                problems.push(format!(
                    "{}: the config reads ${{env:{name}}}, which the pod does not set",
                    c.label
                ));
            }
        }
        let v = validate(&bins, c, &c.config);
        if v.ok {
            eprintln!("valid: {} ({})", c.label, c.build().name());
        } else {
            problems.push(format!(
                "{}: otelcol validate failed:\n{}",
                c.label, v.output
            ));
        }
    }
    // Both profiles hold the gateway, the node agent and the profiler.
    for variant in ["default", "production"] {
        let n = all
            .iter()
            .filter(|c| c.label.starts_with(&format!("{variant}:")))
            .count();
        assert!(
            n >= 3,
            "{variant}: {n} collectors rendered, expected the gateway, agent and profiler"
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn a_config_with_an_unknown_exporter_field_or_an_undefined_component_fails_validation() {
    let Some(bins) = binaries_or_skip("planted bad configs") else {
        return;
    };
    let Some(all) = collectors("planted bad configs") else {
        return;
    };
    let gateway = gateways(all)[0];
    assert!(
        validate(&bins, gateway, &gateway.config).ok,
        "{}: the rendered config must pass first",
        gateway.label
    );

    let unknown_field = mutated(&gateway.config, &["exporters", "otlp_http/mimir"], |e| {
        e["compresion"] = json!("gzip");
    });
    let v = validate(&bins, gateway, &unknown_field);
    assert!(!v.ok, "an unknown exporter field passed validation");
    assert!(v.output.contains("compresion"), "{}", v.output);

    let undefined = mutated(
        &gateway.config,
        &["service", "pipelines", "traces", "exporters"],
        |e| {
            e.as_array_mut()
                .expect("a list")
                .push(json!("otlp_grpc/nowhere"));
        },
    );
    let v = validate(&bins, gateway, &undefined);
    assert!(
        !v.ok,
        "a pipeline naming an undefined exporter passed validation"
    );
    assert!(v.output.contains("otlp_grpc/nowhere"), "{}", v.output);
}

#[test]
fn the_gateway_delivers_every_signal_to_its_backend_with_the_contract_tenant() {
    let Some(bins) = binaries_or_skip("gateway delivery") else {
        return;
    };
    let Some(all) = collectors("gateway delivery") else {
        return;
    };
    let contract = contract();
    let mut problems = Vec::new();
    let mut backends = BTreeSet::new();
    for g in gateways(all) {
        let d = gateway::deliver(&bins, g, &g.config, &contract);
        let p = d.problems();
        for e in &d.exporters {
            backends.insert(e.backend_component());
            let n = d.received.get(e.backend_component()).map_or(0, Vec::len);
            eprintln!("{}: {} → {n} request(s)", g.label, e.name);
        }
        if !p.is_empty() {
            problems.push(format!(
                "{}:\n  {}\ncollector log:\n{}",
                g.label,
                p.join("\n  "),
                d.log
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    assert_eq!(
        backends,
        BTreeSet::from([
            "kalypso-loki",
            "kalypso-mimir",
            "kalypso-pyroscope",
            "kalypso-tempo"
        ]),
        "the gateways' exporters, together, reach the four backends"
    );
}

#[test]
fn a_wrong_tenant_or_a_wrong_endpoint_path_is_not_a_delivery() {
    let Some(bins) = binaries_or_skip("bad deliveries") else {
        return;
    };
    let Some(all) = collectors("bad deliveries") else {
        return;
    };
    let contract = contract();
    let gateway = gateways(all)[0];

    let wrong_tenant = mutated(
        &gateway.config,
        &["exporters", "otlp_http/mimir", "headers", "X-Scope-OrgID"],
        |t| {
            *t = json!("someone-else");
        },
    );
    let p = gateway::deliver(&bins, gateway, &wrong_tenant, &contract).problems();
    assert!(
        p.iter()
            .any(|m| m.contains("otlp_http/mimir")
                && m.contains("X-Scope-OrgID Some(\"someone-else\")")),
        "a wrong tenant was delivered as if right: {p:#?}"
    );

    let wrong_path = mutated(
        &gateway.config,
        &["exporters", "otlp_http/loki", "endpoint"],
        |e| {
            let url = e.as_str().expect("endpoint").to_string();
            *e = Value::String(url.replace("/otlp", "/loki/otlp"));
        },
    );
    let p = gateway::deliver(&bins, gateway, &wrong_path, &contract).problems();
    assert!(
        p.iter().any(|m| m.contains("otlp_http/loki")
            && m.contains("no Logs export arrived")
            && m.contains("/loki/otlp/v1/logs")),
        "a wrong endpoint path was delivered as if right: {p:#?}"
    );
}
