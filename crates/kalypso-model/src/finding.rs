//! What a rule reports: a [`Finding`] with a rule id, a [`Severity`], the object and field.

use serde::Serialize;

use crate::manifest::{Object, ObjectRef};

pub use crate::outcome::Severity;

/// One problem a rule found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Rule id, e.g. `wiring/dns`.
    pub rule: String,
    pub severity: Severity,
    /// The component (release) the object belongs to, or the input file.
    pub component: String,
    pub object: ObjectRef,
    /// Field path inside the object, e.g. `spec.template.spec.containers[0].image`, or
    /// `data.config.yaml: server.url` inside an embedded config.
    pub field: String,
    pub message: String,
    /// Template (or file) the object was rendered from, for code-scanning locations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

impl Finding {
    /// A finding about `obj`.
    pub fn new(
        rule: &str,
        severity: Severity,
        obj: &Object,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            rule: rule.to_string(),
            severity,
            component: obj.origin.component.clone(),
            object: obj.reference(),
            field: field.into(),
            message: message.into(),
            file: Some(obj.origin.file.clone()),
        }
    }

    /// A finding not tied to one rendered object (e.g. "schema check skipped").
    pub fn general(
        rule: &str,
        severity: Severity,
        component: &str,
        object: ObjectRef,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            rule: rule.to_string(),
            severity,
            component: component.to_string(),
            object,
            field: String::new(),
            message: message.into(),
            file: None,
        }
    }
}
