//! The `paygate-cli scan` command, run as a user would.

use std::path::Path;
use std::process::Command;

use paygate_proto::{ApiKey, Environment};
use rand::rngs::OsRng;
use rand::Rng as _;

fn scan(dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_paygate-cli"))
        .arg("scan")
        .arg(dir)
        .output()
        .expect("runs")
}

fn write_tree(dir: &Path, files: usize, content: impl Fn(usize) -> String) {
    for i in 0..files {
        let sub = dir.join(format!("d{}", i % 100));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join(format!("f{i}.txt")), content(i)).unwrap();
    }
}

/// A key-shaped string with a random (almost surely wrong) checksum.
fn look_alike() -> String {
    const B62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = OsRng;
    let env = if rng.gen_bool(0.5) { "test" } else { "live" };
    let body: String = (0..36).map(|_| B62[rng.gen_range(0..62)] as char).collect();
    format!("sk_{env}_{body}")
}

#[test]
fn finds_a_planted_key_among_ten_thousand_files() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path(), 10_000, |i| format!("file {i}\nnothing here\n"));
    let key = ApiKey::generate(Environment::Live, &mut OsRng);
    std::fs::write(
        dir.path().join("d42/config.env"),
        format!("# prod\nPAYGATE_API_KEY={}\n", key.expose()),
    )
    .unwrap();
    let output = scan(dir.path());
    assert_eq!(output.status.code(), Some(1), "a find exits non-zero");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains("d42/config.env:2: api key sk_live_"), "{stdout}");
    assert!(!stdout.contains(key.expose()), "the key is masked");
    assert!(!String::from_utf8(output.stderr).unwrap().contains(key.expose()));
}

#[test]
fn reports_nothing_among_ten_thousand_look_alikes() {
    let dir = tempfile::tempdir().unwrap();
    // A random six-character checksum matches with odds of 1 in 62^6.
    write_tree(dir.path(), 10_000, |_| format!("token = \"{}\"\n", look_alike()));
    let output = scan(dir.path());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.is_empty(), "false positives: {stdout}");
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8(output.stderr).unwrap().contains("10000 files"));
}
