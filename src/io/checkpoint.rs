//! Checkpoints of an embeddings file written with `--resume`: each finished row group is a
//! Parquet file of its own (`group-NNNNNN.parquet`, written under a temporary name, synced,
//! renamed) in a hidden folder beside the output (`.NAME.resume/`), with the job's facts in
//! `job.json`. A job resumed with the same facts keeps the groups, goes on after the last one's
//! input position, and at the end joins every group into the output by copying their encoded
//! column chunks as they are (no decoding). So a kill loses at most one row group of work. For
//! an output in object storage the folder is a prefix beside it, each group an object uploaded
//! whole, so a job on a new instance (the old one preempted) goes on from there.

use std::io::Write;
use std::path::{Path, PathBuf};

use arrow_schema::SchemaRef;
use parquet::arrow::arrow_writer::ArrowColumnChunk;
use parquet::arrow::ArrowWriter;
use parquet::column::writer::ColumnCloseResult;
use parquet::file::metadata::{KeyValue, PageIndexPolicy, ParquetMetaDataReader};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;

use super::atomic::{folder_of, AtomicFile};
use super::remote::{is_url, Remote};
use super::WriteError;
use crate::setting::Setting;

/// The job's facts, in the checkpoint folder.
const JOB: &str = "job.json";

/// Footer keys of a group file: what resuming after it needs.
const ROWS: &str = "newsclust.resume.rows";
const NEXT: &str = "newsclust.resume.next_position";
const TOKENS: &str = "newsclust.resume.tokens";
const TRUNCATED: &str = "newsclust.resume.truncated";

/// What one checkpointed row group holds: its rows, the input position after its last row,
/// and its token and truncation counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupFacts {
    pub rows: u64,
    pub next_position: u64,
    pub tokens: u64,
    pub truncated: u64,
}

/// A checkpoint that cannot be resumed from.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{dir}: this checkpoint was made by another job ({key}: it has '{theirs}', this job '{ours}'); run without {} to start over (the checkpoint is then removed)", Setting::Resume)]
    OtherJob {
        dir: PathBuf,
        key: String,
        theirs: String,
        ours: String,
    },
    #[error(
        "{path}: unreadable checkpoint ({reason}); run without {} to start over",
        Setting::Resume
    )]
    Unreadable { path: PathBuf, reason: String },
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// The checkpoint folder of the output `out`.
pub fn folder(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    folder_of(out).join(format!(".{name}.resume"))
}

/// Removes the checkpoint of `out` a resumable job left (a job without `--resume` starts over);
/// the caller holds the output's lock.
pub fn discard(out: &Path) {
    let dir = folder(out);
    if exists_folder(&dir) && remove(&dir).is_ok() {
        tracing::info!(
            "removed {}, the checkpoint of an unfinished job (resume it with {})",
            dir.display(),
            Setting::Resume
        );
    }
}

/// The row groups checkpointed so far for one output.
pub struct Checkpoint {
    dir: PathBuf,
    /// The job's facts, as `job.json` holds them.
    facts: Vec<(String, String)>,
    groups: Vec<GroupFacts>,
}

impl Checkpoint {
    /// Opens the checkpoint of `out` for a job with these `facts`: the groups of an earlier run
    /// of the same job are kept (in order, up to the first missing or unreadable one); a
    /// checkpoint of another job is an error naming the first fact that differs. A new one is
    /// created when there is none. The caller holds the output's lock.
    pub fn open(out: &Path, facts: &[(String, String)]) -> Result<Self, CheckpointError> {
        let dir = folder(out);
        let job = dir.join(JOB);
        let write_err = |e: std::io::Error| WriteError::new(&dir, e);
        if !exists(&job) {
            if exists_folder(&dir) {
                remove(&dir).map_err(write_err)?;
            }
            if !is_url(&dir) {
                super::atomic::make_folder(&dir).map_err(write_err)?;
            }
            let new = Self {
                dir,
                facts: facts.to_vec(),
                groups: Vec::new(),
            };
            new.write_job()?;
            return Ok(new);
        }
        let unreadable = |reason: String| CheckpointError::Unreadable {
            path: job.clone(),
            reason,
        };
        let text = read_text(&job).map_err(|e| unreadable(e.to_string()))?;
        let theirs: Vec<(String, String)> =
            serde_json::from_str(&text).map_err(|e| unreadable(e.to_string()))?;
        for (key, ours) in facts {
            let theirs = theirs
                .iter()
                .find(|(k, _)| k == key)
                .map_or("(nothing)", |(_, v)| v.as_str());
            if theirs != ours {
                return Err(CheckpointError::OtherJob {
                    dir,
                    key: key.clone(),
                    theirs: theirs.to_string(),
                    ours: ours.clone(),
                });
            }
        }
        let mut groups = Vec::new();
        loop {
            let path = group_path(&dir, groups.len());
            if !exists(&path) {
                break;
            }
            match read_facts(&path) {
                Ok(facts) => groups.push(facts),
                Err(reason) => {
                    // Renamed into place only when complete, so this is damage from outside:
                    // the groups from here on are written again.
                    tracing::warn!(
                        "{}: unreadable ({reason}); embedding again from there",
                        path.display()
                    );
                    break;
                }
            }
        }
        // Groups after a gap (or after an unreadable one) are not used: the job writes them again.
        for path in list(&dir).map_err(write_err)? {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            if name
                .and_then(|n| group_index(&n))
                .is_some_and(|i| i >= groups.len())
            {
                let _ = super::remote::remove_file(&path);
            }
        }
        Ok(Self {
            dir,
            facts: theirs,
            groups,
        })
    }

    /// Checks a fact known only later in the job (the device): it must be the checkpoint's,
    /// or is recorded when the checkpoint has none yet.
    pub fn check(&mut self, key: &str, ours: &str) -> Result<(), CheckpointError> {
        match self.facts.iter().find(|(k, _)| k == key) {
            Some((_, theirs)) if theirs == ours => Ok(()),
            Some((_, theirs)) => Err(CheckpointError::OtherJob {
                dir: self.dir.clone(),
                key: key.to_string(),
                theirs: theirs.clone(),
                ours: ours.to_string(),
            }),
            None => {
                self.facts.push((key.to_string(), ours.to_string()));
                self.write_job()
            }
        }
    }

    /// Writes `job.json` (under a temporary name, synced, renamed).
    fn write_job(&self) -> Result<(), CheckpointError> {
        let path = self.dir.join(JOB);
        let err = |e: std::io::Error| WriteError::new(&path, e);
        let text = serde_json::to_string_pretty(&self.facts).expect("strings serialize");
        let (guard, mut file) = AtomicFile::create(&path).map_err(err)?;
        file.write_all(text.as_bytes())
            .and_then(|_| file.sync_all())
            .map_err(err)?;
        drop(file);
        guard.commit().map_err(err)?;
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The groups kept so far.
    pub fn groups(&self) -> &[GroupFacts] {
        &self.groups
    }

    /// The kept groups' files, in order.
    pub fn group_files(&self) -> Vec<PathBuf> {
        (0..self.groups.len())
            .map(|i| group_path(&self.dir, i))
            .collect()
    }

    /// The kept groups summed: rows, tokens, truncated; `next_position` of the last.
    pub fn done(&self) -> GroupFacts {
        let mut sum = GroupFacts::default();
        for g in &self.groups {
            sum.rows += g.rows;
            sum.tokens += g.tokens;
            sum.truncated += g.truncated;
            sum.next_position = g.next_position;
        }
        sum
    }

    /// Writes the next group: its encoded column chunks as a Parquet file of one row group,
    /// `facts` in its footer, synced before it is renamed into place.
    pub fn write_group(
        &mut self,
        schema: &SchemaRef,
        props: &WriterProperties,
        chunks: Vec<ArrowColumnChunk>,
        facts: GroupFacts,
    ) -> Result<(), WriteError> {
        let path = group_path(&self.dir, self.groups.len());
        let err = |e: &dyn std::fmt::Display| WriteError::new(&path, e.to_string());
        let (guard, file) = AtomicFile::create(&path).map_err(|e| err(&e))?;
        let (mut writer, _) = ArrowWriter::try_new(file, schema.clone(), Some(props.clone()))
            .and_then(|w| w.into_serialized_writer())
            .map_err(|e| err(&e))?;
        let mut group = writer.next_row_group().map_err(|e| err(&e))?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut group).map_err(|e| err(&e))?;
        }
        group.close().map_err(|e| err(&e))?;
        for (key, value) in [
            (ROWS, facts.rows),
            (NEXT, facts.next_position),
            (TOKENS, facts.tokens),
            (TRUNCATED, facts.truncated),
        ] {
            writer.append_key_value_metadata(KeyValue::new(key.into(), value.to_string()));
        }
        let file = writer.into_inner().map_err(|e| err(&e))?;
        file.sync_data().map_err(|e| err(&e))?;
        drop(file);
        guard.commit().map_err(|e| err(&e))?;
        self.groups.push(facts);
        Ok(())
    }

    /// Appends every kept group, in order, to `out` (a writer of the same schema): their
    /// encoded column chunks are copied byte for byte, with their page indexes.
    pub fn copy_into<W: Write + Send>(
        &self,
        out: &mut SerializedFileWriter<W>,
    ) -> Result<(), WriteError> {
        for path in self.group_files() {
            let err = |e: &dyn std::fmt::Display| WriteError::new(&path, e.to_string());
            let file = super::remote::open(&path).map_err(|e| err(&e))?;
            copy_groups(&file, out).map_err(|e| err(&e))?;
        }
        Ok(())
    }
}

/// Appends the row groups of `file` to `out`, chunks copied unchanged, with their page indexes.
fn copy_groups<W: Write + Send>(
    file: &super::remote::AnyFile,
    out: &mut SerializedFileWriter<W>,
) -> parquet::errors::Result<()> {
    let meta = ParquetMetaDataReader::new()
        .with_page_index_policy(PageIndexPolicy::Optional)
        .parse_and_finish(file)?;
    for (g, group) in meta.row_groups().iter().enumerate() {
        let mut writer = out.next_row_group()?;
        for (c, column) in group.columns().iter().enumerate() {
            let close = ColumnCloseResult {
                bytes_written: column.compressed_size() as u64,
                rows_written: group.num_rows() as u64,
                metadata: column.clone(),
                bloom_filter: None,
                column_index: meta.column_index().map(|i| i[g][c].clone()),
                offset_index: meta.offset_index().map(|i| i[g][c].clone()),
            };
            writer.append_column(file, close)?;
        }
        writer.close()?;
    }
    Ok(())
}

fn group_path(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("group-{index:06}.parquet"))
}

/// The index of a group file's name (`group-000012.parquet` → 12).
fn group_index(name: &str) -> Option<usize> {
    name.strip_prefix("group-")?
        .strip_suffix(".parquet")?
        .parse()
        .ok()
}

/// The facts in a group file's footer.
fn read_facts(path: &Path) -> Result<GroupFacts, String> {
    let file = super::remote::open(path).map_err(|e| e.to_string())?;
    let meta = ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .map_err(|e| e.to_string())?;
    let kv = meta.file_metadata().key_value_metadata();
    let get = |key: &str| -> Result<u64, String> {
        kv.and_then(|kv| kv.iter().find(|k| k.key == key))
            .and_then(|k| k.value.as_deref())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("no {key} in its footer"))
    };
    let facts = GroupFacts {
        rows: get(ROWS)?,
        next_position: get(NEXT)?,
        tokens: get(TOKENS)?,
        truncated: get(TRUNCATED)?,
    };
    let rows: i64 = meta.row_groups().iter().map(|g| g.num_rows()).sum();
    if rows as u64 != facts.rows {
        return Err(format!("{rows} rows, its footer says {}", facts.rows));
    }
    Ok(facts)
}

// The few file operations a checkpoint needs, on a local folder or an object-storage prefix.

fn exists(path: &Path) -> bool {
    match is_url(path) {
        true => Remote::parse(path).and_then(|r| r.size()).is_ok(),
        false => path.is_file(),
    }
}

fn exists_folder(dir: &Path) -> bool {
    match is_url(dir) {
        true => list(dir).is_ok_and(|found| !found.is_empty()),
        false => dir.is_dir(),
    }
}

fn read_text(path: &Path) -> std::io::Result<String> {
    if !is_url(path) {
        return std::fs::read_to_string(path);
    }
    let (bytes, _) = Remote::parse(path)?
        .read()?
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such object"))?;
    String::from_utf8(bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// The files (objects) directly in `dir`.
fn list(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    if is_url(dir) {
        return Remote::parse(dir)?.list();
    }
    Ok(std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .collect())
}

/// Removes a checkpoint folder (or prefix) and what it holds.
pub(crate) fn remove(dir: &Path) -> std::io::Result<()> {
    if !is_url(dir) {
        return std::fs::remove_dir_all(dir);
    }
    for path in list(dir)? {
        super::remote::remove_file(&path)?;
    }
    Ok(())
}
