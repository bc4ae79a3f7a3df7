//! Field selection ("filter to only the needed fields"): keep / drop / rename, per-value and
//! per-record byte caps, and redaction, producing the JSON object written to `records`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Deserialize;
use serde_json::{Map, Number, Value};

use crate::config_error::ConfigError;
use crate::counter_keys as ck;
use crate::json::object::MemberValue;
use crate::record::{FieldPath, Fields, Format, PathSegment, Record};
use crate::records::{
    MemberSpan, OutputRecord, SpanKind, LEVEL_KEY, SAMPLE_RATE_KEY, SPAN_ID_KEY, TRACE_ID_KEY,
};
use crate::redact::{CustomDetector, RedactError, RedactMemo, Redactor, DEFAULT_SENSITIVE_KEYS};
use crate::stats::Counters;
use crate::trace::id::TraceRef;

/// The natural ceiling for `max_record_bytes`: the firehose-filter function returns selected
/// records as Firehose records.
pub use crate::records::ndjson::FIREHOSE_MAX_RECORD_BYTES;

/// Metadata keys every output record starts with; `rename` may not target them.
pub const METADATA_KEYS: &[&str] = &[
    "@timestamp",
    "@logGroup",
    "@logStream",
    "@id",
    "@format",
    TRACE_ID_KEY,
    SPAN_ID_KEY,
    LEVEL_KEY,
    SAMPLE_RATE_KEY,
    crate::multiline::JOINED_KEY,
];

/// `[fields]` in the config file. Paths in `keep`/`drop` name fields of the OUTPUT, i.e. after
/// `rename` (so `rename = { msg = "message" }` pairs with `keep = ["message"]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldsConfig {
    /// Field paths to keep (empty = keep all). A nested path like `http.status` keeps only that
    /// leaf, inside its parents (`{"http": {"status": 200}}`).
    #[serde(default)]
    pub keep: Vec<String>,
    /// Field paths to drop (applied after `keep`; drop wins).
    #[serde(default)]
    pub drop: Vec<String>,
    /// Field path in the record → new top-level key in the output (the value moves).
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
    /// New top-level output field → `$tags.<key>`: the field holds that tag of the resources
    /// behind the log group (`add = { team = "$tags.team" }`), redacted as any value. Output
    /// whether or not `keep` lists it (`drop` still removes it); absent when the resources lack
    /// the tag; it replaces a logged field of the same name only when the tag is there.
    #[serde(default)]
    pub add: BTreeMap<String, String>,
    /// Built-in detectors to apply (see `Redactor::BUILTIN`). Absent = `Redactor::DEFAULT`
    /// (every built-in except `ipv4`/`ipv6`); `[]` = no built-in detectors.
    #[serde(default = "default_redact")]
    pub redact: Vec<String>,
    /// Extra detectors: `{ name = "…", pattern = "…" }`; a `(?P<secret>…)` group limits the
    /// replacement to that group.
    #[serde(default)]
    pub custom_redact: Vec<CustomDetector>,
    /// Key names whose values are replaced whole (case-insensitive, `_`/`-`/`.` ignored, also as
    /// a suffix: `db_password`). Absent = `DEFAULT_SENSITIVE_KEYS`; `[]` disables.
    #[serde(default = "default_sensitive_keys")]
    pub sensitive_keys: Vec<String>,
    /// Key names added to `sensitive_keys` (to the defaults when that is absent), so a
    /// deployment adds its own names without restating the built-in list.
    #[serde(default)]
    pub extra_sensitive_keys: Vec<String>,
    /// Longest string value kept, in bytes (cut at a UTF-8 boundary, then `…[truncated N bytes]`
    /// appended). Absent = no cap.
    #[serde(default)]
    pub max_value_bytes: Option<usize>,
    /// Largest serialized output record, in bytes; the largest fields are dropped first until it
    /// fits. Metadata is never dropped. Absent = no cap; at most `FIREHOSE_MAX_RECORD_BYTES`.
    #[serde(default)]
    pub max_record_bytes: Option<usize>,
}

fn default_redact() -> Vec<String> {
    Redactor::DEFAULT.iter().map(|s| s.to_string()).collect()
}

fn default_sensitive_keys() -> Vec<String> {
    DEFAULT_SENSITIVE_KEYS
        .iter()
        .map(|s| s.to_string())
        .collect()
}

impl Default for FieldsConfig {
    fn default() -> FieldsConfig {
        FieldsConfig {
            keep: Vec::new(),
            drop: Vec::new(),
            rename: BTreeMap::new(),
            add: BTreeMap::new(),
            redact: default_redact(),
            custom_redact: Vec::new(),
            sensitive_keys: default_sensitive_keys(),
            extra_sensitive_keys: Vec::new(),
            max_value_bytes: None,
            max_record_bytes: None,
        }
    }
}

fn parse_paths(key: &str, paths: &[String]) -> Result<Vec<FieldPath>, ConfigError> {
    paths
        .iter()
        .enumerate()
        .map(|(i, p)| parse_field_path(&format!("fields.{key}[{i}]"), p))
        .collect()
}

/// A path that can address a field: fields are an object, so it must start with a key.
fn parse_field_path(key: &str, p: &str) -> Result<FieldPath, ConfigError> {
    // `$tags.team` would parse as the logged field `tags.team` and silently select nothing.
    if let Some(tag) = crate::record::tag_key(p) {
        return Err(ConfigError::new(
            key,
            format!(
                "{p:?} is a tag, not a field of the record: output it with `add = {{ <name> = \"{}{tag}\" }}`",
                crate::record::TAG_PREFIX
            ),
        ));
    }
    let path = FieldPath::parse(p).map_err(|e| ConfigError::new(key, e.to_string()))?;
    if path.first_key().is_none() {
        return Err(ConfigError::new(
            key,
            format!("path {p:?} must start with a field name, not an index"),
        ));
    }
    Ok(path)
}

impl FieldsConfig {
    pub fn validate(&self) -> Result<Selector, ConfigError> {
        let keep = parse_paths("keep", &self.keep)?;
        let drop = parse_paths("drop", &self.drop)?;
        let mut rename = Vec::new();
        let mut targets: BTreeMap<&str, &str> = BTreeMap::new();
        for (old, new) in &self.rename {
            let key = format!("fields.rename.{old}");
            let path = parse_field_path(&key, old)?;
            if new.is_empty() || METADATA_KEYS.contains(&new.as_str()) {
                return Err(ConfigError::new(
                    key,
                    format!(
                        "new name {new:?} must be non-empty and not one of {}",
                        METADATA_KEYS.join(", ")
                    ),
                ));
            }
            if let Some(prev) = targets.insert(new, old) {
                return Err(ConfigError::new(
                    key,
                    format!("{prev:?} is already renamed to {new:?}"),
                ));
            }
            rename.push((path, new.clone()));
        }
        let mut add = Vec::new();
        for (name, reference) in &self.add {
            let key = format!("fields.add.{name}");
            if name.is_empty() || METADATA_KEYS.contains(&name.as_str()) {
                return Err(ConfigError::new(
                    key,
                    format!(
                        "the name must be non-empty and not one of {}",
                        METADATA_KEYS.join(", ")
                    ),
                ));
            }
            if let Some(old) = targets.get(name.as_str()) {
                return Err(ConfigError::new(
                    key,
                    format!("{name:?} is also the target of rename {old:?}"),
                ));
            }
            let Some(tag) = crate::record::tag_key(reference) else {
                return Err(ConfigError::new(
                    key,
                    format!(
                        "{reference:?} is not a tag reference: `add` takes `{}<key>`",
                        crate::record::TAG_PREFIX
                    ),
                ));
            };
            add.push(AddedTag {
                name: name.clone(),
                tag: tag.to_string(),
                sensitive: false,
            });
        }
        let keys: Vec<String> = self
            .sensitive_keys
            .iter()
            .chain(&self.extra_sensitive_keys)
            .cloned()
            .collect();
        let redactor = Redactor::new(&self.redact, &self.custom_redact, &keys).map_err(|e| {
            let key = match &e {
                RedactError::UnknownDetector { name } => {
                    let i = self.redact.iter().position(|n| n == name).unwrap_or(0);
                    format!("fields.redact[{i}]")
                }
                RedactError::BadCustomName { name } => {
                    let i = self
                        .custom_redact
                        .iter()
                        .position(|c| &c.name == name)
                        .unwrap_or(0);
                    format!("fields.custom_redact[{i}].name")
                }
                RedactError::BadCustomPattern { name, .. } | RedactError::EmptyMatch { name } => {
                    let i = self
                        .custom_redact
                        .iter()
                        .position(|c| &c.name == name)
                        .unwrap_or(0);
                    format!("fields.custom_redact[{i}].pattern")
                }
                RedactError::BadSensitiveKey { key } => {
                    match self.extra_sensitive_keys.iter().position(|k| k == key) {
                        Some(i) if !self.sensitive_keys.contains(key) => {
                            format!("fields.extra_sensitive_keys[{i}]")
                        }
                        _ => "fields.sensitive_keys".to_string(),
                    }
                }
                RedactError::SensitiveKeyPattern { .. } => "fields.sensitive_keys".to_string(),
            };
            ConfigError::new(key, e.to_string())
        })?;
        // A tag under a sensitive key name is replaced whole, as a metric dimension reading it is.
        for a in &mut add {
            a.sensitive = crate::exits::name_is_sensitive(&a.tag, &redactor);
        }
        if self.max_value_bytes == Some(0) {
            return Err(ConfigError::new(
                "fields.max_value_bytes",
                "must be at least 1",
            ));
        }
        if let Some(n) = self.max_record_bytes {
            if n == 0 || n > FIREHOSE_MAX_RECORD_BYTES {
                return Err(ConfigError::new(
                    "fields.max_record_bytes",
                    format!("must be between 1 and {FIREHOSE_MAX_RECORD_BYTES} (the Firehose record limit)"),
                ));
            }
        }
        Ok(Selector {
            id: next_selector_id(),
            redactor,
            keep,
            drop,
            rename,
            add,
            max_value_bytes: self.max_value_bytes,
            max_record_bytes: self.max_record_bytes,
        })
    }
}

/// One `add` entry of `[fields]`: output field `name` holds tag `tag`.
#[derive(Debug, Clone)]
struct AddedTag {
    name: String,
    tag: String,
    /// `tag` is a sensitive key name: its value is replaced whole.
    sensitive: bool,
}

/// The checked `[fields]` config.
#[derive(Debug, Clone)]
pub struct Selector {
    /// Tells apart the selectors whose key plans a `SelectMemo` may hold.
    id: u64,
    pub redactor: Redactor,
    keep: Vec<FieldPath>,
    drop: Vec<FieldPath>,
    rename: Vec<(FieldPath, String)>,
    add: Vec<AddedTag>,
    max_value_bytes: Option<usize>,
    max_record_bytes: Option<usize>,
}

impl Default for Selector {
    /// The selector of an absent `[fields]` section: keep everything, default redaction.
    fn default() -> Selector {
        Selector {
            id: next_selector_id(),
            redactor: Redactor::default(),
            keep: Vec::new(),
            drop: Vec::new(),
            rename: Vec::new(),
            add: Vec::new(),
            max_value_bytes: None,
            max_record_bytes: None,
        }
    }
}

impl Selector {
    /// Redacts secrets in the record's message, fields and extracted fields in place. Returns how
    /// many secrets were replaced (a secret present in both the raw message and a parsed field
    /// counts twice). The pipeline does not use it: it redacts what leaves, at the metric and
    /// trace exits and as records are selected ([`Selector::select_linked`]).
    pub fn redact_record(&self, record: &mut Record) -> usize {
        if self.redactor.is_empty() {
            return 0;
        }
        let mut n = self.redactor.redact_map(record.fields_mut());
        match record.format {
            // The fields are the whole message: scanning the raw text again would double the
            // cost of the hottest stage. When they held a secret, the message is rebuilt from
            // the redacted fields, which also covers secrets the text hid behind JSON escapes.
            Format::Json
            | Format::LambdaJsonApp
            | Format::LambdaJsonPlatform
            | Format::CloudTrail => {
                if n > 0 {
                    if let Ok(text) = serde_json::to_string(record.fields_mut()) {
                        record.message = text;
                    }
                }
            }
            _ => {
                let (new, m) = self.redactor.redact_counted(&record.message);
                if let std::borrow::Cow::Owned(s) = new {
                    record.message = s;
                }
                n += m;
            }
        }
        if let Some(ex) = record.extracted_fields.as_mut() {
            for (k, v) in ex.iter_mut() {
                if self.redactor.is_sensitive_value(k, v) {
                    *v = format!(
                        "{}{}]",
                        crate::redact::MARKER_PREFIX,
                        crate::redact::SENSITIVE_KEY_LABEL
                    );
                    n += 1;
                } else {
                    let (new, c) = self.redactor.redact_counted(v);
                    if let std::borrow::Cow::Owned(s) = new {
                        *v = s;
                    }
                    n += c;
                }
            }
        }
        n
    }

    /// The output object for one record: metadata (`@timestamp`, `@logGroup`, `@logStream`,
    /// `@id`, `@format`) then the selected fields.
    pub fn select(&self, record: &Record) -> Map<String, Value> {
        self.select_with_counters(record, &mut Counters::new())
    }

    /// [`Selector::select`], counting truncations and cap drops under `select.*`.
    ///
    /// Order of operations: rename → keep → drop → `max_value_bytes` → `max_record_bytes`.
    /// A text record without a `message` field exposes its raw message as `message`, so plain
    /// text logs are not selected down to metadata only.
    pub fn select_with_counters(
        &self,
        record: &Record,
        counters: &mut Counters,
    ) -> Map<String, Value> {
        self.select_linked(
            record,
            RecordExtras::default(),
            &mut RedactMemo::new(),
            counters,
        )
    }

    /// [`Selector::select_with_counters`] with what the pipeline adds ([`RecordExtras`]: the
    /// trace's `@traceId` (X-Ray form) and `@spanId`, `@sampleRate`, the log group and stream with
    /// their secrets replaced) and `@level` when the record has one, all inside
    /// `max_record_bytes`: the cap is measured on the record as it leaves, extras included.
    ///
    /// Redaction happens here, on the selected values only (each judged by the key it had in
    /// the record, so a renamed `password` is still replaced whole): a field left out of the
    /// output costs nothing, and the record itself stays as logged for the other stages, which
    /// redact what they send at their own exits. `memo` answers keys and short values seen
    /// before.
    pub fn select_linked(
        &self,
        record: &Record,
        extras: RecordExtras<'_>,
        memo: &mut RedactMemo,
        counters: &mut Counters,
    ) -> Map<String, Value> {
        // Selection reads every field: a lazily indexed record is parsed in full first.
        let parsed;
        let record_fields = match record.fields_view() {
            Fields::Map(m) => m,
            Fields::Lazy { object, text } => {
                parsed = object.to_map(text);
                &parsed
            }
        };
        // Members are gathered in a Vec and the map built once from it: a sorted bulk build
        // costs a fraction of inserting each member into the B-tree (callgrind: ~400
        // instructions per insert).
        let mut out: Vec<(String, Value)> = Vec::with_capacity(METADATA_KEYS.len() + 16);
        out.push(("@timestamp".into(), record.timestamp.into()));
        let (group, stream) = extras.names.unwrap_or((
            record.source.log_group.as_str(),
            record.source.log_stream.as_str(),
        ));
        out.push(("@logGroup".into(), group.into()));
        out.push(("@logStream".into(), stream.into()));
        out.push(("@id".into(), record.event_id.clone().into()));
        out.push(("@format".into(), record.format.as_str().into()));
        if let Some(rate) = extras.sample_rate {
            out.push((SAMPLE_RATE_KEY.into(), rate.into()));
        }
        if let Some(n) = extras.joined {
            out.push((crate::multiline::JOINED_KEY.into(), n.into()));
        }
        if let Some(t) = extras.trace {
            out.push((TRACE_ID_KEY.into(), t.trace_id.as_str().into()));
            if let Some(span) = &t.parent_id {
                out.push((SPAN_ID_KEY.into(), span.as_str().into()));
            }
        }
        if let Some(level) = record.level() {
            out.push((LEVEL_KEY.into(), level.as_str().into()));
        }

        let mut fields = Map::new();
        let mut redacted = 0;
        let virtual_message = (record.format == Format::Text
            && !record_fields.contains_key("message"))
        .then(|| ("message".to_string(), Value::String(record.message.clone())));
        let source = record_fields
            .iter()
            .chain(virtual_message.as_ref().map(|(k, v)| (k, v)));
        for (k, v) in source {
            let renamed = self
                .rename
                .iter()
                .find(|(p, _)| p.segments().len() == 1 && p.first_key() == Some(k));
            let name = renamed.map_or(k.as_str(), |(_, new)| new.as_str());
            // Dropped, not kept and metadata-named fields are left out before any redaction
            // work, as the writer of `select_output` leaves them out.
            if self.drops_whole(name) || !self.keeps_any(name) {
                continue;
            }
            if METADATA_KEYS.contains(&name) {
                counters.incr(ck::select::METADATA_COLLISIONS);
                continue;
            }
            // A field named like a rename target (or an added tag) is replaced by that value.
            if self.added_shadows(name, record) {
                counters.incr(ck::select::RENAME_COLLISIONS);
                continue;
            }
            let shadowed = renamed.is_none()
                && self
                    .rename
                    .iter()
                    .any(|(p, new)| new == k && p.lookup(record_fields).is_some());
            if shadowed {
                counters.incr(ck::select::RENAME_COLLISIONS);
                continue;
            }
            redacted += self.emit(&mut fields, name, &[k.as_str()], v, memo);
        }
        for (path, new) in self.rename.iter().filter(|(p, _)| p.segments().len() > 1) {
            if let Some(v) = path.lookup(record_fields) {
                // The value moves: remove it from its old place if that place was emitted.
                path.remove(&mut fields);
                let keys: Vec<&str> = path
                    .segments()
                    .iter()
                    .filter_map(|s| match s {
                        PathSegment::Key(k) => Some(k.as_str()),
                        PathSegment::Index(_) => None,
                    })
                    .collect();
                redacted += self.emit(&mut fields, new, &keys, v, memo);
            }
        }
        for a in &self.add {
            if self.drops_whole(&a.name) {
                continue;
            }
            if let Some((value, n)) = self.added_value(a, record, memo) {
                redacted += n;
                fields.insert(a.name.clone(), Value::String(value.into_owned()));
            }
        }
        redacted += self.redactor.redact_keys_memo(&mut fields, memo);
        counters.add(ck::select::REDACTED, redacted as u64);
        for d in &self.drop {
            d.remove(&mut fields);
        }
        if let Some(cap) = self.max_value_bytes {
            let n = truncate_strings(&mut fields, cap);
            counters.add(ck::select::TRUNCATED_VALUES, n as u64);
        }
        for (k, v) in fields {
            if METADATA_KEYS.contains(&k.as_str()) {
                // A logged `@timestamp` must not replace the event's own metadata.
                counters.incr(ck::select::METADATA_COLLISIONS);
                continue;
            }
            out.push((k, v));
        }
        // Keys are unique: metadata names are skipped among the fields above.
        let mut out: Map<String, Value> = out.into_iter().collect();
        if let Some(cap) = self.max_record_bytes {
            enforce_record_cap(&mut out, cap, counters);
        }
        out
    }

    /// [`Selector::select_linked`] with what the pipeline adds (`@sampleRate`, the log group
    /// and stream with their secrets replaced), written as the output record's JSON text.
    ///
    /// Most records are written straight from the message they were parsed from: plain strings
    /// and small integers are copied once redaction has passed them, other values go through
    /// `Value` one member at a time, and no map is built. What to do with each key (its output
    /// name, keep, drop, sensitivity) is decided once per key name and remembered in `memo`. A
    /// record the writer cannot finish the same way (a key holding a secret, two fields renamed
    /// to one, a nested rename, a record over `max_record_bytes`) is selected through
    /// `select_linked` instead; the two give the same record, which the equivalence tests check.
    pub fn select_output(
        &self,
        record: &Record,
        extras: RecordExtras<'_>,
        memo: &mut SelectMemo,
        counters: &mut Counters,
    ) -> OutputRecord {
        if self.rename.iter().all(|(p, _)| p.segments().len() == 1) {
            memo.own(self.id);
            let mut counts = WriterCounts::default();
            if let Some((json, members)) = self.write_record(record, &extras, memo, &mut counts) {
                if self.max_record_bytes.is_none_or(|cap| json.len() <= cap) {
                    counts.commit(counters, self.max_value_bytes.is_some());
                    return OutputRecord::from_parts(
                        json,
                        record.timestamp,
                        &record.event_id,
                        members,
                    );
                }
            }
        }
        self.select_output_slow(record, extras, &mut memo.redact, counters)
    }

    /// `select_output` through `select_linked`'s map (also what the equivalence tests compare
    /// the writer with).
    pub fn select_output_slow(
        &self,
        record: &Record,
        extras: RecordExtras<'_>,
        memo: &mut RedactMemo,
        counters: &mut Counters,
    ) -> OutputRecord {
        OutputRecord::from_map(&self.select_linked(record, extras, memo, counters))
    }

    /// Whether `add` reads any tag (the edge then looks tags up).
    pub fn uses_tags(&self) -> bool {
        !self.add.is_empty()
    }

    /// Whether an `add` entry outputs field `name` for this record (its tag is there), so the
    /// logged field of that name is replaced.
    fn added_shadows(&self, name: &str, record: &Record) -> bool {
        self.add
            .iter()
            .any(|a| a.name == name && record.tag(&a.tag).is_some())
    }

    /// The value of `add` entry `a` for this record, redacted, with the secrets replaced;
    /// `None` when the record's resources lack the tag (the field is then absent).
    fn added_value<'r>(
        &self,
        a: &AddedTag,
        record: &'r Record,
        memo: &mut RedactMemo,
    ) -> Option<(Cow<'r, str>, usize)> {
        let value = record.tag(&a.tag)?;
        if a.sensitive {
            return Some((Cow::Borrowed(crate::exits::SENSITIVE_MARKER), 1));
        }
        Some(memo.redact_counted(&self.redactor, value))
    }

    /// Whether a `drop` path removes the whole output field `name`.
    fn drops_whole(&self, name: &str) -> bool {
        self.drop
            .iter()
            .any(|d| d.segments().len() == 1 && d.first_key() == Some(name))
    }

    /// Whether any `keep` path starts at output field `name` (every field when `keep` is empty).
    fn keeps_any(&self, name: &str) -> bool {
        self.keep.is_empty() || self.keep.iter().any(|p| p.first_key() == Some(name))
    }

    /// Whether `keep` takes output field `name` whole.
    fn keeps_whole(&self, name: &str) -> bool {
        self.keep.is_empty()
            || self
                .keep
                .iter()
                .any(|p| p.first_key() == Some(name) && p.segments().len() == 1)
    }

    /// What `select_output` does with the record's field `key`, decided from the config alone.
    fn plan_key(&self, key: &str, memo: &mut RedactMemo) -> KeyPlan {
        let rename = self
            .rename
            .iter()
            .position(|(p, _)| p.first_key() == Some(key));
        let name = rename
            .and_then(|i| self.rename.get(i))
            .map_or(key, |(_, new)| new.as_str());
        if self.drops_whole(name) || !self.keeps_any(name) {
            return KeyPlan::Skip;
        }
        if METADATA_KEYS.contains(&name) {
            return KeyPlan::Collision;
        }
        if self.redactor.key_holds_secret(name, memo) {
            return KeyPlan::Fallback;
        }
        let target = match self.rename.iter().position(|(_, new)| new == name) {
            // One bit per rename target in the writer; past 64 renames, the map.
            Some(j) if j < 64 => Some(j as u8),
            Some(_) => return KeyPlan::Fallback,
            None => None,
        };
        KeyPlan::Write(WritePlan {
            rename,
            target,
            added: self.add.iter().any(|a| a.name == name),
            whole: self.keeps_whole(name),
            nested_drop: self
                .drop
                .iter()
                .any(|d| d.segments().len() > 1 && d.first_key() == Some(name)),
            sensitivity: self.redactor.key_sensitivity(key, memo),
        })
    }

    /// The output record's JSON text and where its members are, written member by member (see
    /// `select_output`); `None` when the record needs the map-based selection.
    fn write_record(
        &self,
        record: &Record,
        extras: &RecordExtras<'_>,
        memo: &mut SelectMemo,
        counts: &mut WriterCounts,
    ) -> Option<(String, Option<Vec<MemberSpan>>)> {
        let (group, stream) = extras
            .names
            .unwrap_or((&record.source.log_group, &record.source.log_stream));
        // The message, the metadata and their names: one allocation for most records.
        let mut w = RecordWriter::new(
            record.message.len() + group.len() + stream.len() + record.event_id.len() + 256,
        );
        let mut int = itoa::Buffer::new();
        let k = w.name_plain("@timestamp");
        w.raw(k, int.format(record.timestamp), SpanKind::Int);
        // The names and `"@id":` as the stream's records before this one had them.
        let k = w.head(memo.head(group, stream));
        w.str(k, &record.event_id);
        // Format and level names, and ids (hex and dashes by their types), need no escape.
        w.plain_member("@format", record.format.as_str());
        if let Some(t) = extras.trace {
            w.plain_member(TRACE_ID_KEY, t.trace_id.as_str());
            if let Some(span) = &t.parent_id {
                w.plain_member(SPAN_ID_KEY, span.as_str());
            }
        }
        if let Some(level) = record.level() {
            w.plain_member(LEVEL_KEY, level.as_str());
        }
        if let Some(rate) = extras.sample_rate {
            let k = w.name_plain(SAMPLE_RATE_KEY);
            w.raw(k, int.format(rate), SpanKind::Int);
        }
        if let Some(n) = extras.joined {
            let k = w.name_plain(crate::multiline::JOINED_KEY);
            w.raw(k, int.format(n), SpanKind::Int);
        }

        let fields = record.fields_view();
        // Rename targets already written, to notice two fields renamed to one (only renames
        // can make one: the parsers give unique keys).
        let mut written: u64 = 0;
        // `plain`: the key needs no escape (the lazy index takes only such keys).
        // `at`: the key's and the value's spans in the object text, for a lazily indexed
        // member (which may then be copied as it is: `RecordWriter::copy`).
        let mut member = |key: &str,
                          plain: bool,
                          value: Field<'_>,
                          at: Option<((usize, usize), (usize, usize))>,
                          w: &mut RecordWriter| {
            let plan = match memo.keys.get(key) {
                Some(plan) => *plan,
                None => {
                    let plan = self.plan_key(key, &mut memo.redact);
                    memo.remember(key, plan);
                    plan
                }
            };
            let plan = match plan {
                KeyPlan::Skip => return Some(()),
                KeyPlan::Collision => {
                    counts.metadata_collisions += 1;
                    return Some(());
                }
                KeyPlan::Fallback => return None,
                KeyPlan::Write(plan) => plan,
            };
            if let Some((key_at, value_at)) = at {
                if let Some(kind) = value.kind() {
                    if let Some(text) = compact_member(key_at, value_at, kind) {
                        if self.copies_as_is(&value, &plan, &mut memo.redact, counts) {
                            w.copy(text, key_at, value_at, kind);
                            return Some(());
                        }
                    }
                }
            }
            let name = plan
                .rename
                .and_then(|i| self.rename.get(i))
                .map_or(key, |(_, new)| new.as_str());
            // A field named like an added tag (or a rename target) is replaced by that value.
            if plan.added && self.added_shadows(name, record) {
                counts.rename_collisions += 1;
                return Some(());
            }
            if plan.target.is_some() && plan.rename.is_none() {
                let shadowed = self.rename.iter().any(|(p, new)| {
                    new == key && p.first_key().is_some_and(|k| fields.contains_key(k))
                });
                if shadowed {
                    counts.rename_collisions += 1;
                    return Some(());
                }
            }
            if let Some(j) = plan.target {
                let bit = 1u64 << j;
                if written & bit != 0 {
                    return None;
                }
                written |= bit;
            }
            w.plain_name = plain && plan.rename.is_none();
            self.write_member(w, key, name, value, &plan, &mut memo.redact, counts)
        };
        match record.fields_view() {
            Fields::Lazy { object, text } => {
                w.source = text;
                for (key, value, key_at, value_at) in object.members_at(text) {
                    let field = match value {
                        MemberValue::Plain(text) => Field::Str { text, plain: true },
                        MemberValue::Int(digits) => Field::Int(digits),
                        MemberValue::Decimal(text) => Field::Decimal(text),
                        MemberValue::Value(v) => Field::of(v),
                    };
                    member(key, true, field, Some((key_at, value_at)), &mut w)?;
                }
            }
            Fields::Map(fields) => {
                for (key, v) in fields {
                    member(key, false, Field::of(v), None, &mut w)?;
                }
                // A text record without a `message` field exposes its raw message as one.
                if record.format == Format::Text && !fields.contains_key("message") {
                    let text = &record.message;
                    let message = Field::Str { text, plain: false };
                    member("message", true, message, None, &mut w)?;
                }
            }
        }
        for a in &self.add {
            if self.drops_whole(&a.name) {
                continue;
            }
            let Some((value, n)) = self.added_value(a, record, &mut memo.redact) else {
                continue;
            };
            // A name holding a secret is rewritten by the map path's key redaction.
            if self.redactor.key_holds_secret(&a.name, &mut memo.redact) {
                return None;
            }
            counts.redacted += n;
            let k = w.name(&a.name);
            match self.max_value_bytes {
                Some(cap) if value.len() > cap => {
                    let mut s = value.into_owned();
                    truncate_string(&mut s, cap);
                    counts.truncated += 1;
                    w.str(k, &s);
                }
                _ => w.str(k, &value),
            }
        }
        w.finish()
    }

    /// Whether field `value`, written as `plan` says, comes out exactly as its text in the
    /// message: kept whole under its own name, and a plain string that redaction leaves alone
    /// and the value cap does not cut, or a number redaction cannot change (see
    /// `write_member`, whose output this matches). When so, a string's redaction count is
    /// added to `counts` (and only then).
    fn copies_as_is(
        &self,
        value: &Field<'_>,
        plan: &WritePlan,
        memo: &mut RedactMemo,
        counts: &mut WriterCounts,
    ) -> bool {
        if !plan.whole || plan.rename.is_some() || plan.target.is_some() || plan.added {
            return false;
        }
        match *value {
            Field::Str { text, plain: true } => {
                if self.max_value_bytes.is_some_and(|cap| text.len() > cap) {
                    return false;
                }
                let (redacted, n) = self.redactor.redact_str_under(plan.sensitivity, text, memo);
                let unchanged = matches!(redacted, Cow::Borrowed(_));
                if unchanged {
                    counts.redacted += n;
                }
                unchanged
            }
            Field::Int(digits) => digits.len() < MIN_CARD_DIGITS && plan.sensitivity.is_none(),
            Field::Decimal(_) => plan.sensitivity.is_none(),
            Field::Str { plain: false, .. } | Field::Value(_) => false,
        }
    }

    /// Writes the record's field `key` as output field `name`, following `plan`.
    #[allow(clippy::too_many_arguments)]
    fn write_member(
        &self,
        w: &mut RecordWriter,
        key: &str,
        name: &str,
        value: Field<'_>,
        plan: &WritePlan,
        memo: &mut RedactMemo,
        counts: &mut WriterCounts,
    ) -> Option<()> {
        match value {
            // Keep paths inside a scalar find nothing to keep.
            Field::Str { .. } | Field::Int(_) | Field::Decimal(_) if !plan.whole => Some(()),
            Field::Str { text, plain } => {
                let (redacted, n) = self.redactor.redact_str_under(plan.sensitivity, text, memo);
                counts.redacted += n;
                let k = w.name(name);
                match self.max_value_bytes {
                    Some(cap) if redacted.len() > cap => {
                        let mut s = redacted.into_owned();
                        truncate_string(&mut s, cap);
                        counts.truncated += 1;
                        w.str(k, &s);
                    }
                    _ if plain && matches!(redacted, Cow::Borrowed(_)) => w.plain(k, text),
                    _ => w.str(k, &redacted),
                }
                Some(())
            }
            // Integers too short for a card number, under a key that is not sensitive, are
            // what redaction leaves alone.
            Field::Int(digits) if digits.len() < MIN_CARD_DIGITS && plan.sensitivity.is_none() => {
                let k = w.name(name);
                w.raw(k, digits, SpanKind::Int);
                Some(())
            }
            Field::Int(digits) => {
                let v = Value::from(digits.parse::<u64>().ok()?);
                self.write_value(w, key, name, &v, plan, memo, counts)
            }
            // A decimal is never a card number: only a sensitive key changes it.
            Field::Decimal(text) if plan.sensitivity.is_none() => {
                let k = w.name(name);
                w.raw(k, text, SpanKind::Decimal);
                Some(())
            }
            Field::Decimal(text) => {
                let n = crate::json::object::canonical_decimal(text).and_then(Number::from_f64)?;
                self.write_value(w, key, name, &Value::Number(n), plan, memo, counts)
            }
            // Numbers, booleans and nulls redaction leaves alone are written as they are,
            // without the copy and walk `write_value` makes (a latency on every line).
            Field::Value(v @ (Value::Number(_) | Value::Bool(_) | Value::Null))
                if plan.whole
                    && plan.sensitivity.is_none()
                    && self.redactor.leaves_scalar_alone(v) =>
            {
                let k = w.name(name);
                w.scalar(k, v);
                Some(())
            }
            Field::Value(Value::Object(m))
                if plan.whole
                    && !plan.nested_drop
                    && self.leaves_flat_object_shape(m, plan.sensitivity, memo) =>
            {
                self.write_flat_object(w, name, m, plan.sensitivity, memo, counts);
                Some(())
            }
            Field::Value(v) => self.write_value(w, key, name, v, plan, memo, counts),
        }
    }

    /// Whether the nested object `m` (under a key of sensitivity `how`) holds only scalars
    /// the walk would at most redact as strings: no array or object inside, no key the walk
    /// would rewrite, no number it would replace. Such an object (`"user":{"id":3,"email":…}`,
    /// `"error":{"type":…,"detail":…}`) is then written without the copy and walk.
    fn leaves_flat_object_shape(
        &self,
        m: &Map<String, Value>,
        how: Option<crate::redact::Sensitivity>,
        memo: &mut RedactMemo,
    ) -> bool {
        m.iter().all(|(k, x)| {
            let scalar = match x {
                Value::String(_) | Value::Bool(_) | Value::Null => true,
                Value::Number(_) => {
                    how.is_none()
                        && self.redactor.key_sensitivity(k, memo).is_none()
                        && self.redactor.leaves_scalar_alone(x)
                }
                Value::Array(_) | Value::Object(_) => false,
            };
            scalar && !self.redactor.key_holds_secret(k, memo)
        })
    }

    /// Writes a nested object that passed `leaves_flat_object_shape`, each string redacted as
    /// the walk redacts it (under its own key's sensitivity when the object's is `None`), then
    /// cut to `max_value_bytes` as `truncate_value` cuts it.
    fn write_flat_object(
        &self,
        w: &mut RecordWriter,
        name: &str,
        m: &Map<String, Value>,
        how: Option<crate::redact::Sensitivity>,
        memo: &mut RedactMemo,
        counts: &mut WriterCounts,
    ) {
        let k = w.name(name);
        let start = w.out.len();
        w.out.push('{');
        for (i, (key, x)) in m.iter().enumerate() {
            if i > 0 {
                w.out.push(',');
            }
            crate::json::push_str(&mut w.out, key);
            w.out.push(':');
            match x {
                Value::String(s) => {
                    let under = how.or_else(|| self.redactor.key_sensitivity(key, memo));
                    let (redacted, n) = self.redactor.redact_str_under(under, s, memo);
                    counts.redacted += n;
                    match self.max_value_bytes {
                        Some(cap) if redacted.len() > cap => {
                            let mut cut = redacted.into_owned();
                            truncate_string(&mut cut, cap);
                            counts.truncated += 1;
                            crate::json::push_str(&mut w.out, &cut);
                        }
                        _ => crate::json::push_str(&mut w.out, &redacted),
                    }
                }
                // Writing to a `String` cannot fail; a `Number` displays as it serializes.
                Value::Number(n) => {
                    let _ = write!(w.out, "{n}");
                }
                Value::Bool(true) => w.out.push_str("true"),
                Value::Bool(false) => w.out.push_str("false"),
                _ => w.out.push_str("null"),
            }
        }
        w.out.push('}');
        let end = w.out.len();
        w.span(k, start, end, SpanKind::Json);
    }

    /// `write_member` for any value: the steps of `select_linked` on this one field.
    #[allow(clippy::too_many_arguments)]
    fn write_value(
        &self,
        w: &mut RecordWriter,
        key: &str,
        name: &str,
        v: &Value,
        plan: &WritePlan,
        memo: &mut RedactMemo,
        counts: &mut WriterCounts,
    ) -> Option<()> {
        let mut value = if plan.whole {
            v.clone()
        } else {
            match self.pruned(name, v) {
                Some(p) => p,
                None => return Some(()),
            }
        };
        counts.redacted += self.redactor.redact_path_memo(&[key], &mut value, memo);
        if plan.nested_drop {
            let mut one = Map::new();
            one.insert(name.to_string(), value);
            for d in &self.drop {
                d.remove(&mut one);
            }
            value = one.remove(name)?;
        }
        if let Some(cap) = self.max_value_bytes {
            counts.truncated += truncate_value(&mut value, cap);
        }
        let k = w.name(name);
        w.value(k, &value)
    }

    /// Inserts `v` under output name `name`, pruned to the `keep` paths that start with it and
    /// redacted as a value found under `keys` (its path in the record). Returns the secrets
    /// replaced.
    fn emit(
        &self,
        fields: &mut Map<String, Value>,
        name: &str,
        keys: &[&str],
        v: &Value,
        memo: &mut RedactMemo,
    ) -> usize {
        // Whole-field keeps (the common case) need no allocation beyond the clone.
        let whole = self.keep.is_empty()
            || self
                .keep
                .iter()
                .any(|p| p.first_key() == Some(name) && p.segments().len() == 1);
        let mut value = if whole {
            v.clone()
        } else {
            match self.pruned(name, v) {
                Some(p) => p,
                None => return 0,
            }
        };
        let n = self.redactor.redact_path_memo(keys, &mut value, memo);
        fields.insert(name.to_string(), value);
        n
    }

    /// `v` pruned to the `keep` paths under output name `name` (`None`: nothing kept).
    fn pruned(&self, name: &str, v: &Value) -> Option<Value> {
        let rests: Vec<&[PathSegment]> = self
            .keep
            .iter()
            .filter(|p| p.first_key() == Some(name))
            .map(|p| p.segments().get(1..).unwrap_or(&[]))
            .collect();
        if rests.is_empty() {
            return None;
        }
        prune(v, &rests)
    }
}

/// The parts of `v` reached by `paths` (relative), keeping structure. Recursion depth is bounded
/// by the longest configured path, not by the input.
fn prune(v: &Value, paths: &[&[PathSegment]]) -> Option<Value> {
    if paths.iter().any(|p| p.is_empty()) {
        return Some(v.clone());
    }
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, child) in m {
                let rests: Vec<&[PathSegment]> = paths
                    .iter()
                    .filter_map(|p| match p.split_first() {
                        Some((PathSegment::Key(pk), rest)) if pk == k => Some(rest),
                        _ => None,
                    })
                    .collect();
                if !rests.is_empty() {
                    if let Some(x) = prune(child, &rests) {
                        out.insert(k.clone(), x);
                    }
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        Value::Array(a) => {
            let mut out = Vec::new();
            for (i, child) in a.iter().enumerate() {
                let rests: Vec<&[PathSegment]> = paths
                    .iter()
                    .filter_map(|p| match p.split_first() {
                        Some((PathSegment::Index(n), rest)) if *n == i => Some(rest),
                        _ => None,
                    })
                    .collect();
                if !rests.is_empty() {
                    if let Some(x) = prune(child, &rests) {
                        out.push(x);
                    }
                }
            }
            (!out.is_empty()).then_some(Value::Array(out))
        }
        _ => None,
    }
}

/// Cuts every string longer than `cap` bytes at the last char boundary ≤ `cap` and appends
/// `…[truncated N bytes]`. Iterative, so deep nesting cannot overflow the stack. Returns how
/// many strings were cut.
fn truncate_strings(fields: &mut Map<String, Value>, cap: usize) -> usize {
    fields.values_mut().map(|v| truncate_value(v, cap)).sum()
}

/// [`truncate_strings`] for one value.
fn truncate_value(v: &mut Value, cap: usize) -> usize {
    let mut n = 0;
    let mut stack: Vec<&mut Value> = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) if s.len() > cap => {
                truncate_string(s, cap);
                n += 1;
            }
            Value::Array(a) => stack.extend(a.iter_mut()),
            Value::Object(m) => stack.extend(m.values_mut()),
            _ => {}
        }
    }
    n
}

/// Cuts `s` (longer than `cap`) at the last char boundary ≤ `cap` and appends the marker.
fn truncate_string(s: &mut String, cap: usize) {
    let mut cut = cap.min(s.len());
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    let removed = s.len() - cut;
    s.truncate(cut);
    s.push_str(&format!("…[truncated {removed} bytes]"));
}

/// Writes one output record's JSON text and notes where each member went (`MemberSpan`).
/// Everything written is `str` already, so the text needs no UTF-8 check at the end.
struct RecordWriter<'s> {
    out: String,
    members: Vec<MemberSpan>,
    /// Every key needed no escape and every offset fit `u32`: `members` can be trusted.
    exact: bool,
    /// The next field's name is known to need no escape.
    plain_name: bool,
    /// The text of the lazily indexed object whose members are being written ("" otherwise),
    /// and the run of its members copied from it as they are, not yet written (see `copy`).
    source: &'s str,
    run: Option<CopyRun>,
}

/// Members copied from a record's object text as one slice: `start..end` in the text, to be
/// written at `at` in the output (nothing else is written while a run is pending, so where it
/// lands is known when it starts).
#[derive(Debug, Clone, Copy)]
struct CopyRun {
    start: usize,
    end: usize,
    at: usize,
}

impl<'s> RecordWriter<'s> {
    fn new(capacity: usize) -> RecordWriter<'s> {
        let mut out = String::with_capacity(capacity);
        out.push('{');
        RecordWriter {
            out,
            members: Vec::with_capacity(24),
            exact: true,
            plain_name: false,
            source: "",
            run: None,
        }
    }

    /// Notes a member of `source` that is output exactly as it is written there: `start..end`
    /// is its text (from the key's opening quote to the value's end), `key` and `value` its
    /// spans as a `MemberSpan` has them. A member that follows the previous copied one with
    /// only a comma between joins its run, so a line of unchanged members is one copy.
    fn copy(
        &mut self,
        (start, end): (usize, usize),
        key: (usize, usize),
        value: (usize, usize),
        kind: SpanKind,
    ) {
        let run = match &mut self.run {
            Some(run)
                if start == run.end + 1 && self.source.as_bytes().get(run.end) == Some(&b',') =>
            {
                run.end = end;
                *run
            }
            _ => {
                self.flush();
                let at = self.out.len() + usize::from(self.out.len() > 1);
                let run = CopyRun { start, end, at };
                self.run = Some(run);
                run
            }
        };
        let to_output = |o: usize| o.saturating_sub(run.start) + run.at;
        let key = (self.offset(to_output(key.0)), self.offset(to_output(key.1)));
        self.span(key, to_output(value.0), to_output(value.1), kind);
    }

    /// Writes the pending run of copied members; done before anything else is written.
    fn flush(&mut self) {
        let Some(run) = self.run.take() else {
            return;
        };
        if self.out.len() > 1 {
            self.out.push(',');
        }
        self.out
            .push_str(self.source.get(run.start..run.end).unwrap_or_default());
    }

    fn offset(&mut self, at: usize) -> u32 {
        u32::try_from(at).unwrap_or_else(|_| {
            self.exact = false;
            0
        })
    }

    /// The members of `head` (after a comma), then `"@id":`; returns the `@id` key's span.
    fn head(&mut self, head: &StreamHead) -> (u32, u32) {
        self.flush();
        if self.out.len() > 1 {
            self.out.push(',');
        }
        // `head.text` was written at offset 1 (after a `{`).
        let base = self.out.len() - 1;
        self.out.push_str(&head.text);
        self.exact &= head.exact;
        for m in &head.members {
            let at = |(a, b): (u32, u32)| (a as usize + base, b as usize + base);
            let ((ka, kb), (va, vb)) = (at(m.key), at(m.value));
            let key = (self.offset(ka), self.offset(kb));
            self.span(key, va, vb, m.kind);
        }
        let (a, b) = head.id_key;
        (
            self.offset(a as usize + base),
            self.offset(b as usize + base),
        )
    }

    /// `"name":"value"`, both known to need no escape: `name_plain` and `plain` in one step
    /// (four of them on every record).
    fn plain_member(&mut self, name: &str, value: &str) {
        self.flush();
        self.out.reserve(name.len() + value.len() + 6);
        if self.out.len() > 1 {
            self.out.push(',');
        }
        self.out.push('"');
        let key_start = self.out.len();
        self.out.push_str(name);
        let key_end = self.out.len();
        self.out.push_str("\":\"");
        let start = self.out.len();
        self.out.push_str(value);
        let end = self.out.len();
        self.out.push('"');
        let key = (self.offset(key_start), self.offset(key_end));
        self.span(key, start, end, SpanKind::Str);
    }

    /// `"name":` for a name known to need no escape (metadata names, keys the lazy index read).
    fn name_plain(&mut self, name: &str) -> (u32, u32) {
        self.flush();
        if self.out.len() > 1 {
            self.out.push(',');
        }
        self.out.push('"');
        let start = self.out.len();
        self.out.push_str(name);
        let end = self.out.len();
        self.out.push_str("\":");
        (self.offset(start), self.offset(end))
    }

    /// `"name":` (after a comma unless first), escaped as needed; returns the key's span.
    fn name(&mut self, name: &str) -> (u32, u32) {
        if std::mem::take(&mut self.plain_name) {
            return self.name_plain(name);
        }
        self.flush();
        if self.out.len() > 1 {
            self.out.push(',');
        }
        let start = self.out.len();
        crate::json::push_str(&mut self.out, name);
        let end = self.out.len();
        if end - start - 2 != name.len() {
            self.exact = false;
        }
        self.out.push(':');
        (self.offset(start + 1), self.offset(end - 1))
    }

    fn span(&mut self, key: (u32, u32), start: usize, end: usize, kind: SpanKind) {
        let value = (self.offset(start), self.offset(end));
        self.members.push(MemberSpan { key, value, kind });
    }

    /// A string, escaped as needed.
    fn str(&mut self, key: (u32, u32), s: &str) {
        let start = self.out.len();
        crate::json::push_str(&mut self.out, s);
        let end = self.out.len();
        if end - start - 2 == s.len() {
            self.span(key, start + 1, end - 1, SpanKind::Str);
        } else {
            self.span(key, start, end, SpanKind::Json);
        }
    }

    /// A string known to need no escape.
    fn plain(&mut self, key: (u32, u32), s: &str) {
        self.out.push('"');
        let start = self.out.len();
        self.out.push_str(s);
        let end = self.out.len();
        self.out.push('"');
        self.span(key, start, end, SpanKind::Str);
    }

    /// Text that is already JSON of `kind` (digits, for `Int`).
    fn raw(&mut self, key: (u32, u32), text: &str, kind: SpanKind) {
        let start = self.out.len();
        self.out.push_str(text);
        let end = self.out.len();
        self.span(key, start, end, kind);
    }

    fn value(&mut self, key: (u32, u32), v: &Value) -> Option<()> {
        match v {
            Value::String(s) => self.str(key, s),
            _ => {
                let text = serde_json::to_string(v).ok()?;
                self.raw(key, &text, SpanKind::Json);
            }
        }
        Some(())
    }

    /// A number, boolean or null, as serde_json writes it (a `Number` displays as it
    /// serializes), with no intermediate string.
    fn scalar(&mut self, key: (u32, u32), v: &Value) {
        let start = self.out.len();
        match v {
            Value::Number(n) => {
                // Writing to a `String` cannot fail.
                let _ = write!(self.out, "{n}");
            }
            Value::Bool(true) => self.out.push_str("true"),
            Value::Bool(false) => self.out.push_str("false"),
            _ => self.out.push_str("null"),
        }
        let end = self.out.len();
        self.span(key, start, end, SpanKind::Json);
    }

    fn finish(mut self) -> Option<(String, Option<Vec<MemberSpan>>)> {
        self.flush();
        self.out.push('}');
        let members = self.exact.then_some(self.members);
        Some((self.out, members))
    }
}

/// What `select_output` does with a record's field, by key name.
#[derive(Debug, Clone, Copy)]
enum KeyPlan {
    /// Left out (dropped whole, or not kept).
    Skip,
    /// Left out and counted: named like metadata.
    Collision,
    /// The record needs the map-based selection (its key holds a secret).
    Fallback,
    Write(WritePlan),
}

#[derive(Debug, Clone, Copy)]
struct WritePlan {
    /// The rename whose source is the key (its output name is that rename's target).
    rename: Option<usize>,
    /// The output name is a rename target: the index of its first rename.
    target: Option<u8>,
    /// The output name is an `add` entry's: the logged field gives way when the tag is there.
    added: bool,
    /// `keep` takes the field whole (else only paths inside it).
    whole: bool,
    /// A `drop` path removes something inside the field.
    nested_drop: bool,
    /// How the key matches a sensitive name.
    sensitivity: Option<crate::redact::Sensitivity>,
}

/// Most key names remembered; past it the memory starts again (keys of hostile logs cannot grow
/// it without bound).
const MAX_KEY_PLANS: usize = 4096;
/// Longest key name remembered.
const MAX_KEY_PLAN_BYTES: usize = 128;

/// What the records writer remembers across records and batches: redaction answers, the plan
/// for each key name it has met (a pure function of the selector's config), and the metadata
/// text of the last log stream written.
#[derive(Debug, Default, Clone)]
pub struct SelectMemo {
    pub redact: RedactMemo,
    /// `Selector::id` of the selector whose plans `keys` holds.
    owner: u64,
    keys: std::collections::HashMap<Box<str>, KeyPlan, foldhash::fast::RandomState>,
    head: Option<StreamHead>,
}

/// `"@logGroup":…,"@logStream":…,"@id":` of one log stream, escaped, and where its members are:
/// the same for every record of a batch, so written once per stream rather than per record.
#[derive(Debug, Clone)]
struct StreamHead {
    group: String,
    stream: String,
    /// The text as written at offset 1 of a record (after its `{`), and its spans there.
    text: String,
    members: Vec<MemberSpan>,
    exact: bool,
    id_key: (u32, u32),
}

impl StreamHead {
    fn new(group: &str, stream: &str) -> StreamHead {
        let mut w = RecordWriter::new(group.len() + stream.len() + 48);
        let k = w.name_plain("@logGroup");
        w.str(k, group);
        let k = w.name_plain("@logStream");
        w.str(k, stream);
        let id_key = w.name_plain("@id");
        StreamHead {
            group: group.to_string(),
            stream: stream.to_string(),
            text: w.out.get(1..).unwrap_or_default().to_string(),
            members: w.members,
            exact: w.exact,
            id_key,
        }
    }
}

impl SelectMemo {
    pub fn new() -> SelectMemo {
        SelectMemo::default()
    }

    /// The head of stream `group`/`stream`: the last one's when it is that stream.
    fn head(&mut self, group: &str, stream: &str) -> &StreamHead {
        let same = self
            .head
            .as_ref()
            .is_some_and(|h| h.group == group && h.stream == stream);
        if !same {
            self.head = Some(StreamHead::new(group, stream));
        }
        self.head
            .get_or_insert_with(|| StreamHead::new(group, stream))
    }

    fn own(&mut self, selector: u64) {
        if self.owner != selector {
            self.keys.clear();
            self.owner = selector;
        }
    }

    fn remember(&mut self, key: &str, plan: KeyPlan) {
        // Long keys are planned each time: hostile ones must not fill memory.
        if key.len() > MAX_KEY_PLAN_BYTES {
            return;
        }
        if self.keys.len() >= MAX_KEY_PLANS {
            self.keys.clear();
        }
        self.keys.insert(Box::from(key), plan);
    }
}

/// A fresh id for each checked selector (the key plans in a `SelectMemo` belong to one).
fn next_selector_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Fewest digits of a card number: a shorter integer is never redacted as one.
const MIN_CARD_DIGITS: usize = 13;

/// A record's field as the writer takes it.
#[derive(Clone, Copy)]
enum Field<'a> {
    /// A string; `plain`: its text is JSON string content as it is (no escapes needed).
    Str {
        text: &'a str,
        plain: bool,
    },
    /// A non-negative integer's digits, as serde_json writes them.
    Int(&'a str),
    /// A decimal's text, as serde_json writes it (`json::object::canonical_decimal`).
    Decimal(&'a str),
    Value(&'a Value),
}

/// The text of a lazily indexed member from its key's opening quote to its value's end, when
/// it is written as the writer writes it (`"key":"text"`, `"key":123`: no space around the
/// colon), given its key's and value's spans and its value's kind.
fn compact_member(
    (key_start, key_end): (usize, usize),
    (value_start, value_end): (usize, usize),
    kind: SpanKind,
) -> Option<(usize, usize)> {
    let start = key_start.checked_sub(1)?;
    match kind {
        SpanKind::Str => (value_start == key_end + 3).then_some((start, value_end + 1)),
        SpanKind::Int | SpanKind::Decimal => {
            (value_start == key_end + 2).then_some((start, value_end))
        }
        SpanKind::Json => None,
    }
}

impl<'a> Field<'a> {
    /// The span kind the value has when written as it is (`None`: not a candidate).
    fn kind(&self) -> Option<SpanKind> {
        match self {
            Field::Str { plain: true, .. } => Some(SpanKind::Str),
            Field::Int(_) => Some(SpanKind::Int),
            Field::Decimal(_) => Some(SpanKind::Decimal),
            Field::Str { plain: false, .. } | Field::Value(_) => None,
        }
    }

    fn of(v: &'a Value) -> Field<'a> {
        match v {
            Value::String(text) => Field::Str { text, plain: false },
            _ => Field::Value(v),
        }
    }
}

/// What the pipeline adds to a selected record.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordExtras<'a> {
    /// The record's trace: `@traceId`, and `@spanId` when the record named one.
    pub trace: Option<&'a TraceRef>,
    /// `@sampleRate`, when sampling is on.
    pub sample_rate: Option<u64>,
    /// The log group and stream with their secrets replaced, when either held one.
    pub names: Option<(&'a str, &'a str)>,
    /// `@joined`: how many log events a multiline-joined record was made of.
    pub joined: Option<u32>,
}

/// The writer's counters for one record, added to the batch's only when the record is done
/// (a record handed to `select_linked` counts there instead).
#[derive(Debug, Default)]
struct WriterCounts {
    redacted: usize,
    truncated: usize,
    metadata_collisions: u64,
    rename_collisions: u64,
}

impl WriterCounts {
    fn commit(&self, counters: &mut Counters, value_cap: bool) {
        counters.add(ck::select::REDACTED, self.redacted as u64);
        if value_cap {
            counters.add(ck::select::TRUNCATED_VALUES, self.truncated as u64);
        }
        counters.add(ck::select::METADATA_COLLISIONS, self.metadata_collisions);
        counters.add(ck::select::RENAME_COLLISIONS, self.rename_collisions);
    }
}

/// Counts serialized bytes without building the string.
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn json_len<T: serde::Serialize + ?Sized>(v: &T) -> usize {
    let mut c = ByteCount(0);
    // Serializing a Value/str into a counting writer cannot fail; count 0 if it somehow did.
    match serde_json::to_writer(&mut c, v) {
        Ok(()) => c.0,
        Err(_) => 0,
    }
}

/// Drops the largest non-metadata fields until the serialized record fits `cap`.
fn enforce_record_cap(out: &mut Map<String, Value>, cap: usize, counters: &mut Counters) {
    let total = json_len(out);
    if total <= cap {
        return;
    }
    // Each member costs `"key":value` plus a comma.
    let mut sizes: Vec<(usize, String)> = out
        .iter()
        .filter(|(k, _)| !METADATA_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (json_len(k.as_str()) + 1 + json_len(v) + 1, k.clone()))
        .collect();
    // Largest first; ties broken by name so the result is deterministic.
    sizes.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut size = total;
    let mut dropped = 0u64;
    for (bytes, key) in sizes {
        if size <= cap {
            break;
        }
        out.remove(&key);
        size = size.saturating_sub(bytes);
        dropped += 1;
    }
    counters.incr(ck::select::RECORDS_CAPPED);
    counters.add(ck::select::RECORD_CAP_DROPPED_FIELDS, dropped);
    if json_len(out) > cap {
        counters.incr(ck::select::RECORDS_OVER_CAP);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{LogEvent, Source};
    use serde_json::json;
    use std::sync::Arc;

    fn record(fields: Value) -> Record {
        let source = Arc::new(Source {
            log_group: "/aws/lambda/app".into(),
            log_stream: "2024/01/15/[$LATEST]abc".into(),
            ..Source::default()
        });
        let mut r = Record::text(
            source,
            LogEvent {
                id: "e1".into(),
                timestamp: 1_705_321_845_123,
                message: fields.to_string(),
                extracted_fields: None,
            },
        );
        if let Value::Object(m) = fields {
            r.set_fields(m);
            r.format = Format::Json;
        }
        r
    }

    #[test]
    fn key_plans_stay_bounded_against_hostile_keys() {
        let sel = Selector::default();
        let mut memo = SelectMemo::new();
        let mut counters = Counters::new();
        for i in 0..(MAX_KEY_PLANS + 100) {
            let r = record(json!({ format!("k{i}"): 1 }));
            sel.select_output(&r, RecordExtras::default(), &mut memo, &mut counters);
            assert!(memo.keys.len() <= MAX_KEY_PLANS);
        }
        memo.keys.clear();
        let long = "k".repeat(MAX_KEY_PLAN_BYTES + 1);
        let r = record(json!({ long.clone(): "v" }));
        let out = sel.select_output(&r, RecordExtras::default(), &mut memo, &mut counters);
        assert!(
            memo.keys.is_empty(),
            "a long key is planned, not remembered"
        );
        assert_eq!(out.get(&long), Some(json!("v")));
    }

    fn selector(toml_text: &str) -> Selector {
        let cfg: FieldsConfig = toml::from_str(toml_text).unwrap();
        cfg.validate().unwrap()
    }

    /// The selected fields without the metadata.
    fn fields_of(out: &Map<String, Value>) -> Value {
        Value::Object(
            out.iter()
                .filter(|(k, _)| !METADATA_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn metadata_always_present() {
        let out = Selector::default().select(&record(json!({"a": 1})));
        assert_eq!(out["@timestamp"], json!(1_705_321_845_123_i64));
        assert_eq!(out["@logGroup"], json!("/aws/lambda/app"));
        assert_eq!(out["@logStream"], json!("2024/01/15/[$LATEST]abc"));
        assert_eq!(out["@id"], json!("e1"));
        assert_eq!(out["@format"], json!("json"));
        assert_eq!(fields_of(&out), json!({"a": 1}));
    }

    #[test]
    fn keep_drop_rename_table() {
        let input = json!({
            "level": "INFO",
            "msg": "hi",
            "http": {"status": 200, "path": "/x", "headers": {"authorization": "x", "host": "h"}},
            "items": [{"id": 1, "n": "a"}, {"id": 2, "n": "b"}],
            "extra": 1
        });
        // Selection redacts what it outputs: `authorization` names a sensitive key.
        let mut redacted = input.clone();
        redacted["http"]["headers"]["authorization"] = json!("[REDACTED:sensitive_key]");
        let cases: &[(&str, Value)] = &[
            ("", redacted),
            ("keep = [\"level\", \"http.status\"]", json!({"level": "INFO", "http": {"status": 200}})),
            ("keep = [\"$.items[1].id\", \"http.headers.host\"]", json!({"items": [{"id": 2}], "http": {"headers": {"host": "h"}}})),
            ("keep = [\"missing\", \"level.deeper\"]", json!({})),
            (
                "drop = [\"http.headers\", \"extra\", \"items\"]",
                json!({"level": "INFO", "msg": "hi", "http": {"status": 200, "path": "/x"}}),
            ),
            ("keep = [\"http\"]\ndrop = [\"http.path\", \"http.headers\"]", json!({"http": {"status": 200}})),
            ("rename = { msg = \"message\" }\nkeep = [\"message\", \"level\"]", json!({"level": "INFO", "message": "hi"})),
            (
                "rename = { \"http.status\" = \"status\" }\nkeep = [\"status\", \"http\"]\ndrop = [\"http.headers\"]",
                json!({"status": 200, "http": {"path": "/x"}}),
            ),
        ];
        for (cfg, want) in cases {
            let out = selector(cfg).select(&record(input.clone()));
            assert_eq!(fields_of(&out), *want, "config: {cfg}");
        }
    }

    /// `add = { name = "$tags.key" }` against the tags of the record's resources: the linked
    /// (map) path and the records writer give the same fields and the same counters.
    #[test]
    fn added_tags_table() {
        let tags = [
            ("team", "payments"),
            ("owner", "alice@example.com"),
            ("api_key", "k-123"),
            ("aws:cloudformation:stack-name", "orders-prod"),
            ("note", "a long tag value"),
        ];
        let tagged = |fields: Value| {
            let mut r = record(fields);
            let mut source = (*r.source).clone();
            source.tags = Arc::new(
                tags.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            );
            r.source = Arc::new(source);
            r
        };
        // (config, logged fields, output fields, select.redacted, select.rename_collisions)
        let cases: &[(&str, Value, Value, u64, u64)] = &[
            (
                "add = { team = \"$tags.team\" }",
                json!({"a": 1}),
                json!({"a": 1, "team": "payments"}),
                0,
                0,
            ),
            // A tag the resources lack: the field is absent.
            (
                "add = { team = \"$tags.missing\" }",
                json!({"a": 1}),
                json!({"a": 1}),
                0,
                0,
            ),
            // Asked for by name: output though `keep` does not list it; `drop` wins.
            (
                "keep = [\"a\"]\nadd = { team = \"$tags.team\" }",
                json!({"a": 1, "b": 2}),
                json!({"a": 1, "team": "payments"}),
                0,
                0,
            ),
            (
                "drop = [\"team\"]\nadd = { team = \"$tags.team\" }",
                json!({"a": 1}),
                json!({"a": 1}),
                0,
                0,
            ),
            // The tag replaces a logged field of its name, counted; without the tag the field stays.
            (
                "add = { team = \"$tags.team\" }",
                json!({"team": "logged"}),
                json!({"team": "payments"}),
                0,
                1,
            ),
            (
                "add = { team = \"$tags.missing\" }",
                json!({"team": "logged"}),
                json!({"team": "logged"}),
                0,
                0,
            ),
            // Redaction: a secret in the value; a sensitive tag key replaces the value whole.
            (
                "add = { owner = \"$tags.owner\" }",
                json!({}),
                json!({"owner": "[REDACTED:email]"}),
                1,
                0,
            ),
            (
                "add = { key = \"$tags.api_key\" }",
                json!({}),
                json!({"key": "[REDACTED:sensitive_key]"}),
                1,
                0,
            ),
            (
                "redact = []\nsensitive_keys = []\nadd = { owner = \"$tags.owner\" }",
                json!({}),
                json!({"owner": "alice@example.com"}),
                0,
                0,
            ),
            // Everything after `$tags.` is the key.
            (
                "add = { stack = \"$tags.aws:cloudformation:stack-name\" }",
                json!({}),
                json!({"stack": "orders-prod"}),
                0,
                0,
            ),
            (
                "max_value_bytes = 6\nadd = { note = \"$tags.note\" }",
                json!({}),
                json!({"note": "a long…[truncated 10 bytes]"}),
                0,
                0,
            ),
            // A name holding a secret is rewritten as a logged key would be.
            (
                "add = { \"bob@example.com\" = \"$tags.team\" }",
                json!({}),
                json!({"[REDACTED:email]": "payments"}),
                1,
                0,
            ),
        ];
        for (cfg, fields, want, redacted, collisions) in cases {
            let s = selector(cfg);
            let r = tagged(fields.clone());
            let mut c = Counters::new();
            let out = s.select_with_counters(&r, &mut c);
            assert_eq!(fields_of(&out), *want, "config: {cfg}");
            assert_eq!(c.get(ck::select::REDACTED), *redacted, "config: {cfg}");
            assert_eq!(
                c.get(ck::select::RENAME_COLLISIONS),
                *collisions,
                "config: {cfg}"
            );
            let mut fast_c = Counters::new();
            let fast = s.select_output(
                &r,
                RecordExtras::default(),
                &mut SelectMemo::new(),
                &mut fast_c,
            );
            let fast: Map<String, Value> = serde_json::from_str(fast.json()).unwrap();
            assert_eq!(fast, out, "writer, config: {cfg}");
            assert_eq!(fast_c, c, "writer counters, config: {cfg}");
        }
    }

    #[test]
    fn rename_over_existing_field_is_counted() {
        let s = selector("rename = { msg = \"message\" }");
        let mut c = Counters::new();
        let out = s.select_with_counters(&record(json!({"msg": "new", "message": "old"})), &mut c);
        assert_eq!(fields_of(&out), json!({"message": "new"}));
        assert_eq!(c.get(ck::select::RENAME_COLLISIONS), 1);
    }

    #[test]
    fn logged_metadata_names_do_not_replace_metadata() {
        let mut c = Counters::new();
        let out = Selector::default().select_with_counters(
            &record(json!({"@timestamp": "2024-01-15T12:30:45Z", "a": 1})),
            &mut c,
        );
        assert_eq!(out["@timestamp"], json!(1_705_321_845_123_i64));
        assert_eq!(fields_of(&out), json!({"a": 1}));
        assert_eq!(c.get(ck::select::METADATA_COLLISIONS), 1);
    }

    #[test]
    fn text_records_expose_their_message() {
        let mut r = record(json!(null));
        r.message = "plain line".into();
        let out = selector("keep = [\"message\"]").select(&r);
        assert_eq!(fields_of(&out), json!({"message": "plain line"}));
        assert_eq!(out["@format"], json!("text"));
    }

    #[test]
    fn max_value_bytes_cuts_at_utf8_boundary() {
        // "héllo" is 6 bytes: a cap of 2 falls inside 'é', so only "h" survives.
        let cases: &[(usize, &str, &str)] = &[
            (2, "héllo", "h…[truncated 5 bytes]"),
            (3, "héllo", "hé…[truncated 3 bytes]"),
            (6, "héllo", "héllo"),
            (1, "日本", "…[truncated 6 bytes]"),
        ];
        for (cap, input, want) in cases {
            let s = selector(&format!("max_value_bytes = {cap}"));
            let mut c = Counters::new();
            let out = s.select_with_counters(
                &record(json!({"v": input, "n": [input, {"deep": input}]})),
                &mut c,
            );
            assert_eq!(out["v"], json!(want), "cap {cap}");
            assert_eq!(out["n"], json!([want, {"deep": want}]), "cap {cap}");
            let expect = if input.len() > *cap { 3 } else { 0 };
            assert_eq!(c.get(ck::select::TRUNCATED_VALUES), expect);
            // Metadata is never truncated.
            assert_eq!(out["@logGroup"], json!("/aws/lambda/app"));
        }
    }

    #[test]
    fn max_record_bytes_drops_largest_fields_first() {
        let input = json!({"big": "x".repeat(1000), "medium": "y".repeat(100), "small": 1});
        let meta_only = serde_json::to_vec(&Selector::default().select(&record(json!({}))))
            .unwrap()
            .len();
        // Room for everything but `big`.
        let cap = meta_only + 200;
        let s = selector(&format!("max_record_bytes = {cap}"));
        let mut c = Counters::new();
        let out = s.select_with_counters(&record(input.clone()), &mut c);
        assert!(serde_json::to_vec(&out).unwrap().len() <= cap);
        assert_eq!(
            fields_of(&out),
            json!({"medium": "y".repeat(100), "small": 1})
        );
        assert_eq!(c.get(ck::select::RECORDS_CAPPED), 1);
        assert_eq!(c.get(ck::select::RECORD_CAP_DROPPED_FIELDS), 1);
        assert_eq!(c.get(ck::select::RECORDS_OVER_CAP), 0);

        // Smaller than the metadata alone: every field goes, metadata stays, and it is counted.
        let s = selector("max_record_bytes = 10");
        let mut c = Counters::new();
        let out = s.select_with_counters(&record(input), &mut c);
        assert_eq!(fields_of(&out), json!({}));
        assert!(out.keys().all(|k| METADATA_KEYS.contains(&k.as_str())));
        assert_eq!(c.get(ck::select::RECORD_CAP_DROPPED_FIELDS), 3);
        assert_eq!(c.get(ck::select::RECORDS_OVER_CAP), 1);

        // A record under the cap is not touched or counted.
        let s = selector("max_record_bytes = 100000");
        let mut c = Counters::new();
        let out = s.select_with_counters(&record(json!({"a": 1})), &mut c);
        assert_eq!(fields_of(&out), json!({"a": 1}));
        assert!(c.is_empty());
    }

    #[test]
    fn max_record_bytes_measures_the_record_as_it_leaves() {
        // The pipeline's extras (names with secrets replaced, `@sampleRate`) are part of the
        // record the sink receives, so the cap is judged on them, through both paths.
        let rec = record(json!({"a": "z".repeat(40)}));
        let short_names = RecordExtras {
            names: Some(("g", "s")),
            ..RecordExtras::default()
        };
        let with_rate = RecordExtras {
            sample_rate: Some(1_000_000_000),
            ..RecordExtras::default()
        };
        let plain = serde_json::to_vec(&Selector::default().select(&rec))
            .unwrap()
            .len();
        let long_source = rec.source.log_group.len() + rec.source.log_stream.len() - 2;
        let rate_len = r#","@sampleRate":1000000000"#.len();
        let cases = [
            // (extras, cap, field kept)
            (short_names, plain - long_source, true),
            (short_names, plain - long_source - 1, false),
            (with_rate, plain + rate_len, true),
            (with_rate, plain + rate_len - 1, false),
        ];
        for (extras, cap, kept) in cases {
            let s = selector(&format!("max_record_bytes = {cap}"));
            let mut fast_memo = SelectMemo::new();
            let fast = s.select_output(&rec, extras, &mut fast_memo, &mut Counters::new());
            let slow =
                s.select_output_slow(&rec, extras, &mut RedactMemo::new(), &mut Counters::new());
            for out in [&fast, &slow] {
                assert_eq!(out.get("a").is_some(), kept, "cap {cap}: {}", out.json());
                assert!(out.json().len() <= cap, "cap {cap}: {}", out.json());
            }
        }
    }

    #[test]
    fn validate_errors_name_the_key() {
        let cases: &[(&str, &str, &str)] = &[
            ("keep = [\"ok\", \"a..b\"]", "fields.keep[1]", "empty key"),
            ("drop = [\"$.a[\"]", "fields.drop[0]", "unclosed"),
            (
                "drop = [\"[0]\"]",
                "fields.drop[0]",
                "must start with a field name",
            ),
            (
                "redact = [\"email\", \"nope\"]",
                "fields.redact[1]",
                "valid detectors: aws_access_key",
            ),
            ("rename = { a = \"@id\" }", "fields.rename.a", "@id"),
            (
                "rename = { a = \"x\", b = \"x\" }",
                "fields.rename.b",
                "already renamed",
            ),
            (
                "rename = { \"a..\" = \"x\" }",
                "fields.rename.a..",
                "invalid field path",
            ),
            (
                "custom_redact = [{ name = \"x\", pattern = \"(\" }]",
                "fields.custom_redact[0].pattern",
                "does not compile",
            ),
            (
                "custom_redact = [{ name = \"jwt\", pattern = \"x\" }]",
                "fields.custom_redact[0].name",
                "built-in",
            ),
            (
                "sensitive_keys = [\"--\"]",
                "fields.sensitive_keys",
                "letter or digit",
            ),
            (
                "extra_sensitive_keys = [\"pin\", \"..\"]",
                "fields.extra_sensitive_keys[1]",
                "letter or digit",
            ),
            (
                "max_value_bytes = 0",
                "fields.max_value_bytes",
                "at least 1",
            ),
            (
                "max_record_bytes = 2000000",
                "fields.max_record_bytes",
                "1024000",
            ),
            (
                "add = { team = \"team\" }",
                "fields.add.team",
                "not a tag reference",
            ),
            (
                "add = { team = \"$tags.\" }",
                "fields.add.team",
                "not a tag reference",
            ),
            (
                "add = { \"@id\" = \"$tags.team\" }",
                "fields.add.@id",
                "@id",
            ),
            (
                "rename = { owner = \"team\" }\nadd = { team = \"$tags.team\" }",
                "fields.add.team",
                "also the target of rename \"owner\"",
            ),
            (
                "keep = [\"$tags.team\"]",
                "fields.keep[0]",
                "add = { <name> = \"$tags.team\" }",
            ),
            ("drop = [\"$tags.team\"]", "fields.drop[0]", "is a tag"),
            (
                "rename = { \"$tags.team\" = \"team\" }",
                "fields.rename.$tags.team",
                "is a tag",
            ),
        ];
        for (cfg, key, msg) in cases {
            let parsed: FieldsConfig = toml::from_str(cfg).unwrap();
            let e = parsed.validate().unwrap_err();
            assert_eq!(e.key, *key, "{cfg}");
            assert!(e.message.contains(msg), "{cfg}: {}", e.message);
        }
        assert!(toml::from_str::<FieldsConfig>("nope = 1").is_err());
        assert!(toml::from_str::<FieldsConfig>(
            "custom_redact = [{ name = \"a\", pattern = \"b\", x = 1 }]"
        )
        .is_err());
    }

    #[test]
    fn redact_defaults_and_opt_out() {
        let input = json!({"ip": "203.0.113.9", "who": "bob@example.com", "password": "hunter2"});
        let cases: &[(&str, Value)] = &[
            (
                "",
                json!({"ip": "203.0.113.9", "who": "[REDACTED:email]", "password": "[REDACTED:sensitive_key]"}),
            ),
            (
                "redact = [\"ipv4\"]",
                json!({"ip": "[REDACTED:ipv4]", "who": "bob@example.com", "password": "[REDACTED:sensitive_key]"}),
            ),
            ("redact = []\nsensitive_keys = []", input.clone()),
            (
                "redact = []\nsensitive_keys = []\nextra_sensitive_keys = [\"who\"]",
                json!({"ip": "203.0.113.9", "who": "[REDACTED:sensitive_key]", "password": "hunter2"}),
            ),
            (
                "extra_sensitive_keys = [\"ip\"]",
                json!({"ip": "[REDACTED:sensitive_key]", "who": "[REDACTED:email]", "password": "[REDACTED:sensitive_key]"}),
            ),
        ];
        for (cfg, want) in cases {
            let s = selector(cfg);
            let mut r = record(input.clone());
            s.redact_record(&mut r);
            assert_eq!(Value::Object(r.into_fields()), *want, "{cfg}");
        }
        assert!(selector("redact = []\nsensitive_keys = []")
            .redactor
            .is_empty());
    }

    #[test]
    fn redact_record_rebuilds_json_message_even_behind_escapes() {
        let s = Selector::default();
        let mut r = record(json!({"user": "bob@example.com"}));
        r.message = r#"{"user":"bob\u0040example.com"}"#.to_string();
        assert_eq!(s.redact_record(&mut r), 1);
        assert!(!r.message.contains("example.com"), "{}", r.message);
    }

    #[test]
    fn redact_record_covers_message_fields_and_extracted_fields() {
        let s = Selector::default();
        let mut r = record(json!({"user": "bob@example.com", "nested": {"token": "abc"}}));
        r.extracted_fields = Some(BTreeMap::from([
            ("password".to_string(), "hunter2".to_string()),
            ("who".to_string(), "carol@example.com".to_string()),
        ]));
        let n = s.redact_record(&mut r);
        assert!(!r.message.contains("bob@example.com"), "{}", r.message);
        assert!(!r.message.contains("\"abc\""), "{}", r.message);
        assert_eq!(r.fields_mut()["user"], json!("[REDACTED:email]"));
        assert_eq!(
            r.fields_mut()["nested"]["token"],
            json!("[REDACTED:sensitive_key]")
        );
        let ex = r.extracted_fields.as_ref().unwrap();
        assert_eq!(ex["password"], "[REDACTED:sensitive_key]");
        assert_eq!(ex["who"], "[REDACTED:email]");
        // fields: email + token; extracted: password + email. The JSON message is rebuilt from
        // the redacted fields, so its copies are not counted twice.
        assert_eq!(n, 4);
    }
}
