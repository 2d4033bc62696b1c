//! Reading an `embed` output back: documents, the embedding matrix and the model metadata.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use arrow_array::{Array, FixedSizeListArray, Float32Array, RecordBatch, StringArray};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::matrix::Matrix;

#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct EmbeddingsReadError {
    pub path: PathBuf,
    pub message: String,
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
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Reads the whole file (the clustering stage needs every vector at once).
pub fn read(path: &Path) -> Result<EmbeddedDocs, EmbeddingsReadError> {
    let err = |message: String| EmbeddingsReadError {
        path: path.to_path_buf(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| err(format!("cannot open: {e}")))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| err(format!("not a readable Parquet file: {e}")))?;
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
    let dim = match schema
        .field_with_name("embedding")
        .map(|f| f.data_type().clone())
    {
        Ok(DataType::FixedSizeList(item, n)) if item.data_type() == &DataType::Float32 => {
            n as usize
        }
        Ok(other) => {
            return Err(err(format!(
                "column 'embedding' has type {other}, expected FixedSizeList<Float32>"
            )))
        }
        Err(_) => {
            return Err(err(
                "no 'embedding' column: is this a `newsclust embed` output?".into(),
            ))
        }
    };
    if let Some(meta_dim) = metadata.get(crate::pipeline::meta::DIMENSION) {
        if meta_dim.parse::<usize>().ok() != Some(dim) {
            return Err(err(format!(
                "metadata says dimension {meta_dim}, the embedding column has {dim}"
            )));
        }
    }
    for needed in ["id", "title"] {
        if schema.field_with_name(needed).is_err() {
            return Err(err(format!(
                "no '{needed}' column: is this a `newsclust embed` output?"
            )));
        }
    }
    let has = |name: &str| schema.field_with_name(name).is_ok();
    let (has_text, has_date, has_label) = (has("text"), has("date"), has("label"));
    let reader = builder.build().map_err(|e| err(e.to_string()))?;
    let mut docs = EmbeddedDocs {
        ids: Vec::new(),
        titles: Vec::new(),
        texts: Vec::new(),
        dates: has_date.then(Vec::new),
        labels: has_label.then(Vec::new),
        embeddings: Matrix::new(Vec::new(), dim.max(1)).expect("empty"),
        metadata,
    };
    let mut values: Vec<f32> = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| err(e.to_string()))?;
        let strings = |name: &str| -> Result<Vec<Option<String>>, EmbeddingsReadError> {
            strings(&batch, name).map_err(&err)
        };
        docs.ids
            .extend(strings("id")?.into_iter().map(Option::unwrap_or_default));
        docs.titles
            .extend(strings("title")?.into_iter().map(Option::unwrap_or_default));
        if has_text {
            docs.texts
                .extend(strings("text")?.into_iter().map(Option::unwrap_or_default));
        } else {
            docs.texts
                .extend(std::iter::repeat_n(String::new(), batch.num_rows()));
        }
        if let Some(d) = docs.dates.as_mut() {
            d.extend(strings("date")?);
        }
        if let Some(l) = docs.labels.as_mut() {
            l.extend(strings("label")?);
        }
        let col = batch.column_by_name("embedding").expect("checked above");
        let list = col
            .as_any()
            .downcast_ref::<FixedSizeListArray>()
            .ok_or_else(|| err("bad embedding column".into()))?;
        if list.null_count() > 0 {
            return Err(err("the embedding column has nulls".into()));
        }
        let flat = list
            .values()
            .as_any()
            .downcast_ref::<Float32Array>()
            .ok_or_else(|| err("bad embedding values".into()))?;
        let start = list.value_offset(0).max(0) as usize;
        values.extend_from_slice(&flat.values()[start..start + list.len() * dim]);
    }
    if values.iter().any(|v| !v.is_finite()) {
        return Err(err("the embeddings contain NaN or infinite values".into()));
    }
    docs.embeddings =
        Matrix::new(values, dim).ok_or_else(|| err(format!("dimension {dim} is not usable")))?;
    Ok(docs)
}

fn strings(batch: &RecordBatch, name: &str) -> Result<Vec<Option<String>>, String> {
    let col = batch
        .column_by_name(name)
        .ok_or_else(|| format!("no '{name}' column"))?;
    let col =
        arrow_cast::cast(col, &DataType::Utf8).map_err(|e| format!("column '{name}': {e}"))?;
    let col = col
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| format!("column '{name}' is not text"))?;
    Ok((0..col.len())
        .map(|i| (!col.is_null(i)).then(|| col.value(i).to_string()))
        .collect())
}
