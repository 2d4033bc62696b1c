//! The topic tree named: every node of a [`Tree`] over the topics, the leaves as the topics
//! themselves, each merged node named by the same labellers from the topics it covers (keywords:
//! their word counts summed, scored with the topics' idf; phrase, theme and label: their phrase
//! counts summed, the texts their naming embedded and the node's centroid).

use super::keywords::{GroupedKeywords, KeywordCounts, KeywordLabeler};
use super::reader::CountedReader;
use super::{name, Labeler, Labelers, NameError, Topic, TopicDocs};
use crate::cluster::tree::Tree;
use crate::matrix::Matrix;

/// One node of the named tree.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub id: usize,
    pub parent: Option<usize>,
    /// The two nodes merged into it (none for a topic).
    pub children: Vec<usize>,
    /// Ward's linkage distance of the merge (0 for a topic).
    pub distance: f64,
    pub size: usize,
    pub label: String,
    pub keywords: Vec<String>,
    pub theme: Option<String>,
    /// The topics under it, in order.
    pub topic_ids: Vec<usize>,
}

/// What naming the merged nodes needs beside the labellers: the topics' keyword counts (to
/// score the nodes' keywords) and the keyword labeller that made them.
pub struct TreeKeywords<'a> {
    pub labeler: &'a KeywordLabeler,
    pub counts: &'a KeywordCounts,
}

/// Names the nodes of `tree` over `topics` (their documents: `docs`, with `docs.members` and
/// `docs.centroids` per topic; `means`: each topic's mean vector, before normalizing). The
/// merged nodes take the keywords of `keywords` and the phrase, theme and label of `reader`,
/// the labeller that named the topics with its counts of them (without one, the keyword
/// label), made unique among merged nodes and different from every topic's label.
pub fn name_tree(
    docs: &TopicDocs<'_>,
    topics: &[Topic],
    means: &Matrix,
    tree: &Tree,
    keywords: &TreeKeywords<'_>,
    reader: Option<&CountedReader<'_>>,
    total: usize,
) -> Result<Vec<Node>, NameError> {
    let k = tree.leaves;
    let under = tree.leaves_under();
    let parents = tree.parents();
    let groups: Vec<Vec<usize>> = under[k..].to_vec();
    let merged = if groups.is_empty() {
        Vec::new()
    } else {
        let members: Vec<Vec<usize>> = groups
            .iter()
            // Topic by topic (an even sample of them is then even over the topics too), so
            // that a corpus streamed past, whose samples come topic by topic, reads alike.
            .map(|g| {
                g.iter()
                    .flat_map(|&t| docs.members[t].iter().copied())
                    .collect()
            })
            .collect();
        let centroids = group_centroids(means, &tree.leaf_sizes, &groups);
        let node_docs = TopicDocs {
            texts: docs.texts,
            data: docs.data,
            titles: docs.titles,
            members: &members,
            centroids: &centroids,
        };
        let sizes: Vec<usize> = tree.merges.iter().map(|m| m.size).collect();
        let grouped = GroupedKeywords {
            labeler: keywords.labeler,
            counts: keywords.counts,
            groups: &groups,
        };
        let grouped_reader = reader.map(|r| r.labeler.grouped(r.counts, &groups));
        let node_labelers = Labelers {
            keywords: &grouped,
            reader: grouped_reader.as_ref().map(|r| r as &dyn Labeler),
            guided: None,
        };
        name(&node_docs, &sizes, total, &node_labelers)?
    };
    let taken: Vec<&str> = topics.iter().map(|t| t.label.as_str()).collect();
    let merged_labels = apart(
        merged
            .iter()
            .map(|t| (t.label.clone(), t.keyword_label.clone()))
            .collect(),
        &taken,
    );
    let mut out = Vec::with_capacity(tree.nodes());
    for (t, topic) in topics.iter().enumerate().take(k) {
        out.push(Node {
            id: t,
            parent: parents[t],
            children: Vec::new(),
            distance: 0.0,
            size: topic.size,
            label: topic.label.clone(),
            keywords: topic.keywords.clone(),
            theme: topic.theme.clone(),
            topic_ids: vec![t],
        });
    }
    for (i, ((m, named), label)) in tree
        .merges
        .iter()
        .zip(merged)
        .zip(merged_labels)
        .enumerate()
    {
        let id = k + i;
        out.push(Node {
            id,
            parent: parents[id],
            children: vec![m.left, m.right],
            distance: m.distance,
            size: m.size,
            label,
            keywords: named.keywords,
            theme: named.theme,
            topic_ids: under[id].clone(),
        });
    }
    Ok(out)
}

/// The unit-length centroid of each group of topics: the size-weighted mean of their means.
pub fn group_centroids(means: &Matrix, sizes: &[usize], groups: &[Vec<usize>]) -> Matrix {
    let d = means.dim();
    let mut values = vec![0f32; groups.len() * d];
    for (g, topics) in groups.iter().enumerate() {
        let row = &mut values[g * d..(g + 1) * d];
        for &t in topics {
            let w = sizes[t] as f32;
            for (v, m) in row.iter_mut().zip(means.row(t)) {
                *v += w * m;
            }
        }
    }
    let mut out = Matrix::new(values, d).expect("groups × d");
    out.normalize_rows();
    out
}

/// The first of each pair of `labels` (unique among themselves), made different from every
/// label in `taken` too: a clash takes the second (the node's keyword label) when that is free,
/// else the first with the first free " (n)" suffix, counting from 2.
fn apart(labels: Vec<(String, String)>, taken: &[&str]) -> Vec<String> {
    let clashes: std::collections::HashSet<String> =
        taken.iter().map(|t| t.to_lowercase()).collect();
    let mut used = clashes.clone();
    used.extend(labels.iter().map(|l| l.0.to_lowercase()));
    labels
        .into_iter()
        .map(|(label, instead)| {
            if !clashes.contains(&label.to_lowercase()) {
                return label;
            }
            if used.insert(instead.to_lowercase()) {
                return instead;
            }
            let mut n = 2;
            loop {
                let next = format!("{label} ({n})");
                if used.insert(next.to_lowercase()) {
                    return next;
                }
                n += 1;
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::tree::Tree;
    use crate::topics::Labeler;

    #[test]
    fn apart_keeps_free_labels_and_numbers_clashes() {
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        let got = apart(
            vec![
                pair("chip supply", "chip"),
                pair("Cloud deals", "cloud"),
                pair("funding", "round"),
                pair("chips", "chip supply"),
            ],
            &["cloud deals", "chips", "funding (2)"],
        );
        // "chips" clashes and its keyword label is another node's label: numbered.
        assert_eq!(got, ["chip supply", "cloud", "funding", "chips (2)"]);
    }

    #[test]
    fn merged_nodes_take_the_keywords_of_their_topics() {
        let texts: Vec<String> = [
            "memory chip supply shortage",
            "memory chip supply tight",
            "chip foundry supply deal",
            "chip foundry capacity grows",
            "football league final score",
            "football league cup score",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Three topics: memory chips, foundries (near them), football (far).
        let mut data = Matrix::new(
            vec![1., 0.1, 1., 0.0, 0.9, 0.4, 0.9, 0.5, 0.0, 1.0, 0.1, 1.0],
            2,
        )
        .unwrap();
        data.normalize_rows();
        let assignments = crate::cluster::Assignments::from_labels(
            [0, 0, 1, 1, 2, 2].into_iter().map(Some).collect(),
        );
        let members = assignments.members();
        let means = crate::cluster::means(&data, &assignments);
        let centroids = crate::cluster::centroids(&data, &assignments);
        let docs = TopicDocs {
            texts: &texts,
            data: &data,
            titles: &[],
            members: &members,
            centroids: &centroids,
        };
        let labeler = KeywordLabeler {
            min_df: 1,
            ..KeywordLabeler::default()
        };
        let counts = labeler.counts(&docs);
        let labelers = Labelers {
            keywords: &labeler,
            reader: None,
            guided: None,
        };
        let topics = name(&docs, &[2, 2, 2], 6, &labelers).unwrap();
        let tree = Tree::ward(&means, &[2, 2, 2]);
        let keywords = TreeKeywords {
            labeler: &labeler,
            counts: &counts,
        };
        let nodes = name_tree(&docs, &topics, &means, &tree, &keywords, None, 6).unwrap();
        assert_eq!(nodes.len(), 5);
        // The chip topics merge first; the root covers all three.
        assert_eq!(nodes[3].children, vec![0, 1]);
        assert_eq!(nodes[3].topic_ids, vec![0, 1]);
        assert_eq!(nodes[3].size, 4);
        assert_eq!(nodes[4].children, vec![2, 3]);
        assert_eq!(nodes[4].parent, None);
        assert_eq!(nodes[0].parent, Some(3));
        assert_eq!(nodes[2].parent, Some(4));
        assert!(nodes[3].distance > 0.0 && nodes[4].distance > nodes[3].distance);
        assert_eq!(nodes[3].keywords[0], "chip", "{:?}", nodes[3].keywords);
        assert!(nodes[3].label.contains("chip"), "{}", nodes[3].label);
        // Labels are unique over every node.
        let mut labels: Vec<String> = nodes.iter().map(|n| n.label.to_lowercase()).collect();
        labels.sort();
        labels.dedup();
        assert_eq!(labels.len(), 5, "{nodes:?}");
        // A node's keywords are its topics' counts summed, not a class of their own.
        let root = keywords.labeler.name_groups(&counts, &[vec![0, 1, 2]]);
        assert_eq!(nodes[4].keywords, root[0].keywords);
        assert!(labeler.label(&docs).unwrap()[2].keywords[0].contains("football"));
    }
}
