//! CSV input: a header line (or `--no-header` with `--columns`), quoted fields and doubled quotes.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::article::ColumnPlan;
use super::{BadRecord, InputColumns, Item, ItemIter, Location, ReadError, ReadOptions};

pub(super) fn open(
    path: &Path,
    file: File,
    options: &ReadOptions,
) -> Result<(InputColumns, ItemIter), ReadError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(std::io::BufReader::with_capacity(1 << 20, file));
    let mut record = csv::ByteRecord::new();
    let mut first_line_is_header = !options.no_header;

    let names: Vec<String> = match &options.columns {
        Some(columns) => {
            for name in columns {
                if name != "_" && !options.fields.knows(name) {
                    return Err(ReadError::Columns {
                        path: path.to_path_buf(),
                        message: format!(
                            "unknown column name '{name}' in --columns: use id, title, text, date, label, a column named by --field, or _ to ignore a column"
                        ),
                    });
                }
            }
            columns.clone()
        }
        None if options.no_header => {
            return Err(ReadError::Columns {
                path: path.to_path_buf(),
                message: "--no-header needs --columns to name the columns (for example --columns label,title,text)".into(),
            })
        }
        None => {
            first_line_is_header = false;
            let found = read(&mut reader, &mut record, path)?;
            if !found {
                return Err(ReadError::Columns {
                    path: path.to_path_buf(),
                    message: "empty file: no header line".into(),
                });
            }
            let mut names = Vec::with_capacity(record.len());
            for (i, raw) in record.iter().enumerate() {
                let raw = if i == 0 { strip_bom(raw) } else { raw };
                let name = std::str::from_utf8(raw).map_err(|_| ReadError::Columns {
                    path: path.to_path_buf(),
                    message: format!("header column {} is not valid UTF-8", i + 1),
                })?;
                names.push(name.trim().to_string());
            }
            names
        }
    };
    if first_line_is_header {
        // A header is present but --columns renamed the columns: skip the header line.
        read(&mut reader, &mut record, path)?;
    }
    let plan = ColumnPlan::new(path, &names, &options.fields)?;
    let columns = plan.columns.clone();
    let iter = CsvItems {
        path: path.to_path_buf(),
        names,
        plan,
        reader,
        record,
        position: 0,
        done: false,
    };
    Ok((columns, Box::new(iter)))
}

fn strip_bom(raw: &[u8]) -> &[u8] {
    raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw)
}

fn read(
    reader: &mut csv::Reader<std::io::BufReader<File>>,
    record: &mut csv::ByteRecord,
    path: &Path,
) -> Result<bool, ReadError> {
    reader
        .read_byte_record(record)
        .map_err(|err| ReadError::Io {
            path: path.to_path_buf(),
            line: err.position().map(|p| p.line()).unwrap_or(0),
            message: err.to_string(),
        })
}

struct CsvItems {
    path: PathBuf,
    names: Vec<String>,
    plan: ColumnPlan,
    reader: csv::Reader<std::io::BufReader<File>>,
    record: csv::ByteRecord,
    position: u64,
    done: bool,
}

impl CsvItems {
    fn item(&self, line: u64) -> Item {
        let position = self.position;
        let location = Location::Line(line);
        let bad = |reason: String| {
            Item::Bad(BadRecord {
                path: self.path.clone(),
                location,
                reason,
            })
        };
        if self.record.len() != self.names.len() {
            return bad(format!(
                "expected {} fields, found {}",
                self.names.len(),
                self.record.len()
            ));
        }
        let mut fields = Vec::with_capacity(self.record.len());
        for (i, raw) in self.record.iter().enumerate() {
            let raw = if i == 0 && line == 1 {
                strip_bom(raw)
            } else {
                raw
            };
            match std::str::from_utf8(raw) {
                Ok(s) => fields.push(s),
                Err(err) => {
                    return bad(format!(
                        "field '{}' is not valid UTF-8 (bad byte at offset {})",
                        self.names[i],
                        err.valid_up_to()
                    ))
                }
            }
        }
        Item::Article(
            self.plan
                .article(position, location, |i| Some(fields[i].to_string())),
        )
    }
}

impl Iterator for CsvItems {
    type Item = Result<Item, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match read(&mut self.reader, &mut self.record, &self.path) {
            Ok(true) => {
                let line = self.record.position().map(|p| p.line()).unwrap_or(0);
                let item = self.item(line);
                self.position += 1;
                Some(Ok(item))
            }
            Ok(false) => {
                self.done = true;
                None
            }
            Err(err) => {
                self.done = true;
                Some(Err(err))
            }
        }
    }
}
