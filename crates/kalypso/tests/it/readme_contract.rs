//! README's wiring tables are generated from `contract.yaml`: the text between
//! `<!-- contract:begin -->` and `<!-- contract:end -->` must equal what this test renders
//! from the contract, so README and the contract cannot disagree. After changing the contract,
//! `KALYPSO_BLESS=1 cargo test --test it readme_` rewrites the section.

use std::fmt::Write as _;

use kalypso::contract::Contract;

use crate::support::repo_root;

const BEGIN: &str = "<!-- contract:begin -->\n";
const END: &str = "<!-- contract:end -->";

/// The wiring tables, as README shows them.
fn tables(c: &Contract) -> String {
    let mut s = String::new();
    s.push_str(
        "| Service (namespace) | port | component, role in `contract.yaml` |\n|---|---|---|\n",
    );
    for (name, comp) in &c.components {
        for (role, e) in &comp.endpoints {
            let ports = match e.port {
                Some(p) => p.to_string(),
                None => e
                    .ports
                    .iter()
                    .map(|(n, p)| format!("{p} ({n})"))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            let _ = writeln!(
                s,
                "| `{}` ({}) | {ports} | {name}, `{role}` |",
                e.service, comp.namespace
            );
        }
    }
    s.push_str("\n| wire | value | in `contract.yaml` |\n|---|---|---|\n");
    let _ = writeln!(
        s,
        "| Metrics tenant (`X-Scope-OrgID`) | `{}` | `tenants.metrics` |",
        c.tenants.metrics
    );
    let _ = writeln!(
        s,
        "| Logs tenant (`X-Scope-OrgID`) | `{}` | `tenants.logs` |",
        c.tenants.logs
    );
    for (name, ns, st) in c.storage() {
        let buckets: Vec<String> = st
            .buckets
            .iter()
            .map(|(role, b)| format!("`{b}` ({role})"))
            .collect();
        let _ = writeln!(
            s,
            "| {name} object storage | MinIO user `{}`, Secret `{}` in {ns}, buckets {} | `components.{name}.storage` |",
            st.user,
            st.secret,
            buckets.join(", ")
        );
    }
    for (name, comp) in &c.components {
        if let Some(secret) = &comp.admin_secret {
            let _ = writeln!(
                s,
                "| {name} admin login | Secret `{secret}` in {} (keys `admin-user`, `admin-password`) | `components.{name}.adminSecret` |",
                comp.namespace
            );
        }
        if !comp.datasources.is_empty() {
            let uids: Vec<String> = comp
                .datasources
                .iter()
                .map(|(sig, uid)| format!("{sig} `{uid}`"))
                .collect();
            let _ = writeln!(
                s,
                "| {name} datasource UIDs | {} | `components.{name}.datasources` |",
                uids.join(", ")
            );
        }
    }
    s
}

#[test]
fn readme_wiring_tables_are_the_contracts() {
    let root = repo_root();
    let contract = Contract::load(&root).expect("contract.yaml");
    let path = root.join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let (Some(a), Some(b)) = (readme.find(BEGIN), readme.find(END)) else {
        panic!("README.md has no {BEGIN:?} … {END:?} section");
    };
    let current = &readme[a + BEGIN.len()..b];
    let wanted = tables(&contract);
    if current != wanted {
        if std::env::var("KALYPSO_BLESS").as_deref() == Ok("1") {
            let updated = format!("{}{BEGIN}{wanted}{}", &readme[..a], &readme[b..]);
            std::fs::write(&path, updated).expect("write README.md");
            return;
        }
        panic!(
            "README.md's wiring tables differ from contract.yaml; run KALYPSO_BLESS=1 cargo test --test it readme_\n--- README\n{current}\n--- contract\n{wanted}"
        );
    }
}
