//! The stack model: the component list, read from the one place the Argo CD
//! ApplicationSet reads it too (`argocd/applicationset.yaml`, list generator).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::error::usage;

/// Where the component list lives, relative to the repository root.
pub const APPLICATIONSET_PATH: &str = "argocd/applicationset.yaml";

/// One umbrella chart of the stack, installed as release `name` into `namespace`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Component {
    /// Release and Argo CD Application name, e.g. `kalypso-mimir`.
    pub name: String,
    /// Chart directory relative to the repository root, e.g. `charts/kalypso-mimir`.
    pub path: String,
    /// Namespace the release is installed into.
    pub namespace: String,
    /// Install wave: every component of wave N is healthy before wave N+1 starts.
    #[serde(deserialize_with = "wave_from_string")]
    pub wave: u32,
    /// The Pod Security Standards level its namespace enforces (`restricted`, `baseline`,
    /// `privileged`): Argo CD labels the namespace with it, `kalypso up` too, and
    /// `kalypso check` evaluates every pod of the namespace against it.
    #[serde(default, rename = "podSecurity")]
    pub pod_security: Option<String>,
}

/// The Pod Security Standards levels, least to most privileged.
pub const POD_SECURITY_LEVELS: &[&str] = &["restricted", "baseline", "privileged"];

/// The namespace label PodSecurity admission enforces.
pub const POD_SECURITY_ENFORCE_LABEL: &str = "pod-security.kubernetes.io/enforce";

fn wave_from_string<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<u32, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Num(u32),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Num(n) => Ok(n),
        Raw::Text(s) => s
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("wave {s:?} is not a whole number"))),
    }
}

/// All components of one wave, installed in parallel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wave {
    pub number: u32,
    pub components: Vec<Component>,
}

/// The whole stack: its repository root and its components in list order.
#[derive(Debug, Clone)]
pub struct Stack {
    pub root: PathBuf,
    pub components: Vec<Component>,
}

#[derive(Deserialize)]
struct AppSetDoc {
    spec: AppSetSpec,
}
#[derive(Deserialize)]
struct AppSetSpec {
    generators: Vec<Generator>,
}
#[derive(Deserialize)]
struct Generator {
    list: Option<ListGenerator>,
}
#[derive(Deserialize)]
struct ListGenerator {
    elements: Vec<Component>,
}

impl Stack {
    /// Reads the component list from `<root>/argocd/applicationset.yaml`.
    pub fn load(root: &Path) -> Result<Stack> {
        let file = root.join(APPLICATIONSET_PATH);
        let text = std::fs::read_to_string(&file).map_err(|e| {
            usage(format!(
                "cannot read the component list {}: {e} (is --repo the Kalypso repository root?)",
                file.display()
            ))
        })?;
        Self::from_applicationset(root, &text).with_context(|| format!("in {}", file.display()))
    }

    /// Parses the component list out of an ApplicationSet document.
    pub fn from_applicationset(root: &Path, text: &str) -> Result<Stack> {
        let doc: AppSetDoc = serde_saphyr::from_str(text)
            .map_err(|e| usage(format!("not a valid ApplicationSet: {e}")))?;
        let components: Vec<Component> = doc
            .spec
            .generators
            .into_iter()
            .filter_map(|g| g.list)
            .flat_map(|l| l.elements)
            .collect();
        if components.is_empty() {
            return Err(usage("spec.generators has no list generator with elements"));
        }
        let mut seen = BTreeMap::new();
        for c in &components {
            if seen.insert(c.name.clone(), ()).is_some() {
                return Err(usage(format!("component {:?} is listed twice", c.name)));
            }
            if let Some(level) = &c.pod_security {
                if !POD_SECURITY_LEVELS.contains(&level.as_str()) {
                    return Err(usage(format!(
                        "component {}: podSecurity {level:?} is not a Pod Security Standards level ({})",
                        c.name,
                        POD_SECURITY_LEVELS.join(", ")
                    )));
                }
            }
        }
        Ok(Stack {
            root: root.to_path_buf(),
            components,
        })
    }

    /// The component called `name`.
    pub fn component(&self, name: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.name == name)
    }

    /// Keeps only the named components (`--only`); accepts `mimir` for `kalypso-mimir`.
    pub fn select(&self, only: &[String]) -> Result<Stack> {
        if only.is_empty() {
            return Ok(self.clone());
        }
        let mut picked = Vec::new();
        for want in only {
            let found = self
                .components
                .iter()
                .find(|c| c.name == *want || c.name == format!("kalypso-{want}"))
                .ok_or_else(|| {
                    let known: Vec<_> = self.components.iter().map(|c| c.name.as_str()).collect();
                    usage(format!(
                        "--only: no component {want:?} (known: {})",
                        known.join(", ")
                    ))
                })?;
            if !picked.contains(found) {
                picked.push(found.clone());
            }
        }
        // Keep list order, not the order of the flag.
        picked.sort_by_key(|c| self.components.iter().position(|x| x == c));
        Ok(Stack {
            root: self.root.clone(),
            components: picked,
        })
    }

    /// Components grouped by wave, in ascending wave order.
    pub fn waves(&self) -> Vec<Wave> {
        let mut by: BTreeMap<u32, Vec<Component>> = BTreeMap::new();
        for c in &self.components {
            by.entry(c.wave).or_default().push(c.clone());
        }
        by.into_iter()
            .map(|(number, components)| Wave { number, components })
            .collect()
    }

    /// Absolute chart directory of a component.
    pub fn chart_dir(&self, c: &Component) -> PathBuf {
        self.root.join(&c.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APPSET: &str = r#"
spec:
  generators:
    - list:
        elements:
          - {name: kalypso-a, path: charts/kalypso-a, namespace: a, wave: "2"}
          - {name: kalypso-b, path: charts/kalypso-b, namespace: b, wave: "1"}
          - {name: kalypso-c, path: charts/kalypso-c, namespace: c, wave: 2}
"#;

    #[test]
    fn waves_group_components_in_ascending_order() {
        let s = Stack::from_applicationset(Path::new("/r"), APPSET).unwrap();
        let waves = s.waves();
        assert_eq!(waves.len(), 2);
        assert_eq!(waves[0].number, 1);
        assert_eq!(waves[0].components[0].name, "kalypso-b");
        let names: Vec<_> = waves[1]
            .components
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["kalypso-a", "kalypso-c"]);
    }

    #[test]
    fn only_accepts_short_names_and_rejects_unknown_ones() {
        let s = Stack::from_applicationset(Path::new("/r"), APPSET).unwrap();
        let picked = s.select(&["c".into(), "kalypso-a".into()]).unwrap();
        let names: Vec<_> = picked.components.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["kalypso-a", "kalypso-c"]);
        let err = s.select(&["nope".into()]).unwrap_err().to_string();
        assert!(err.contains("no component \"nope\""), "{err}");
    }

    #[test]
    fn a_wave_that_is_not_a_number_is_an_error_naming_it() {
        let bad = APPSET.replace("wave: \"1\"", "wave: \"first\"");
        let err = format!(
            "{:#}",
            Stack::from_applicationset(Path::new("/r"), &bad).unwrap_err()
        );
        assert!(err.contains("\"first\""), "{err}");
    }
}

/// A Kubernetes minor version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KubeVersion {
    pub major: u64,
    pub minor: u64,
    /// `major.minor`, as flags and messages write it.
    pub text: &'static str,
}

impl KubeVersion {
    /// `(major, minor)`, for comparisons.
    pub fn pair(&self) -> (u64, u64) {
        (self.major, self.minor)
    }
}

/// The oldest Kubernetes the stack supports (mimir-distributed 6.2 declares `^1.32.0-0`):
/// render, lint and check default to it, and `kalypso doctor` refuses an older cluster.
pub const MIN_KUBERNETES: KubeVersion = KubeVersion {
    major: 1,
    minor: 32,
    text: "1.32",
};
