//! From clusters to topics a person can read: the [`Labeler`] stage names them
//! ([`KeywordLabeler`]: c-TF-IDF keywords; [`ReaderLabeler`]: a phrase, a theme and the label
//! people read; [`CandidateLabeler`]: the user's candidate labels by embedding similarity), and
//! [`build`] adds representative documents, sizes and centroids.

pub mod ctfidf;
pub mod dates;
pub mod hierarchy;
pub mod keywords;
pub mod labels;
pub mod over_time;
pub mod phrase;
pub mod reader;
pub mod refine;
pub mod streamed;
pub mod theme;
pub mod vocab;

pub use keywords::{CountedKeywords, GroupedKeywords, KeywordCounts, KeywordLabeler};
pub use reader::ReaderLabeler;
pub use theme::{Theme, ThemeError, ThemeMatcher, Themes};

use crate::cluster::{centroids, Assignments};
use crate::matrix::{dot, Matrix};

/// What an [`Encoder`] reports when it cannot embed.
pub type EncodeError = Box<dyn std::error::Error + Send + Sync>;

/// Embeds short texts (phrases, themes, labels) with the documents' model: one unit-length row
/// per text, in order. The pipeline hands the loaded model in; tests hand their own.
pub trait Encoder: Sync {
    fn encode(&self, texts: &[String]) -> Result<Matrix, EncodeError>;
}

/// Why topics could not be named.
#[derive(Debug, thiserror::Error)]
pub enum NameError {
    #[error("embedding {what} to name topics: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: EncodeError,
    },
}

/// The topics a [`Labeler`] names: the documents' texts, embeddings and titles (`titles` may be empty, or
/// hold "" where a document has none), each topic's rows, and the topics' unit-length centroids.
pub struct TopicDocs<'a> {
    pub texts: &'a [String],
    /// The documents' unit-length embeddings, a row each.
    pub data: &'a Matrix,
    pub titles: &'a [String],
    pub members: &'a [Vec<usize>],
    pub centroids: &'a Matrix,
}

/// What a labeller says of one topic.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Naming {
    /// The name, when this labeller has one for the topic.
    pub label: Option<String>,
    /// The topic's words, best first, and their scores.
    pub keywords: Vec<String>,
    pub keyword_scores: Vec<f32>,
    /// How close the name (or phrase) is to the topic (cosine similarity), for labellers that
    /// measure it.
    pub similarity: Option<f32>,
    /// The topic's best short phrase.
    pub phrase: Option<String>,
    /// The topic's theme and its similarity to the topic.
    pub theme: Option<String>,
    pub theme_similarity: Option<f32>,
}

/// One way of naming topics: one [`Naming`] per topic, in topic order.
pub trait Labeler: Sync {
    fn label(&self, topics: &TopicDocs<'_>) -> Result<Vec<Naming>, NameError>;
}

/// Names each topic after the candidate label whose embedding is most similar to its centroid,
/// when the cosine similarity reaches `threshold` ([`labels::guided_labels`]).
#[derive(Clone, Debug)]
pub struct CandidateLabeler {
    pub candidates: Vec<String>,
    /// The candidates' unit-length embeddings, one row each.
    pub vectors: Matrix,
    pub threshold: f32,
}

impl Labeler for CandidateLabeler {
    fn label(&self, topics: &TopicDocs<'_>) -> Result<Vec<Naming>, NameError> {
        Ok(labels::guided_labels(
            topics.centroids,
            &self.candidates,
            &self.vectors,
            self.threshold,
        )
        .into_iter()
        .map(|pick| match pick {
            Some((label, similarity)) => Naming {
                label: Some(label),
                similarity: Some(similarity),
                ..Naming::default()
            },
            None => Naming::default(),
        })
        .collect())
    }
}

/// One named topic.
#[derive(Clone, Debug, PartialEq)]
pub struct Topic {
    pub id: usize,
    /// The name people read (at most four words, unique): the guided label where the user's
    /// candidates give one, else the reader label, else the keyword label.
    pub label: String,
    pub keyword_label: String,
    pub guided_label: Option<String>,
    pub guided_similarity: Option<f32>,
    /// The best short phrase, and its similarity to the topic's centroid.
    pub phrase: Option<String>,
    pub phrase_similarity: Option<f32>,
    /// The theme, when one is similar enough, and its similarity.
    pub theme: Option<String>,
    pub theme_similarity: Option<f32>,
    pub keywords: Vec<String>,
    pub keyword_scores: Vec<f32>,
    pub size: usize,
    /// Size over all documents, unassigned included.
    pub share: f64,
    pub centroid: Vec<f32>,
    /// Rows of the documents nearest the centroid, nearest first.
    pub representatives: Vec<usize>,
    /// Their ids (filled by the caller, who has the ids).
    pub representative_ids: Vec<String>,
}

/// Everything the topic stage produces.
pub struct TopicModel {
    pub topics: Vec<Topic>,
    /// Cosine similarity of each document to its topic's centroid (None when unassigned).
    pub similarity: Vec<Option<f32>>,
    pub centroids: Matrix,
}

/// The labellers [`build`] asks: `keywords` gives every topic its keywords and keyword label;
/// `reader`, when given, the phrase, theme and label; `guided`, the user's candidate label.
pub struct Labelers<'a> {
    pub keywords: &'a dyn Labeler,
    pub reader: Option<&'a dyn Labeler>,
    pub guided: Option<&'a dyn Labeler>,
}

/// The documents [`build`] names: `texts[i]` and `titles[i]` (or no titles) belong to row i of
/// `data`, the unit-length embeddings.
pub struct Corpus<'a> {
    pub texts: &'a [String],
    pub titles: &'a [String],
    pub data: &'a Matrix,
}

/// Names the topics of `assignments` with `labelers`; each topic keeps its `representatives`
/// documents nearest the centroid.
pub fn build(
    corpus: &Corpus<'_>,
    assignments: &Assignments,
    representatives: usize,
    labelers: &Labelers<'_>,
) -> Result<TopicModel, NameError> {
    let data = corpus.data;
    let members = assignments.members();
    let centroids = centroids(data, assignments);
    let docs = TopicDocs {
        texts: corpus.texts,
        data,
        titles: corpus.titles,
        members: &members,
        centroids: &centroids,
    };
    let sizes: Vec<usize> = members.iter().map(Vec::len).collect();
    let mut topics = name(&docs, &sizes, assignments.labels.len(), labelers)?;
    let similarity: Vec<Option<f32>> = assignments
        .labels
        .iter()
        .enumerate()
        .map(|(i, l)| l.map(|t| dot(data.row(i), centroids.row(t))))
        .collect();
    for (topic, rows) in topics.iter_mut().zip(&members) {
        let mut rows = rows.clone();
        rows.sort_by(|&a, &b| {
            let (sa, sb) = (
                similarity[a].unwrap_or(f32::MIN),
                similarity[b].unwrap_or(f32::MIN),
            );
            sb.total_cmp(&sa).then(a.cmp(&b))
        });
        rows.truncate(representatives);
        topic.representatives = rows;
    }
    Ok(TopicModel {
        topics,
        similarity,
        centroids,
    })
}

/// Names the topics of `docs` (all their documents, or a sample of each: `docs.members`) with
/// `labelers`; topic t has `sizes[t]` of `total` documents. Representatives are left to the
/// caller.
pub fn name(
    docs: &TopicDocs<'_>,
    sizes: &[usize],
    total: usize,
    labelers: &Labelers<'_>,
) -> Result<Vec<Topic>, NameError> {
    let k = docs.members.len();
    let t = std::time::Instant::now();
    let by_keywords = labelers.keywords.label(docs)?;
    tracing::debug!("keywords: {:.3} s", t.elapsed().as_secs_f64());
    let keyword_labels: Vec<String> = by_keywords
        .iter()
        .map(|n| n.label.clone().unwrap_or_default())
        .collect();
    let reader = match labelers.reader {
        Some(labeler) => labeler.label(docs)?,
        None => vec![Naming::default(); k],
    };
    let guided = match labelers.guided {
        Some(labeler) => labeler.label(docs)?,
        None => vec![Naming::default(); k],
    };
    let base: Vec<String> = reader
        .iter()
        .zip(&keyword_labels)
        .map(|(r, kw)| r.label.clone().unwrap_or_else(|| kw.clone()))
        .collect();
    let guided_names: Vec<Option<String>> = guided.iter().map(|g| g.label.clone()).collect();
    let shown = labels::final_labels(&base, &guided_names);
    let n = total.max(1);
    Ok(by_keywords
        .into_iter()
        .zip(reader)
        .enumerate()
        .map(|(t, (named, read))| Topic {
            id: t,
            label: shown[t].clone(),
            keyword_label: keyword_labels[t].clone(),
            guided_label: guided_names[t].clone(),
            guided_similarity: guided[t].similarity,
            phrase: read.phrase,
            phrase_similarity: read.similarity,
            theme: read.theme,
            theme_similarity: read.theme_similarity,
            keywords: named.keywords,
            keyword_scores: named.keyword_scores,
            size: sizes[t],
            share: sizes[t] as f64 / n as f64,
            centroid: docs.centroids.row(t).to_vec(),
            representatives: Vec::new(),
            representative_ids: Vec::new(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_get_keywords_sizes_and_nearest_documents() {
        let texts: Vec<String> = [
            "chip supply shortage hits memory makers",
            "memory chip supply stays tight",
            "chip supply deal for memory",
            "cloud deal signed with provider",
            "cloud provider deal expands",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut data = Matrix::new(vec![1., 0.1, 1., 0., 1., 0.2, 0., 1., 0.1, 1.], 2).unwrap();
        data.normalize_rows();
        let a = Assignments::from_labels(vec![Some(0), Some(0), Some(0), Some(1), Some(1)]);
        let corpus = Corpus {
            texts: &texts,
            titles: &[],
            data: &data,
        };
        let labelers = Labelers {
            keywords: &KeywordLabeler::default(),
            reader: None,
            guided: None,
        };
        let m = build(&corpus, &a, 3, &labelers).unwrap();
        assert_eq!(m.topics.len(), 2);
        assert_eq!(m.topics[0].size, 3);
        assert!((m.topics[0].share - 0.6).abs() < 1e-9);
        assert!(
            m.topics[0].keywords.contains(&"chip supply".to_string()),
            "{:?}",
            m.topics[0].keywords
        );
        assert!(
            m.topics[1].label.contains("cloud") || m.topics[1].label.contains("deal"),
            "{}",
            m.topics[1].label
        );
        // Topic 0's centroid has slope ≈ 0.0985 (the mean of 0.0995, 0 and 0.196 after
        // normalizing): row 0 is nearly on it, row 2 (0.196) is a hair closer than row 1 (0).
        assert_eq!(m.topics[0].representatives, vec![0, 2, 1]);
        assert!(m.similarity.iter().all(|s| s.unwrap() > 0.9));
    }
}
