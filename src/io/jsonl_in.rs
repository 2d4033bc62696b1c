//! JSONL input: one JSON object per line; blank lines are ignored.
//!
//! The columns passed through are the keys of the first record that are not article fields.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::article::ColumnPlan;
use super::{
    BadRecord, Field, InputColumns, Item, ItemIter, Location, ReadError, ReadOptions, Source,
};

pub(super) fn open(
    path: &Path,
    file: Source,
    options: &ReadOptions,
) -> Result<(InputColumns, ItemIter), ReadError> {
    let mut items = JsonlItems {
        path: path.to_path_buf(),
        reader: BufReader::with_capacity(1 << 20, file),
        buf: Vec::new(),
        line: 0,
        position: 0,
        names: Vec::new(),
        plan: None,
        pending: None,
        options_fields: options.fields.clone(),
        kept: Vec::new(),
        unknown: std::collections::HashSet::new(),
        done: false,
    };
    // Read up to the first object to learn its keys; keep what was read for the iterator.
    let first = items.next_raw();
    // Every record is looked up by key, so all field columns are always in the plan; the
    // first object decides which optional columns (date, label, others) the output carries.
    let first_keys: Vec<String> = match &first {
        Some(Ok(Raw::Object(_, map))) => map.keys().cloned().collect(),
        _ => Vec::new(),
    };
    let mut names: Vec<String> = Field::ALL
        .iter()
        .map(|f| options.fields.column(*f).to_string())
        .collect();
    names.extend(
        first_keys
            .iter()
            .filter(|k| !names.contains(k))
            .cloned()
            .collect::<Vec<_>>(),
    );
    let plan = ColumnPlan::new(path, &names, &options.fields)?;
    let mut columns = plan.columns.clone();
    columns.has_date = first_keys
        .iter()
        .any(|k| k == options.fields.column(Field::Date));
    columns.has_label = first_keys
        .iter()
        .any(|k| k == options.fields.column(Field::Label));
    // Keys whose values reach the output: the text fields always, the others when in the first record.
    let optional = [Field::Date, Field::Label].map(|f| options.fields.column(f));
    items.kept = names
        .iter()
        .filter(|n| !optional.contains(&n.as_str()) || first_keys.contains(n))
        .cloned()
        .collect();
    items.names = names;
    items.plan = Some(plan);
    items.pending = first;
    Ok((columns, Box::new(items)))
}

enum Raw {
    Object(u64, Map<String, Value>),
    Bad(u64, String),
}

struct JsonlItems {
    path: PathBuf,
    reader: BufReader<Source>,
    buf: Vec<u8>,
    line: u64,
    position: u64,
    names: Vec<String>,
    plan: Option<ColumnPlan>,
    pending: Option<Result<Raw, ReadError>>,
    options_fields: super::FieldMap,
    /// Keys whose values reach the output.
    kept: Vec<String>,
    /// Keys seen that the first record did not have (each reported once).
    unknown: std::collections::HashSet<String>,
    done: bool,
}

impl JsonlItems {
    fn next_raw(&mut self) -> Option<Result<Raw, ReadError>> {
        loop {
            self.buf.clear();
            match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => return None,
                Ok(_) => self.line += 1,
                Err(err) => {
                    return Some(Err(ReadError::Io {
                        path: self.path.clone(),
                        line: self.line + 1,
                        source: err.into(),
                    }))
                }
            }
            let mut bytes = self.buf.as_slice();
            if self.line == 1 {
                bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            }
            let text = match std::str::from_utf8(bytes) {
                Ok(t) => t,
                Err(err) => {
                    return Some(Ok(Raw::Bad(
                        self.line,
                        format!("not valid UTF-8 (bad byte at offset {})", err.valid_up_to()),
                    )))
                }
            };
            if text.trim().is_empty() {
                continue;
            }
            // Without its line end, serde's position in a malformed line reads "line 1 column N".
            let text = text.trim_end_matches(['\n', '\r']);
            return Some(Ok(match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(map)) => Raw::Object(self.line, map),
                Ok(other) => Raw::Bad(
                    self.line,
                    format!("expected a JSON object, found {}", kind(&other)),
                ),
                Err(err) => Raw::Bad(self.line, format!("malformed JSON: {err}")),
            }));
        }
    }

    fn item(&mut self, raw: Raw, position: u64) -> Item {
        let (line, map) = match raw {
            Raw::Object(line, map) => (line, map),
            Raw::Bad(line, reason) => {
                return Item::Bad(BadRecord {
                    path: self.path.clone(),
                    location: Location::Line(line),
                    reason,
                })
            }
        };
        for key in map.keys() {
            if !self.kept.contains(key) && self.unknown.insert(key.clone()) {
                tracing::warn!(
                    "{}: line {line}: key '{key}' is not among the first record's keys, so it is not passed through (the first record decides the columns)",
                    self.path.display()
                );
            }
        }
        let plan = self.plan.as_ref().expect("plan is set in open()");
        // Article fields must be scalars; anything else is a bad record naming the field.
        for field in Field::ALL {
            let column = self.options_fields.column(field);
            if let Some(value @ (Value::Array(_) | Value::Object(_))) = map.get(column) {
                return Item::Bad(BadRecord {
                    path: self.path.clone(),
                    location: Location::Line(line),
                    reason: format!("field '{column}' must be a string, found {}", kind(value)),
                });
            }
        }
        Item::Article(plan.article(position, Location::Line(line), |i| {
            map.get(&self.names[i]).and_then(scalar_text)
        }))
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Iterator for JsonlItems {
    type Item = Result<Item, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let raw = match self.pending.take() {
            Some(raw) => Some(raw),
            None => self.next_raw(),
        };
        match raw {
            None => {
                self.done = true;
                None
            }
            Some(Err(err)) => {
                self.done = true;
                Some(Err(err))
            }
            Some(Ok(raw)) => {
                let item = self.item(raw, self.position);
                self.position += 1;
                Some(Ok(item))
            }
        }
    }
}
