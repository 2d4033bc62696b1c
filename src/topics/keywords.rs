//! Keywords: each topic's c-TF-IDF words and word pairs ([`super::ctfidf`]) over a vocabulary
//! without filler ([`super::vocab`]), word variants folded into one key and shown as written
//! most often; and the keyword label made of them ([`super::labels::keyword_labels`]).

use rayon::prelude::*;

use super::vocab::{segments, Kind, Surfaces, Vocab};
use super::{ctfidf, labels, Labeler, NameError, Naming, TopicDocs};

/// The keys a document adds: content words, and pairs of adjacent words in one segment (at least
/// one a content word, the other content or inside-only, two different keys).
pub fn terms(text: &str, vocab: &Vocab, surfaces: &mut Surfaces) -> Vec<String> {
    let mut out = Vec::new();
    let mut pairs = Vec::new();
    for seg in segments(text) {
        let kinds: Vec<Kind> = seg.iter().map(|w| vocab.kind(w)).collect();
        for (i, w) in seg.iter().enumerate() {
            if matches!(kinds[i], Kind::Content | Kind::Inside | Kind::Verb) {
                surfaces.add(w);
            }
            if matches!(kinds[i], Kind::Content | Kind::Verb) {
                out.push(w.key.clone());
            }
            if i + 1 < seg.len() {
                let (a, b) = (kinds[i], kinds[i + 1]);
                let kept = |k: Kind| matches!(k, Kind::Content | Kind::Inside);
                if kept(a)
                    && kept(b)
                    && (a == Kind::Content || b == Kind::Content)
                    && w.key != seg[i + 1].key
                {
                    pairs.push(format!("{} {}", w.key, seg[i + 1].key));
                }
            }
        }
    }
    out.append(&mut pairs);
    out
}

/// Names topics by their c-TF-IDF keywords: a strong pair or the two best words, made unique.
#[derive(Clone, Debug)]
pub struct KeywordLabeler {
    /// Keywords per topic.
    pub top_keywords: usize,
    /// A term must occur in at least this many documents.
    pub min_df: usize,
    pub vocab: Vocab,
}

impl Default for KeywordLabeler {
    fn default() -> Self {
        Self {
            top_keywords: 10,
            min_df: 2,
            vocab: Vocab::default(),
        }
    }
}

/// A corpus's keyword evidence, gathered a document at a time: each topic's term counts and the
/// forms its words are written in. Built from documents in memory ([`KeywordLabeler::counts`])
/// or from batches streamed past ([`KeywordCounts::add_found`]); named alike ([`KeywordLabeler::name`]).
#[derive(Clone, Debug, Default)]
pub struct KeywordCounts {
    pub counts: ctfidf::TermCounts,
    pub surfaces: Surfaces,
}

impl KeywordCounts {
    pub fn new(topics: usize) -> Self {
        Self {
            counts: ctfidf::TermCounts::new(topics),
            surfaces: Surfaces::default(),
        }
    }

    /// The topics in the order `order` gives (see [`ctfidf::TermCounts::select`]).
    pub fn select(self, order: &[usize]) -> Self {
        Self {
            counts: self.counts.select(order),
            surfaces: self.surfaces,
        }
    }

    /// Adds documents whose terms [`terms`] found (on other threads), in order.
    pub fn add_found(&mut self, found: Vec<(usize, Vec<String>, Surfaces)>) {
        for (topic, t, s) in found {
            self.surfaces.merge(s);
            self.counts.add(topic, &t);
        }
    }
}

impl KeywordLabeler {
    /// The keyword evidence of the documents of `topics`, found on rayon's threads and added in
    /// order (the same result on any number of threads).
    pub fn counts(&self, topics: &TopicDocs<'_>) -> KeywordCounts {
        let mut out = KeywordCounts::new(topics.members.len());
        for (t, rows) in topics.members.iter().enumerate() {
            let found: Vec<(usize, Vec<String>, Surfaces)> = rows
                .par_iter()
                .map(|&i| {
                    let mut s = Surfaces::default();
                    (t, terms(&topics.texts[i], &self.vocab, &mut s), s)
                })
                .collect();
            out.add_found(found);
        }
        out
    }

    /// Each topic's keywords (c-TF-IDF over `counts`, shown as written most often) and keyword
    /// label.
    pub fn name(&self, counts: &KeywordCounts) -> Vec<Naming> {
        let each: Vec<Vec<usize>> = (0..counts.counts.classes()).map(|c| vec![c]).collect();
        self.name_groups(counts, &each)
    }

    /// The keywords and keyword label of each group of topics (a node of the topic tree), its
    /// counts summed and scored with the topics' idf ([`ctfidf::TermCounts::keywords_of`]).
    pub fn name_groups(&self, counts: &KeywordCounts, groups: &[Vec<usize>]) -> Vec<Naming> {
        let mut keywords = counts
            .counts
            .keywords_of(groups, self.min_df, self.top_keywords);
        for k in &mut keywords {
            for term in &mut k.terms {
                *term = counts.surfaces.show_all(term);
            }
        }
        let names = labels::keyword_labels(&keywords);
        keywords
            .into_iter()
            .zip(names)
            .map(|(k, label)| Naming {
                label: Some(label),
                keywords: k.terms,
                keyword_scores: k.scores,
                ..Naming::default()
            })
            .collect()
    }
}

impl Labeler for KeywordLabeler {
    fn label(&self, topics: &TopicDocs<'_>) -> Result<Vec<Naming>, NameError> {
        Ok(self.name(&self.counts(topics)))
    }
}

/// Keywords from counts gathered beforehand (a corpus streamed past): the documents handed to
/// [`Labeler::label`] (a sample) are not read.
pub struct CountedKeywords<'a> {
    pub labeler: &'a KeywordLabeler,
    pub counts: &'a KeywordCounts,
}

impl Labeler for CountedKeywords<'_> {
    fn label(&self, _topics: &TopicDocs<'_>) -> Result<Vec<Naming>, NameError> {
        Ok(self.labeler.name(self.counts))
    }
}

/// Keywords of groups of topics (the merged nodes of the topic tree) from the topics' counts:
/// the documents handed to [`Labeler::label`] are not read.
pub struct GroupedKeywords<'a> {
    pub labeler: &'a KeywordLabeler,
    pub counts: &'a KeywordCounts,
    pub groups: &'a [Vec<usize>],
}

impl Labeler for GroupedKeywords<'_> {
    fn label(&self, _topics: &TopicDocs<'_>) -> Result<Vec<Naming>, NameError> {
        Ok(self.labeler.name_groups(self.counts, self.groups))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_fold_variants_and_drop_filler() {
        let mut s = Surfaces::default();
        let t = terms(
            "Startups startup funding said Reuters; startups, chip supply and chip demand",
            &Vocab::default(),
            &mut s,
        );
        assert_eq!(
            t,
            [
                "startup",
                "startup",
                "funding",
                "startup",
                "chip",
                "supply",
                "chip",
                "demand",
                "startup funding",
                "chip supply",
                "chip demand"
            ]
        );
        assert_eq!(s.show("startup"), "startups");
    }
}
