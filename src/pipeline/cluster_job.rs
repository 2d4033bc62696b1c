//! The clustering job: embedded documents → clusters (or an earlier output's topics merged,
//! `--reduce-to`) → named topics and their tree → `documents.parquet`, `topics.parquet`,
//! `hierarchy.parquet` and `run.json` in an output folder, renamed into place together.

use std::time::Instant;

use candle_core::Device;

use super::model::{LoadedModel, ModelParts};
use super::naming::{
    log_topics, output_metadata, shown_title, stage_over_time, stage_report, text_spec,
    NamingParts, ReportParts,
};
use super::stream;
use crate::cluster::tree::Tree;
use crate::cluster::Clustering;
use crate::config::NamingMode;
use crate::config::ValidCluster;
use crate::device::Precision;
use crate::embed::Embedder;
use crate::error::Error;
use crate::io::embeddings_in::{self, EmbeddedDocs, EmbeddingsFiles};
use crate::io::format::{files, meta};
use crate::io::lock::OutputLock;
use crate::io::topics_out::{self, Staged};
use crate::io::Field;
use crate::matrix::Matrix;
use crate::report::{ClusterSummary, EmbedPart, RunReport, TopicRun};
use crate::setting::Setting;
use crate::topics::hierarchy::{name_tree, TreeKeywords};
use crate::topics::vocab::Vocab;
use crate::topics::{self, Corpus, CountedKeywords, ThemeMatcher, TopicDocs};

/// `newsclust cluster`: reads the embeddings, opens the device (k-means runs there on a GPU) and,
/// when phrases, themes, candidate labels or a model check need one, loads the model in f32 and
/// embeds the themes on a thread of their own while k-means runs.
pub fn run_cluster(config: &ValidCluster) -> Result<(TopicRun, Option<LoadedModel>), Error> {
    let started = Instant::now();
    let given = &config.given;
    let _lock = OutputLock::folder(&given.out)?;
    let device = given.device.open_with(given.cuda)?;
    let device = &device;
    let files = EmbeddingsFiles::open(&given.embeddings)?;
    // Phrases, themes and candidate labels are embedded with the files' model (or --model),
    // which loads on a thread of its own while the files are read and clustered.
    let naming = config.topics.config().naming == NamingMode::Phrases;
    let named_in_files = made_with(&files).filter(|id| !id.is_empty());
    let spec = match (&given.model, &config.topics.candidates) {
        (Some(model), _) => Some(model.clone()),
        // Candidate labels need a model: the files' (an error when they name none).
        (None, Some(_)) => Some(named_in_files.unwrap_or_default()),
        (None, None) => named_in_files.filter(|_| naming),
    };
    if config.given.reduce.is_none() && stream::streams(config, &files) {
        return run_streamed(&files, config, device, spec.as_deref(), started);
    }
    let ((read, clustered), loaded) = beside_model(spec.as_deref(), config, device, || {
        let read = embeddings_in::read_files(&files);
        let clustered = match &read {
            Ok(docs) if !docs.is_empty() => Some(cluster_vectors(docs, config, device, started)),
            _ => None,
        };
        (read, clustered)
    });
    let docs = read?;
    let clustered = clustered.ok_or_else(|| Error::NoDocuments {
        inputs: given.embeddings.clone(),
    })?;
    // A model error outranks the clustering's: it says what to fix before running again.
    let (model, themes) = take_model(loaded, config, &files, Some(docs.embeddings.dim()))?;
    let run = name_and_write(
        docs,
        clustered?,
        config,
        model.as_ref(),
        themes,
        None,
        Staged::new(),
    )?;
    Ok((run, model))
}

/// A model loaded for naming, with the themes it embedded (or why it could not load).
type Loaded = Result<(LoadedModel, Option<ThemeMatcher>), Error>;

/// The model the files name in their metadata.
fn made_with(files: &EmbeddingsFiles) -> Option<String> {
    files.metadata.get(meta::MODEL_ID).cloned()
}

/// The model and themes that `spec` names (when it names one), loaded on a thread of their own
/// while `work` runs; with no thread to spare, on this one after it.
fn beside_model<T>(
    spec: Option<&str>,
    config: &ValidCluster,
    device: &Device,
    work: impl FnOnce() -> T,
) -> (T, Option<Loaded>) {
    std::thread::scope(|scope| {
        let loading = spec.map(|spec| {
            std::thread::Builder::new()
                .name("model".into())
                .spawn_scoped(scope, move || load_for_naming(spec, config, device))
                .map_err(|_| spec)
        });
        let done = work();
        let loaded = loading.map(|spawned| match spawned {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(spec) => load_for_naming(spec, config, device),
        });
        (done, loaded)
    })
}

/// The model and themes [`beside_model`] loaded, or its error; without one, a warning when
/// topics were to be named by phrase. With `--model`, the files (of `got_dim` values, when
/// known) must be that model's.
fn take_model(
    loaded: Option<Loaded>,
    config: &ValidCluster,
    files: &EmbeddingsFiles,
    got_dim: Option<usize>,
) -> Result<(Option<LoadedModel>, Option<ThemeMatcher>), Error> {
    if config.topics.config().naming == NamingMode::Phrases && loaded.is_none() {
        tracing::warn!(
            "the embeddings name no model: topics are named by keywords (pass {} to name them by phrase and theme)",
            Setting::Model
        );
    }
    let Some((model, themes)) = loaded.transpose()? else {
        return Ok((None, None));
    };
    if config.given.model.is_some() {
        let got = made_with(files).unwrap_or_default();
        let (want, want_dim) = (model.files.id.as_str(), model.encoder.dim());
        let got_dim = got_dim.unwrap_or(want_dim);
        if got != want || got_dim != want_dim {
            return Err(Error::OtherModel {
                inputs: config.given.embeddings.clone(),
                got,
                got_dim,
                want: want.to_string(),
                want_dim,
            });
        }
    }
    Ok((Some(model), themes))
}

/// `run_cluster` past memory ([`stream`]): the model loads on its own thread while the first
/// passes run.
fn run_streamed(
    files: &EmbeddingsFiles,
    config: &ValidCluster,
    device: &Device,
    spec: Option<&str>,
    started: Instant,
) -> Result<(TopicRun, Option<LoadedModel>), Error> {
    tracing::info!(
        "streaming {} rows: the vectors are read in passes, not held ({} {})",
        files.rows(),
        Setting::Stream,
        config.clustering.config().stream.name()
    );
    let (fitted, loaded) =
        beside_model(spec, config, device, || stream::fit(files, config, device));
    let (model, themes) = take_model(loaded, config, files, files.dim())?;
    let run = stream::name_and_write(files, fitted?, config, model.as_ref(), themes, started)?;
    Ok((run, model))
}

/// Resolves and loads `spec` on `device` in f32, and embeds the themes with it when topics are
/// named by phrase.
fn load_for_naming(spec: &str, config: &ValidCluster, device: &Device) -> Loaded {
    let parts = ModelParts::resolve(spec, &config.given.resolve, None)?;
    let model = LoadedModel::from_parts(parts, device, Precision::F32)?;
    let themes = theme_matcher(config, Some(&model))?;
    Ok((model, themes))
}

/// The themes embedded by `model`, when topics are named by phrase and themes are on.
fn theme_matcher(
    config: &ValidCluster,
    model: Option<&LoadedModel>,
) -> Result<Option<ThemeMatcher>, Error> {
    let topic_config = config.topics.config();
    match (model, &config.topics.themes) {
        (Some(m), Some(list)) if topic_config.naming == NamingMode::Phrases => Ok(Some(
            ThemeMatcher::new(list.clone(), m, topic_config.theme_threshold)?,
        )),
        _ => Ok(None),
    }
}

/// Clusters `docs` and names and writes their topics (the caller holds the output folder's
/// lock). `device`: where k-means runs (on a GPU) and `model` embeds candidate labels; `embed`:
/// the embedding half of a `run`, for its report; `started`: when the clustering half began
/// (its time in the report counts from there); `pending`: files already written (a run's
/// embeddings), published with the topics or, on an error, not at all.
pub fn cluster_docs(
    docs: EmbeddedDocs,
    config: &ValidCluster,
    device: &Device,
    model: Option<&LoadedModel>,
    embed: Option<EmbedPart<'_>>,
    started: Instant,
    pending: Staged,
) -> Result<TopicRun, Error> {
    let clustered = cluster_vectors(&docs, config, device, started)?;
    let themes = theme_matcher(config, model)?;
    name_and_write(docs, clustered, config, model, themes, embed, pending)
}

/// The documents' unit vectors and their clusters.
struct Clustered {
    data: Matrix,
    clustering: Clustering,
    device_name: String,
    duplicate_ids: usize,
    /// Since the clustering half began.
    seconds: f64,
}

/// k-means (on the GPU when `device` is one) or HDBSCAN over the documents' unit vectors.
fn cluster_vectors(
    docs: &EmbeddedDocs,
    config: &ValidCluster,
    device: &Device,
    started: Instant,
) -> Result<Clustered, Error> {
    let duplicate_ids = warn_duplicate_ids(&docs.ids);
    let mut data = docs.embeddings.clone();
    data.normalize_rows();
    if let Some(reduce) = &config.given.reduce {
        let from = reduce.from.as_ref().unwrap_or(&config.given.out);
        let earlier = crate::io::topics_in::read_topics(from, &docs.ids)?;
        let clustering = crate::cluster::tree::reduce(&data, earlier, reduce.to)?;
        tracing::info!(
            "merged the topics of {} down to {}",
            from.display(),
            clustering.assignments.topics
        );
        return Ok(Clustered {
            data,
            clustering,
            device_name: "cpu".into(),
            duplicate_ids,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    let gpu = (!device.is_cpu()).then_some(device);
    let clusterer = config.clustering.clusterer(gpu);
    let clustering = clusterer.cluster(&data)?;
    Ok(Clustered {
        data,
        clustering,
        device_name: clusterer.device_name(),
        duplicate_ids,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Names the topics of `clustered` (keywords; phrases and themes when `model` is given and
/// naming is by phrase; candidate labels when given) and writes the three files together.
fn name_and_write(
    docs: EmbeddedDocs,
    clustered: Clustered,
    config: &ValidCluster,
    model: Option<&LoadedModel>,
    themes: Option<ThemeMatcher>,
    embed: Option<EmbedPart<'_>>,
    pending: Staged,
) -> Result<TopicRun, Error> {
    let Clustered {
        data,
        clustering,
        device_name,
        duplicate_ids,
        seconds: seconds_cluster,
    } = clustered;
    let assignments = clustering.assignments;
    let t1 = Instant::now();
    let texts = document_texts(&docs);
    let topic_config = config.topics.config();
    let parts = NamingParts::new(config, model, themes.as_ref())?;
    let corpus = Corpus {
        texts: &texts,
        titles: &docs.titles,
        data: &data,
    };
    // The topics' keyword counts, made once: they name the topics and the tree's merged nodes.
    let members = assignments.members();
    let centroids = crate::cluster::centroids(&data, &assignments);
    let leaf_docs = TopicDocs {
        texts: &texts,
        data: &data,
        titles: &docs.titles,
        members: &members,
        centroids: &centroids,
    };
    let counts = parts.keywords.counts(&leaf_docs);
    let keywords = CountedKeywords {
        labeler: &parts.keywords,
        counts: &counts,
    };
    let phrases = parts.phrase_counts(&leaf_docs);
    let reader = parts.reader(phrases.as_ref());
    let mut named = topics::build(
        &corpus,
        &assignments,
        topic_config.representatives,
        &parts.labelers(&keywords, reader.as_ref()),
    )?;
    let t_tree = Instant::now();
    let means = crate::cluster::means(&data, &assignments);
    let sizes: Vec<usize> = members.iter().map(Vec::len).collect();
    let tree = Tree::ward(&means, &sizes);
    let nodes = name_tree(
        &leaf_docs,
        &named.topics,
        &means,
        &tree,
        &TreeKeywords {
            labeler: &parts.keywords,
            counts: &counts,
        },
        reader.as_ref(),
        docs.len(),
    )?;
    tracing::debug!("topic tree: {:.3} s", t_tree.elapsed().as_secs_f64());
    for t in &mut named.topics {
        t.representative_ids = t
            .representatives
            .iter()
            .map(|&r| docs.ids[r].clone())
            .collect();
    }
    let seconds_topics = t1.elapsed().as_secs_f64();

    let t2 = Instant::now();
    let mut summary = ClusterSummary {
        documents: docs.len(),
        topics: assignments.topics,
        unassigned: assignments.unassigned(),
        reassigned: clustering.reassigned,
        k_scores: clustering.k_scores,
        device: device_name,
        seconds_cluster,
        seconds_topics,
        seconds_write: 0.0,
        duplicate_ids,
        streamed: None,
    };
    let metadata = output_metadata(&docs.metadata, config);
    let mut staged = pending;
    let dir = &config.given.out;
    topics_out::write_documents(
        &dir.join(files::DOCUMENTS),
        &docs,
        &assignments.labels,
        &named,
        topic_config.with_embeddings,
        &metadata,
        &mut staged,
    )?;
    topics_out::write_topics(
        &dir.join(files::TOPICS),
        docs.embeddings.dim(),
        &named,
        &metadata,
        &mut staged,
    )?;
    topics_out::write_hierarchy(&dir.join(files::HIERARCHY), &nodes, &metadata, &mut staged)?;
    let (periods, counts) = match docs.dates.as_ref() {
        Some(dates) => {
            let (rows, counts) = topics::over_time::over_time(
                dates,
                &assignments.labels,
                &texts,
                &Vocab::new(config.topics.stop_words.clone()),
                topic_config.time_bins,
                5,
            );
            (Some(rows), Some(counts))
        }
        None => (None, None),
    };
    let rows = periods.as_deref().unwrap_or_default();
    let dates = stage_over_time(dir, rows, counts, docs.len(), &metadata, &mut staged)?;
    summary.seconds_write = t2.elapsed().as_secs_f64();
    let mut report = RunReport::new(
        config,
        &docs.metadata,
        docs.embeddings.dim(),
        &summary,
        embed,
    );
    report.dates = dates;
    let titles: Vec<Vec<String>> = named
        .topics
        .iter()
        .map(|t| {
            t.representatives
                .iter()
                .map(|&r| shown_title(&docs.titles[r], &docs.texts[r], &docs.ids[r]))
                .collect()
        })
        .collect();
    let parts = ReportParts {
        topics: &named.topics,
        titles: &titles,
        means: &means,
        nodes: &nodes,
        periods: periods.as_deref(),
        seed: config.clustering.config().seed,
    };
    stage_report(dir, &parts, &report, &mut staged)?;
    topics_out::write_json(&dir.join(files::RUN_JSON), &report, &mut staged)?;
    let written = staged.commit()?;
    log_topics(&named.topics);
    Ok(TopicRun {
        topics: named.topics,
        assignments: assignments.labels,
        similarity: named.similarity,
        ids: docs.ids,
        summary,
        report,
        files: written,
    })
}

/// Each document's text as the embedding job composed it (the `TextSpec` in the embeddings'
/// metadata; files without one: title and text), searched for keywords.
fn document_texts(docs: &EmbeddedDocs) -> Vec<String> {
    let spec = text_spec(&docs.metadata);
    (0..docs.len())
        .map(|i| {
            spec.compose_with(|field| match field {
                Field::Id => Some(docs.ids[i].as_str()),
                Field::Title => Some(docs.titles[i].as_str()),
                Field::Text => Some(docs.texts[i].as_str()),
                Field::Date => docs.dates.as_ref().and_then(|d| d[i].as_deref()),
                Field::Label => docs.labels.as_ref().and_then(|l| l[i].as_deref()),
            })
            .unwrap_or_default()
        })
        .collect()
}

/// Counts the documents whose id an earlier one has, and warns once when there are any: they are
/// all clustered and written (an `embed` output never has any; files from elsewhere, or several
/// inputs that overlap, may), but a join on `id` would match several rows.
fn warn_duplicate_ids(ids: &[String]) -> usize {
    let mut first = std::collections::HashMap::with_capacity(ids.len());
    let mut count = 0;
    let mut example = None;
    for (row, id) in ids.iter().enumerate() {
        if let Some(&earlier) = first.get(id.as_str()) {
            count += 1;
            example.get_or_insert((id, earlier, row));
        } else {
            first.insert(id.as_str(), row);
        }
    }
    if let Some((id, a, b)) = example {
        tracing::warn!(
            "{count} documents have the id of an earlier one (the first: '{id}', rows {a} and {b} of the input, counted from 0); all are kept, so a join on id matches several rows"
        );
    }
    count
}
