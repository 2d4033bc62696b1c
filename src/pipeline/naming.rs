//! What the clustering jobs (in memory and streamed) share to name and describe topics: the
//! labellers of a run, the text spec documents were embedded with, the outputs' metadata.

use std::collections::HashMap;
use std::path::Path;

use super::model::{embed_texts, LoadedModel};
use crate::cluster::pca::Pca;
use crate::config::{NamingMode, ValidCluster};
use crate::error::Error;
use crate::io::format::{files, meta};
use crate::io::report_html::{self, ReportInput};
use crate::io::topics_out::{self, Staged};
use crate::io::{Field, TextSpec, WriteError};
use crate::matrix::Matrix;
use crate::report::RunReport;
use crate::topics::hierarchy::Node;
use crate::topics::over_time::{DateCounts, Period};
use crate::topics::phrase::{GramCounts, PhraseParams};
use crate::topics::reader::CountedReader;
use crate::topics::vocab::Vocab;
use crate::topics::{
    CandidateLabeler, KeywordLabeler, Labeler, Labelers, ReaderLabeler, ThemeMatcher,
};
use crate::topics::{Topic, TopicDocs};

/// The labellers of a run, built once: keywords always; the user's candidate labels (embedded
/// by `model`) and the reader labeller (phrases and themes) when there is a model and naming is
/// by phrase.
pub struct NamingParts<'a> {
    pub keywords: KeywordLabeler,
    candidates: Option<CandidateLabeler>,
    reader: Option<ReaderLabeler<'a>>,
}

impl<'a> NamingParts<'a> {
    pub fn new(
        config: &ValidCluster,
        model: Option<&'a LoadedModel>,
        themes: Option<&'a ThemeMatcher>,
    ) -> Result<Self, Error> {
        let topic_config = config.topics.config();
        let vocab = Vocab::new(config.topics.stop_words.clone());
        let keywords = KeywordLabeler {
            top_keywords: topic_config.top_keywords,
            min_df: topic_config.min_df,
            vocab: vocab.clone(),
        };
        let candidates = match (&config.topics.candidates, model) {
            (Some(labels), Some(m)) => {
                let mut vectors = embed_texts(m, labels)?;
                vectors.normalize_rows();
                Some(CandidateLabeler {
                    candidates: labels.clone(),
                    vectors,
                    threshold: topic_config.label_threshold,
                })
            }
            _ => None,
        };
        let encoder = model.filter(|_| topic_config.naming == NamingMode::Phrases);
        let reader = encoder.map(|m| ReaderLabeler {
            encoder: m,
            vocab,
            params: PhraseParams::default(),
            themes,
            seen: Default::default(),
        });
        Ok(Self {
            keywords,
            candidates,
            reader,
        })
    }

    /// The reader labeller's counts of the candidate phrases of `docs`' topics (none when naming
    /// is by keywords), made once: they name the topics and the merged nodes of their tree.
    pub fn phrase_counts(&self, docs: &TopicDocs<'_>) -> Option<GramCounts> {
        self.reader.as_ref().map(|r| r.counts(docs))
    }

    /// The reader labeller naming from `counts` (see [`Self::phrase_counts`]).
    pub fn reader<'b>(&'b self, counts: Option<&'b GramCounts>) -> Option<CountedReader<'b>> {
        match (&self.reader, counts) {
            (Some(labeler), Some(counts)) => Some(CountedReader { labeler, counts }),
            _ => None,
        }
    }

    /// The labellers: keywords from `keywords` (this run's keyword labeller, or its counts), the
    /// reader label from `reader` (see [`Self::reader`]), the guided label.
    pub fn labelers<'b>(
        &'b self,
        keywords: &'b dyn Labeler,
        reader: Option<&'b CountedReader<'b>>,
    ) -> Labelers<'b> {
        Labelers {
            keywords,
            reader: reader.map(|r| r as &dyn Labeler),
            guided: self.candidates.as_ref().map(|c| c as &dyn Labeler),
        }
    }
}

/// The text spec the embedding job composed texts with (the embeddings' metadata; files
/// without one: title and text).
pub fn text_spec(metadata: &HashMap<String, String>) -> TextSpec {
    let mut spec = TextSpec::default();
    if let Some(fields) = metadata.get(meta::TEXT_FIELDS) {
        let parsed: Result<Vec<Field>, _> = fields.split(',').map(str::parse).collect();
        if let Ok(fields) = parsed {
            spec.fields = fields;
        }
    }
    if let Some(separator) = metadata.get(meta::TEXT_SEPARATOR) {
        spec.separator = separator.clone();
    }
    spec
}

/// The outputs' metadata: the model's, from the embeddings' `metadata`, and the clustering's.
pub fn output_metadata(
    metadata: &HashMap<String, String>,
    config: &ValidCluster,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = metadata
        .iter()
        .filter(|(k, _)| meta::describes_model(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    out.sort();
    out.push((meta::VERSION.into(), crate::VERSION.into()));
    let clustering = config.clustering.config();
    out.push((meta::ALGORITHM.into(), clustering.algorithm.name().into()));
    out.push((meta::SEED.into(), clustering.seed.to_string()));
    out
}

/// Stages `topics_over_time.parquet` in `dir` from `rows`, the periods of documents with a date
/// column (`counts`; `None`: none has one), warning of unreadable dates among `total` documents;
/// with no period, an earlier run's file there is removed at publication. Returns the counts.
pub fn stage_over_time(
    dir: &Path,
    rows: &[Period],
    counts: Option<DateCounts>,
    total: usize,
    metadata: &[(String, String)],
    staged: &mut Staged,
) -> Result<Option<DateCounts>, Error> {
    let Some(counts) = counts else {
        staged.remove_stale(dir.join(files::TOPICS_OVER_TIME));
        return Ok(None);
    };
    if counts.unparsed > 0 {
        tracing::warn!(
            "{} of {total} dates in no form newsclust reads (e.g. {:?}); those documents are left out of topics_over_time.parquet",
            counts.unparsed,
            counts.examples
        );
    }
    if rows.is_empty() {
        tracing::warn!("no document has a readable date: no topics_over_time.parquet");
        staged.remove_stale(dir.join(files::TOPICS_OVER_TIME));
    } else {
        topics_out::write_over_time(&dir.join(files::TOPICS_OVER_TIME), rows, metadata, staged)?;
    }
    Ok(Some(counts))
}

/// What `report.html` shows beside `run.json`: the topics, their representative titles, their
/// mean vectors (placed on the map), the tree and the periods (`None`: no date column).
pub struct ReportParts<'a> {
    pub topics: &'a [Topic],
    pub titles: &'a [Vec<String>],
    pub means: &'a Matrix,
    pub nodes: &'a [Node],
    pub periods: Option<&'a [Period]>,
    pub seed: u64,
}

/// Stages `report.html` in `dir`.
pub fn stage_report(
    dir: &Path,
    parts: &ReportParts<'_>,
    report: &RunReport,
    staged: &mut Staged,
) -> Result<(), Error> {
    let path = dir.join(files::REPORT);
    let run = serde_json::to_value(report).map_err(|e| WriteError::new(&path, e))?;
    let positions = topic_map(parts.means, parts.seed);
    let input = ReportInput {
        topics: parts.topics,
        titles: parts.titles,
        positions: &positions,
        nodes: parts.nodes,
        periods: parts.periods,
        run: &run,
    };
    report_html::write_report(&path, &input, staged)?;
    Ok(())
}

/// Each topic's place on the report's map: the first two principal components of the topics'
/// mean vectors (one topic: the origin).
pub fn topic_map(means: &Matrix, seed: u64) -> Vec<[f32; 2]> {
    if means.rows() < 2 {
        return vec![[0.0; 2]; means.rows()];
    }
    let projected = Pca::fit(means, 2, seed).transform(means);
    (0..projected.rows())
        .map(|i| {
            let row = projected.row(i);
            let at = |j: usize| row.get(j).copied().filter(|v| v.is_finite()).unwrap_or(0.0);
            [at(0), at(1)]
        })
        .collect()
}

/// What the report lists for a representative document: its title, else the start of its
/// text, else its id.
pub fn shown_title(title: &str, text: &str, id: &str) -> String {
    if !title.trim().is_empty() {
        title.to_string()
    } else if !text.trim().is_empty() {
        report_html::cut(text, 140)
    } else {
        format!("(document {id})")
    }
}

/// Logs each topic: number, size, label, first keywords.
pub fn log_topics(topics: &[Topic]) {
    for t in topics {
        tracing::info!(
            "topic {:>3} {:>6} docs  {}  [{}]",
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
}
