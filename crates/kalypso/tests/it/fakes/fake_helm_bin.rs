//! A stand-in `helm` for the deploy tests: it answers the subcommands kalypso runs
//! (`version`, `upgrade --install`, `status -o json`, `get manifest`, `list -o json`,
//! `uninstall`), keeps release state in files, records every invocation, and can be told to
//! fail, fail transiently a number of times, be slow, or hang.
//!
//! State directory: `$FAKE_HELM_DIR`, else the parent of the directory the program was
//! started from (tests symlink it as `<state>/bin/helm`). In it:
//! - `scenario.json` (written by the test): `{"version": "v3.22.0+gfake", "releases": {"<name>":
//!   {"manifest": "<yaml>", "sleep_ms": 0, "hang": false, "fail_times": 0, "fail_stderr": "…",
//!   "uninstall_fail": false}}}`; `fail_times` < 0 fails every time.
//! - `calls.jsonl` (appended): `{"event": "start"|"end", "cmd", "release", "args", "ms", "exit"}`.
//! - `releases/<name>.json`: the installed releases.
//!
//! Built as the cargo example `fake-helm` (see crates/kalypso/Cargo.toml).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

fn state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("FAKE_HELM_DIR") {
        return PathBuf::from(d);
    }
    let argv0 = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .unwrap_or_default();
    argv0
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

struct Args {
    positional: Vec<String>,
    namespace: String,
    description: String,
    all: Vec<String>,
}

fn parse(args: &[String]) -> Args {
    let with_value = [
        "-n",
        "--namespace",
        "-f",
        "--values",
        "--set",
        "--description",
        "--timeout",
        "-o",
        "--output",
        "--max",
        "--kube-context",
        "--kubeconfig",
    ];
    let mut a = Args {
        positional: Vec::new(),
        namespace: "default".into(),
        description: String::new(),
        all: args.to_vec(),
    };
    let mut i = 0;
    while i < args.len() {
        let s = &args[i];
        if with_value.contains(&s.as_str()) {
            let v = args.get(i + 1).cloned().unwrap_or_default();
            match s.as_str() {
                "-n" | "--namespace" => a.namespace = v,
                "--description" => a.description = v,
                _ => {}
            }
            i += 2;
        } else if s.starts_with('-') {
            i += 1;
        } else {
            a.positional.push(s.clone());
            i += 1;
        }
    }
    a
}

fn record(dir: &Path, event: &str, cmd: &str, release: &str, args: &[String], exit: Option<i32>) {
    let line = json!({"event": event, "cmd": cmd, "release": release, "args": args, "ms": now_ms() as u64, "exit": exit});
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("calls.jsonl"))
    {
        // One write per line: appends of this size are atomic, so parallel runs do not interleave.
        let _ = f.write_all(format!("{line}\n").as_bytes());
    }
}

fn scenario(dir: &Path) -> Value {
    std::fs::read_to_string(dir.join("scenario.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| json!({}))
}

fn release_file(dir: &Path, name: &str) -> PathBuf {
    dir.join("releases").join(format!("{name}.json"))
}

fn read_release(dir: &Path, name: &str) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(release_file(dir, name)).ok()?).ok()
}

fn previous_ends(dir: &Path, cmd: &str, release: &str) -> usize {
    std::fs::read_to_string(dir.join("calls.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "end" && v["cmd"] == cmd && v["release"] == release)
        .count()
}

fn chart_meta(chart_dir: &str) -> (String, String) {
    let text = std::fs::read_to_string(Path::new(chart_dir).join("Chart.yaml")).unwrap_or_default();
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().trim_matches('"').to_string())
            .unwrap_or_default()
    };
    (get("name:"), get("version:"))
}

fn status_json(r: &Value) -> Value {
    json!({
        "name": r["name"], "namespace": r["namespace"], "version": r["revision"],
        "info": {"status": r["status"], "description": r["description"]},
        "chart": {"metadata": {"name": r["chart_name"], "version": r["chart_version"]}}
    })
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let dir = state_dir();
    let sc = scenario(&dir);
    let a = parse(&argv);
    let cmd = a.positional.first().cloned().unwrap_or_default();
    let code = match cmd.as_str() {
        "version" => {
            println!("{}", sc["version"].as_str().unwrap_or("v3.22.0+gfake"));
            0
        }
        "upgrade" => upgrade(&dir, &sc, &a),
        "status" => {
            let name = a.positional.get(1).cloned().unwrap_or_default();
            match read_release(&dir, &name) {
                Some(r) => {
                    println!("{}", status_json(&r));
                    0
                }
                None => {
                    eprintln!("Error: release: not found");
                    1
                }
            }
        }
        "get" => {
            let name = a.positional.get(2).cloned().unwrap_or_default();
            if read_release(&dir, &name).is_some() {
                print!(
                    "{}",
                    sc["releases"][&name]["manifest"].as_str().unwrap_or("")
                );
                0
            } else {
                eprintln!("Error: release: not found");
                1
            }
        }
        "list" => {
            let mut rows = Vec::new();
            if let Ok(rd) = std::fs::read_dir(dir.join("releases")) {
                let mut paths: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
                paths.sort();
                for p in paths {
                    if let Some(r) = std::fs::read_to_string(&p)
                        .ok()
                        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                    {
                        rows.push(json!({
                            "name": r["name"], "namespace": r["namespace"], "revision": r["revision"].to_string(),
                            "status": r["status"],
                            "chart": format!("{}-{}", r["chart_name"].as_str().unwrap_or(""), r["chart_version"].as_str().unwrap_or("")),
                            "app_version": ""
                        }));
                    }
                }
            }
            println!("{}", Value::Array(rows));
            0
        }
        "uninstall" => {
            let name = a.positional.get(1).cloned().unwrap_or_default();
            record(&dir, "start", "uninstall", &name, &argv, None);
            let code = if sc["releases"][&name]["uninstall_fail"]
                .as_bool()
                .unwrap_or(false)
            {
                eprintln!(
                    "Error: uninstallation completed with 1 error(s): context deadline exceeded"
                );
                1
            } else if std::fs::remove_file(release_file(&dir, &name)).is_ok() {
                println!("release \"{name}\" uninstalled");
                0
            } else {
                eprintln!("Error: uninstall: Release not loaded: {name}: release: not found");
                1
            };
            record(&dir, "end", "uninstall", &name, &argv, Some(code));
            code
        }
        _ => {
            eprintln!("fake helm: unknown command {argv:?}");
            64
        }
    };
    std::process::exit(code);
}

fn upgrade(dir: &Path, sc: &Value, a: &Args) -> i32 {
    let name = a.positional.get(1).cloned().unwrap_or_default();
    let chart = a.positional.get(2).cloned().unwrap_or_default();
    let spec = &sc["releases"][&name];
    record(dir, "start", "upgrade", &name, &a.all, None);
    let attempt = previous_ends(dir, "upgrade", &name) as i64;
    std::thread::sleep(Duration::from_millis(
        spec["sleep_ms"].as_u64().unwrap_or(0),
    ));
    if spec["hang"].as_bool().unwrap_or(false) {
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    let fail_times = spec["fail_times"].as_i64().unwrap_or(0);
    if fail_times < 0 || attempt < fail_times {
        eprintln!(
            "{}",
            spec["fail_stderr"]
                .as_str()
                .unwrap_or("Error: UPGRADE FAILED: something broke")
        );
        record(dir, "end", "upgrade", &name, &a.all, Some(1));
        return 1;
    }
    let (chart_name, chart_version) = chart_meta(&chart);
    let revision = read_release(dir, &name)
        .and_then(|r| r["revision"].as_u64())
        .unwrap_or(0)
        + 1;
    let r = json!({
        "name": name, "namespace": a.namespace, "status": "deployed", "description": a.description,
        "chart_name": chart_name, "chart_version": chart_version, "revision": revision
    });
    let _ = std::fs::create_dir_all(dir.join("releases"));
    let _ = std::fs::write(release_file(dir, &name), r.to_string());
    println!("Release \"{name}\" has been upgraded. Happy Helming!");
    record(dir, "end", "upgrade", &name, &a.all, Some(0));
    0
}
