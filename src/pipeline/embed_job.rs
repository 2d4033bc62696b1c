//! The embedding job, stage after stage: read → tokenize → embed → write, streaming in chunks so
//! memory does not grow with the number of articles (unless the caller keeps the documents, as
//! `run` does to hand them to clustering).

use std::time::Instant;

use super::collect::Collected;
use super::job_facts::{fingerprint, input_sizes, job_facts};
use super::model::{chunk_size, default_batch_size, LoadedModel, ModelParts, CPU_BATCH, GPU_BATCH};
use super::produce::{produce, Produced};
use crate::config::ValidEmbed;
use crate::device::DeviceChoice;
use crate::embed::Embedder;
use crate::embed::{HostWeights, SentenceEncoder, Tokens};
use crate::error::Error;
use crate::io::checkpoint::{self, Checkpoint};
use crate::io::embeddings_in::EmbeddedDocs;
use crate::io::embeddings_out::{EmbeddedArticle, EmbeddingsWriter, ROW_GROUP_ROWS};
use crate::io::format::meta;
use crate::io::lock::OutputLock;
use crate::io::publish::Staged;
use crate::io::shard::Shard;
use crate::io::WriteError;
use crate::io::{ArticleReader, BadRecord};
use crate::progress::Progress;
use crate::report::EmbedSummary;

/// What a finished embedding job hands back: its summary, the model it loaded (with its
/// device) and, when asked for, the documents it embedded.
pub struct EmbedOutcome {
    pub summary: EmbedSummary,
    pub model: LoadedModel,
    pub docs: Option<EmbeddedDocs>,
    /// The output, complete but not yet in place, when the job was told not to publish it.
    pub staged: Staged,
}

/// Runs the embedding job: with `publish`, the output file is complete, synced and in place
/// when this returns; without, it is complete under a temporary name in
/// [`EmbedOutcome::staged`], for the caller to publish with its other outputs. With `keep`, the
/// documents and their vectors also come back in memory. `progress` follows the embedded
/// texts; every skipped record is logged as a warning (and counted). The output is locked
/// while the job runs: another job writing it is refused.
pub fn run_embed(
    config: &ValidEmbed,
    keep: bool,
    publish: bool,
    progress: &mut dyn Progress,
) -> Result<EmbedOutcome, Error> {
    let job = config.config();
    let _lock = OutputLock::file(&job.out)?;
    tracing::debug!(
        "{}: locked; opening the device, the input and the model",
        job.out.display()
    );
    if !job.resume {
        checkpoint::discard(&job.out);
    }
    let group_rows = job.row_group_rows.unwrap_or(ROW_GROUP_ROWS);
    let compute = &job.compute;
    let started = Instant::now();
    let mut summary = EmbedSummary::default();
    let skip = |bad: BadRecord, summary: &mut EmbedSummary| -> Result<(), Error> {
        summary.read += 1;
        summary.skipped += 1;
        if job.input.strict {
            return Err(Error::Strict { bad });
        }
        tracing::warn!("skipped {bad}");
        Ok(())
    };
    // Stages on their own threads, handing over chunks through bounded channels (memory stays
    // flat): the producer reads on one thread and tokenizes on a pool beside it (`produce.rs`;
    // it starts while the device and the model load, and runs up to `AHEAD` chunks ahead),
    // this thread embeds, a writer writes Parquet.
    // Before them, the device opens on a thread of its own (a GPU's context and libraries take
    // a while) while this thread opens the input and loads the tokenizer.
    // 8 chunks (65,536 texts on a GPU, some 40 MB) bank what the producer tokenizes while the
    // model loads (0.3 s on an H100, where tokenizing runs at ~160k texts/s): a loop faster than
    // the producer then still starts with a backlog.
    const AHEAD: usize = 8;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Produced>(AHEAD);
    let (wtx, wrx) = std::sync::mpsc::sync_channel::<(Vec<EmbeddedArticle>, Vec<f32>)>(2);
    let (writer, model, collected, checkpoint_dir) =
        std::thread::scope(|scope| -> Result<_, Error> {
            let opening = scope.spawn(|| {
                let t = Instant::now();
                compute
                    .device
                    .open_with(compute.cuda)
                    .map(|d| (d, t.elapsed().as_secs_f64()))
            });
            let join_device = move || {
                opening
                    .join()
                    .map_err(|_| Error::Panicked("opening the device"))?
                    .map_err(Error::from)
            };
            let inputs = (|| -> Result<_, Error> {
                let reader = ArticleReader::open_all(&job.input.paths, &job.input.read)?;
                let slice = match config.shard() {
                    Some(shard) => Some(shard_slice(config, shard)?),
                    None => None,
                };
                let parts = ModelParts::resolve(
                    &job.model.model,
                    &job.model.resolve,
                    job.model.max_length,
                )?;
                let sizes = input_sizes(reader.files())?;
                let checkpoint = match job.resume {
                    true => {
                        let facts = job_facts(config, &parts, &sizes, slice.as_ref());
                        Some(Checkpoint::open(&job.out, &facts)?)
                    }
                    false => None,
                };
                let input = fingerprint(config, &sizes);
                Ok((reader, slice, parts, checkpoint, input))
            })();
            let (reader, slice, parts, mut checkpoint, input) = match inputs {
                Ok(v) => v,
                Err(err) => {
                    // A device that cannot open is reported first, as when it opened first.
                    join_device()?;
                    return Err(err);
                }
            };
            let columns = reader.columns().clone();
            summary.input_files = reader.files().to_vec();
            let tokenizer = parts.tokenizer.clone();
            // The chunk size is needed before the device is known: `auto` plans for a GPU.
            let chunk_size = chunk_size(compute.batch_size.unwrap_or(match compute.device {
                DeviceChoice::Cpu => CPU_BATCH,
                _ => GPU_BATCH,
            }));
            let text = &job.input.text;
            let mut positions = slice.as_ref().map(|(range, _)| range.clone());
            if let Some(done) = checkpoint
                .as_ref()
                .map(Checkpoint::done)
                .filter(|d| d.rows > 0)
            {
                let start = positions.as_ref().map_or(0, |r| r.start);
                // Every record from the slice's start to the checkpoint's end was embedded or
                // skipped; the ones after its last row are read (and reported) again.
                summary.read = done.next_position - start;
                summary.embedded = done.rows;
                summary.resumed = done.rows;
                summary.skipped = summary.read - done.rows;
                summary.tokens = done.tokens;
                summary.truncated = done.truncated;
                tracing::info!(
                    "resuming: {} rows in {} row groups kept from {}; going on from record {}",
                    done.rows,
                    checkpoint.as_ref().map_or(0, |c| c.groups().len()),
                    checkpoint
                        .as_ref()
                        .map_or_else(String::new, |c| c.dir().display().to_string()),
                    done.next_position
                );
                positions = Some(done.next_position..positions.map_or(u64::MAX, |r| r.end));
            }
            let sizes = (chunk_size, group_rows);
            scope.spawn(move || produce(reader, text, &tokenizer, sizes, positions, tx));
            // Half-precision weights are read and converted while the device opens.
            let dtype = compute.precision.dtype();
            let preparing = HostWeights::wanted(dtype).then(|| {
                let files = parts.files.clone();
                scope.spawn(move || SentenceEncoder::prepare_weights(&files, dtype))
            });
            // Returning early (an error) drops `rx`, which stops the producer at its next send.
            let (device, device_seconds) = join_device()?;
            summary.device_seconds = device_seconds;
            let t = Instant::now();
            let host = match preparing {
                Some(thread) => Some(
                    thread
                        .join()
                        .map_err(|_| Error::Panicked("reading the weights"))??,
                ),
                None => None,
            };
            let mut model = LoadedModel::from_prepared(parts, &device, compute.precision, host)?;
            summary.weights_seconds = t.elapsed().as_secs_f64();
            model.set_pass(compute.forward, compute.attention, compute.queue_batches);
            let dim = model.encoder.dim();
            summary.load_seconds = started.elapsed().as_secs_f64();
            summary.device = model.encoder.device_name();
            summary.model_id = model.files.id.clone();
            summary.model_revision = model.files.revision.clone();
            summary.dimension = dim;
            summary.batch_size = compute
                .batch_size
                .unwrap_or_else(|| default_batch_size(&device));
            log_model(&model, &summary);
            if let Some(c) = checkpoint.as_mut() {
                c.check("device", &summary.device)?;
                c.check("batch_size", &summary.batch_size.to_string())?;
            }
            let mut metadata = metadata(config, &model, slice.clone());
            metadata.push((meta::INPUT.into(), input));
            let mut collected = keep.then(|| Collected::new(&columns, dim, &metadata));
            if let (Some(c), Some(collected)) = (&checkpoint, collected.as_mut()) {
                for file in c.group_files() {
                    collected.add_docs(crate::io::embeddings_in::read(&file)?);
                }
            }
            let checkpoint_dir = checkpoint.as_ref().map(|c| c.dir().to_path_buf());
            let mut writer =
                EmbeddingsWriter::create(&job.out, &columns, dim, metadata, job.write_sync)?
                    .with_group_rows(group_rows);
            if let Some(c) = checkpoint {
                writer = writer.with_checkpoint(c);
            }
            let writing = scope.spawn(move || -> Result<EmbeddingsWriter, WriteError> {
                let mut writer = writer;
                for (rows, vectors) in wrx {
                    writer.write(&rows, vectors)?;
                }
                Ok(writer)
            });
            // Returning early drops `rx` and `wtx`, which stops the other two threads.
            let embedded = (|| -> Result<(), Error> {
                loop {
                    let t = Instant::now();
                    let Ok(produced) = rx.recv() else { break };
                    summary.input_wait_seconds += t.elapsed().as_secs_f64();
                    match produced {
                        Produced::Bad(bad) => skip(bad, &mut summary)?,
                        Produced::Fatal(err) => return Err(err),
                        Produced::Chunk(rows, tokens, seconds) => {
                            summary.read += rows.len() as u64;
                            summary.tokenize_seconds += seconds;
                            let done = embed_chunk(
                                &model,
                                compute.cpu_workers,
                                rows,
                                tokens,
                                &mut summary,
                                progress,
                            )?;
                            if let Some(c) = collected.as_mut() {
                                c.add(&done.0, &done.1);
                            }
                            let t = Instant::now();
                            let sent = wtx.send(done);
                            summary.write_wait_seconds += t.elapsed().as_secs_f64();
                            if sent.is_err() {
                                // The writer stopped on an error: it is reported below.
                                break;
                            }
                        }
                    }
                }
                Ok(())
            })();
            drop(wtx);
            let t = Instant::now();
            let written = writing
                .join()
                .map_err(|_| Error::Panicked("the Parquet writer thread"))?;
            let waited = t.elapsed().as_secs_f64();
            summary.write_wait_seconds += waited;
            tracing::debug!("the writer finished its last rows {waited:.3} s after the last batch");
            progress.finish();
            embedded?;
            Ok((written?, model, collected, checkpoint_dir))
        })?;
    // A shard's part is written even when empty (more shards than records): the set of parts
    // must be whole for clustering.
    if summary.embedded == 0 && config.shard().is_none() {
        return Err(Error::NothingEmbedded {
            skipped: summary.skipped,
        });
    }
    let t = Instant::now();
    let (file, times) = writer.finish_staged()?;
    let mut staged = Staged::new();
    staged.push(file);
    if let Some(dir) = checkpoint_dir {
        staged.remove_after(dir);
    }
    if publish {
        staged.commit()?;
        staged = Staged::new();
    }
    tracing::debug!(
        "Parquet footer, sync and rename {:.3} s",
        t.elapsed().as_secs_f64()
    );
    tracing::debug!(
        "the writer's thread: {} row groups; waited {:.3} s for their encoding, appended them in {:.3} s, synced in {:.3} s",
        times.row_groups,
        times.encode_wait_seconds,
        times.append_seconds,
        times.sync_seconds
    );
    summary.total_seconds = started.elapsed().as_secs_f64();
    Ok(EmbedOutcome {
        summary,
        model,
        docs: collected.map(Collected::finish),
        staged,
    })
}

fn log_model(model: &LoadedModel, summary: &EmbedSummary) {
    tracing::info!(
        "model {}@{} ({}-d, {} pooling{}, max {} tokens) on {}, {} batches",
        summary.model_id,
        summary.model_revision,
        summary.dimension,
        model.config.pooling.name(),
        if model.config.normalize {
            ", normalized"
        } else {
            ""
        },
        model.config.max_length,
        summary.device,
        if model.encoder.uses_tensor_cores() {
            "packed (attention on tensor cores)"
        } else if model.encoder.is_packed() {
            "packed"
        } else {
            "padded"
        }
    );
}

/// The positions `shard` embeds: counts the input's records (bad ones included, `--limit`
/// applied) in a first pass, which costs a read of the input without embedding.
fn shard_slice(config: &ValidEmbed, shard: Shard) -> Result<(std::ops::Range<u64>, u64), Error> {
    let job = config.config();
    let total = ArticleReader::count(&job.input.paths, &job.input.read)?;
    let slice = shard.slice(total);
    tracing::info!(
        "shard {shard}: records {}..{} of {total}",
        slice.start,
        slice.end
    );
    Ok((slice, total))
}

/// The Parquet footer metadata of an embeddings file.
fn metadata(
    config: &ValidEmbed,
    model: &LoadedModel,
    slice: Option<(std::ops::Range<u64>, u64)>,
) -> Vec<(String, String)> {
    let job = config.config();
    let text = &job.input.text;
    let mut out = vec![
        (meta::VERSION.into(), crate::VERSION.into()),
        (meta::MODEL_ID.into(), model.files.id.clone()),
        (meta::MODEL_REVISION.into(), model.files.revision.clone()),
        (meta::POOLING.into(), model.config.pooling.name().into()),
        (meta::NORMALIZE.into(), model.config.normalize.to_string()),
        (meta::DIMENSION.into(), model.encoder.dim().to_string()),
        (meta::MAX_LENGTH.into(), model.config.max_length.to_string()),
        (meta::DEVICE.into(), model.encoder.device_name()),
        (meta::DTYPE.into(), job.compute.precision.name().into()),
        (
            meta::TEXT_FIELDS.into(),
            text.fields
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(","),
        ),
        (meta::TEXT_SEPARATOR.into(), text.separator.clone()),
    ];
    if let Some(shard) = config.shard() {
        out.push((meta::SHARD.into(), shard.to_string()));
    }
    if let Some((slice, total)) = slice {
        out.push((
            meta::SHARD_RECORDS.into(),
            format!("{}-{} of {total}", slice.start, slice.end),
        ));
    }
    out
}

/// Embeds one chunk; returns its rows (token counts filled in) and vectors, for the writer.
fn embed_chunk(
    model: &LoadedModel,
    workers: usize,
    chunk: Vec<EmbeddedArticle>,
    tokens: Vec<Tokens>,
    summary: &mut EmbedSummary,
    progress: &mut dyn Progress,
) -> Result<(Vec<EmbeddedArticle>, Vec<f32>), Error> {
    let t1 = Instant::now();
    let vectors = model.embed_tokens(&tokens, summary.batch_size, workers, |docs, toks| {
        progress.add(docs, toks)
    })?;
    summary.embed_seconds += t1.elapsed().as_secs_f64();

    let rows: Vec<EmbeddedArticle> = chunk
        .into_iter()
        .zip(&tokens)
        .map(|(mut row, tok)| {
            row.n_tokens = tok.ids.len() as u32;
            row.truncated = tok.truncated;
            row
        })
        .collect();
    summary.embedded += rows.len() as u64;
    summary.tokens += tokens.iter().map(|t| t.ids.len() as u64).sum::<u64>();
    summary.truncated += rows.iter().filter(|r| r.truncated).count() as u64;
    Ok((rows, vectors))
}
