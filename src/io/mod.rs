//! Reading articles (CSV, JSONL, Parquet; CSV and JSONL also gzip- or zstd-compressed) as one
//! stream from one or several files, and writing outputs atomically.
//!
//! Readers know nothing about models: they turn input records into [`Article`]s, report records
//! they cannot use as [`BadRecord`]s (the caller counts and skips them) and stop only on errors
//! that make the whole input unusable ([`ReadError`]).

mod article;
pub mod atomic;
pub mod checkpoint;
mod csv_in;
pub mod embeddings_in;
pub mod embeddings_out;
pub mod format;
mod inputs;
mod jsonl_in;
mod lease;
pub mod lock;
mod parquet_in;
pub mod publish;
mod publish_remote;
pub mod remote;
pub mod report_html;
pub mod shard;
pub mod topics_in;
pub mod topics_out;

pub use article::{Article, BadRecord, Field, FieldMap, FieldOverride, Location, TextSpec};
pub use inputs::input_files;

use std::path::{Path, PathBuf};

use inputs::Remap;

use crate::setting::Setting;

/// Input file formats; `Auto` picks one from the file extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum InputFormat {
    #[default]
    Auto,
    Csv,
    Jsonl,
    Parquet,
}

/// A cause from another crate (csv, arrow, parquet, the operating system).
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Errors that stop reading altogether.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: cannot open input: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: a link in an input folder that leads to no file ({source}); remove it or fix its target")]
    BrokenLink {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path}: cannot tell the input format from the extension (.csv, .jsonl, .ndjson, .json, .parquet, .pq; .gz or .zst after the first two); use {} csv|jsonl|parquet", Setting::Format
    )]
    UnknownFormat { path: PathBuf },
    #[error("{path}: column '{name}' appears twice (columns {first} and {second}): rename one, or ignore it with {} and _", Setting::Columns)]
    DuplicateColumn {
        path: PathBuf,
        name: String,
        first: usize,
        second: usize,
    },
    #[error("{path}: {} {field}={wanted}: there is no column '{wanted}' (columns: {})", Setting::Field, .columns.join(", "))]
    NoSuchColumn {
        path: PathBuf,
        field: &'static str,
        wanted: String,
        columns: Vec<String>,
    },
    #[error("{path}: no '{title}' or '{text}' column to embed (columns: {}); name them with {f} title=COLUMN / {f} text=COLUMN", .columns.join(", "), f = Setting::Field)]
    NothingToEmbed {
        path: PathBuf,
        title: String,
        text: String,
        columns: Vec<String>,
    },
    #[error("{path}: column '{name}' would be written as '{renamed}', which is also a column: rename one")]
    RenamedColumnTaken {
        path: PathBuf,
        name: String,
        renamed: String,
    },
    #[error("{path}: unknown column name '{name}' in {}: use id, title, text, date, label, a column named by {}, or _ to ignore a column", Setting::Columns, Setting::Field)]
    UnknownColumnName { path: PathBuf, name: String },
    #[error("{path}: {} needs {c} to name the columns (for example {c} label,title,text)", Setting::NoHeader, c = Setting::Columns)]
    NoHeaderNeedsColumns { path: PathBuf },
    #[error("{path}: empty file: no header line")]
    EmptyCsv { path: PathBuf },
    #[error("{path}: header column {column} is not valid UTF-8")]
    HeaderNotUtf8 { path: PathBuf, column: usize },
    #[error("{path}: column '{name}' has type {data_type}, which is not text")]
    NotText {
        path: PathBuf,
        name: String,
        data_type: String,
    },
    #[error("{path}: a compressed Parquet file cannot be read: Parquet compresses its own pages, so decompress the file")]
    CompressedParquet { path: PathBuf },
    #[error("{path}:{line}: read error: {source}")]
    Io {
        path: PathBuf,
        line: u64,
        source: Cause,
    },
    /// `row`: near which row, when it is known.
    #[error("{path}: not a readable Parquet file: {}{source}", .row.map(|r| format!("near row {r}: ")).unwrap_or_default())]
    Parquet {
        path: PathBuf,
        row: Option<u64>,
        source: Cause,
    },
    #[error("{path}: no input files in this folder (looked for {kinds})")]
    EmptyFolder { path: PathBuf, kinds: &'static str },
    #[error("no input file given")]
    NoInput,
    /// `first`: how it was named the first time, when that differs.
    #[error("{path}: given twice as input{}", first.as_ref().map(|f| format!(" (first as {})", f.display())).unwrap_or_else(|| " (directly or through its folder)".into()))]
    Twice {
        path: PathBuf,
        first: Option<PathBuf>,
    },
}

/// An output that could not be written (it is not left behind half-written).
#[derive(Debug, thiserror::Error)]
#[error("{path}: cannot write: {source}")]
pub struct WriteError {
    pub path: PathBuf,
    #[source]
    pub source: Cause,
}

impl WriteError {
    pub fn new(path: &Path, e: impl Into<Cause>) -> Self {
        Self {
            path: path.to_path_buf(),
            source: e.into(),
        }
    }
}

/// How to read an input file.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    pub format: InputFormat,
    /// CSV only: the first line is data, not a header.
    pub no_header: bool,
    /// CSV only: names for the columns, in order (needed with `no_header`; replaces a header otherwise).
    pub columns: Option<Vec<String>>,
    /// Which input column holds each article field.
    pub fields: FieldMap,
    /// Read at most this many records (bad ones included).
    pub limit: Option<u64>,
}

/// One item of the stream: an article or a record that had to be skipped.
#[derive(Debug)]
pub enum Item {
    Article(Article),
    Bad(BadRecord),
}

/// The columns a reader found, known before the first record.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InputColumns {
    pub has_date: bool,
    pub has_label: bool,
    /// Other columns, passed through as text.
    pub extra: Vec<String>,
}

type ItemIter = Box<dyn Iterator<Item = Result<Item, ReadError>> + Send>;

/// A text input's bytes, decompressed when the file is.
type Source = Box<dyn std::io::Read + Send>;

/// Compression of a CSV or JSONL file, by its last extension (`.gz`, `.zst`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Zstd,
}

/// A streaming reader over one or more input files, read one after another.
///
/// The first file's columns are the output's. A later file may differ: a passed-through column
/// it lacks is null for its rows, and its own extra columns (or a date or label column the
/// first file lacks) are left out; each difference is warned about once, when the reader opens.
/// Positions, default ids and `limit` count across all files.
pub struct ArticleReader {
    files: Vec<PathBuf>,
    options: ReadOptions,
    columns: InputColumns,
    /// The file being read, its records and how they map onto `columns`.
    current: usize,
    inner: ItemIter,
    remap: Remap,
    /// Position of the next record in the whole input.
    position: u64,
    remaining: Option<u64>,
}

impl ArticleReader {
    /// Opens `path` (a file, or a folder of input files), reads its header or schema, and
    /// checks the needed columns exist.
    pub fn open(path: &Path, options: &ReadOptions) -> Result<Self, ReadError> {
        Self::open_all(std::slice::from_ref(&path.to_path_buf()), options)
    }

    /// Opens `inputs` (files and folders, see [`input_files`]) to be read in that order. Every
    /// file's header or schema is checked here, before the first record is read.
    pub fn open_all(inputs: &[PathBuf], options: &ReadOptions) -> Result<Self, ReadError> {
        let files = input_files(inputs, options.format)?;
        let (columns, inner) = open_file(&files[0], options)?;
        for file in &files[1..] {
            let (theirs, _) = open_file(file, options)?;
            Remap::new(&columns, &theirs).warn(file, &files[0]);
        }
        Ok(Self {
            files,
            options: options.clone(),
            columns,
            current: 0,
            inner,
            remap: Remap::default(),
            position: 0,
            remaining: options.limit,
        })
    }

    /// How many records `inputs` hold, bad ones included, `limit` applied: the positions a
    /// reader of them yields. From the footers when every file is Parquet (no row is read),
    /// else by reading the files through. Every file's header or schema is checked either way.
    pub fn count(inputs: &[PathBuf], options: &ReadOptions) -> Result<u64, ReadError> {
        let mut reader = Self::open_all(inputs, options)?;
        let parquet = reader
            .files
            .iter()
            .all(|f| resolve(f, options.format) == (Some(InputFormat::Parquet), Compression::None));
        if !parquet {
            return reader.try_fold(0u64, |n, item| item.map(|_| n + 1));
        }
        let total = reader
            .files
            .iter()
            .map(|f| parquet_in::rows(f))
            .sum::<Result<u64, ReadError>>()?;
        Ok(options.limit.map_or(total, |limit| total.min(limit)))
    }

    /// The files read, folders expanded, in reading order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The file the last record came from.
    pub fn path(&self) -> &Path {
        &self.files[self.current]
    }

    /// Index in [`Self::files`] of the file the last record came from.
    pub fn file_index(&self) -> usize {
        self.current
    }

    /// The output's columns: the first file's.
    pub fn columns(&self) -> &InputColumns {
        &self.columns
    }

    /// The texts to embed of the whole input, bad records and empty texts left out (for
    /// benchmarks, which time embedding, not reading).
    pub fn texts(
        inputs: &[PathBuf],
        options: &ReadOptions,
        text: &TextSpec,
    ) -> Result<Vec<String>, ReadError> {
        let mut out = Vec::new();
        for item in Self::open_all(inputs, options)? {
            if let Item::Article(a) = item? {
                out.extend(text.compose(&a));
            }
        }
        Ok(out)
    }
}

/// What starts the id newsclust gives a record without one, before the record's 0-based
/// position in the whole input (`#17`): unlike a bare number, not an id inputs commonly have.
pub const MADE_UP_ID: &str = "#";

impl Iterator for ArticleReader {
    type Item = Result<Item, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == Some(0) {
            return None;
        }
        loop {
            match self.inner.next() {
                Some(Ok(mut item)) => {
                    if let Item::Article(a) = &mut item {
                        a.position = self.position;
                        if a.id.is_empty() {
                            a.id = format!("{}{}", MADE_UP_ID, self.position);
                            a.made_up_id = true;
                        }
                        self.remap.apply(a);
                    }
                    self.position += 1;
                    if let Some(remaining) = self.remaining.as_mut() {
                        *remaining -= 1;
                    }
                    return Some(Ok(item));
                }
                Some(Err(err)) => return Some(Err(err)),
                None if self.current + 1 < self.files.len() => {
                    self.current += 1;
                    let path = &self.files[self.current];
                    match open_file(path, &self.options) {
                        Ok((theirs, inner)) => {
                            self.remap = Remap::new(&self.columns, &theirs);
                            self.inner = inner;
                        }
                        Err(err) => {
                            self.inner = Box::new(std::iter::empty());
                            self.current = self.files.len() - 1;
                            return Some(Err(err));
                        }
                    }
                }
                None => return None,
            }
        }
    }
}

/// Opens one input file in its format (`--format`, or its extension), decompressing a `.gz` or
/// `.zst` CSV or JSONL file as it reads.
fn open_file(path: &Path, options: &ReadOptions) -> Result<(InputColumns, ItemIter), ReadError> {
    let open_err = |source| ReadError::Open {
        path: path.to_path_buf(),
        source,
    };
    // Folders never get here: `input_files` expands them into their files.
    let file = remote::open(path).map_err(open_err)?;
    let (format, compression) = resolve(path, options.format);
    let format = format.ok_or_else(|| ReadError::UnknownFormat {
        path: path.to_path_buf(),
    })?;
    let text = |file: remote::AnyFile| -> Result<Source, ReadError> {
        let file = file.stream().map_err(open_err)?;
        Ok(match compression {
            Compression::None => Box::new(file),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(file)),
            Compression::Zstd => {
                Box::new(zstd::stream::read::Decoder::new(file).map_err(open_err)?)
            }
        })
    };
    match format {
        InputFormat::Csv => csv_in::open(path, text(file)?, options),
        InputFormat::Jsonl => jsonl_in::open(path, text(file)?, options),
        InputFormat::Parquet if compression != Compression::None => {
            Err(ReadError::CompressedParquet {
                path: path.to_path_buf(),
            })
        }
        InputFormat::Parquet => parquet_in::open(path, file, options),
        InputFormat::Auto => unreachable!("resolved above"),
    }
}

/// The format a file is read in: `format` unless it is `Auto`, else what its extension names
/// (`None`: none known); and the compression around it.
fn resolve(path: &Path, format: InputFormat) -> (Option<InputFormat>, Compression) {
    let (detected, compression) = detect(path);
    match format {
        InputFormat::Auto => (detected, compression),
        other => (Some(other), compression),
    }
}

/// The format an extension names (`None`: none known) and the compression around it:
/// `a.csv`, `a.jsonl.gz`, `a.ndjson.zst`, `a.parquet`.
fn detect(path: &Path) -> (Option<InputFormat>, Compression) {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let (inner, compression) = match name.rsplit_once('.') {
        Some((inner, "gz")) => (inner, Compression::Gzip),
        Some((inner, "zst")) => (inner, Compression::Zstd),
        _ => (name.as_str(), Compression::None),
    };
    let format = match inner.rsplit_once('.').map(|(_, ext)| ext) {
        Some("csv") => Some(InputFormat::Csv),
        Some("jsonl" | "ndjson" | "json") => Some(InputFormat::Jsonl),
        Some("parquet" | "pq") => Some(InputFormat::Parquet),
        _ => None,
    };
    (format, compression)
}
