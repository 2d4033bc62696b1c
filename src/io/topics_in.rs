//! An earlier output's topics read back (`documents.parquet`: each row's `id` and `topic_id`),
//! for `--reduce-to` to merge them without clustering again.

use std::path::{Path, PathBuf};

use arrow_array::{Array, Int32Array, StringArray};

use super::format::files;

/// Why an earlier output's topics could not be read or do not fit the embeddings.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct EarlierError {
    pub path: PathBuf,
    pub problem: EarlierProblem,
}

#[derive(Debug, thiserror::Error)]
pub enum EarlierProblem {
    #[error(
        "cannot open it ({0}); --reduce-to merges the topics of a folder `run` or `cluster` wrote"
    )]
    Open(#[source] std::io::Error),
    #[error("not a readable Parquet file: {0}")]
    Parquet(#[source] parquet::errors::ParquetError),
    #[error("no column '{0}' of the type newsclust writes")]
    Column(&'static str),
    #[error("has {got} rows, but the embeddings have {want}: --reduce-to needs the embeddings that output was clustered from")]
    Rows { got: usize, want: usize },
    #[error("row {row} is document '{got}', but the embeddings' row {row} is '{want}': --reduce-to needs the embeddings that output was clustered from, in the same order")]
    Id {
        row: usize,
        got: String,
        want: String,
    },
    #[error("row {row} has topic_id {topic}, below 0")]
    Negative { row: usize, topic: i32 },
}

/// The topic of each document (`None`: unassigned) in `dir/documents.parquet`, checked against
/// `ids`, the embeddings' documents in order.
pub fn read_topics(dir: &Path, ids: &[String]) -> Result<Vec<Option<usize>>, EarlierError> {
    let path = dir.join(files::DOCUMENTS);
    let err = |problem| EarlierError {
        path: path.clone(),
        problem,
    };
    let file = std::fs::File::open(&path).map_err(|e| err(EarlierProblem::Open(e)))?;
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| err(EarlierProblem::Parquet(e)))?;
    let rows = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    if rows != ids.len() {
        return Err(err(EarlierProblem::Rows {
            got: rows,
            want: ids.len(),
        }));
    }
    let reader = builder
        .build()
        .map_err(|e| err(EarlierProblem::Parquet(e)))?;
    let mut topics = Vec::with_capacity(ids.len());
    for batch in reader {
        let batch = batch.map_err(|e| err(EarlierProblem::Parquet(e.into())))?;
        let id = batch
            .column_by_name("id")
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            .ok_or_else(|| err(EarlierProblem::Column("id")))?;
        let topic = batch
            .column_by_name("topic_id")
            .and_then(|c| c.as_any().downcast_ref::<Int32Array>())
            .ok_or_else(|| err(EarlierProblem::Column("topic_id")))?;
        for i in 0..batch.num_rows() {
            let row = topics.len();
            let Some(want) = ids.get(row) else {
                break;
            };
            if want != id.value(i) {
                return Err(err(EarlierProblem::Id {
                    row,
                    got: id.value(i).to_string(),
                    want: want.clone(),
                }));
            }
            if topic.is_null(i) {
                topics.push(None);
            } else {
                let t = topic.value(i);
                let t = usize::try_from(t)
                    .map_err(|_| err(EarlierProblem::Negative { row, topic: t }))?;
                topics.push(Some(t));
            }
        }
    }
    if topics.len() != ids.len() {
        return Err(err(EarlierProblem::Rows {
            got: topics.len(),
            want: ids.len(),
        }));
    }
    Ok(topics)
}
