//! `logsieve process --tags FILE`: the tags a dry run uses for `$tags.<key>`, since it looks
//! nothing up. The file is a JSON object of log group → `{tag key: value}`, the tags the
//! function would find on the log group's Lambda function and the log group.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use logsieve::driver::{decode, drive_decoded, Context, DriveError, Driven, EventSource};
use logsieve::pipeline::{Limits, Pipeline};
use logsieve::record::Tags;

/// Tags by log group.
pub type TagsByGroup = BTreeMap<String, Arc<Tags>>;

/// Reads a tags file; the error names the file and what is wrong in it.
pub fn load(path: &Path) -> Result<TagsByGroup, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// `{"<log group>": {"<key>": "<value>", …}, …}`; every value a string, as AWS tags are.
pub fn parse(text: &str) -> Result<TagsByGroup, String> {
    let map: BTreeMap<String, BTreeMap<String, serde_json::Value>> = serde_json::from_str(text)
        .map_err(|e| {
            format!("expected {{\"<log group>\": {{\"<tag key>\": \"<value>\"}}}}: {e}")
        })?;
    let mut out = TagsByGroup::new();
    for (group, tags) in map {
        let mut t = Tags::new();
        for (k, v) in tags {
            let serde_json::Value::String(v) = v else {
                return Err(format!("{group}: tag {k:?} is not a string"));
            };
            t.insert(k, v);
        }
        out.insert(group, Arc::new(t));
    }
    Ok(out)
}

/// Runs one input file through the pipeline with the tags (any event kind, no budget).
pub fn drive_file(
    bytes: &[u8],
    pipeline: &mut Pipeline,
    tags: Option<&TagsByGroup>,
) -> Result<Driven, DriveError> {
    let decoded = decode(EventSource::Any, bytes, pipeline)?;
    let context = Context { recent: None, tags };
    drive_decoded(
        EventSource::Any,
        decoded,
        pipeline,
        None,
        Limits::default(),
        context,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_groups_and_rejects_non_string_values() {
        let t = parse(r#"{"/aws/lambda/a": {"team": "payments", "cost center": "42"}}"#).unwrap();
        assert_eq!(t["/aws/lambda/a"]["team"], "payments");
        assert_eq!(t["/aws/lambda/a"]["cost center"], "42");
        let e = parse(r#"{"/g": {"n": 1}}"#).unwrap_err();
        assert!(e.contains("/g") && e.contains("\"n\""), "{e}");
        assert!(parse("[]").unwrap_err().contains("<log group>"));
    }
}
