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

impl Labeler for KeywordLabeler {
    fn label(&self, topics: &TopicDocs<'_>) -> Result<Vec<Naming>, NameError> {
        // Each document's terms on rayon's threads (collected in order: the same result).
        let per_topic: Vec<(Vec<Vec<String>>, Surfaces)> = topics
            .members
            .iter()
            .map(|rows| {
                let docs: Vec<(Vec<String>, Surfaces)> = rows
                    .par_iter()
                    .map(|&i| {
                        let mut s = Surfaces::default();
                        (terms(&topics.texts[i], &self.vocab, &mut s), s)
                    })
                    .collect();
                let mut surfaces = Surfaces::default();
                let mut terms = Vec::with_capacity(docs.len());
                for (t, s) in docs {
                    surfaces.merge(s);
                    terms.push(t);
                }
                (terms, surfaces)
            })
            .collect();
        let mut surfaces = Surfaces::default();
        let mut classes = Vec::with_capacity(per_topic.len());
        for (terms, s) in per_topic {
            surfaces.merge(s);
            classes.push(terms);
        }
        let mut keywords = ctfidf::keywords(&classes, self.min_df, self.top_keywords);
        for k in &mut keywords {
            for term in &mut k.terms {
                *term = surfaces.show_all(term);
            }
        }
        let names = labels::keyword_labels(&keywords);
        Ok(keywords
            .into_iter()
            .zip(names)
            .map(|(k, label)| Naming {
                label: Some(label),
                keywords: k.terms,
                keyword_scores: k.scores,
                ..Naming::default()
            })
            .collect())
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
