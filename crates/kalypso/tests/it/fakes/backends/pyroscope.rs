//! The fake Pyroscope.

use super::*;

/// A fake Pyroscope: OTLP `/v1development/profiles` and the Connect `SelectMergeStacktraces`.
pub async fn pyroscope(b: Behaviour) -> Fake {
    let state = store(b);
    let router = Router::new()
        .route("/v1development/profiles", post(pyroscope_push))
        .route(
            "/querier.v1.QuerierService/SelectMergeStacktraces",
            post(pyroscope_query),
        )
        .with_state(state.clone());
    Fake {
        addr: serve(router).await,
        state,
    }
}

async fn pyroscope_push(State(s): State<Shared>, h: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = before_write(&s).await {
        return r;
    }
    let ct = header(&h, "Content-Type").unwrap_or("");
    if !matches!(ct, "application/x-protobuf" | "application/protobuf") {
        return text(415, &format!("Unsupported Content-Type: {ct}"));
    }
    let Ok(req) = ExportProfilesServiceRequest::decode(body.as_ref()) else {
        return text(400, "Failed to parse protobuf request");
    };
    let Some(d) = req.dictionary else {
        return text(400, "missing profile metadata dictionary");
    };
    if d.string_table.first().map(String::as_str) != Some("")
        || d.stack_table.is_empty()
        || d.function_table.is_empty()
    {
        return text(400, "dictionary tables must start with their zero value");
    }
    let s_at = |i: i32| d.string_table.get(i as usize).cloned();
    let mut st = s.lock().expect("lock");
    for rp in req.resource_profiles {
        let svc = rp
            .resource
            .map(|r| {
                r.attributes
                    .iter()
                    .filter_map(attr_string)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
            .into_iter()
            .find(|(k, _)| k == "service.name")
            .map(|(_, v)| v)
            .unwrap_or_else(|| "unknown_service".into());
        for sp in rp.scope_profiles {
            for p in sp.profiles {
                let (Some(st_), Some(pt)) = (p.sample_type, p.period_type) else {
                    return text(400, "sample type is missing");
                };
                let kind = format!(
                    "{}:{}:{}:{}",
                    s_at(st_.type_strindex).unwrap_or_default(),
                    s_at(st_.unit_strindex).unwrap_or_default(),
                    s_at(pt.type_strindex).unwrap_or_default(),
                    s_at(pt.unit_strindex).unwrap_or_default()
                );
                let type_id = if kind == "samples:count:cpu:nanoseconds" {
                    "process_cpu:cpu:nanoseconds:cpu:nanoseconds".to_string()
                } else {
                    format!("custom:{kind}")
                };
                let entry = st
                    .profiles
                    .entry(svc.clone())
                    .or_insert_with(|| (type_id.clone(), Vec::new(), 0));
                for smp in p.samples {
                    let Some(value) = smp.values.first() else {
                        return text(400, "sample value is required");
                    };
                    let Some(stack) = d.stack_table.get(smp.stack_index as usize) else {
                        return text(400, "invalid stack index");
                    };
                    for li in &stack.location_indices {
                        let Some(loc) = d.location_table.get(*li as usize) else {
                            return text(400, "bad location");
                        };
                        for line in &loc.lines {
                            let Some(f) = d.function_table.get(line.function_index as usize) else {
                                return text(400, "bad function");
                            };
                            let name = s_at(f.name_strindex).unwrap_or_default();
                            if !entry.1.contains(&name) {
                                entry.1.push(name);
                            }
                        }
                    }
                    entry.2 += value * p.period;
                }
            }
        }
    }
    (
        StatusCode::OK,
        [("Content-Type", "application/x-protobuf")],
        Vec::<u8>::new(),
    )
        .into_response()
}

async fn pyroscope_query(State(s): State<Shared>, h: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = before_read(&s) {
        return r;
    }
    if header(&h, "Content-Type") != Some("application/json") {
        return text(415, "connect: unsupported content type");
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"code":"invalid_argument","message":"bad JSON"})),
        )
            .into_response();
    };
    let b = behaviour(&s);
    let selector = req["labelSelector"].as_str().unwrap_or("");
    let type_id = req["profileTypeID"].as_str().unwrap_or("");
    let (Some(_), Some(_)) = (req["start"].as_i64(), req["end"].as_i64()) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"code":"invalid_argument","message":"start/end"})),
        )
            .into_response();
    };
    let svc = parse_selector(&format!("x{selector}"))
        .and_then(|(_, m)| {
            m.into_iter()
                .find(|(k, _)| k == "service_name")
                .map(|(_, v)| v)
        })
        .unwrap_or_default();
    let st = s.lock().expect("lock");
    let found = if b.never_readable {
        None
    } else {
        st.profiles.get(&svc).filter(|(t, _, _)| t == type_id)
    };
    let (names, total) = match found {
        Some((_, names, total)) => {
            let names: Vec<String> = names
                .iter()
                .map(|n| {
                    if b.corrupt {
                        format!("{n}_other")
                    } else {
                        n.clone()
                    }
                })
                .collect();
            (names, *total)
        }
        None => (Vec::new(), 0),
    };
    let mut all = vec!["total".to_string()];
    all.extend(names);
    let levels: Vec<Value> = (0..all.len())
        .map(|i| json!({"values": ["0", total.to_string(), "0", i.to_string()]}))
        .collect();
    Json(json!({"flamegraph": {"names": all, "levels": levels, "total": total.to_string(), "maxSelf": total.to_string()}}))
        .into_response()
}
