//! The fake Tempo.

use super::*;

/// A fake Tempo: OTLP/HTTP `/v1/traces` and `/api/traces/<id>` (OTLP JSON `batches`).
pub async fn tempo(b: Behaviour) -> Fake {
    let state = store(b);
    let router = Router::new()
        .route("/v1/traces", post(tempo_push))
        .route("/api/traces/{id}", get(tempo_trace))
        .with_state(state.clone());
    Fake {
        addr: serve(router).await,
        state,
    }
}

async fn tempo_push(State(s): State<Shared>, h: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = before_write(&s).await {
        return r;
    }
    if header(&h, "Content-Type") != Some("application/x-protobuf") {
        return text(415, "unsupported content type");
    }
    let Ok(req) = ExportTraceServiceRequest::decode(body.as_ref()) else {
        return text(400, "bad OTLP traces");
    };
    let mut st = s.lock().expect("lock");
    for rs in req.resource_spans {
        let res: Vec<(String, String)> = rs
            .resource
            .map(|r| r.attributes.iter().filter_map(attr_string).collect())
            .unwrap_or_default();
        for ss in rs.scope_spans {
            for span in ss.spans {
                if span.trace_id.len() != 16 || span.span_id.len() != 8 {
                    return text(400, "invalid trace or span id length");
                }
                let id: String = span.trace_id.iter().map(|b| format!("{b:02x}")).collect();
                let attrs = span.attributes.iter().filter_map(attr_string).collect();
                st.spans
                    .entry(id)
                    .or_default()
                    .push((res.clone(), attrs, span.name));
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

fn json_attrs(attrs: &[(String, String)]) -> Vec<Value> {
    attrs
        .iter()
        .map(|(k, v)| json!({"key": k, "value": {"stringValue": v}}))
        .collect()
}

async fn tempo_trace(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    if let Some(r) = before_read(&s) {
        return r;
    }
    let b = behaviour(&s);
    let st = s.lock().expect("lock");
    let spans = if b.never_readable {
        None
    } else {
        st.spans.get(&id.to_lowercase())
    };
    let Some(spans) = spans else {
        return text(404, "trace not found");
    };
    let raw: Vec<u8> = (0..16)
        .filter_map(|i| u8::from_str_radix(id.get(i * 2..i * 2 + 2)?, 16).ok())
        .collect();
    let trace_id = b64(raw);
    let batches: Vec<Value> = spans
        .iter()
        .map(|(res, attrs, name)| {
            let attrs: Vec<(String, String)> = attrs
                .iter()
                .map(|(k, v)| if b.corrupt && k == "kalypso.verify.id" { (k.clone(), "someone-else".into()) } else { (k.clone(), v.clone()) })
                .collect();
            json!({"resource": {"attributes": json_attrs(res)},
                   "scopeSpans": [{"scope": {"name": "kalypso"}, "spans": [{
                       "traceId": trace_id, "spanId": "AAAAAAAAAAE=", "name": name, "kind": "SPAN_KIND_SERVER",
                       "attributes": json_attrs(&attrs)}]}]})
        })
        .collect();
    Json(json!({"batches": batches})).into_response()
}
