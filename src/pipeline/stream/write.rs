//! Step 4 of a streamed clustering (see the module above): the topics named from what was
//! gathered, then one pass writing `documents.parquet`, and the other outputs published with it.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::time::Instant;

use super::gather::gather;
use super::{Fitted, BATCH_ROWS};
use crate::cluster::kmeans::LloydPass;
use crate::cluster::tree::Tree;
use crate::cluster::Clusterer;
use crate::config::ValidCluster;
use crate::error::Error;
use crate::io::embeddings_in::{DocBatch, EmbeddingsFiles, Want};
use crate::io::format::files;
use crate::io::topics_out::{self, DocumentRows, DocumentsWriter, Staged};
use crate::matrix::{dot, Matrix};
use crate::pipeline::model::LoadedModel;
use crate::pipeline::naming::{
    log_topics, output_metadata, shown_title, stage_over_time, stage_report, NamingParts,
    ReportParts,
};
use crate::report::{ClusterSummary, RunReport, TopicRun};
use crate::topics::hierarchy::{name_tree, TreeKeywords};
use crate::topics::streamed::Nearest;
use crate::topics::{self, CountedKeywords, ThemeMatcher, TopicDocs, TopicModel};

/// Steps 3 and 4 after [`super::fit`]: gathers, names the topics, writes documents, topics,
/// topics over time and run.json, and publishes them together.
pub fn name_and_write(
    files: &EmbeddingsFiles,
    mut fitted: Fitted,
    config: &ValidCluster,
    model: Option<&LoadedModel>,
    themes: Option<ThemeMatcher>,
    started: Instant,
) -> Result<TopicRun, Error> {
    let parts = NamingParts::new(config, model, themes.as_ref())?;
    let t_gather = Instant::now();
    let cells = fitted.dates.as_mut().and_then(|(c, _)| c.take());
    let g = gather(files, config, &fitted, cells, &parts)?;
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
    let phrases = parts.phrase_counts(&docs);
    let reader = parts.reader(phrases.as_ref());
    let mut named = topics::name(
        &docs,
        &sizes,
        n,
        &parts.labelers(&keywords, reader.as_ref()),
    )?;
    let mut mean_values = Vec::with_capacity(order.len() * d);
    for &c in &order {
        let size = g.sizes[c] as f64;
        mean_values.extend(
            g.sums[c * d..(c + 1) * d]
                .iter()
                .map(|&s| (s / size) as f32),
        );
    }
    let means = Matrix::new(mean_values, d).expect("k × d");
    let tree = Tree::ward(&means, &sizes);
    let nodes = name_tree(
        &docs,
        &named,
        &means,
        &tree,
        &TreeKeywords {
            labeler: &parts.keywords,
            counts: &counts,
        },
        reader.as_ref(),
        n,
    )?;
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
    let mut pass = LloydPass::new(&fitted.centres, fitted.kmeans.place());
    files.pass(
        Want {
            vectors: true,
            text: false,
            meta: true,
        },
        BATCH_ROWS,
        |mut batch: DocBatch| {
            // The vectors as the input has them, for --with-embeddings (the in-memory job
            // writes them so too); unit length for the assignment.
            let raw = topic_config.with_embeddings.then(|| batch.vectors.clone());
            batch.vectors.normalize_rows();
            let v = &batch.vectors;
            let (labels, _) = pass.add(v)?;
            let topics: Vec<Option<usize>> = labels.iter().map(|&c| rename[c]).collect();
            let similarity: Vec<Option<f32>> = topics
                .iter()
                .enumerate()
                .map(|(i, t)| t.map(|t| dot(v.row(i), centroids.row(t))))
                .collect();
            for (i, (t, s)) in topics.iter().zip(&similarity).enumerate() {
                if let (Some(t), Some(s)) = (t, s) {
                    written_sizes[*t] += 1;
                    nearest.offer(*t, *s, batch.first + i, &batch.ids[i], &batch.titles[i]);
                }
                let mut h = std::collections::hash_map::DefaultHasher::new();
                batch.ids[i].hash(&mut h);
                if !ids_seen.insert(h.finish()) {
                    duplicate_ids += 1;
                }
            }
            let vectors = raw.as_ref();
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
    // Each topic's representative titles, for the report.
    let mut titles: Vec<Vec<String>> = Vec::with_capacity(named.len());
    for ((topic, best), &size) in named
        .iter_mut()
        .zip(nearest.into_topics())
        .zip(&written_sizes)
    {
        topic.representatives = best.iter().map(|e| e.1).collect();
        titles.push(best.iter().map(|e| shown_title(&e.3, "", &e.2)).collect());
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
    topics_out::write_hierarchy(&dir.join(files::HIERARCHY), &nodes, &metadata, &mut staged)?;
    let (periods, counts) = match fitted.dates.take() {
        Some((_, mut counts)) => {
            let rows = match g.cells {
                Some(cells) => cells.finish(5, &mut counts, |c| rename[c]),
                None => Vec::new(),
            };
            (Some(rows), Some(counts))
        }
        None => (None, None),
    };
    let rows = periods.as_deref().unwrap_or_default();
    let dates = stage_over_time(dir, rows, counts, n, &metadata, &mut staged)?;
    let summary = ClusterSummary {
        documents: n,
        topics: order.len(),
        unassigned: 0,
        reassigned: 0,
        k_scores: fitted.k_scores,
        device: fitted.kmeans.device_name(),
        seconds_cluster,
        seconds_topics,
        seconds_write: t_write.elapsed().as_secs_f64(),
        duplicate_ids,
        streamed: Some(fitted.report),
    };
    let mut report = RunReport::new(config, &files.metadata, d, &summary, None);
    report.dates = dates;
    let parts = ReportParts {
        topics: &model_out.topics,
        titles: &titles,
        means: &means,
        nodes: &nodes,
        periods: periods.as_deref(),
        seed: config.clustering.config().seed,
    };
    stage_report(dir, &parts, &report, &mut staged)?;
    topics_out::write_json(&dir.join(files::RUN_JSON), &report, &mut staged)?;
    let written = staged.commit()?;
    log_topics(&model_out.topics);
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
