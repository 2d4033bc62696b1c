//! The `embed` output: one Parquet row per embedded article, embeddings as
//! `FixedSizeList<Float32, D>`, model facts in the file's key-value metadata.

use std::collections::VecDeque;
use std::fs::File;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, TryRecvError};
use std::sync::Arc;
use std::time::Instant;

use arrow_array::builder::{BooleanBuilder, Int32Builder, StringBuilder};
use arrow_array::{ArrayRef, FixedSizeListArray, Float32Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory,
};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use rayon::prelude::*;

use super::atomic::AtomicFile;
use super::checkpoint::{Checkpoint, GroupFacts};
use super::format::columns;
use super::{Article, InputColumns, WriteError};

/// Rows per Parquet row group unless told (the last may have fewer): some 12 MiB at 384-d. Each
/// group is encoded as a task of its own, so that several encode at once.
pub const ROW_GROUP_ROWS: usize = 8 * 1024;

/// Row groups encoding at once, at most; the writer waits for the oldest beyond this (memory
/// stays bounded: about twice a group's size each).
const IN_FLIGHT: usize = 4;

/// An article with what tokenizing found out about it.
#[derive(Clone, Debug)]
pub struct EmbeddedArticle {
    pub article: Article,
    pub n_tokens: u32,
    pub truncated: bool,
}

/// Writes embedded articles batch by batch; the file appears under its name only after [`finish`](Self::finish).
///
/// Rows gather into row groups of [`ROW_GROUP_ROWS`]; each full group is encoded on a rayon task
/// of its own (its columns side by side), up to `IN_FLIGHT` groups at once, and appended to
/// the file in order as the oldest is done. One writer thread encoding group after group kept
/// up with some 90k rows/s on an H100 host, slower than the GPU loop. Each appended group's
/// pages are handed to the disk at once (writeback started, not waited for), so that
/// `finish`'s sync has little left to wait for.
pub struct EmbeddingsWriter {
    path: PathBuf,
    guard: AtomicFile,
    file: SerializedFileWriter<File>,
    factory: Arc<ArrowRowGroupWriterFactory>,
    props: WriterProperties,
    schema: SchemaRef,
    columns: InputColumns,
    dim: usize,
    rows: u64,
    /// Rows per row group.
    group_rows: usize,
    /// The row group being filled: slices of the batches written, and their rows and facts.
    open: Vec<RecordBatch>,
    open_rows: usize,
    open_facts: GroupFacts,
    /// Groups handed to encoding tasks, oldest first, with their facts.
    encoding: VecDeque<(Receiver<Encoded>, GroupFacts)>,
    /// With `--resume`: finished groups go here, and into the file only at the end.
    checkpoint: Option<Checkpoint>,
    /// Groups handed out so far (the next one's index).
    groups: usize,
    sync: WriteSync,
    times: WriterTimes,
}

/// A row group's column chunks, or why it could not be encoded.
type Encoded = Result<Vec<ArrowColumnChunk>, String>;

/// How each appended row group goes to the disk before `finish`'s final sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum WriteSync {
    /// Start its writeback and go on (Linux; elsewhere the final sync does it all).
    #[default]
    Start,
    /// Wait until it is on the disk (the earlier way, to compare: no difference at 76,000
    /// texts on an H100 host, 0.44 s against 0.04 s for the final sync at 760,000; README).
    Wait,
}

/// Where the writer's own thread spent its time, for `-v`.
#[derive(Clone, Copy, Debug, Default)]
pub struct WriterTimes {
    /// Waiting for the oldest group's encoding.
    pub encode_wait_seconds: f64,
    /// Appending encoded groups to the file.
    pub append_seconds: f64,
    /// Starting or waiting for their writeback.
    pub sync_seconds: f64,
    /// Row groups appended to the file.
    pub row_groups: usize,
}

/// The output schema for these input columns and dimension.
pub fn schema(columns: &InputColumns, dim: usize) -> Schema {
    let mut fields = vec![
        Field::new(columns::ID, DataType::Utf8, false),
        Field::new(columns::TITLE, DataType::Utf8, false),
        Field::new(columns::TEXT, DataType::Utf8, false),
    ];
    if columns.has_date {
        fields.push(Field::new(columns::DATE, DataType::Utf8, true));
    }
    if columns.has_label {
        fields.push(Field::new(columns::LABEL, DataType::Utf8, true));
    }
    for name in &columns.extra {
        fields.push(Field::new(columns::output_name(name), DataType::Utf8, true));
    }
    fields.push(Field::new(columns::N_TOKENS, DataType::Int32, false));
    fields.push(Field::new(columns::TRUNCATED, DataType::Boolean, false));
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    fields.push(Field::new(
        columns::EMBEDDING,
        DataType::FixedSizeList(item, dim as i32),
        false,
    ));
    Schema::new(fields)
}

/// The Parquet leaf column of the `embedding` list's values.
fn embedding_path() -> ColumnPath {
    ColumnPath::new(vec![
        columns::EMBEDDING.into(),
        "list".into(),
        "item".into(),
    ])
}

impl EmbeddingsWriter {
    /// Starts writing to a temporary file beside `path`; `metadata` goes into the footer.
    pub fn create(
        path: &Path,
        columns: &InputColumns,
        dim: usize,
        metadata: Vec<(String, String)>,
        sync: WriteSync,
    ) -> Result<Self, WriteError> {
        let (guard, file) = AtomicFile::create(path).map_err(|e| WriteError::new(path, e))?;
        let schema = Arc::new(schema(columns, dim));
        let kv = metadata
            .into_iter()
            .map(|(k, v)| KeyValue::new(k, v))
            .collect::<Vec<_>>();
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(1).expect("level 1 is valid"),
            ))
            .set_max_row_group_size(ROW_GROUP_ROWS)
            .set_key_value_metadata(Some(kv))
            // Vector components are all distinct and their min/max say nothing, and zstd saves
            // only ~7% of their size: a dictionary, statistics and compression there cost
            // write time for nothing (measured: 76,000 rows in 0.49 s instead of 0.71 s).
            .set_column_dictionary_enabled(embedding_path(), false)
            .set_column_statistics_enabled(embedding_path(), EnabledStatistics::None)
            .set_column_compression(embedding_path(), Compression::UNCOMPRESSED)
            .build();
        // ArrowWriter sets up the Parquet schema and the Arrow schema in the footer; its parts
        // then encode the row groups side by side.
        let (file, factory) = ArrowWriter::try_new(file, schema.clone(), Some(props.clone()))
            .and_then(|w| w.into_serialized_writer())
            .map_err(|e| WriteError::new(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            guard,
            file,
            factory: Arc::new(factory),
            props,
            schema,
            columns: columns.clone(),
            dim,
            rows: 0,
            group_rows: ROW_GROUP_ROWS,
            open: Vec::new(),
            open_rows: 0,
            open_facts: GroupFacts::default(),
            encoding: VecDeque::new(),
            checkpoint: None,
            groups: 0,
            sync,
            times: WriterTimes::default(),
        })
    }

    /// Makes row groups of `rows` rows (at least 1) instead of [`ROW_GROUP_ROWS`].
    pub fn with_group_rows(mut self, rows: usize) -> Self {
        self.group_rows = rows.max(1);
        self
    }

    /// Writes each finished row group to `checkpoint` (after the groups it holds) and joins
    /// them all into the file at [`finish`](Self::finish).
    pub fn with_checkpoint(mut self, checkpoint: Checkpoint) -> Self {
        self.rows = checkpoint.done().rows;
        self.groups = checkpoint.groups().len();
        self.checkpoint = Some(checkpoint);
        self
    }

    /// Appends rows; `embeddings` holds `rows.len() * dim` values in row order (taken, not
    /// copied, into the Arrow column).
    pub fn write(
        &mut self,
        rows: &[EmbeddedArticle],
        embeddings: Vec<f32>,
    ) -> Result<(), WriteError> {
        assert_eq!(
            embeddings.len(),
            rows.len() * self.dim,
            "one embedding per row"
        );
        if rows.is_empty() {
            return Ok(());
        }
        let text = |f: &dyn Fn(&EmbeddedArticle) -> Option<&str>| -> ArrayRef {
            let mut b = StringBuilder::new();
            for r in rows {
                b.append_option(f(r));
            }
            Arc::new(b.finish())
        };
        let mut arrays: Vec<ArrayRef> = vec![
            text(&|r| Some(r.article.id.as_str())),
            text(&|r| Some(r.article.title.as_str())),
            text(&|r| Some(r.article.text.as_str())),
        ];
        if self.columns.has_date {
            arrays.push(text(&|r| r.article.date.as_deref()));
        }
        if self.columns.has_label {
            arrays.push(text(&|r| r.article.label.as_deref()));
        }
        for i in 0..self.columns.extra.len() {
            arrays.push(text(&|r| r.article.extra.get(i).and_then(|v| v.as_deref())));
        }
        let mut n_tokens = Int32Builder::with_capacity(rows.len());
        let mut truncated = BooleanBuilder::with_capacity(rows.len());
        for r in rows {
            n_tokens.append_value(r.n_tokens as i32);
            truncated.append_value(r.truncated);
        }
        arrays.push(Arc::new(n_tokens.finish()));
        arrays.push(Arc::new(truncated.finish()));
        let values = Arc::new(Float32Array::from(embeddings));
        let item = Arc::new(Field::new("item", DataType::Float32, false));
        let list = FixedSizeListArray::try_new(item, self.dim as i32, values, None)
            .map_err(|e| WriteError::new(&self.path, e))?;
        arrays.push(Arc::new(list));
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(|e| WriteError::new(&self.path, e))?;
        self.rows += rows.len() as u64;
        // Slices share the batch's buffers: a batch across a group boundary is not copied.
        let mut offset = 0;
        while offset < batch.num_rows() {
            let take = (self.group_rows - self.open_rows).min(batch.num_rows() - offset);
            self.open.push(batch.slice(offset, take));
            self.open_rows += take;
            let slice = &rows[offset..offset + take];
            let facts = &mut self.open_facts;
            facts.rows += take as u64;
            facts.next_position = slice.last().map_or(0, |r| r.article.position + 1);
            facts.tokens += slice.iter().map(|r| r.n_tokens as u64).sum::<u64>();
            facts.truncated += slice.iter().filter(|r| r.truncated).count() as u64;
            offset += take;
            if self.open_rows == self.group_rows {
                self.submit()?;
            }
        }
        Ok(())
    }

    /// Hands the open row group to an encoding task; appends finished groups in order, waiting
    /// for the oldest while too many are under way.
    fn submit(&mut self) -> Result<(), WriteError> {
        let batches = std::mem::take(&mut self.open);
        let facts = std::mem::take(&mut self.open_facts);
        self.open_rows = 0;
        let (tx, rx) = sync_channel(1);
        let factory = self.factory.clone();
        let schema = self.schema.clone();
        let index = self.groups;
        rayon::spawn(move || {
            let encoded = std::panic::catch_unwind(AssertUnwindSafe(|| {
                encode_group(&factory, &schema, index, &batches).map_err(|e| e.to_string())
            }))
            .unwrap_or_else(|_| Err(format!("encoding row group {index} panicked")));
            // The writer may have given up on an error; nothing waits for this group then.
            let _ = tx.send(encoded);
        });
        self.groups += 1;
        self.encoding.push_back((rx, facts));
        while self.encoding.len() >= IN_FLIGHT {
            self.append_oldest(true)?;
        }
        while self.append_oldest(false)? {}
        Ok(())
    }

    /// Appends the oldest group under way once it is encoded (waiting for it when `wait`);
    /// returns whether one was appended.
    fn append_oldest(&mut self, wait: bool) -> Result<bool, WriteError> {
        let Some((rx, _)) = self.encoding.front() else {
            return Ok(false);
        };
        let t = Instant::now();
        let received = if wait {
            rx.recv().map_err(|_| TryRecvError::Disconnected)
        } else {
            rx.try_recv()
        };
        self.times.encode_wait_seconds += t.elapsed().as_secs_f64();
        let encoded = match received {
            Ok(encoded) => encoded,
            Err(TryRecvError::Empty) => return Ok(false),
            Err(TryRecvError::Disconnected) => {
                Err("a row group's encoding task ended without a result".to_string())
            }
        };
        let (_, facts) = self.encoding.pop_front().expect("the group just received");
        let chunks = encoded.map_err(|e| WriteError::new(&self.path, e))?;
        let t = Instant::now();
        if let Some(checkpoint) = self.checkpoint.as_mut() {
            checkpoint.write_group(&self.schema, &self.props, chunks, facts)?;
            self.times.append_seconds += t.elapsed().as_secs_f64();
            self.times.row_groups += 1;
            return Ok(true);
        }
        let mut group = self
            .file
            .next_row_group()
            .map_err(|e| WriteError::new(&self.path, e))?;
        for chunk in chunks {
            chunk
                .append_to_row_group(&mut group)
                .map_err(|e| WriteError::new(&self.path, e))?;
        }
        group.close().map_err(|e| WriteError::new(&self.path, e))?;
        self.file
            .flush()
            .map_err(|e| WriteError::new(&self.path, e))?;
        let t2 = Instant::now();
        self.times.append_seconds += (t2 - t).as_secs_f64();
        match self.sync {
            WriteSync::Start => start_writeback(self.file.inner()),
            WriteSync::Wait => self
                .file
                .inner()
                .sync_data()
                .map_err(|e| WriteError::new(&self.path, e))?,
        }
        self.times.sync_seconds += t2.elapsed().as_secs_f64();
        self.times.row_groups += 1;
        Ok(true)
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Where the writer's thread has spent its time so far.
    pub fn times(&self) -> WriterTimes {
        self.times
    }

    /// Encodes and appends the last row groups, writes the footer, syncs and renames the file
    /// into place.
    pub fn finish(self) -> Result<PathBuf, WriteError> {
        self.finish_timed().map(|(path, _)| path)
    }

    /// [`finish`](Self::finish), also saying where the writer's thread spent its time
    /// (`sync_seconds` includes the final sync).
    pub fn finish_timed(self) -> Result<(PathBuf, WriterTimes), WriteError> {
        let (guard, times) = self.finish_staged()?;
        let temp = guard.temp_path().to_path_buf();
        let path = guard.commit().map_err(|e| WriteError::new(&temp, e))?;
        Ok((path, times))
    }

    /// [`finish_timed`](Self::finish_timed) up to the rename: the file is complete and synced
    /// under its temporary name, to be published with others ([`crate::io::publish::Staged`]).
    pub fn finish_staged(mut self) -> Result<(AtomicFile, WriterTimes), WriteError> {
        if self.open_rows > 0 {
            self.submit()?;
        }
        while self.append_oldest(true)? {}
        if let Some(checkpoint) = &self.checkpoint {
            let t = Instant::now();
            checkpoint.copy_into(&mut self.file)?;
            self.times.append_seconds += t.elapsed().as_secs_f64();
        }
        let mut times = self.times();
        let Self {
            path, guard, file, ..
        } = self;
        let file = file.into_inner().map_err(|e| WriteError::new(&path, e))?;
        let t = Instant::now();
        file.sync_all().map_err(|e| WriteError::new(&path, e))?;
        times.sync_seconds += t.elapsed().as_secs_f64();
        drop(file);
        Ok((guard, times))
    }
}

/// Encodes one row group: every column on a task of its own (one Parquet leaf column each, the
/// list of floats included), then each column closed into its chunk.
fn encode_group(
    factory: &ArrowRowGroupWriterFactory,
    schema: &Schema,
    index: usize,
    batches: &[RecordBatch],
) -> parquet::errors::Result<Vec<ArrowColumnChunk>> {
    let mut writers = factory.create_column_writers(index)?;
    debug_assert_eq!(writers.len(), schema.fields().len());
    writers
        .par_iter_mut()
        .zip(schema.fields().par_iter().enumerate())
        .try_for_each(|(writer, (i, field))| {
            batches.iter().try_for_each(|batch| {
                compute_leaves(field, batch.column(i))?
                    .iter()
                    .try_for_each(|leaf| writer.write(leaf))
            })
        })?;
    writers
        .into_par_iter()
        .map(ArrowColumnWriter::close)
        .collect()
}

/// Starts writing the file's dirty pages to the disk without waiting for them. Advisory: a
/// failure here is ignored, since `finish`'s sync waits for every page and reports any error.
fn start_writeback(file: &File) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a plain system call on an open descriptor this writer owns; offset 0 and
        // length 0 mean the whole file.
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}

#[cfg(test)]
mod tests;
