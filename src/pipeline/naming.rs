//! What the clustering jobs (in memory and streamed) share to name and describe topics: the
//! labellers of a run, the text spec documents were embedded with, the outputs' metadata.

use std::collections::HashMap;
use std::path::Path;

use super::model::{embed_texts, LoadedModel};
use crate::config::{NamingMode, ValidCluster};
use crate::error::Error;
use crate::io::format::{files, meta};
use crate::io::topics_out::{self, Staged};
use crate::io::{Field, TextSpec};
use crate::topics::over_time::{DateCounts, Period};
use crate::topics::phrase::PhraseParams;
use crate::topics::vocab::Vocab;
use crate::topics::Topic;
use crate::topics::{
    CandidateLabeler, KeywordLabeler, Labeler, Labelers, ReaderLabeler, ThemeMatcher,
};

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

    /// The labellers, keywords from `keywords` (this run's keyword labeller, or its counts).
    pub fn labelers<'b>(&'b self, keywords: &'b dyn Labeler) -> Labelers<'b> {
        Labelers {
            keywords,
            reader: self.reader.as_ref().map(|r| r as &dyn Labeler),
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

/// Stages `topics_over_time.parquet` in `dir` from the periods of documents with a date column
/// (`None`: none has one), warning of unreadable dates among `total` documents; with no
/// period, an earlier run's file there is removed at publication. Returns the date counts.
pub fn stage_over_time(
    dir: &Path,
    over_time: Option<(Vec<Period>, DateCounts)>,
    total: usize,
    metadata: &[(String, String)],
    staged: &mut Staged,
) -> Result<Option<DateCounts>, Error> {
    let Some((rows, counts)) = over_time else {
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
        topics_out::write_over_time(&dir.join(files::TOPICS_OVER_TIME), &rows, metadata, staged)?;
    }
    Ok(Some(counts))
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
