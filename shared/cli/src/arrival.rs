//! What the command shows of per-log-group handling: which `[[profile]]` a log group gets
//! (`check-config --log-group`) and the multiline-joined records of a `process` run (`table`).

use std::io::{self, Write};

use logsieve::config::CheckedConfig;
use logsieve::multiline::JOINED_KEY;
use logsieve::records::OutputRecord;

/// Joined records shown in the table, and lines shown of each.
pub const JOINED_SHOWN: usize = 3;
const LINES_SHOWN: usize = 12;

/// Whether a record was joined from several log events (it carries `@joined`).
pub fn is_joined(r: &OutputRecord) -> bool {
    // The text search spares a parse of every record; the map confirms it is a member.
    r.json().contains(JOINED_KEY) && r.to_map().contains_key(JOINED_KEY)
}

/// The `== JOINED ==` section: the first few joined records (`shown`, of `total`), line by line
/// (nothing when none).
pub fn write_joined(w: &mut impl Write, shown: &[OutputRecord], total: usize) -> io::Result<()> {
    let joined: Vec<_> = shown
        .iter()
        .filter_map(|r| {
            let map = r.to_map();
            let n = map.get(JOINED_KEY)?.as_u64()?;
            Some((n, map))
        })
        .collect();
    if total == 0 {
        return Ok(());
    }
    writeln!(
        w,
        "== JOINED ({total} records made of several log events) =="
    )?;
    for (n, map) in joined.iter().take(JOINED_SHOWN) {
        let text = |k: &str| map.get(k).and_then(|v| v.as_str()).unwrap_or_default();
        writeln!(
            w,
            "{} {} @id={} @joined={n}",
            text("@logGroup"),
            text("@logStream"),
            text("@id")
        )?;
        let message = text("message");
        let lines: Vec<&str> = message.lines().collect();
        for line in lines.iter().take(LINES_SHOWN) {
            writeln!(w, "  | {line}")?;
        }
        if lines.len() > LINES_SHOWN {
            writeln!(w, "  | … {} more lines", lines.len() - LINES_SHOWN)?;
        }
    }
    if total > JOINED_SHOWN {
        writeln!(w, "… {} more joined", total - JOINED_SHOWN)?;
    }
    writeln!(w)
}

/// `check-config`'s lines about profiles: each profile and its globs, and, given a log group,
/// the profile it gets.
pub fn profiles_summary(cfg: &CheckedConfig, log_group: Option<&str>) -> String {
    let mut out = Vec::new();
    if cfg.profiles.is_empty() {
        out.push("profiles: none (every log group gets the top-level settings)".to_string());
    } else {
        out.push(format!(
            "profiles (first match wins): {}",
            cfg.profiles
                .iter()
                .map(|p| format!("{} [{}]", p.name, p.log_groups.join(", ")))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    if let Some(group) = log_group {
        let multiline = |c: &CheckedConfig| {
            if c.multiline.as_ref().is_some_and(|m| m.applies_to(group)) {
                "multiline on"
            } else {
                "multiline off"
            }
        };
        out.push(match cfg.profile_for(group) {
            Some(p) => format!(
                "log group {group}: profile {} ({})",
                p.name,
                multiline(&p.config)
            ),
            None => format!(
                "log group {group}: no profile, top-level settings ({})",
                multiline(cfg)
            ),
        });
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_the_profile_a_group_gets() {
        let cfg = CheckedConfig::from_toml(
            "[[profile]]\nname = \"api\"\nlog_groups = [\"/ecs/api\"]\n[profile.multiline]\ndetectors = [\"java\"]\n\n[[profile]]\nname = \"ecs\"\nlog_groups = [\"/ecs/*\"]\n",
        )
        .unwrap();
        for (group, line) in [
            ("/ecs/api", "log group /ecs/api: profile api (multiline on)"),
            (
                "/ecs/web",
                "log group /ecs/web: profile ecs (multiline off)",
            ),
            (
                "/aws/lambda/f",
                "log group /aws/lambda/f: no profile, top-level settings (multiline off)",
            ),
        ] {
            let s = profiles_summary(&cfg, Some(group));
            assert!(s.contains(line), "{s}");
            assert!(s.contains("api [/ecs/api]; ecs [/ecs/*]"), "{s}");
        }
    }
}
