//! Embeddings files read in passes: their footers checked once ([`EmbeddingsFiles::open`]), then
//! their rows read batch by batch, only the columns a pass wants, as often as a caller needs
//! (streaming clustering reads them several times; [`super::read_all`] once).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;

use super::columns::{strings, vector_type, vectors};
use super::{file_err, parts, EmbeddingsReadError, Problem};
use crate::io::format::{columns, meta};
use crate::matrix::Matrix;

/// The columns a pass reads (the vectors are always checked where read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Want {
    pub vectors: bool,
    /// The `text` column.
    pub text: bool,
    /// `id`, `title`, `date` and `label`.
    pub meta: bool,
}

impl Want {
    pub const ALL: Want = Want {
        vectors: true,
        text: true,
        meta: true,
    };
    pub const VECTORS: Want = Want {
        vectors: true,
        text: false,
        meta: false,
    };
}

/// Rows of one pass, in file order. Columns the pass did not want are empty (`vectors`: no
/// rows); `texts` holds "" and `dates`/`labels` `None` for files without those columns.
#[derive(Clone, Debug)]
pub struct DocBatch {
    /// The first row's number, counted over all files from 0.
    pub first: usize,
    pub rows: usize,
    pub ids: Vec<String>,
    pub titles: Vec<String>,
    pub texts: Vec<String>,
    pub dates: Option<Vec<Option<String>>>,
    pub labels: Option<Vec<Option<String>>>,
    pub vectors: Matrix,
}

/// One file, as its footer describes it.
#[derive(Clone, Debug)]
struct FileInfo {
    path: PathBuf,
    rows: usize,
    has_text: bool,
    has_date: bool,
    has_label: bool,
    /// The vectors' length as the column type fixes it, and as the metadata says.
    declared: Option<usize>,
    meta_dim: Option<usize>,
    model: Option<String>,
    /// The footer, parsed once: each pass reads the rows with it.
    footer: ArrowReaderMetadata,
}

impl FileInfo {
    fn dim(&self) -> Option<usize> {
        self.declared.or(self.meta_dim)
    }
}

/// The embeddings files of one job, checked from their footers: one model (the same name where
/// the metadata names one, the same dimension), `id` and `title` columns, an embedding column of
/// floats, a whole set of parts.
#[derive(Clone, Debug)]
pub struct EmbeddingsFiles {
    files: Vec<FileInfo>,
    /// The first file's footer metadata.
    pub metadata: HashMap<String, String>,
}

impl EmbeddingsFiles {
    /// Lists and checks the files of `paths` (files and folders, see [`crate::io::input_files`]),
    /// the parts of a sharded job as one whole set.
    pub fn open(paths: &[PathBuf]) -> Result<Self, EmbeddingsReadError> {
        let files = crate::io::input_files(paths, crate::io::InputFormat::Parquet)?;
        Self::of_files(&files, true)
    }

    /// One file, as named.
    pub fn open_file(path: &Path) -> Result<Self, EmbeddingsReadError> {
        Self::of_files(&[path.to_path_buf()], false)
    }

    /// Reads each footer once and checks the files (`parts`: the parts among them too).
    fn of_files(paths: &[PathBuf], parts: bool) -> Result<Self, EmbeddingsReadError> {
        let footers: Vec<(FileInfo, HashMap<String, String>)> =
            paths.iter().map(|p| footer(p)).collect::<Result<_, _>>()?;
        if parts {
            let listed: Vec<(&Path, &HashMap<String, String>)> = footers
                .iter()
                .map(|(info, meta)| (info.path.as_path(), meta))
                .collect();
            parts::check_parts(&listed)?;
        }
        let mut files: Vec<FileInfo> = Vec::with_capacity(paths.len());
        let mut metadata = HashMap::new();
        for (info, meta) in footers {
            if let Some(first) = files.first() {
                let same_id = match (&first.model, &info.model) {
                    (Some(a), Some(b)) => a == b,
                    _ => true,
                };
                let same_dim = match (first.dim(), info.dim()) {
                    (Some(a), Some(b)) => a == b,
                    _ => true,
                };
                if !same_id || !same_dim {
                    return Err(other_model(first, &info, info.dim()));
                }
            } else {
                metadata = meta;
            }
            files.push(info);
        }
        Ok(Self { files, metadata })
    }

    /// Rows in all files, from their footers.
    pub fn rows(&self) -> usize {
        self.files.iter().map(|f| f.rows).sum()
    }

    /// The vectors' length, when a footer says.
    pub fn dim(&self) -> Option<usize> {
        self.files.iter().find_map(FileInfo::dim)
    }

    /// The first file's path.
    pub fn first_path(&self) -> &Path {
        self.files
            .first()
            .map_or(Path::new(""), |f| f.path.as_path())
    }

    /// Whether any file has a date column (a label column).
    pub fn has_dates(&self) -> bool {
        self.files.iter().any(|f| f.has_date)
    }

    pub fn has_labels(&self) -> bool {
        self.files.iter().any(|f| f.has_label)
    }

    /// Reads every row once, in batches of at most `batch_rows` rows (never spanning two files),
    /// the columns of `want`, handing each batch to `f`. Returns the vectors' length (`None`:
    /// no vectors read, and no footer says).
    pub fn pass<E: From<EmbeddingsReadError>>(
        &self,
        want: Want,
        batch_rows: usize,
        mut f: impl FnMut(DocBatch) -> Result<(), E>,
    ) -> Result<Option<usize>, E> {
        let mut first = 0usize;
        let mut dim_seen: Option<(usize, usize)> = None; // (dim, file)
        for (n, file) in self.files.iter().enumerate() {
            let err = file_err(&file.path);
            let handle = crate::io::remote::open(&file.path).map_err(|e| err(Problem::Open(e)))?;
            let builder =
                ParquetRecordBatchReaderBuilder::new_with_metadata(handle, file.footer.clone());
            let schema = builder.schema().clone();
            let mut roots = Vec::new();
            let mut root = |name: &str, wanted: bool| {
                if wanted {
                    if let Ok(i) = schema.index_of(name) {
                        roots.push(i);
                    }
                }
            };
            root(columns::ID, want.meta);
            root(columns::TITLE, want.meta);
            root(columns::DATE, want.meta);
            root(columns::LABEL, want.meta);
            root(columns::TEXT, want.text);
            root(columns::EMBEDDING, want.vectors);
            let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
            let reader = builder
                .with_projection(mask)
                .with_batch_size(batch_rows.max(1))
                .build()
                .map_err(|e| err(Problem::Parquet(e)))?;
            let mut dim = file.declared;
            let mut in_file = 0usize;
            for batch in reader {
                let batch = batch.map_err(|e| err(Problem::Read(e)))?;
                let rows = batch.num_rows();
                let text = |name: &str| strings(&batch, name).map_err(&err);
                let plain = |v: Vec<Option<String>>| -> Vec<String> {
                    v.into_iter().map(Option::unwrap_or_default).collect()
                };
                let mut out = DocBatch {
                    first,
                    rows,
                    ids: Vec::new(),
                    titles: Vec::new(),
                    texts: Vec::new(),
                    dates: None,
                    labels: None,
                    vectors: Matrix::new(Vec::new(), dim.unwrap_or(1)).expect("empty"),
                };
                if want.meta {
                    out.ids = plain(text(columns::ID)?);
                    out.titles = plain(text(columns::TITLE)?);
                    if self.has_dates() {
                        out.dates = Some(match file.has_date {
                            true => text(columns::DATE)?,
                            false => vec![None; rows],
                        });
                    }
                    if self.has_labels() {
                        out.labels = Some(match file.has_label {
                            true => text(columns::LABEL)?,
                            false => vec![None; rows],
                        });
                    }
                }
                if want.text {
                    out.texts = match file.has_text {
                        true => plain(text(columns::TEXT)?),
                        false => vec![String::new(); rows],
                    };
                }
                if want.vectors {
                    let col = batch
                        .column_by_name(columns::EMBEDDING)
                        .expect("checked in the footer");
                    let mut values = Vec::with_capacity(rows * dim.unwrap_or(0));
                    vectors(col, in_file, &mut dim, &mut values).map_err(&err)?;
                    let d = dim.unwrap_or(1);
                    out.vectors =
                        Matrix::new(values, d).ok_or_else(|| err(Problem::Dimension(d)))?;
                }
                first += rows;
                in_file += rows;
                f(out)?;
            }
            if let (Some(d), Some(metadata), true) = (dim, file.meta_dim, want.vectors) {
                if d != metadata {
                    return Err(err(Problem::Dimensions {
                        metadata,
                        column: d,
                    })
                    .into());
                }
            }
            if let (Some(d), true) = (dim, want.vectors) {
                match dim_seen {
                    Some((seen, at)) if seen != d => {
                        return Err(other_model(&self.files[at], file, Some(d)).into())
                    }
                    None => dim_seen = Some((d, n)),
                    _ => {}
                }
            }
        }
        Ok(dim_seen.map(|d| d.0).or(self.dim()))
    }
}

/// `theirs` is of another model than `first` (by name or by `dim`).
fn other_model(first: &FileInfo, theirs: &FileInfo, dim: Option<usize>) -> EmbeddingsReadError {
    let name = |id: &Option<String>, dim: Option<usize>| {
        format!(
            "{} ({}-d)",
            id.as_deref().unwrap_or("an unnamed model"),
            dim.map_or("?".to_string(), |d| d.to_string())
        )
    };
    file_err(&theirs.path)(Problem::OtherModel {
        theirs: name(&theirs.model, dim),
        first_file: first.path.clone(),
        first: name(&first.model, first.dim()),
    })
}

/// A file's description from its footer, and its metadata; the columns it must have checked.
fn footer(path: &Path) -> Result<(FileInfo, HashMap<String, String>), EmbeddingsReadError> {
    let err = file_err(path);
    let handle = crate::io::remote::open(path).map_err(|e| err(Problem::Open(e)))?;
    let footer = ArrowReaderMetadata::load(&handle, ArrowReaderOptions::default())
        .map_err(|e| err(Problem::Parquet(e)))?;
    let metadata: HashMap<String, String> = footer
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kv| {
            kv.iter()
                .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let schema = footer.schema().clone();
    let declared = match schema.field_with_name(columns::EMBEDDING) {
        Ok(field) => match vector_type(field.data_type()) {
            Some(fixed) => fixed,
            None => return Err(err(Problem::NotVectors(field.data_type().clone()))),
        },
        Err(_) => return Err(err(Problem::MissingColumn(columns::EMBEDDING))),
    };
    let meta_dim = match metadata.get(meta::DIMENSION) {
        Some(text) => Some(text.parse::<usize>().map_err(|_| {
            err(Problem::NotANumber {
                key: meta::DIMENSION,
                value: text.clone(),
            })
        })?),
        None => None,
    };
    if let (Some(fixed), Some(metadata)) = (declared, meta_dim) {
        if fixed != metadata {
            return Err(err(Problem::Dimensions {
                metadata,
                column: fixed,
            }));
        }
    }
    for needed in [columns::ID, columns::TITLE] {
        if schema.field_with_name(needed).is_err() {
            return Err(err(Problem::MissingColumn(needed)));
        }
    }
    let has = |name: &str| schema.field_with_name(name).is_ok();
    let rows = footer.metadata().file_metadata().num_rows().max(0) as usize;
    let info = FileInfo {
        path: path.to_path_buf(),
        rows,
        has_text: has(columns::TEXT),
        has_date: has(columns::DATE),
        has_label: has(columns::LABEL),
        declared,
        meta_dim,
        model: metadata.get(meta::MODEL_ID).cloned(),
        footer,
    };
    Ok((info, metadata))
}
