//! CSV input: a header line (or `--no-header` with `--columns`), quoted fields and doubled quotes.

use std::collections::VecDeque;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use super::article::ColumnPlan;
use super::{BadRecord, InputColumns, Item, ItemIter, Location, ReadError, ReadOptions, Source};

pub(super) fn open(
    path: &Path,
    file: Source,
    options: &ReadOptions,
) -> Result<(InputColumns, ItemIter), ReadError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(Feeds::new(BufReader::with_capacity(1 << 20, file)));
    let mut record = csv::ByteRecord::new();
    let mut first_line_is_header = !options.no_header;

    let names: Vec<String> = match &options.columns {
        Some(columns) => {
            for name in columns {
                if name != "_" && !options.fields.knows(name) {
                    return Err(ReadError::UnknownColumnName {
                        path: path.to_path_buf(),
                        name: name.clone(),
                    });
                }
            }
            columns.clone()
        }
        None if options.no_header => {
            return Err(ReadError::NoHeaderNeedsColumns {
                path: path.to_path_buf(),
            })
        }
        None => {
            first_line_is_header = false;
            let found = read(&mut reader, &mut record, path)?;
            if !found {
                return Err(ReadError::EmptyCsv {
                    path: path.to_path_buf(),
                });
            }
            let mut names = Vec::with_capacity(record.len());
            for (i, raw) in record.iter().enumerate() {
                let raw = if i == 0 { strip_bom(raw) } else { raw };
                let name = std::str::from_utf8(raw).map_err(|_| ReadError::HeaderNotUtf8 {
                    path: path.to_path_buf(),
                    column: i + 1,
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

/// The file's bytes, passed through, with the offsets of the `\n`s that end a `\r\n`. After a
/// `\r\n`, the csv crate's position of the next record points at that `\n` and counts one line
/// too few (rust-csv issue #395); [`Feeds::line`] corrects it.
struct Feeds {
    inner: BufReader<Source>,
    /// Bytes read so far.
    offset: u64,
    last: u8,
    /// Offsets of `\n`s after a `\r` not yet passed by the records read.
    after_cr: VecDeque<u64>,
}

impl Feeds {
    fn new(inner: BufReader<Source>) -> Self {
        Self {
            inner,
            offset: 0,
            last: 0,
            after_cr: VecDeque::new(),
        }
    }

    /// The line a record starts on, from the csv crate's position of it. Positions must come
    /// in file order (offsets before one are forgotten).
    fn line(&mut self, position: &csv::Position) -> u64 {
        while self.after_cr.front().is_some_and(|&o| o < position.byte()) {
            self.after_cr.pop_front();
        }
        let on_feed = self.after_cr.front() == Some(&position.byte());
        position.line() + u64::from(on_feed)
    }
}

impl Read for Feeds {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut last = self.last;
        for (i, &b) in buf[..n].iter().enumerate() {
            if b == b'\n' && last == b'\r' {
                self.after_cr.push_back(self.offset + i as u64);
            }
            last = b;
        }
        self.last = last;
        self.offset += n as u64;
        Ok(n)
    }
}

fn read(
    reader: &mut csv::Reader<Feeds>,
    record: &mut csv::ByteRecord,
    path: &Path,
) -> Result<bool, ReadError> {
    match reader.read_byte_record(record) {
        Ok(found) => Ok(found),
        Err(err) => {
            let line = match err.position() {
                Some(p) => reader.get_mut().line(p),
                None => 0,
            };
            Err(ReadError::Io {
                path: path.to_path_buf(),
                line,
                source: err.into(),
            })
        }
    }
}

struct CsvItems {
    path: PathBuf,
    names: Vec<String>,
    plan: ColumnPlan,
    reader: csv::Reader<Feeds>,
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
                let line = match self.record.position() {
                    Some(p) => self.reader.get_mut().line(p),
                    None => 0,
                };
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The line of every item (articles and skipped records) read from `bytes`.
    fn lines(bytes: &[u8]) -> Vec<String> {
        let source: Source = Box::new(std::io::Cursor::new(bytes.to_vec()));
        let (_, items) = open(Path::new("in.csv"), source, &ReadOptions::default()).unwrap();
        items
            .map(|item| match item.unwrap() {
                Item::Article(a) => format!("{} {}", a.location, a.id),
                Item::Bad(b) => format!("{} bad", b.location),
            })
            .collect()
    }

    #[test]
    fn records_name_their_own_line_whatever_the_line_ends() {
        let want = ["line 2 a", "line 3 bad", "line 4 c", "line 5 d"];
        for end in ["\n", "\r\n"] {
            let csv = format!("id,title,text{end}a,A,x{end}b,B{end}c,C,x{end}d,D,x{end}");
            assert_eq!(lines(csv.as_bytes()), want, "line end {end:?}");
        }
        // Mixed ends, a quoted field over two lines (its inner \r\n counts), no final end.
        let csv = b"id,title,text\r\na,A,x\nb,\"B\r\nB\",x\r\nc,C\r\nd,D,x";
        assert_eq!(
            lines(csv),
            ["line 2 a", "line 3 b", "line 5 bad", "line 6 d"]
        );
    }

    #[test]
    fn line_numbers_hold_past_the_read_buffer() {
        // 20,000 CRLF records (well past the csv crate's and our buffers), a bad one every 997th.
        let mut csv = b"id,title,text\r\n".to_vec();
        for i in 0..20_000 {
            if i % 997 == 0 {
                csv.extend_from_slice(format!("{i}\r\n").as_bytes());
            } else {
                csv.extend_from_slice(format!("{i},title {i},text\r\n").as_bytes());
            }
        }
        let got = lines(&csv);
        assert_eq!(got.len(), 20_000);
        for (i, line) in got.iter().enumerate() {
            let want = if i % 997 == 0 {
                format!("line {} bad", i + 2)
            } else {
                format!("line {} {i}", i + 2)
            };
            assert_eq!(line, &want);
        }
    }
}
