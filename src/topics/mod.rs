//! From clusters to topics a person can read: the [`Labeler`] stage names them ([`KeywordLabeler`]:
//! c-TF-IDF keywords and a label made of them; [`CandidateLabeler`]: the user's candidate labels by
//! embedding similarity), and [`build`] adds representative documents, sizes and centroids.

pub mod ctfidf;
pub mod labels;
pub mod words;

use std::collections::HashSet;

use crate::cluster::{centroids, Assignments};
use crate::matrix::{dot, Matrix};
use rayon::prelude::*;

/// The topics a [`Labeler`] names: the documents' texts, each topic's rows, and the topics'
/// unit-length centroids.
pub struct TopicDocs<'a> {
    pub texts: &'a [String],
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
    /// How close the name is to the topic (cosine similarity), for labellers that measure it.
    pub similarity: Option<f32>,
}

/// One way of naming topics: one [`Naming`] per topic, in topic order.
pub trait Labeler: Sync {
    fn label(&self, topics: &TopicDocs<'_>) -> Vec<Naming>;
}

/// Names topics by their c-TF-IDF keywords ([`ctfidf`]): a strong bigram or the two best
/// words, made unique across topics ([`labels::keyword_labels`]).
#[derive(Clone, Debug)]
pub struct KeywordLabeler {
    /// Keywords per topic.
    pub top_keywords: usize,
    /// A term must occur in at least this many documents.
    pub min_df: usize,
    /// Stop words besides the built-in English list (lower case), e.g. news-wire names.
    pub stop_words: HashSet<String>,
}

impl Default for KeywordLabeler {
    fn default() -> Self {
        Self {
            top_keywords: 10,
            min_df: 2,
            stop_words: HashSet::new(),
        }
    }
}

impl Labeler for KeywordLabeler {
    fn label(&self, topics: &TopicDocs<'_>) -> Vec<Naming> {
        // Each document's terms on rayon's threads (collected in order: the same result).
        let classes: Vec<Vec<Vec<String>>> = topics
            .members
            .iter()
            .map(|rows| {
                rows.par_iter()
                    .map(|&i| words::terms(&topics.texts[i], &self.stop_words))
                    .collect()
            })
            .collect();
        let keywords = ctfidf::keywords(&classes, self.min_df, self.top_keywords);
        let names = labels::keyword_labels(&keywords);
        keywords
            .into_iter()
            .zip(names)
            .map(|(k, label)| Naming {
                label: Some(label),
                keywords: k.terms,
                keyword_scores: k.scores,
                similarity: None,
            })
            .collect()
    }
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
    fn label(&self, topics: &TopicDocs<'_>) -> Vec<Naming> {
        labels::guided_labels(
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
        .collect()
    }
}

/// One named topic.
#[derive(Clone, Debug, PartialEq)]
pub struct Topic {
    pub id: usize,
    pub label: String,
    pub keyword_label: String,
    pub guided_label: Option<String>,
    pub guided_similarity: Option<f32>,
    pub keywords: Vec<String>,
    pub keyword_scores: Vec<f32>,
    pub size: usize,
    /// Size over all documents, unassigned included.
    pub share: f64,
    pub centroid: Vec<f32>,
    /// Rows of the documents nearest the centroid, nearest first.
    pub representatives: Vec<usize>,
}

/// Everything the topic stage produces.
pub struct TopicModel {
    pub topics: Vec<Topic>,
    /// Cosine similarity of each document to its topic's centroid (None when unassigned).
    pub similarity: Vec<Option<f32>>,
    pub centroids: Matrix,
}

/// Names the topics of `assignments`: `keywords` gives every topic its keywords and keyword
/// label; `candidates`, when given, the label shown where it has one. `texts[i]` is the text of
/// row i of `data`; each topic keeps its `representatives` documents nearest the centroid.
pub fn build(
    texts: &[String],
    data: &Matrix,
    assignments: &Assignments,
    representatives: usize,
    keywords: &dyn Labeler,
    candidates: Option<&dyn Labeler>,
) -> TopicModel {
    let members = assignments.members();
    let centroids = centroids(data, assignments);
    let docs = TopicDocs {
        texts,
        members: &members,
        centroids: &centroids,
    };
    let by_keywords = keywords.label(&docs);
    let keyword_labels: Vec<String> = by_keywords
        .iter()
        .map(|n| n.label.clone().unwrap_or_default())
        .collect();
    let guided = match candidates {
        Some(labeler) => labeler.label(&docs),
        None => vec![Naming::default(); assignments.topics],
    };
    let guided_names: Vec<Option<String>> = guided.iter().map(|g| g.label.clone()).collect();
    let shown = labels::final_labels(&keyword_labels, &guided_names);

    let similarity: Vec<Option<f32>> = assignments
        .labels
        .iter()
        .enumerate()
        .map(|(i, l)| l.map(|t| dot(data.row(i), centroids.row(t))))
        .collect();
    let n = assignments.labels.len().max(1);
    let topics = by_keywords
        .into_iter()
        .enumerate()
        .map(|(t, named)| {
            let mut rows = members[t].clone();
            rows.sort_by(|&a, &b| {
                let (sa, sb) = (
                    similarity[a].unwrap_or(f32::MIN),
                    similarity[b].unwrap_or(f32::MIN),
                );
                sb.total_cmp(&sa).then(a.cmp(&b))
            });
            rows.truncate(representatives);
            Topic {
                id: t,
                label: shown[t].clone(),
                keyword_label: keyword_labels[t].clone(),
                guided_label: guided_names[t].clone(),
                guided_similarity: guided[t].similarity,
                keywords: named.keywords,
                keyword_scores: named.keyword_scores,
                size: members[t].len(),
                share: members[t].len() as f64 / n as f64,
                centroid: centroids.row(t).to_vec(),
                representatives: rows,
            }
        })
        .collect();
    TopicModel {
        topics,
        similarity,
        centroids,
    }
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
        let m = build(&texts, &data, &a, 3, &KeywordLabeler::default(), None);
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
