//! The clustering job past memory (`cluster --stream`): the embeddings are read in passes, a
//! batch at a time, and never held.
//!
//! 1. **Sample** (one pass): about `--stream-sample` rows, drawn by a hash of the row number and
//!    the seed, are kept; the dates are scanned for their span. k-means (k-means++, Lloyd's
//!    iterations, `--n-init` restarts; `--k auto` scores k there) is fitted on the sample.
//! 2. **Refine** (up to `--passes` passes): Lloyd steps over every row, each summing the rows
//!    per centre ([`LloydPass`]), until the centres move less than `--tol` (scaled as
//!    scikit-learn does, by the sample's variance).
//! 3. **Gather** (one pass): each row's nearest centre; per topic, the sums (the centroid), the
//!    size, the c-TF-IDF term counts, an even sample of documents for phrases and themes, and
//!    the (topic, period) counts.
//! 4. **Write** (one pass): the same nearest centres again, numbered by size, written to
//!    `documents.parquet` batch by batch, with each topic's documents nearest its centroid kept
//!    as representatives.
//!
//! Memory: k × D sums, one batch, the samples (at most 500 documents a topic, fewer past 200
//! topics), the vocabulary, and 8 bytes a row for the duplicate-id check.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::time::Instant;

use candle_core::Device;
use rayon::prelude::*;

use super::cluster_job::{output_metadata, text_spec, NamingParts};
use super::model::LoadedModel;
use crate::cluster::kmeans::{in_sample, mean_variance, LloydPass};
use crate::cluster::{KMeansClusterer, KScore};
use crate::config::{StreamChoice, ValidCluster};
use crate::error::Error;
use crate::io::embeddings_in::{DocBatch, EmbeddingsFiles, Want};
use crate::io::format::files;
use crate::io::topics_out::{self, DocumentRows, DocumentsWriter, Staged};
use crate::io::{Field, TextSpec};
use crate::matrix::{dot, Matrix};
use crate::report::{ClusterSummary, RunReport, Streamed, TopicRun};
use crate::topics::keywords::terms;
use crate::topics::over_time::{Cells, DateCounts, DateScan};
use crate::topics::streamed::{Nearest, Sampled, Samples};
use crate::topics::vocab::Surfaces;
use crate::topics::{self, CountedKeywords, KeywordCounts, ThemeMatcher, TopicDocs, TopicModel};

/// Rows per batch read.
const BATCH_ROWS: usize = 8192;

/// Documents per topic sampled for phrases and themes: at most this many...
const SAMPLE_PER_TOPIC: usize = 500;
/// ... and at most this many over all topics.
const SAMPLE_TOTAL: usize = 100_000;

/// Whether `cluster` streams `files` under `config`.
pub fn streams(config: &ValidCluster, files: &EmbeddingsFiles) -> bool {
    let given = config.clustering.config();
    let kmeans = config.clustering.kmeans().is_some();
    match given.stream {
        StreamChoice::On => kmeans,
        StreamChoice::Off => false,
        StreamChoice::Auto => {
            let bytes = files.rows() as u64 * files.dim().unwrap_or(0) as u64 * 4;
            kmeans && bytes > StreamChoice::AUTO_FROM_BYTES
        }
    }
}

/// The centres the sample and the passes gave.
pub struct Fitted {
    centres: Matrix,
    k_scores: Vec<KScore>,
    report: Streamed,
    /// With a date column: the cells to count in (none when no date was readable) and the counts.
    dates: Option<(Option<Cells>, DateCounts)>,
    device_name: String,
}

/// The k-means clusterer `config` describes, on `device` when it is a GPU.
fn clusterer(config: &ValidCluster, device: &Device) -> KMeansClusterer {
    let (k, params, kernels) = config.clustering.kmeans().expect("streams k-means only");
    KMeansClusterer {
        k,
        params: params.clone(),
        device: (!device.is_cpu()).then(|| (device.clone(), kernels)),
    }
}

/// Rows of `batch`, unit length.
fn unit(batch: &DocBatch) -> Matrix {
    let mut v = batch.vectors.clone();
    v.normalize_rows();
    v
}

/// Steps 1 and 2: the sample, its fit and the refining passes.
pub fn fit(
    files: &EmbeddingsFiles,
    config: &ValidCluster,
    device: &Device,
) -> Result<Fitted, Error> {
    let clustering = config.clustering.config();
    let kmeans = clusterer(config, device);
    let t = Instant::now();
    let n = files.rows();
    let want = Want {
        vectors: true,
        text: false,
        meta: files.has_dates(),
    };
    let mut values = Vec::new();
    let mut scan = DateScan::default();
    let dim = files.pass(want, BATCH_ROWS, |batch: DocBatch| {
        for i in 0..batch.rows {
            if in_sample(
                batch.first + i,
                n,
                clustering.stream_sample,
                clustering.seed,
            ) {
                values.extend_from_slice(batch.vectors.row(i));
            }
        }
        for date in batch.dates.iter().flatten() {
            scan.add(date.as_deref());
        }
        Ok::<(), Error>(())
    })?;
    let dim = dim.unwrap_or(1);
    let mut sample = Matrix::new(values, dim).ok_or(Error::NoDocuments {
        inputs: config.given.embeddings.clone(),
    })?;
    sample.normalize_rows();
    if n == 0 {
        return Err(Error::NoDocuments {
            inputs: config.given.embeddings.clone(),
        });
    }
    let (start, k_scores) = kmeans.fit_sample(&sample, n)?;
    let tolerance = clustering.tol * mean_variance(&sample);
    let seconds_sample = t.elapsed().as_secs_f64();
    tracing::info!(
        "streaming: k-means fitted on {} sampled rows of {n} ({seconds_sample:.1} s); refining in passes",
        sample.rows()
    );
    drop(sample);
    let t = Instant::now();
    let mut centres = start.centroids;
    let (mut passes, mut last_shift) = (0, f64::INFINITY);
    while passes < clustering.passes {
        let mut pass = LloydPass::new(&centres, kmeans.place());
        files.pass(Want::VECTORS, BATCH_ROWS, |batch: DocBatch| {
            pass.add(&unit(&batch))?;
            Ok::<(), Error>(())
        })?;
        let inertia = pass.inertia();
        let (next, shift) = pass.finish();
        passes += 1;
        last_shift = shift;
        tracing::info!("streaming: pass {passes}: inertia {inertia:.1}, centre shift {shift:.3e}");
        centres = next;
        if shift <= tolerance {
            break;
        }
    }
    let dates = files
        .has_dates()
        .then(|| scan.periods(config.topics.config().time_bins));
    Ok(Fitted {
        centres,
        k_scores,
        report: Streamed {
            sample_rows: start.labels.len(),
            passes,
            last_shift,
            tolerance,
            seconds_sample,
            seconds_passes: t.elapsed().as_secs_f64(),
        },
        dates,
        device_name: {
            use crate::cluster::Clusterer;
            kmeans.device_name()
        },
    })
}

/// Step 3's findings, per centre (numbered as k-means numbered them).
struct Gathered {
    sums: Vec<f64>,
    sizes: Vec<u64>,
    first: Vec<usize>,
    keywords: KeywordCounts,
    samples: Vec<Vec<Sampled>>,
    cells: Option<Cells>,
}

/// Step 3.
fn gather(
    files: &EmbeddingsFiles,
    config: &ValidCluster,
    fitted: &mut Fitted,
    kmeans: &KMeansClusterer,
    parts: &NamingParts<'_>,
) -> Result<Gathered, Error> {
    let k = fitted.centres.rows();
    let d = fitted.centres.dim();
    let spec = text_spec(&files.metadata);
    let vocab = &parts.keywords.vocab;
    let cap = SAMPLE_PER_TOPIC.min((SAMPLE_TOTAL / k.max(1)).max(16));
    let seed = config.clustering.config().seed;
    let mut out = Gathered {
        sums: vec![0.0; k * d],
        sizes: vec![0; k],
        first: vec![usize::MAX; k],
        keywords: KeywordCounts::new(k),
        samples: Vec::new(),
        cells: fitted.dates.as_mut().and_then(|(c, _)| c.take()),
    };
    let mut samples = Samples::new(k, cap, seed);
    let mut pass = LloydPass::new(&fitted.centres, kmeans.place());
    files.pass(Want::ALL, BATCH_ROWS, |batch: DocBatch| {
        let v = unit(&batch);
        let (labels, _) = pass.add(&v)?;
        let texts: Vec<String> = (0..batch.rows).map(|i| compose(&spec, &batch, i)).collect();
        let found: Vec<(usize, Vec<String>, Surfaces)> = (0..batch.rows)
            .into_par_iter()
            .map(|i| {
                let mut s = Surfaces::default();
                (labels[i], terms(&texts[i], vocab, &mut s), s)
            })
            .collect();
        out.keywords.add_found(found);
        for (i, &c) in labels.iter().enumerate() {
            let row = batch.first + i;
            out.sizes[c] += 1;
            out.first[c] = out.first[c].min(row);
            for (s, x) in out.sums[c * d..(c + 1) * d].iter_mut().zip(v.row(i)) {
                *s += f64::from(*x);
            }
            samples.offer(c, || Sampled {
                row,
                title: batch.titles[i].clone(),
                text: texts[i].clone(),
                vector: v.row(i).to_vec(),
            });
            if let (Some(cells), Some(dates)) = (out.cells.as_mut(), batch.dates.as_ref()) {
                if let Some(day) = dates[i].as_deref().and_then(crate::topics::dates::parse) {
                    cells.add(day, Some(c), &texts[i], vocab);
                }
            }
        }
        Ok::<(), Error>(())
    })?;
    out.samples = samples.into_topics();
    Ok(out)
}

/// Row `i`'s text as the embedding job composed it.
fn compose(spec: &TextSpec, batch: &DocBatch, i: usize) -> String {
    spec.compose_with(|field| match field {
        Field::Id => Some(batch.ids[i].as_str()),
        Field::Title => Some(batch.titles[i].as_str()),
        Field::Text => Some(batch.texts[i].as_str()),
        Field::Date => batch.dates.as_ref().and_then(|d| d[i].as_deref()),
        Field::Label => batch.labels.as_ref().and_then(|l| l[i].as_deref()),
    })
    .unwrap_or_default()
}

/// Steps 3 and 4 after [`fit`]: gathers, names the topics, writes documents, topics, topics
/// over time and run.json, and publishes them together.
pub fn name_and_write(
    files: &EmbeddingsFiles,
    mut fitted: Fitted,
    config: &ValidCluster,
    device: &Device,
    model: Option<&LoadedModel>,
    themes: Option<ThemeMatcher>,
    started: Instant,
) -> Result<TopicRun, Error> {
    let kmeans = clusterer(config, device);
    let parts = NamingParts::new(config, model, themes.as_ref())?;
    let t_gather = Instant::now();
    let g = gather(files, config, &mut fitted, &kmeans, &parts)?;
    let seconds_cluster = started.elapsed().as_secs_f64();
    let (k, d) = (fitted.centres.rows(), fitted.centres.dim());
    let n = files.rows();
    // Topics by size, largest first; ties by first row; empty centres dropped.
    let mut order: Vec<usize> = (0..k).filter(|&c| g.sizes[c] > 0).collect();
    order.sort_by(|&a, &b| {
        g.sizes[b]
            .cmp(&g.sizes[a])
            .then(g.first[a].cmp(&g.first[b]))
    });
    let mut rename = vec![None; k];
    for (new, &old) in order.iter().enumerate() {
        rename[old] = Some(new);
    }
    let mut centroid_values = Vec::with_capacity(order.len() * d);
    for &c in &order {
        centroid_values.extend(g.sums[c * d..(c + 1) * d].iter().map(|&s| s as f32));
    }
    let mut centroids = Matrix::new(centroid_values, d).expect("k × d");
    centroids.normalize_rows();
    // The samples, as the labellers read documents.
    let (mut texts, mut titles, mut values, mut members) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut samples = g.samples;
    for &c in &order {
        let mut rows = Vec::new();
        for s in std::mem::take(&mut samples[c]) {
            rows.push(texts.len());
            texts.push(s.text);
            titles.push(s.title);
            values.extend(s.vector);
        }
        members.push(rows);
    }
    let data = Matrix::new(values, d).expect("rows × d");
    let sizes: Vec<usize> = order.iter().map(|&c| g.sizes[c] as usize).collect();
    let counts = g.keywords.select(&order);
    let keywords = CountedKeywords {
        labeler: &parts.keywords,
        counts: &counts,
    };
    let docs = TopicDocs {
        texts: &texts,
        data: &data,
        titles: &titles,
        members: &members,
        centroids: &centroids,
    };
    let t_topics = Instant::now();
    let mut named = topics::name(&docs, &sizes, n, &parts.labelers(&keywords))?;
    let seconds_topics = t_topics.elapsed().as_secs_f64();
    drop((texts, titles, data, members));
    tracing::debug!(
        "streaming: gathered in {:.1} s",
        t_gather.elapsed().as_secs_f64()
    );

    // Step 4.
    let t_write = Instant::now();
    let topic_config = config.topics.config();
    let metadata = output_metadata(&files.metadata, config);
    let dir = &config.given.out;
    let mut staged = Staged::new();
    let mut writer = DocumentsWriter::create(
        &dir.join(files::DOCUMENTS),
        files.has_dates(),
        files.has_labels(),
        topic_config.with_embeddings.then_some(d),
        &metadata,
    )?;
    let names: Vec<String> = named.iter().map(|t| t.label.clone()).collect();
    let mut nearest = Nearest::new(order.len(), topic_config.representatives);
    let mut ids_seen: HashSet<u64> = HashSet::new();
    let mut duplicate_ids = 0usize;
    let mut written_sizes = vec![0usize; order.len()];
    let mut pass = LloydPass::new(&fitted.centres, kmeans.place());
    files.pass(
        Want {
            vectors: true,
            text: false,
            meta: true,
        },
        BATCH_ROWS,
        |batch: DocBatch| {
            let v = unit(&batch);
            let (labels, _) = pass.add(&v)?;
            let topics: Vec<Option<usize>> = labels.iter().map(|&c| rename[c]).collect();
            let similarity: Vec<Option<f32>> = topics
                .iter()
                .enumerate()
                .map(|(i, t)| t.map(|t| dot(v.row(i), centroids.row(t))))
                .collect();
            for (i, (t, s)) in topics.iter().zip(&similarity).enumerate() {
                if let (Some(t), Some(s)) = (t, s) {
                    written_sizes[*t] += 1;
                    nearest.offer(*t, *s, batch.first + i, &batch.ids[i]);
                }
                let mut h = std::collections::hash_map::DefaultHasher::new();
                batch.ids[i].hash(&mut h);
                if !ids_seen.insert(h.finish()) {
                    duplicate_ids += 1;
                }
            }
            let vectors = topic_config.with_embeddings.then_some(&v);
            writer.write(
                &DocumentRows {
                    ids: &batch.ids,
                    titles: &batch.titles,
                    dates: batch.dates.as_deref(),
                    labels: batch.labels.as_deref(),
                    topics: &topics,
                    similarity: &similarity,
                    vectors,
                },
                &names,
            )?;
            Ok::<(), Error>(())
        },
    )?;
    drop(ids_seen);
    if written_sizes != sizes {
        tracing::warn!("streaming: the writing pass gave other topic sizes than the gathering pass (the device's arithmetic differs between passes?): topics.parquet has the written ones");
    }
    if duplicate_ids > 0 {
        tracing::warn!("{duplicate_ids} documents have the id of an earlier one; all are kept, so a join on id matches several rows");
    }
    writer.finish(&mut staged)?;
    for ((topic, best), &size) in named
        .iter_mut()
        .zip(nearest.into_topics())
        .zip(&written_sizes)
    {
        topic.representatives = best.iter().map(|e| e.1).collect();
        topic.representative_ids = best.into_iter().map(|e| e.2).collect();
        topic.size = size;
        topic.share = size as f64 / n.max(1) as f64;
    }
    let model_out = TopicModel {
        topics: named,
        similarity: Vec::new(),
        centroids,
    };
    topics_out::write_topics(
        &dir.join(files::TOPICS),
        d,
        &model_out,
        &metadata,
        &mut staged,
    )?;
    let dates = match fitted.dates.take() {
        Some((_, mut counts)) => {
            let rows = match g.cells {
                Some(cells) => cells.finish(5, &mut counts, |c| rename[c]),
                None => Vec::new(),
            };
            if counts.unparsed > 0 {
                tracing::warn!(
                    "{} of {n} dates in no form newsclust reads (e.g. {:?}); those documents are left out of topics_over_time.parquet",
                    counts.unparsed,
                    counts.examples
                );
            }
            if rows.is_empty() {
                tracing::warn!("no document has a readable date: no topics_over_time.parquet");
                staged.remove_stale(dir.join(files::TOPICS_OVER_TIME));
            } else {
                topics_out::write_over_time(
                    &dir.join(files::TOPICS_OVER_TIME),
                    &rows,
                    &metadata,
                    &mut staged,
                )?;
            }
            Some(counts)
        }
        None => {
            staged.remove_stale(dir.join(files::TOPICS_OVER_TIME));
            None
        }
    };
    let summary = ClusterSummary {
        documents: n,
        topics: order.len(),
        unassigned: 0,
        reassigned: 0,
        k_scores: fitted.k_scores,
        device: fitted.device_name,
        seconds_cluster,
        seconds_topics,
        seconds_write: t_write.elapsed().as_secs_f64(),
        duplicate_ids,
        streamed: Some(fitted.report),
    };
    let mut report = RunReport::new(config, &files.metadata, d, &summary, None);
    report.dates = dates;
    topics_out::write_json(&dir.join(files::RUN_JSON), &report, &mut staged)?;
    let written = staged.commit()?;
    for t in &model_out.topics {
        tracing::info!(
            "topic {:>3} {:>8} docs  {}  [{}]",
            t.id,
            t.size,
            t.label,
            t.keywords
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(TopicRun {
        topics: model_out.topics,
        assignments: Vec::new(),
        similarity: Vec::new(),
        ids: Vec::new(),
        summary,
        report,
        files: written,
    })
}
