//! Splitting a multi-document YAML stream (helm output or a manifest file) into documents that
//! remember where they came from: the `# Source:` template helm names, and the line.

use serde_json::Value;

use super::yaml;

/// One YAML document of a stream, before it becomes an object.
#[derive(Debug, Clone)]
pub struct RawDocument {
    /// The template helm names in its `# Source:` comment, if any.
    pub source: Option<String>,
    /// 1-based line in the stream where the document's text starts.
    pub line: usize,
    /// The document's text (without the `---` separator).
    pub text: String,
}

/// A document that is not valid YAML or not a Kubernetes object.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{origin}:{line}: {message}")]
pub struct DocumentError {
    /// The stream's name (a file, or `helm template <release>`).
    pub origin: String,
    /// 1-based line in the stream.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Splits a stream on `---` separator lines, keeping line numbers and `# Source:` comments.
pub fn split_documents(text: &str) -> Vec<RawDocument> {
    let mut docs = Vec::new();
    let mut current = String::new();
    let mut start = 1usize;
    let mut source: Option<String> = None;
    let mut flush = |current: &mut String, start: usize, source: &mut Option<String>| {
        if current.lines().any(is_content) {
            docs.push(RawDocument {
                source: source.take(),
                line: start,
                text: std::mem::take(current),
            });
        } else {
            current.clear();
            *source = None;
        }
    };
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_end();
        if trimmed == "---" || trimmed.starts_with("--- ") || trimmed == "..." {
            flush(&mut current, start, &mut source);
            start = i + 2;
            if let Some(rest) = trimmed.strip_prefix("--- ") {
                // `--- {a: 1}` style: content on the separator line.
                if !rest.trim().is_empty() && !rest.trim().starts_with('#') {
                    start = i + 1;
                    current.push_str(rest);
                    current.push('\n');
                }
            }
            continue;
        }
        if current.is_empty() && !is_content(line) && source.is_none() {
            if let Some(s) = line.trim().strip_prefix("# Source:") {
                source = Some(s.trim().to_string());
            }
        }
        if current.is_empty() && !is_content(line) {
            // Leading comments and blank lines: keep line numbers pointing at content.
            start = i + 2;
            continue;
        }
        current.push_str(line);
        current.push('\n');
    }
    flush(&mut current, start, &mut source);
    docs
}

fn is_content(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.starts_with('#')
}

/// Parses one document into a JSON value; `Ok(None)` for an empty (null) document.
pub fn parse_document(origin: &str, doc: &RawDocument) -> Result<Option<Value>, DocumentError> {
    match yaml::from_str::<Value>(&doc.text) {
        Ok(Value::Null) => Ok(None),
        Ok(v @ Value::Object(_)) => Ok(Some(v)),
        Ok(other) => Err(DocumentError {
            origin: origin.to_string(),
            line: doc.line,
            message: format!(
                "expected a Kubernetes object (a mapping), found {}",
                json_type(&other)
            ),
        }),
        Err(e) => Err(DocumentError {
            origin: origin.to_string(),
            line: doc.line + e.line.saturating_sub(1),
            message: match &doc.source {
                Some(template) => format!("invalid YAML rendered by {template}: {}", e.message),
                None => format!("invalid YAML: {}", e.message),
            },
        }),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_helm_output_and_keeps_sources_and_lines() {
        let text = "---\n# Source: c/templates/a.yaml\napiVersion: v1\nkind: A\n---\n# Source: c/templates/b.yaml\n\napiVersion: v1\nkind: B\n";
        let docs = split_documents(text);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].source.as_deref(), Some("c/templates/a.yaml"));
        assert_eq!(docs[0].line, 3);
        assert_eq!(docs[1].source.as_deref(), Some("c/templates/b.yaml"));
        assert_eq!(docs[1].line, 8);
    }

    #[test]
    fn a_broken_document_names_the_stream_and_line() {
        let text = "apiVersion: v1\nkind: A\n---\napiVersion: v1\nkind: [B\n";
        let docs = split_documents(text);
        let err = parse_document("x.yaml", &docs[1]).unwrap_err();
        assert_eq!(err.origin, "x.yaml");
        assert!(err.line >= 4, "{err}");
        assert!(err.to_string().starts_with("x.yaml:"), "{err}");
    }

    #[test]
    fn comment_only_documents_are_skipped() {
        let docs = split_documents("---\n# nothing\n---\n\n");
        assert!(docs.is_empty());
    }
}
