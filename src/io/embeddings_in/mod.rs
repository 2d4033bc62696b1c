//! Reading an `embed` output back: documents, the embedding matrix and the model metadata, whole
//! ([`read_all`]) or in passes over row batches ([`EmbeddingsFiles`]).

mod columns;
mod parts;
mod stream;

use parts::missing_names;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use arrow_schema::DataType;

use crate::matrix::Matrix;

pub use stream::{DocBatch, EmbeddingsFiles, Want};

#[derive(Debug, thiserror::Error)]
pub enum EmbeddingsReadError {
    /// The list of files (a folder without `.parquet` files, a file named twice).
    #[error(transparent)]
    Inputs(#[from] super::ReadError),
    #[error("{path}: {problem}")]
    File { path: PathBuf, problem: Problem },
    #[error("{}: the parts of a sharded job are incomplete: {} missing (of {count}); run those shards again", folder.display(), missing_names(missing, *count))]
    PartsMissing {
        folder: PathBuf,
        missing: Vec<u32>,
        count: u32,
    },
    #[error("{}: part of a job of {theirs} shards, but {} of one of {first}", path.display(), first_path.display())]
    PartsMixed {
        path: PathBuf,
        theirs: u32,
        first_path: PathBuf,
        first: u32,
    },
    #[error("{}: holds records {got}, but the parts before it end at record {want} of {total}: the parts come from different jobs or inputs; embed every shard of one input again", path.display())]
    PartsDisagree {
        path: PathBuf,
        got: String,
        want: u64,
        total: u64,
    },
    #[error("{}: a part of an embed job over another input than {} (their input files' names and sizes, or how they were read, differ); embed the missing shards again from one input", path.display(), first.display())]
    PartsOtherInput { path: PathBuf, first: PathBuf },
    #[error("{}: part {index} is given twice (also {})", path.display(), first.display())]
    PartTwice {
        path: PathBuf,
        index: u32,
        first: PathBuf,
    },
}

/// What is wrong with one embeddings file.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("cannot open: {0}")]
    Open(#[source] std::io::Error),
    #[error("not a readable Parquet file: {0}")]
    Parquet(#[source] parquet::errors::ParquetError),
    #[error("column 'embedding' has type {0}, expected a list of floats (FixedSizeList<Float32> as `newsclust embed` writes, or a list of float32/float64)")]
    NotVectors(DataType),
    #[error("no '{0}' column: is this a `newsclust embed` output?")]
    MissingColumn(&'static str),
    #[error("metadata '{key}' is not a number: {value}")]
    NotANumber { key: &'static str, value: String },
    #[error("metadata says dimension {metadata}, the embedding column has {column}")]
    Dimensions { metadata: usize, column: usize },
    #[error("made with {theirs}, but {} with {first}: vectors of different models cannot be clustered together", first_file.display())]
    OtherModel {
        theirs: String,
        first_file: PathBuf,
        first: String,
    },
    #[error("dimension {0} is not usable")]
    Dimension(usize),
    #[error("row {0}: the embedding is missing")]
    MissingVector(usize),
    #[error("row {row}: the embedding has {got} values, the ones before {want}")]
    VectorLength { row: usize, got: usize, want: usize },
    #[error("row {0}: the embedding has a missing value")]
    MissingValue(usize),
    #[error("row {0}: the embedding has NaN or infinite values")]
    NotFinite(usize),
    #[error("column '{column}': {source}")]
    Column {
        column: String,
        #[source]
        source: arrow_schema::ArrowError,
    },
    #[error("column '{0}' is not text")]
    NotText(String),
    #[error("{0}")]
    Read(#[source] arrow_schema::ArrowError),
}

fn file_err(path: &Path) -> impl Fn(Problem) -> EmbeddingsReadError + '_ {
    move |problem| EmbeddingsReadError::File {
        path: path.to_path_buf(),
        problem,
    }
}

/// The documents of an embeddings file, in file order.
#[derive(Clone, Debug)]
pub struct EmbeddedDocs {
    pub ids: Vec<String>,
    pub titles: Vec<String>,
    pub texts: Vec<String>,
    pub dates: Option<Vec<Option<String>>>,
    pub labels: Option<Vec<Option<String>>>,
    pub embeddings: Matrix,
    pub metadata: HashMap<String, String>,
}

impl EmbeddedDocs {
    /// No documents (of dimension 1).
    pub fn empty() -> Self {
        Self {
            ids: Vec::new(),
            titles: Vec::new(),
            texts: Vec::new(),
            dates: None,
            labels: None,
            embeddings: Matrix::new(Vec::new(), 1).expect("empty"),
            metadata: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Reads several files (and folders of `.parquet` files, see [`crate::io::input_files`]) as
/// one, rows in file order. They must come from one model: the same dimension and, where the
/// metadata names one, the same model. A date or label column that only some files have is
/// null for the others' rows; the first file's metadata is kept.
pub fn read_all(paths: &[PathBuf]) -> Result<EmbeddedDocs, EmbeddingsReadError> {
    read_files(&EmbeddingsFiles::open(paths)?)
}

/// Reads one file whole.
pub fn read(path: &Path) -> Result<EmbeddedDocs, EmbeddingsReadError> {
    read_files(&EmbeddingsFiles::open_file(path)?)
}

/// Every row of `files`, in memory (the in-memory clustering needs every vector at once).
pub fn read_files(files: &EmbeddingsFiles) -> Result<EmbeddedDocs, EmbeddingsReadError> {
    let rows = files.rows();
    let mut docs = EmbeddedDocs {
        ids: Vec::with_capacity(rows),
        titles: Vec::with_capacity(rows),
        texts: Vec::with_capacity(rows),
        dates: files.has_dates().then(Vec::new),
        labels: files.has_labels().then(Vec::new),
        embeddings: Matrix::new(Vec::new(), 1).expect("empty"),
        metadata: files.metadata.clone(),
    };
    let mut values: Vec<f32> = Vec::with_capacity(rows * files.dim().unwrap_or(0));
    let dim = files.pass(Want::ALL, 8192, |batch: DocBatch| {
        docs.ids.extend(batch.ids);
        docs.titles.extend(batch.titles);
        docs.texts.extend(batch.texts);
        if let (Some(all), Some(these)) = (docs.dates.as_mut(), batch.dates) {
            all.extend(these);
        }
        if let (Some(all), Some(these)) = (docs.labels.as_mut(), batch.labels) {
            all.extend(these);
        }
        values.extend_from_slice(batch.vectors.as_slice());
        Ok::<(), EmbeddingsReadError>(())
    })?;
    let dim = dim.unwrap_or(1);
    docs.embeddings = Matrix::new(values, dim)
        .ok_or_else(|| file_err(files.first_path())(Problem::Dimension(dim)))?;
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::builder::{Float64Builder, LargeListBuilder, ListBuilder};
    use arrow_array::{ArrayRef, FixedSizeListArray, Float64Array, RecordBatch, StringArray};
    use arrow_schema::{Field, Schema};
    use std::sync::Arc;

    const ROWS: [[f64; 3]; 3] = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.25, 0.75]];

    fn write(dir: &Path, name: &str, embedding: ArrayRef) -> PathBuf {
        let n = embedding.len();
        let ids: Vec<String> = (0..n).map(|i| format!("d{i}")).collect();
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("title", DataType::Utf8, false),
            Field::new("embedding", embedding.data_type().clone(), true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(ids.clone())),
                Arc::new(StringArray::from(ids)),
                embedding,
            ],
        )
        .unwrap();
        let path = dir.join(name);
        let file = std::fs::File::create(&path).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(file, schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        path
    }

    fn list(rows: &[Option<Vec<f64>>]) -> ArrayRef {
        let mut b = ListBuilder::new(Float64Builder::new());
        for row in rows {
            match row {
                Some(v) => {
                    b.values().append_slice(v);
                    b.append(true);
                }
                None => b.append(false),
            }
        }
        Arc::new(b.finish())
    }

    #[test]
    fn vectors_read_from_any_float_list_type() {
        let dir = tempfile::tempdir().unwrap();
        let rows: Vec<Option<Vec<f64>>> = ROWS.iter().map(|r| Some(r.to_vec())).collect();
        let mut large = LargeListBuilder::new(Float64Builder::new());
        for r in ROWS {
            large.values().append_slice(&r);
            large.append(true);
        }
        let flat: Vec<f64> = ROWS.iter().flatten().copied().collect();
        let item = Arc::new(Field::new("item", DataType::Float64, false));
        let fixed =
            FixedSizeListArray::try_new(item, 3, Arc::new(Float64Array::from(flat)), None).unwrap();
        let want: Vec<f32> = ROWS.iter().flatten().map(|&v| v as f32).collect();
        for (name, column) in [
            ("list.parquet", list(&rows)),
            ("large.parquet", Arc::new(large.finish()) as ArrayRef),
            ("fixed64.parquet", Arc::new(fixed) as ArrayRef),
        ] {
            let docs = read(&write(dir.path(), name, column)).unwrap();
            assert_eq!(docs.embeddings.dim(), 3, "{name}");
            assert_eq!(docs.embeddings.as_slice(), want.as_slice(), "{name}");
        }
    }

    #[test]
    fn a_bad_vector_is_named_by_its_row() {
        let dir = tempfile::tempdir().unwrap();
        let good = |i: usize| Some(ROWS[i % 3].to_vec());
        let cases = [
            (
                vec![good(0), good(1), Some(vec![1.0, 2.0])],
                "row 2: the embedding has 2 values, the ones before 3",
            ),
            (
                vec![good(0), None, good(2)],
                "row 1: the embedding is missing",
            ),
            (
                vec![good(0), good(1), Some(vec![0.0, f64::NAN, 1.0])],
                "row 2: the embedding has NaN",
            ),
        ];
        for (i, (rows, want)) in cases.into_iter().enumerate() {
            let path = write(dir.path(), &format!("bad{i}.parquet"), list(&rows));
            let e = read(&path).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
        let strings: ArrayRef = Arc::new(StringArray::from(vec!["0.1,0.2"]));
        let e = read(&write(dir.path(), "text.parquet", strings)).unwrap_err();
        assert!(e.to_string().contains("expected a list of floats"), "{e}");
    }
}
