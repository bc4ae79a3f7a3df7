//! `check-config --log-group` and the demo's joined stack trace, through the built binary.

use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_logsieve"))
        .args(args)
        .env_remove("LOGSIEVE_CONFIG")
        .output()
        .unwrap()
}

#[test]
fn check_config_names_the_profile_a_log_group_gets() {
    let dir = std::env::temp_dir().join(format!("logsieve-profiles-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("profiles.toml");
    std::fs::write(
        &cfg,
        "[[profile]]\nname = \"api\"\nlog_groups = [\"/ecs/api\"]\n[profile.multiline]\ndetectors = [\"java\"]\n\n[[profile]]\nname = \"ecs\"\nlog_groups = [\"/ecs/*\"]\n",
    )
    .unwrap();
    let path = cfg.to_str().unwrap();
    // (log group, the line check-config prints about it)
    for (group, line) in [
        ("/ecs/api", "log group /ecs/api: profile api (multiline on)"),
        (
            "/ecs/billing",
            "log group /ecs/billing: profile ecs (multiline off)",
        ),
        (
            "/aws/lambda/f",
            "log group /aws/lambda/f: no profile, top-level settings (multiline off)",
        ),
    ] {
        let out = run(&["check-config", path, "--log-group", group]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.lines().any(|l| l == line), "{text}");
    }
    // Two profiles with one name: exit 2, one line naming both and the line of the second.
    std::fs::write(
        &cfg,
        "[[profile]]\nname = \"api\"\nlog_groups = [\"/a\"]\n\n[[profile]]\nname = \"api\"\nlog_groups = [\"/b\"]\n",
    )
    .unwrap();
    let out = run(&["check-config", path, "--log-group", "/a"]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("line 6") && err.contains("profile[1] and profile[0]"),
        "{err}"
    );
}

#[test]
fn the_demo_shows_a_joined_stack_trace() {
    let config = root().join("examples/logsieve.toml");
    let fixture = root().join("tests/fixtures/ecs-multiline.json");
    let out = run(&[
        "process",
        "--config",
        config.to_str().unwrap(),
        "--output",
        "table",
        fixture.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("== JOINED (4 records"), "{text}");
    assert!(text.contains("@joined=9"), "{text}");
    assert!(
        text.contains("  | \tat com.example.orders.OrderService.total(OrderService.java:88)"),
        "{text}"
    );
    assert!(
        text.contains("  | ZeroDivisionError: division by zero"),
        "{text}"
    );
    assert!(text.contains("multiline.joined=4"), "{text}");
}
