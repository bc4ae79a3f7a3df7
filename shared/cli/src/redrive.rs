//! `logsieve redrive s3://bucket/prefix`: the spilled records sent again through the configured
//! sinks (the work is `logsieve_aws::records::redrive`; this is the command around it).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use logsieve_aws::records::{redrive, s3_client, RecordShipper};

use crate::{load_config, usage, Failure};

pub(crate) fn run(
    location: &str,
    config: Option<PathBuf>,
    object_timeout: u64,
) -> Result<ExitCode, Failure> {
    let (bucket, prefix) = parse_location(location)?;
    let config = load_config(config)?;
    if config.record_sinks.is_empty() {
        return Err(usage(
            "redrive: the configuration has no records sinks to send to ([[records.sinks]] or \
             the LOGSIEVE_*/OTEL_* variables the function has)",
        ));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| usage(format!("redrive: no async runtime: {e}")))?;
    let report = runtime.block_on(async {
        let shared = aws_config_load().await;
        let shipper = RecordShipper::new(config.record_sinks.clone(), &shared);
        let s3 = s3_client(&shared);
        redrive(
            &shipper,
            &s3,
            &bucket,
            &prefix,
            Duration::from_secs(object_timeout),
        )
        .await
    });
    let report = report.map_err(|e| Failure {
        code: 1,
        message: format!("redrive: {e}"),
    })?;
    for (url, why) in &report.left {
        eprintln!("logsieve: redrive: {url} kept: {why}");
    }
    println!(
        "redrive: {} objects, {} records sent, {} objects left",
        report.objects,
        report.records_sent,
        report.left.len()
    );
    Ok(if report.left.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn aws_config_load() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// `s3://bucket/prefix` → (bucket, prefix without a leading `/`).
fn parse_location(location: &str) -> Result<(String, String), Failure> {
    let rest = location.strip_prefix("s3://").ok_or_else(|| {
        usage(format!(
            "redrive: {location:?} is not an s3://bucket/prefix URL"
        ))
    })?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(usage(format!("redrive: {location:?} names no bucket")));
    }
    Ok((
        bucket.to_string(),
        prefix.trim_start_matches('/').to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        let ok = |l: &str| parse_location(l).ok();
        assert_eq!(
            ok("s3://b/spill/otlp"),
            Some(("b".into(), "spill/otlp".into()))
        );
        assert_eq!(ok("s3://b"), Some(("b".into(), String::new())));
        assert_eq!(ok("s3://b//x"), Some(("b".into(), "x".into())));
        assert!(ok("b/x").is_none());
        assert!(ok("s3:///x").is_none());
    }
}
