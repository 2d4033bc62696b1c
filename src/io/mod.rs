//! Reading articles (CSV, JSONL, Parquet) as a stream, and writing outputs atomically.
//!
//! Readers know nothing about models: they turn input records into [`Article`]s, report records
//! they cannot use as [`BadRecord`]s (the caller counts and skips them) and stop only on errors
//! that make the whole input unusable ([`ReadError`]).

mod article;
pub mod atomic;
mod csv_in;
pub mod embeddings_in;
pub mod embeddings_out;
mod jsonl_in;
mod parquet_in;
pub mod topics_out;

pub use article::{Article, BadRecord, Field, FieldMap, FieldOverride, Location, TextSpec};

use std::fs::File;
use std::path::{Path, PathBuf};

/// Input file formats; `Auto` picks one from the file extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum InputFormat {
    #[default]
    Auto,
    Csv,
    Jsonl,
    Parquet,
}

/// Errors that stop reading altogether.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: cannot open input: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path}: cannot tell the input format from the extension; use --format csv|jsonl|parquet"
    )]
    UnknownFormat { path: PathBuf },
    #[error("{path}: {message}")]
    Columns { path: PathBuf, message: String },
    #[error("{path}:{line}: read error: {message}")]
    Io {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{path}: not a readable Parquet file: {message}")]
    Parquet { path: PathBuf, message: String },
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

/// A streaming reader over one input file.
pub struct ArticleReader {
    path: PathBuf,
    columns: InputColumns,
    inner: ItemIter,
    remaining: Option<u64>,
}

impl ArticleReader {
    /// Opens `path`, reads its header or schema, and checks the needed columns exist.
    pub fn open(path: &Path, options: &ReadOptions) -> Result<Self, ReadError> {
        let file = File::open(path).map_err(|source| ReadError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
            return Err(ReadError::Open {
                path: path.to_path_buf(),
                source: std::io::Error::other("is a directory"),
            });
        }
        let format = match options.format {
            InputFormat::Auto => detect_format(path)?,
            other => other,
        };
        let (columns, inner) = match format {
            InputFormat::Csv => csv_in::open(path, file, options)?,
            InputFormat::Jsonl => jsonl_in::open(path, file, options)?,
            InputFormat::Parquet => parquet_in::open(path, file, options)?,
            InputFormat::Auto => unreachable!("resolved above"),
        };
        Ok(Self {
            path: path.to_path_buf(),
            columns,
            inner,
            remaining: options.limit,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn columns(&self) -> &InputColumns {
        &self.columns
    }

    /// The texts to embed of the whole input, bad records and empty texts left out (for
    /// benchmarks, which time embedding, not reading).
    pub fn texts(
        path: &Path,
        options: &ReadOptions,
        text: &TextSpec,
    ) -> Result<Vec<String>, ReadError> {
        let mut out = Vec::new();
        for item in Self::open(path, options)? {
            if let Item::Article(a) = item? {
                out.extend(text.compose(&a));
            }
        }
        Ok(out)
    }
}

impl Iterator for ArticleReader {
    type Item = Result<Item, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(remaining) = self.remaining.as_mut() {
            if *remaining == 0 {
                return None;
            }
            *remaining -= 1;
        }
        self.inner.next()
    }
}

fn detect_format(path: &Path) -> Result<InputFormat, ReadError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("csv") => Ok(InputFormat::Csv),
        Some("jsonl") | Some("ndjson") | Some("json") => Ok(InputFormat::Jsonl),
        Some("parquet") | Some("pq") => Ok(InputFormat::Parquet),
        _ => Err(ReadError::UnknownFormat {
            path: path.to_path_buf(),
        }),
    }
}
