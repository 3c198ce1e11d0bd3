//! The reference parts of `docs/` are generated from the code they describe, so they cannot
//! drift: `docs/rules.md` from the rule registry (`kalypso_check::RULES` and `RULE_FAMILIES`),
//! `docs/cli.md` from the clap definition (`kalypso <command> --help`). Each test renders its
//! section in memory and compares it with the text between the page's markers;
//! `KALYPSO_BLESS=1 cargo test --test it generated_docs` rewrites the sections instead.

use std::fmt::Write as _;
use std::path::Path;

use kalypso::check::{RULES, RULE_FAMILIES};

use crate::support::repo_root;

/// Compares the text between `<!-- {name}:begin -->` and `<!-- {name}:end -->` of `page` (a path
/// from the repository root) with `wanted`; with `KALYPSO_BLESS=1`, writes `wanted` there.
fn compare_section(page: &str, name: &str, wanted: &str) {
    let path = repo_root().join(page);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{page}: {e}"));
    let begin = format!("<!-- {name}:begin -->\n");
    let end = format!("<!-- {name}:end -->");
    let (Some(a), Some(b)) = (text.find(&begin), text.find(&end)) else {
        panic!("{page} has no {begin:?} … {end:?} section");
    };
    let current = &text[a + begin.len()..b];
    if current == wanted {
        return;
    }
    if std::env::var("KALYPSO_BLESS").as_deref() == Ok("1") {
        let updated = format!("{}{begin}{wanted}{}", &text[..a], &text[b..]);
        std::fs::write(&path, updated).unwrap_or_else(|e| panic!("write {page}: {e}"));
        return;
    }
    let line = current
        .lines()
        .zip(wanted.lines())
        .position(|(c, w)| c != w)
        .unwrap_or_else(|| current.lines().count().min(wanted.lines().count()));
    let at = |t: &str| t.lines().nth(line).unwrap_or("(end)").to_string();
    panic!(
        "{page}'s {name} section is stale; run KALYPSO_BLESS=1 cargo test --test it generated_docs\n\
         first difference, line {} of the section:\n  page:      {}\n  generated: {}",
        line + 1,
        at(current),
        at(wanted)
    );
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// `docs/rules.md`'s generated section: one table row per rule, then what each family checks.
fn rules_section() -> String {
    let mut s = String::from("| rule | severity | what it means | source |\n|---|---|---|---|\n");
    for family in RULE_FAMILIES {
        let file = Path::new(family.source)
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or(family.source);
        for (id, severity) in family.rules {
            let meaning = RULES
                .iter()
                .find(|(r, _)| r == id)
                .map(|(_, m)| *m)
                .unwrap_or_else(|| panic!("{id} is in RULE_FAMILIES but not in RULES"));
            let _ = writeln!(
                s,
                "| `{id}` | {} | {} | [{file}](../{}) |",
                cell(severity),
                cell(meaning),
                family.source
            );
        }
    }
    s.push_str("\n### What each family checks\n\n");
    for family in RULE_FAMILIES {
        let ids: Vec<String> = family
            .rules
            .iter()
            .map(|(id, _)| format!("`{id}`"))
            .collect();
        let _ = writeln!(s, "- {}: {}.", ids.join(", "), family.checks);
    }
    s
}

/// `docs/cli.md`'s generated section: `--help` of `kalypso` and of each subcommand.
fn cli_section() -> String {
    let root = repo_root();
    let args: Vec<std::ffi::OsString> = vec![
        "kalypso".into(),
        "--repo".into(),
        root.clone().into_os_string(),
    ];
    let mut cmd = without_env_values(kalypso::cli::command_for(&args));
    cmd.build();
    let mut s = String::new();
    let mut block = |title: &str, help: String| {
        let help: Vec<&str> = help.lines().map(str::trim_end).collect();
        let _ = write!(
            s,
            "### `{title}`\n\n```text\n{}\n```\n\n",
            help.join("\n").trim_end()
        );
    };
    block("kalypso", cmd.render_long_help().to_string());
    for sub in cmd.get_subcommands_mut().filter(|c| c.get_name() != "help") {
        let title = format!("kalypso {}", sub.get_name());
        block(&title, sub.render_long_help().to_string());
    }
    s
}

/// `cmd` with the values of the environment variables its flags read left out of the help, so
/// the page does not depend on the environment the test runs in.
fn without_env_values(cmd: clap::Command) -> clap::Command {
    let ids: Vec<clap::Id> = cmd
        .get_arguments()
        .filter(|a| a.get_env().is_some())
        .map(|a| a.get_id().clone())
        .collect();
    let mut cmd = ids
        .into_iter()
        .fold(cmd, |c, id| c.mut_arg(id, |a| a.hide_env_values(true)));
    let subcommands: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in subcommands {
        cmd = cmd.mut_subcommand(name, without_env_values);
    }
    cmd
}

#[test]
fn generated_docs_rules_page_is_the_rule_registry() {
    let wanted = rules_section();
    for (id, _) in RULES {
        assert!(
            wanted.contains(&format!("| `{id}` |")),
            "{id} has no row in docs/rules.md: add it to a RuleFamily in kalypso-check"
        );
    }
    compare_section("docs/rules.md", "rules", &wanted);
}

#[test]
fn generated_docs_cli_page_is_the_help_of_every_command() {
    let wanted = cli_section();
    compare_section("docs/cli.md", "cli", &wanted);
}
