//! The documents of an embedding job kept in memory, as clustering would read them back from the
//! file the job writes: `run` hands them on instead of reading `embeddings.parquet` again.

use std::collections::HashMap;

use crate::io::embeddings_in::EmbeddedDocs;
use crate::io::embeddings_out::EmbeddedArticle;
use crate::io::InputColumns;
use crate::matrix::Matrix;

/// Grows chunk by chunk into [`EmbeddedDocs`].
pub(super) struct Collected {
    docs: EmbeddedDocs,
    values: Vec<f32>,
    dim: usize,
}

impl Collected {
    /// For a job writing `columns` with `dim`-d vectors and this footer `metadata`.
    pub(super) fn new(columns: &InputColumns, dim: usize, metadata: &[(String, String)]) -> Self {
        let metadata: HashMap<String, String> = metadata.iter().cloned().collect();
        Self {
            docs: EmbeddedDocs {
                ids: Vec::new(),
                titles: Vec::new(),
                texts: Vec::new(),
                dates: columns.has_date.then(Vec::new),
                labels: columns.has_label.then(Vec::new),
                embeddings: Matrix::new(Vec::new(), dim.max(1)).expect("dimension ≥ 1"),
                metadata,
            },
            values: Vec::new(),
            dim,
        }
    }

    /// One chunk's rows and their vectors (row after row).
    pub(super) fn add(&mut self, rows: &[EmbeddedArticle], vectors: &[f32]) {
        debug_assert_eq!(vectors.len(), rows.len() * self.dim);
        let docs = &mut self.docs;
        for row in rows {
            let a = &row.article;
            docs.ids.push(a.id.clone());
            docs.titles.push(a.title.clone());
            docs.texts.push(a.text.clone());
            if let Some(d) = docs.dates.as_mut() {
                d.push(a.date.clone());
            }
            if let Some(l) = docs.labels.as_mut() {
                l.push(a.label.clone());
            }
        }
        self.values.extend_from_slice(vectors);
    }

    /// Documents read back from a file of the same job (a checkpointed row group).
    pub(super) fn add_docs(&mut self, more: EmbeddedDocs) {
        let docs = &mut self.docs;
        let rows = more.ids.len();
        docs.ids.extend(more.ids);
        docs.titles.extend(more.titles);
        docs.texts.extend(more.texts);
        if let Some(d) = docs.dates.as_mut() {
            d.extend(more.dates.unwrap_or_else(|| vec![None; rows]));
        }
        if let Some(l) = docs.labels.as_mut() {
            l.extend(more.labels.unwrap_or_else(|| vec![None; rows]));
        }
        self.values.extend_from_slice(more.embeddings.as_slice());
    }

    pub(super) fn finish(self) -> EmbeddedDocs {
        let Self {
            mut docs,
            values,
            dim,
        } = self;
        docs.embeddings = Matrix::new(values, dim.max(1)).expect("one vector per row");
        docs
    }
}
