//! From clusters to topics a person can read: keywords by c-TF-IDF, labels, representative
//! documents, sizes and centroids.

pub mod ctfidf;
pub mod labels;
pub mod words;

use crate::cluster::{centroids, Assignments};
use crate::matrix::{dot, Matrix};
use rayon::prelude::*;

/// Settings for naming topics.
#[derive(Clone, Debug)]
pub struct TopicParams {
    /// Keywords per topic.
    pub top_keywords: usize,
    /// A term must occur in at least this many documents.
    pub min_df: usize,
    /// Representative documents per topic.
    pub representatives: usize,
    /// Stop words besides the built-in English list (lower case), e.g. news-wire names.
    pub extra_stop_words: std::collections::HashSet<String>,
}

impl Default for TopicParams {
    fn default() -> Self {
        Self {
            top_keywords: 10,
            min_df: 2,
            representatives: 3,
            extra_stop_words: Default::default(),
        }
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

/// Names the topics of `assignments`. `texts[i]` is the text of row i of `data`.
/// `guided`: the candidate labels and their unit-length embeddings, with the threshold.
pub fn build(
    texts: &[String],
    data: &Matrix,
    assignments: &Assignments,
    params: &TopicParams,
    guided: Option<(&[String], &Matrix, f32)>,
) -> TopicModel {
    let members = assignments.members();
    let centroids = centroids(data, assignments);
    // Each document's terms on rayon's threads (collected in order: the same result).
    let classes: Vec<Vec<Vec<String>>> = members
        .iter()
        .map(|rows| {
            rows.par_iter()
                .map(|&i| words::terms(&texts[i], &params.extra_stop_words))
                .collect()
        })
        .collect();
    let keywords = ctfidf::keywords(&classes, params.min_df, params.top_keywords);
    let keyword_labels = labels::keyword_labels(&keywords);
    let guided_picks = match guided {
        Some((cands, vecs, threshold)) => labels::guided_labels(&centroids, cands, vecs, threshold),
        None => vec![None; assignments.topics],
    };
    let guided_names: Vec<Option<String>> = guided_picks
        .iter()
        .map(|g| g.as_ref().map(|(l, _)| l.clone()))
        .collect();
    let shown = labels::final_labels(&keyword_labels, &guided_names);

    let similarity: Vec<Option<f32>> = assignments
        .labels
        .iter()
        .enumerate()
        .map(|(i, l)| l.map(|t| dot(data.row(i), centroids.row(t))))
        .collect();
    let n = assignments.labels.len().max(1);
    let topics = (0..assignments.topics)
        .map(|t| {
            let mut rows = members[t].clone();
            rows.sort_by(|&a, &b| {
                let (sa, sb) = (
                    similarity[a].unwrap_or(f32::MIN),
                    similarity[b].unwrap_or(f32::MIN),
                );
                sb.total_cmp(&sa).then(a.cmp(&b))
            });
            rows.truncate(params.representatives);
            Topic {
                id: t,
                label: shown[t].clone(),
                keyword_label: keyword_labels[t].clone(),
                guided_label: guided_names[t].clone(),
                guided_similarity: guided_picks[t].as_ref().map(|(_, s)| *s),
                keywords: keywords[t].terms.clone(),
                keyword_scores: keywords[t].scores.clone(),
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
        let m = build(&texts, &data, &a, &TopicParams::default(), None);
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
