//! The `run` / `cluster` outputs: `documents.parquet`, `topics.parquet` and `run.json`, written
//! under temporary names and renamed together at the end, so each appears complete or not at all.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{Float32Builder, Int32Builder, ListBuilder, StringBuilder};
use arrow_array::{
    ArrayRef, FixedSizeListArray, Float32Array, Float64Array, Int64Array, RecordBatch,
};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use super::atomic::AtomicFile;
use super::embeddings_in::EmbeddedDocs;
use super::WriteError;
use crate::matrix::Matrix;
use crate::topics::TopicModel;

pub use super::publish::Staged;

fn props(metadata: &[(String, String)]) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("valid level"),
        ))
        .set_key_value_metadata(Some(
            metadata
                .iter()
                .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
                .collect(),
        ))
        .build()
}

fn write_batch(
    path: &Path,
    batch: RecordBatch,
    metadata: &[(String, String)],
    staged: &mut Staged,
) -> Result<(), WriteError> {
    let (guard, file) = AtomicFile::create(path).map_err(|e| WriteError::new(path, e))?;
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props(metadata)))
        .map_err(|e| WriteError::new(path, e))?;
    w.write(&batch).map_err(|e| WriteError::new(path, e))?;
    let file: File = w.into_inner().map_err(|e| WriteError::new(path, e))?;
    file.sync_all().map_err(|e| WriteError::new(path, e))?;
    staged.push(guard);
    Ok(())
}

/// A record batch from `(name, values, nullable)` columns.
fn batch(path: &Path, cols: Vec<(&str, ArrayRef, bool)>) -> Result<RecordBatch, WriteError> {
    let schema = Schema::new(
        cols.iter()
            .map(|(n, a, null)| Field::new(*n, a.data_type().clone(), *null))
            .collect::<Vec<_>>(),
    );
    RecordBatch::try_new(Arc::new(schema), cols.into_iter().map(|c| c.1).collect())
        .map_err(|e| WriteError::new(path, e))
}

fn utf8(values: impl Iterator<Item = Option<String>>) -> ArrayRef {
    let mut b = StringBuilder::new();
    for v in values {
        b.append_option(v);
    }
    Arc::new(b.finish())
}

fn fixed_list(
    values: Vec<f32>,
    dim: usize,
) -> Result<FixedSizeListArray, arrow_schema::ArrowError> {
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    FixedSizeListArray::try_new(item, dim as i32, Arc::new(Float32Array::from(values)), None)
}

/// One batch of `documents.parquet` rows, a slice each (`dates`, `labels`: when the file has
/// those columns; `vectors`: when it holds the embeddings).
pub struct DocumentRows<'a> {
    pub ids: &'a [String],
    pub titles: &'a [String],
    pub dates: Option<&'a [Option<String>]>,
    pub labels: Option<&'a [Option<String>]>,
    pub topics: &'a [Option<usize>],
    pub similarity: &'a [Option<f32>],
    pub vectors: Option<&'a Matrix>,
}

/// `documents.parquet`, written a batch at a time (row groups of at most 65,536 rows, so a
/// streamed corpus never waits in memory), staged until [`DocumentsWriter::finish`].
pub struct DocumentsWriter {
    path: PathBuf,
    guard: AtomicFile,
    writer: ArrowWriter<File>,
    schema: Arc<Schema>,
}

/// Rows per row group of `documents.parquet`.
const DOCUMENT_GROUP_ROWS: usize = 65_536;

impl DocumentsWriter {
    /// Starts the file: columns id, title, date and label (when `dates`/`labels`), topic_id,
    /// topic_label, similarity, and the embedding (when `embedding_dim` is given).
    pub fn create(
        path: &Path,
        dates: bool,
        labels: bool,
        embedding_dim: Option<usize>,
        metadata: &[(String, String)],
    ) -> Result<Self, WriteError> {
        let err = |e: std::io::Error| WriteError::new(path, e);
        let text = |name: &str, null: bool| Field::new(name, DataType::Utf8, null);
        let mut fields = vec![text("id", false), text("title", false)];
        if dates {
            fields.push(text("date", true));
        }
        if labels {
            fields.push(text("label", true));
        }
        fields.push(Field::new("topic_id", DataType::Int32, true));
        fields.push(text("topic_label", true));
        fields.push(Field::new("similarity", DataType::Float32, true));
        if let Some(dim) = embedding_dim {
            let item = Arc::new(Field::new("item", DataType::Float32, false));
            fields.push(Field::new(
                "embedding",
                DataType::FixedSizeList(item, dim as i32),
                false,
            ));
        }
        let schema = Arc::new(Schema::new(fields));
        let (guard, file) = AtomicFile::create(path).map_err(err)?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(1).expect("valid level"),
            ))
            .set_max_row_group_size(DOCUMENT_GROUP_ROWS)
            .set_key_value_metadata(Some(
                metadata
                    .iter()
                    .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
                    .collect(),
            ))
            .build();
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props))
            .map_err(|e| WriteError::new(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            guard,
            writer,
            schema,
        })
    }

    /// Appends `rows`; `names[t]` is topic t's label.
    pub fn write(&mut self, rows: &DocumentRows<'_>, names: &[String]) -> Result<(), WriteError> {
        let path = self.path.as_path();
        let mut cols: Vec<ArrayRef> = vec![
            utf8(rows.ids.iter().cloned().map(Some)),
            utf8(rows.titles.iter().cloned().map(Some)),
        ];
        if let Some(d) = rows.dates {
            cols.push(utf8(d.iter().cloned()));
        }
        if let Some(l) = rows.labels {
            cols.push(utf8(l.iter().cloned()));
        }
        cols.push(Arc::new(arrow_array::Int32Array::from_iter(
            rows.topics.iter().map(|a| a.map(|t| t as i32)),
        )));
        cols.push(utf8(
            rows.topics.iter().map(|a| a.map(|t| names[t].clone())),
        ));
        cols.push(Arc::new(Float32Array::from_iter(
            rows.similarity.iter().copied(),
        )));
        if let Some(v) = rows.vectors {
            let list =
                fixed_list(v.as_slice().to_vec(), v.dim()).map_err(|e| WriteError::new(path, e))?;
            cols.push(Arc::new(list));
        }
        let batch = RecordBatch::try_new(self.schema.clone(), cols)
            .map_err(|e| WriteError::new(path, e))?;
        self.writer
            .write(&batch)
            .map_err(|e| WriteError::new(path, e))
    }

    /// Ends the file, synced, and stages it.
    pub fn finish(self, staged: &mut Staged) -> Result<(), WriteError> {
        let path = self.path;
        let file: File = self
            .writer
            .into_inner()
            .map_err(|e| WriteError::new(&path, e))?;
        file.sync_all().map_err(|e| WriteError::new(&path, e))?;
        staged.push(self.guard);
        Ok(())
    }
}

/// `documents.parquet`: one row per document with its topic.
pub fn write_documents(
    path: &Path,
    docs: &EmbeddedDocs,
    assignments: &[Option<usize>],
    model: &TopicModel,
    with_embeddings: bool,
    metadata: &[(String, String)],
    staged: &mut Staged,
) -> Result<(), WriteError> {
    let dim = docs.embeddings.dim();
    let mut w = DocumentsWriter::create(
        path,
        docs.dates.is_some(),
        docs.labels.is_some(),
        with_embeddings.then_some(dim),
        metadata,
    )?;
    let names: Vec<String> = model.topics.iter().map(|t| t.label.clone()).collect();
    let n = docs.len();
    // Row groups of the writer's size (one empty batch when there are no rows).
    for start in (0..n.max(1)).step_by(DOCUMENT_GROUP_ROWS) {
        let end = (start + DOCUMENT_GROUP_ROWS).min(n);
        let rows: Vec<usize> = (start..end).collect();
        let vectors = with_embeddings.then(|| docs.embeddings.select(&rows));
        w.write(
            &DocumentRows {
                ids: &docs.ids[start..end],
                titles: &docs.titles[start..end],
                dates: docs.dates.as_deref().map(|d| &d[start..end]),
                labels: docs.labels.as_deref().map(|l| &l[start..end]),
                topics: &assignments[start..end],
                similarity: &model.similarity[start..end],
                vectors: vectors.as_ref(),
            },
            &names,
        )?;
    }
    w.finish(staged)
}

/// `topics_over_time.parquet`: one row per topic and period with documents of it.
pub fn write_over_time(
    path: &Path,
    rows: &[crate::topics::over_time::Period],
    metadata: &[(String, String)],
    staged: &mut Staged,
) -> Result<(), WriteError> {
    let mut topic = Int32Builder::new();
    let mut start = arrow_array::builder::Date32Builder::new();
    let mut count = arrow_array::builder::Int64Builder::new();
    let mut share = arrow_array::builder::Float64Builder::new();
    let mut keywords = ListBuilder::new(StringBuilder::new());
    for r in rows {
        topic.append_value(r.topic as i32);
        start.append_value(r.start as i32);
        count.append_value(r.count as i64);
        share.append_value(r.share);
        for k in &r.keywords {
            keywords.values().append_value(k);
        }
        keywords.append(true);
    }
    let cols: Vec<(&str, ArrayRef, bool)> = vec![
        ("topic_id", Arc::new(topic.finish()), false),
        ("period_start", Arc::new(start.finish()), false),
        ("count", Arc::new(count.finish()), false),
        ("share", Arc::new(share.finish()), false),
        ("keywords", Arc::new(keywords.finish()), false),
    ];
    write_batch(path, batch(path, cols)?, metadata, staged)
}

/// `hierarchy.parquet`: one row per node of the topic tree, the topics first (node id = topic
/// id), then the merged nodes in order of distance.
pub fn write_hierarchy(
    path: &Path,
    nodes: &[crate::topics::hierarchy::Node],
    metadata: &[(String, String)],
    staged: &mut Staged,
) -> Result<(), WriteError> {
    let mut id = Int32Builder::new();
    let mut parent = Int32Builder::new();
    let mut children = ListBuilder::new(Int32Builder::new());
    let mut distance = arrow_array::builder::Float64Builder::new();
    let mut size = arrow_array::builder::Int64Builder::new();
    let mut keywords = ListBuilder::new(StringBuilder::new());
    let mut topic_ids = ListBuilder::new(Int32Builder::new());
    for n in nodes {
        id.append_value(n.id as i32);
        parent.append_option(n.parent.map(|p| p as i32));
        for &c in &n.children {
            children.values().append_value(c as i32);
        }
        children.append(true);
        distance.append_value(n.distance);
        size.append_value(n.size as i64);
        for k in &n.keywords {
            keywords.values().append_value(k);
        }
        keywords.append(true);
        for &t in &n.topic_ids {
            topic_ids.values().append_value(t as i32);
        }
        topic_ids.append(true);
    }
    let cols: Vec<(&str, ArrayRef, bool)> = vec![
        ("node_id", Arc::new(id.finish()), false),
        ("parent_id", Arc::new(parent.finish()), true),
        ("children", Arc::new(children.finish()), false),
        ("distance", Arc::new(distance.finish()), false),
        ("size", Arc::new(size.finish()), false),
        (
            "label",
            utf8(nodes.iter().map(|n| Some(n.label.clone()))),
            false,
        ),
        ("theme", utf8(nodes.iter().map(|n| n.theme.clone())), true),
        ("keywords", Arc::new(keywords.finish()), false),
        ("topic_ids", Arc::new(topic_ids.finish()), false),
    ];
    write_batch(path, batch(path, cols)?, metadata, staged)
}

/// `topics.parquet`: one row per topic.
pub fn write_topics(
    path: &Path,
    dim: usize,
    model: &TopicModel,
    metadata: &[(String, String)],
    staged: &mut Staged,
) -> Result<(), WriteError> {
    let t = &model.topics;
    let mut keywords = ListBuilder::new(StringBuilder::new());
    let mut scores = ListBuilder::new(Float32Builder::new());
    let mut reps = ListBuilder::new(StringBuilder::new());
    for topic in t {
        for k in &topic.keywords {
            keywords.values().append_value(k);
        }
        keywords.append(true);
        for s in &topic.keyword_scores {
            scores.values().append_value(*s);
        }
        scores.append(true);
        for id in &topic.representative_ids {
            reps.values().append_value(id);
        }
        reps.append(true);
    }
    let centroids = fixed_list(
        t.iter().flat_map(|x| x.centroid.iter().copied()).collect(),
        dim,
    )
    .map_err(|e| WriteError::new(path, e))?;
    let cols: Vec<(&str, ArrayRef, bool)> = vec![
        (
            "topic_id",
            Arc::new(arrow_array::Int32Array::from_iter_values(
                t.iter().map(|x| x.id as i32),
            )),
            false,
        ),
        (
            "label",
            utf8(t.iter().map(|x| Some(x.label.clone()))),
            false,
        ),
        (
            "keyword_label",
            utf8(t.iter().map(|x| Some(x.keyword_label.clone()))),
            false,
        ),
        (
            "guided_label",
            utf8(t.iter().map(|x| x.guided_label.clone())),
            true,
        ),
        ("phrase", utf8(t.iter().map(|x| x.phrase.clone())), true),
        (
            "phrase_similarity",
            Arc::new(Float32Array::from_iter(
                t.iter().map(|x| x.phrase_similarity),
            )),
            true,
        ),
        ("theme", utf8(t.iter().map(|x| x.theme.clone())), true),
        (
            "theme_similarity",
            Arc::new(Float32Array::from_iter(
                t.iter().map(|x| x.theme_similarity),
            )),
            true,
        ),
        ("keywords", Arc::new(keywords.finish()), false),
        ("keyword_scores", Arc::new(scores.finish()), false),
        (
            "size",
            Arc::new(Int64Array::from_iter_values(
                t.iter().map(|x| x.size as i64),
            )),
            false,
        ),
        (
            "share",
            Arc::new(Float64Array::from_iter_values(t.iter().map(|x| x.share))),
            false,
        ),
        ("centroid", Arc::new(centroids), false),
        ("representative_ids", Arc::new(reps.finish()), false),
    ];
    write_batch(path, batch(path, cols)?, metadata, staged)
}

/// `run.json`, pretty-printed.
pub fn write_json(
    path: &Path,
    value: &impl serde::Serialize,
    staged: &mut Staged,
) -> Result<(), WriteError> {
    use std::io::Write;
    let (guard, mut file) = AtomicFile::create(path).map_err(|e| WriteError::new(path, e))?;
    let text = serde_json::to_string_pretty(value).map_err(|e| WriteError::new(path, e))?;
    file.write_all(text.as_bytes())
        .and_then(|_| file.write_all(b"\n"))
        .map_err(|e| WriteError::new(path, e))?;
    file.sync_all().map_err(|e| WriteError::new(path, e))?;
    staged.push(guard);
    Ok(())
}
