//! Reading an `embed` output back: documents, the embedding matrix and the model metadata.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::ParquetMetaDataReader;

use super::format::{columns, meta};
use crate::matrix::Matrix;

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

fn missing_names(missing: &[u32], count: u32) -> String {
    let names: Vec<String> = missing
        .iter()
        .take(5)
        .map(|&index| crate::io::shard::Shard { index, count }.part_name())
        .collect();
    let more = missing.len().saturating_sub(names.len());
    if more > 0 {
        format!("{} and {more} more", names.join(", "))
    } else {
        names.join(", ")
    }
}

/// The parts among `files` (named `part-IIIII-of-NNNNN.parquet`) must be one whole set: one
/// count, every index once.
fn check_parts(files: &[PathBuf]) -> Result<(), EmbeddingsReadError> {
    use crate::io::shard::Shard;
    let mut first: Option<(&PathBuf, Shard)> = None;
    let mut seen: HashMap<u32, &PathBuf> = HashMap::new();
    for path in files {
        let Some(shard) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(Shard::of_part_name)
        else {
            continue;
        };
        let (first_path, first_shard) = *first.get_or_insert((path, shard));
        if shard.count != first_shard.count {
            return Err(EmbeddingsReadError::PartsMixed {
                path: path.clone(),
                theirs: shard.count,
                first_path: first_path.clone(),
                first: first_shard.count,
            });
        }
        if let Some(earlier) = seen.insert(shard.index, path) {
            return Err(EmbeddingsReadError::PartTwice {
                path: path.clone(),
                index: shard.index,
                first: earlier.clone(),
            });
        }
    }
    if let Some((path, shard)) = first {
        let missing: Vec<u32> = (0..shard.count).filter(|i| !seen.contains_key(i)).collect();
        if !missing.is_empty() {
            return Err(EmbeddingsReadError::PartsMissing {
                folder: path.parent().map(Path::to_path_buf).unwrap_or_default(),
                missing,
                count: shard.count,
            });
        }
        // In index order, each part starts where the one before ended, all of one input.
        let mut end = 0u64;
        let mut input_total = None;
        for index in 0..shard.count {
            let path = seen[&index];
            let Some((start, stop, total)) = shard_records(path) else {
                return Ok(()); // parts without the metadata (older): nothing to compare
            };
            let total_now = *input_total.get_or_insert(total);
            if start != end || total != total_now || (index + 1 == shard.count && stop != total) {
                return Err(EmbeddingsReadError::PartsDisagree {
                    path: path.clone(),
                    got: format!("{start}-{stop} of {total}"),
                    want: end,
                    total: total_now,
                });
            }
            end = stop;
        }
        // All parts of one input, by its fingerprint (parts of older versions have none).
        let first_input = footer_value(seen[&0], meta::INPUT);
        for index in 1..shard.count {
            let theirs = footer_value(seen[&index], meta::INPUT);
            if let (Some(a), Some(b)) = (&first_input, &theirs) {
                if a != b {
                    return Err(EmbeddingsReadError::PartsOtherInput {
                        path: seen[&index].clone(),
                        first: seen[&0].clone(),
                    });
                }
            }
        }
    }
    Ok(())
}

/// A part's `START-END of TOTAL` (its metadata), when it says so.
fn shard_records(path: &Path) -> Option<(u64, u64, u64)> {
    let text = footer_value(path, meta::SHARD_RECORDS)?;
    let (range, total) = text.split_once(" of ")?;
    let (start, stop) = range.split_once('-')?;
    Some((start.parse().ok()?, stop.parse().ok()?, total.parse().ok()?))
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
    let files = crate::io::input_files(paths, crate::io::InputFormat::Parquet)?;
    check_parts(&files)?;
    let mut docs = read(&files[0])?;
    let model = |d: &EmbeddedDocs| {
        let id = d.metadata.get(meta::MODEL_ID).cloned();
        (id, d.embeddings.dim())
    };
    let first_model = model(&docs);
    let mut values = std::mem::replace(
        &mut docs.embeddings,
        Matrix::new(Vec::new(), 1).expect("empty"),
    )
    .into_vec();
    for path in &files[1..] {
        let more = read(path)?;
        let theirs = model(&more);
        let same_id = match (&first_model.0, &theirs.0) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        if !same_id || first_model.1 != theirs.1 {
            let name = |m: &(Option<String>, usize)| {
                format!(
                    "{} ({}-d)",
                    m.0.as_deref().unwrap_or("an unnamed model"),
                    m.1
                )
            };
            return Err(file_err(path)(Problem::OtherModel {
                theirs: name(&theirs),
                first_file: files[0].clone(),
                first: name(&first_model),
            }));
        }
        let (before, rows) = (docs.ids.len(), more.ids.len());
        let column = |ours: &mut Option<Vec<Option<String>>>,
                      theirs: Option<Vec<Option<String>>>| {
            match (ours.as_mut(), theirs) {
                (Some(o), Some(t)) => o.extend(t),
                (Some(o), None) => o.extend(std::iter::repeat_n(None, rows)),
                (None, Some(t)) => {
                    let mut all = vec![None; before];
                    all.extend(t);
                    *ours = Some(all);
                }
                (None, None) => {}
            }
        };
        column(&mut docs.dates, more.dates);
        column(&mut docs.labels, more.labels);
        docs.ids.extend(more.ids);
        docs.titles.extend(more.titles);
        docs.texts.extend(more.texts);
        values.extend_from_slice(more.embeddings.as_slice());
    }
    let dim = first_model.1;
    docs.embeddings =
        Matrix::new(values, dim).ok_or_else(|| file_err(&files[0])(Problem::Dimension(dim)))?;
    Ok(docs)
}

/// The model the first of `paths` names in its metadata, read from its footer alone (`None`
/// when it names none or cannot be read: [`read_all`] then says why), so that the model can
/// load while the files are read.
pub fn model_id(paths: &[PathBuf]) -> Option<String> {
    let files = crate::io::input_files(paths, crate::io::InputFormat::Parquet).ok()?;
    footer_value(files.first()?, meta::MODEL_ID)
}

/// The value of `key` in the footer metadata of the Parquet file at `path`, read without
/// reading its rows.
fn footer_value(path: &Path, key: &str) -> Option<String> {
    let file = crate::io::remote::open(path).ok()?;
    let meta = ParquetMetaDataReader::new().parse_and_finish(&file).ok()?;
    meta.file_metadata()
        .key_value_metadata()?
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .clone()
}

/// Reads the whole file (the clustering stage needs every vector at once).
pub fn read(path: &Path) -> Result<EmbeddedDocs, EmbeddingsReadError> {
    let err = file_err(path);
    let file = crate::io::remote::open(path).map_err(|e| err(Problem::Open(e)))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| err(Problem::Parquet(e)))?;
    let metadata: HashMap<String, String> = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kv| {
            kv.iter()
                .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let schema = builder.schema().clone();
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
    // The column's length against the metadata: before reading when the type fixes it, after
    // reading the vectors otherwise.
    let check_dim = |dim: usize| match meta_dim {
        Some(metadata) if metadata != dim => Err(err(Problem::Dimensions {
            metadata,
            column: dim,
        })),
        _ => Ok(()),
    };
    if let Some(fixed) = declared {
        check_dim(fixed)?;
    }
    for needed in [columns::ID, columns::TITLE] {
        if schema.field_with_name(needed).is_err() {
            return Err(err(Problem::MissingColumn(needed)));
        }
    }
    let has = |name: &str| schema.field_with_name(name).is_ok();
    let (has_text, has_date, has_label) =
        (has(columns::TEXT), has(columns::DATE), has(columns::LABEL));
    let reader = builder.build().map_err(|e| err(Problem::Parquet(e)))?;
    let mut docs = EmbeddedDocs {
        ids: Vec::new(),
        titles: Vec::new(),
        texts: Vec::new(),
        dates: has_date.then(Vec::new),
        labels: has_label.then(Vec::new),
        embeddings: Matrix::new(Vec::new(), 1).expect("empty"),
        metadata,
    };
    let mut values: Vec<f32> = Vec::new();
    let mut dim = declared;
    for batch in reader {
        let batch = batch.map_err(|e| err(Problem::Read(e)))?;
        let strings = |name: &str| -> Result<Vec<Option<String>>, EmbeddingsReadError> {
            strings(&batch, name).map_err(&err)
        };
        docs.ids.extend(
            strings(columns::ID)?
                .into_iter()
                .map(Option::unwrap_or_default),
        );
        docs.titles.extend(
            strings(columns::TITLE)?
                .into_iter()
                .map(Option::unwrap_or_default),
        );
        if has_text {
            docs.texts.extend(
                strings(columns::TEXT)?
                    .into_iter()
                    .map(Option::unwrap_or_default),
            );
        } else {
            docs.texts
                .extend(std::iter::repeat_n(String::new(), batch.num_rows()));
        }
        if let Some(d) = docs.dates.as_mut() {
            d.extend(strings(columns::DATE)?);
        }
        if let Some(l) = docs.labels.as_mut() {
            l.extend(strings(columns::LABEL)?);
        }
        let col = batch
            .column_by_name(columns::EMBEDDING)
            .expect("checked above");
        let first = docs.ids.len() - batch.num_rows();
        vectors(col, first, &mut dim, &mut values).map_err(&err)?;
    }
    // `dim` started as the declared length; without one and without rows, the metadata's.
    let dim = dim.or(meta_dim).unwrap_or(1);
    check_dim(dim)?;
    docs.embeddings = Matrix::new(values, dim).ok_or_else(|| err(Problem::Dimension(dim)))?;
    Ok(docs)
}

/// For a column type that can hold vectors, its fixed length if the type has one.
fn vector_type(dt: &DataType) -> Option<Option<usize>> {
    let float = |f: &arrow_schema::FieldRef| {
        matches!(
            f.data_type(),
            DataType::Float16 | DataType::Float32 | DataType::Float64
        )
    };
    match dt {
        DataType::FixedSizeList(item, n) if float(item) => Some(Some(*n as usize)),
        DataType::List(item) | DataType::LargeList(item) if float(item) => Some(None),
        _ => None,
    }
}

/// Appends the vectors of one batch's embedding column (rows numbered from `first`) to
/// `values`, in f32. Every vector must be there, have `dim` finite values (the first one sets
/// `dim` when the column type does not), and the error names the first row that does not.
fn vectors(
    col: &ArrayRef,
    first: usize,
    dim: &mut Option<usize>,
    values: &mut Vec<f32>,
) -> Result<(), Problem> {
    // Each row's range in the list's values, whatever the list type.
    let (items, ranges): (&ArrayRef, Vec<std::ops::Range<usize>>) = match col.data_type() {
        DataType::FixedSizeList(_, _) => {
            let list = col.as_fixed_size_list();
            let n = list.value_length() as usize;
            let ranges = (0..list.len())
                .map(|i| {
                    let start = list.value_offset(i) as usize;
                    start..start + n
                })
                .collect();
            (list.values(), ranges)
        }
        DataType::List(_) => {
            let list = col.as_list::<i32>();
            let o = list.value_offsets();
            let ranges = (0..list.len()).map(|i| o[i] as usize..o[i + 1] as usize);
            (list.values(), ranges.collect())
        }
        DataType::LargeList(_) => {
            let list = col.as_list::<i64>();
            let o = list.value_offsets();
            let ranges = (0..list.len()).map(|i| o[i] as usize..o[i + 1] as usize);
            (list.values(), ranges.collect())
        }
        other => return Err(Problem::NotVectors(other.clone())),
    };
    let items = arrow_cast::cast(items, &DataType::Float32).map_err(|source| Problem::Column {
        column: columns::EMBEDDING.to_string(),
        source,
    })?;
    let items = items.as_primitive::<Float32Type>();
    for (i, range) in ranges.into_iter().enumerate() {
        let row = first + i;
        if col.is_null(i) {
            return Err(Problem::MissingVector(row));
        }
        let want = *dim.get_or_insert(range.len());
        if range.len() != want {
            return Err(Problem::VectorLength {
                row,
                got: range.len(),
                want,
            });
        }
        if items.null_count() > 0 && range.clone().any(|j| items.is_null(j)) {
            return Err(Problem::MissingValue(row));
        }
        let v = &items.values()[range];
        if v.iter().any(|x| !x.is_finite()) {
            return Err(Problem::NotFinite(row));
        }
        values.extend_from_slice(v);
    }
    Ok(())
}

fn strings(batch: &RecordBatch, name: &str) -> Result<Vec<Option<String>>, Problem> {
    let not_text = || Problem::NotText(name.to_string());
    let col = batch.column_by_name(name).ok_or_else(not_text)?;
    let col = arrow_cast::cast(col, &DataType::Utf8).map_err(|source| Problem::Column {
        column: name.to_string(),
        source,
    })?;
    let col = col
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(not_text)?;
    Ok((0..col.len())
        .map(|i| (!col.is_null(i)).then(|| col.value(i).to_string()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::builder::{Float64Builder, LargeListBuilder, ListBuilder};
    use arrow_array::{FixedSizeListArray, Float64Array};
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
