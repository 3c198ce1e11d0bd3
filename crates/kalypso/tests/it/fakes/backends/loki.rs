//! The fake Loki.

use super::*;

/// A fake Loki gateway: push JSON, OTLP logs, `query_range` with a LogQL subset.
pub async fn loki(b: Behaviour) -> Fake {
    let state = store(b);
    let router = Router::new()
        .route("/loki/api/v1/push", post(loki_push))
        .route("/otlp/v1/logs", post(loki_otlp))
        .route("/loki/api/v1/query_range", get(loki_query))
        .with_state(state.clone());
    Fake {
        addr: serve(router).await,
        state,
    }
}

async fn loki_push(State(s): State<Shared>, h: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = before_write(&s).await {
        return r;
    }
    let org = if behaviour(&s).drop_tenant {
        Some("anonymous".into())
    } else {
        tenant(&h)
    };
    let Some(org) = org else {
        return text(401, "no org id");
    };
    if header(&h, "Content-Type") != Some("application/json") {
        return text(415, "expected application/json");
    }
    let Ok(doc) = serde_json::from_slice::<Value>(&body) else {
        return text(400, "loghttp: invalid JSON");
    };
    let Some(streams) = doc["streams"].as_array() else {
        return text(400, "no streams");
    };
    let mut entries = Vec::new();
    for stream in streams {
        let Some(labels) = stream["stream"].as_object() else {
            return text(400, "stream is not an object");
        };
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        for v in stream["values"].as_array().into_iter().flatten() {
            let (Some(ts), Some(line)) = (v[0].as_str(), v[1].as_str()) else {
                return text(400, "values must be [\"<unix ns>\", \"<line>\"]");
            };
            let Ok(ts) = ts.parse::<u64>() else {
                return text(400, "timestamp is not unix nanoseconds");
            };
            entries.push((labels.clone(), BTreeMap::new(), ts, line.to_string()));
        }
    }
    s.lock()
        .expect("lock")
        .lines
        .entry(org)
        .or_default()
        .extend(entries);
    StatusCode::NO_CONTENT.into_response()
}

async fn loki_otlp(State(s): State<Shared>, h: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = before_write(&s).await {
        return r;
    }
    let Some(org) = tenant(&h) else {
        return text(401, "no org id");
    };
    if header(&h, "Content-Type") != Some("application/x-protobuf") {
        return text(415, "unsupported content type");
    }
    let Ok(req) = ExportLogsServiceRequest::decode(body.as_ref()) else {
        return text(400, "cannot decode OTLP logs");
    };
    let mut st = s.lock().expect("lock");
    for rl in req.resource_logs {
        let mut labels = BTreeMap::new();
        for kv in rl.resource.map(|r| r.attributes).unwrap_or_default() {
            if let Some((k, v)) = attr_string(&kv) {
                labels.insert(k.replace('.', "_"), v);
            }
        }
        for sl in rl.scope_logs {
            for rec in sl.log_records {
                let meta: BTreeMap<String, String> =
                    rec.attributes.iter().filter_map(attr_string).collect();
                let line = match rec.body.and_then(|b| b.value) {
                    Some(any_value::Value::StringValue(s)) => s,
                    _ => String::new(),
                };
                st.lines.entry(org.clone()).or_default().push((
                    labels.clone(),
                    meta,
                    rec.time_unix_nano,
                    line,
                ));
            }
        }
    }
    StatusCode::OK.into_response()
}

/// `{a="b"} | k="v" |= "text"` → (stream matchers, metadata matchers, line filters).
fn parse_logql(q: &str) -> Option<LogQuery> {
    let (_, stream) = parse_selector(q)?;
    let rest = &q[q.find('}')? + 1..];
    let mut meta = Vec::new();
    let mut contains = Vec::new();
    let stage =
        regex::Regex::new(r#"\|(=)?\s*(?:([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*)?"([^"]*)""#).ok()?;
    for c in stage.captures_iter(rest) {
        match (c.get(1), c.get(2)) {
            (Some(_), _) => contains.push(c[3].to_string()),
            (None, Some(k)) => meta.push((k.as_str().to_string(), c[3].to_string())),
            _ => return None,
        }
    }
    Some((stream, meta, contains))
}

async fn loki_query(
    State(s): State<Shared>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = before_read(&s) {
        return r;
    }
    let Some(org) = tenant(&h) else {
        return text(401, "no org id");
    };
    let b = behaviour(&s);
    let Some((stream, meta, contains)) =
        parse_logql(q.get("query").map(String::as_str).unwrap_or(""))
    else {
        return text(400, "parse error");
    };
    let start: u64 = q.get("start").and_then(|v| v.parse().ok()).unwrap_or(0);
    let end: u64 = q
        .get("end")
        .and_then(|v| v.parse().ok())
        .unwrap_or(u64::MAX);
    let st = s.lock().expect("lock");
    let mut streams: BTreeMap<String, (Value, Vec<Value>)> = BTreeMap::new();
    if !b.never_readable {
        for (labels, md, ts, line) in st.lines.get(&org).into_iter().flatten() {
            let ok = stream.iter().all(|(k, v)| labels.get(k) == Some(v))
                && meta.iter().all(|(k, v)| md.get(k) == Some(v))
                && contains.iter().all(|c| line.contains(c))
                && *ts >= start
                && *ts <= end;
            if ok {
                let shown = if b.corrupt {
                    format!("{line} (tampered)")
                } else {
                    line.clone()
                };
                let key = serde_json::to_string(labels).unwrap_or_default();
                streams
                    .entry(key)
                    .or_insert_with(|| (json!(labels), Vec::new()))
                    .1
                    .push(json!([ts.to_string(), shown]));
            }
        }
    }
    let result: Vec<Value> = streams
        .into_values()
        .map(|(l, v)| json!({"stream": l, "values": v}))
        .collect();
    Json(json!({"status":"success","data":{"resultType":"streams","result":result,"stats":{}}}))
        .into_response()
}
