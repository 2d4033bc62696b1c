//! The names people read: each topic's phrase ([`super::phrase`]), its theme
//! ([`super::theme`]) and, from them, its label — at most four words, unique across topics.
//!
//! The label is the phrase, alone, followed by the theme's name ("cloud" + "alliance changes"),
//! or, when it is a name, joined to another of the topic's names ("IBM and Apple"), when they fit
//! in four words and share no word: whichever is most distinctive for its topic (closeness to the own centroid plus
//! the margin over the nearest other) and not yet taken. A topic with no phrase falls back to its
//! first document's first content words, then its theme, then "topic N".

use std::collections::HashSet;

use super::phrase::{self, Chosen, PhraseParams};
use super::theme::ThemeMatcher;
use super::vocab::{root, segments, Vocab};
use super::{refine, Encoder, Labeler, NameError, Naming, TopicDocs};
use crate::matrix::Matrix;

/// Words in a label at most.
pub const MAX_LABEL_WORDS: usize = 4;

/// How many of a topic's other best phrases may join its phrase ("IBM and Apple").
const EXTRA_WORDS: usize = 3;

/// A label naming the topic's theme is preferred by this much distinctiveness: it says what
/// kind of news the topic is, which a reader scanning headings wants.
const THEME_BONUS: f32 = 0.15;

/// ... and, checked against the documents, by this share of the topic's documents.
const THEME_SHARE: f32 = 0.05;

/// Names topics by phrase and theme; see the module text.
pub struct ReaderLabeler<'a> {
    pub encoder: &'a dyn Encoder,
    pub vocab: Vocab,
    pub params: PhraseParams,
    /// None: no themes (`--themes none`).
    pub themes: Option<&'a ThemeMatcher>,
    /// Texts embedded so far, kept from one call of [`Labeler::label`] to the next (the topics,
    /// then the merged nodes of their tree, share most phrases).
    pub seen: Seen,
}

/// Vectors of texts embedded before, by text.
pub type Seen = std::sync::Mutex<std::collections::HashMap<String, Vec<f32>>>;

/// An [`Encoder`] that embeds each distinct text once: a label option that is a phrase already
/// embedded costs nothing again.
struct Memo<'a> {
    inner: &'a dyn Encoder,
    seen: &'a Seen,
}

impl Encoder for Memo<'_> {
    fn encode(&self, texts: &[String]) -> Result<Matrix, super::EncodeError> {
        let mut seen = self
            .seen
            .lock()
            .map_err(|_| "a thread naming topics panicked")?;
        let mut new: Vec<String> = texts
            .iter()
            .filter(|t| !seen.contains_key(*t))
            .cloned()
            .collect();
        new.sort();
        new.dedup();
        if !new.is_empty() {
            let v = self.inner.encode(&new)?;
            for (i, t) in new.into_iter().enumerate() {
                seen.insert(t, v.row(i).to_vec());
            }
        }
        let dim = seen.values().next().map_or(1, Vec::len);
        let values: Vec<f32> = texts.iter().flat_map(|t| seen[t].iter().copied()).collect();
        Ok(Matrix::new(values, dim).ok_or("one vector per text")?)
    }
}

impl Labeler for ReaderLabeler<'_> {
    fn label(&self, topics: &TopicDocs<'_>) -> Result<Vec<Naming>, NameError> {
        let memo = Memo {
            inner: self.encoder,
            seen: &self.seen,
        };
        let t = std::time::Instant::now();
        let pools = phrase::candidates(topics, &self.vocab, &self.params);
        tracing::debug!("phrase candidates: {:.3} s", t.elapsed().as_secs_f64());
        let t = std::time::Instant::now();
        let phrases = phrase::choose(&pools, topics.centroids, &memo, &self.params)?;
        tracing::debug!("phrases chosen: {:.3} s", t.elapsed().as_secs_f64());
        let t = std::time::Instant::now();
        let themes = match self.themes {
            Some(m) => m.pick(topics.centroids),
            None => vec![None; topics.members.len()],
        };
        // Each topic's best short phrases, most distinctive first, to join its phrase.
        let words: Vec<Vec<String>> = pools
            .iter()
            .map(|p| {
                let mut short: Vec<&phrase::Candidate> =
                    p.iter().filter(|c| c.words <= 2 && c.name).collect();
                short.sort_by(|a, b| b.ctfidf.total_cmp(&a.ctfidf).then(a.key.cmp(&b.key)));
                short.into_iter().map(|c| c.text.clone()).collect()
            })
            .collect();
        let labels = self.compose(topics, &phrases, &themes, &words, &memo)?;
        tracing::debug!("labels composed: {:.3} s", t.elapsed().as_secs_f64());
        Ok(labels
            .into_iter()
            .zip(phrases)
            .zip(themes)
            .map(|((label, phrase), theme)| Naming {
                label: Some(label),
                similarity: phrase.as_ref().map(|p| p.similarity),
                phrase: phrase.map(|p| p.text),
                theme_similarity: theme.as_ref().map(|t| t.1),
                theme: theme.map(|t| t.0),
                ..Naming::default()
            })
            .collect())
    }
}

fn word_keys(text: &str) -> HashSet<String> {
    text.split_whitespace()
        .map(|w| root(&w.to_lowercase()))
        .collect()
}

/// How well a name singles out topic `t`: closeness to it, plus the margin over the nearest other.
fn distinctive(v: &[f32], centroids: &Matrix, t: usize) -> f32 {
    match phrase::closeness(v, centroids, t) {
        (own, Some(other)) => 2.0 * own - other,
        (own, None) => own,
    }
}

impl ReaderLabeler<'_> {
    /// Each topic's label: of its phrase, the phrase and its theme, and two names joined, the one most distinctive for the topic that no other
    /// topic has taken; topics without a phrase take a [`fallback`].
    fn compose(
        &self,
        topics: &TopicDocs<'_>,
        phrases: &[Option<Chosen>],
        themes: &[Option<(String, f32)>],
        words: &[Vec<String>],
        encoder: &dyn Encoder,
    ) -> Result<Vec<String>, NameError> {
        let k = phrases.len();
        let mut options: Vec<Vec<String>> = vec![Vec::new(); k];
        let mut bonuses: Vec<Vec<f32>> = vec![Vec::new(); k];
        // What the document check adds to an option: naming the theme.
        let mut themed: Vec<Vec<f32>> = vec![Vec::new(); k];
        for t in 0..k {
            let Some(p) = &phrases[t] else { continue };
            let mut opts = Vec::new();
            let mut bonus = Vec::new();
            let firsts = std::iter::once((p.text.as_str(), p.name, p.distinct)).chain(
                p.alternatives
                    .iter()
                    .map(|a| (a.text.as_str(), a.name, a.distinct)),
            );
            for (first, name, distinct) in firsts {
                let base = self.params.distinct * distinct;
                opts.push(first.to_string());
                bonus.push(base);
                let keys = word_keys(first);
                let n = first.split_whitespace().count();
                if let Some((theme, _)) = &themes[t] {
                    let fits = n + theme.split_whitespace().count() <= MAX_LABEL_WORDS;
                    if fits && keys.is_disjoint(&word_keys(theme)) {
                        opts.push(format!("{first} {theme}"));
                        bonus.push(base + THEME_BONUS);
                    }
                }
                // Two names join ("IBM and Apple"); other pairs read as keyword lists.
                let others = words[t]
                    .iter()
                    .filter(|_| name)
                    .filter(|w| n + 1 + w.split_whitespace().count() <= MAX_LABEL_WORDS)
                    .filter(|w| keys.is_disjoint(&word_keys(w)))
                    .take(EXTRA_WORDS);
                for other in others {
                    opts.push(format!("{first} and {other}"));
                    bonus.push(base);
                }
            }
            themed[t] = opts
                .iter()
                .map(|o| match &themes[t] {
                    Some((theme, _)) if o.ends_with(theme.as_str()) => THEME_SHARE,
                    _ => 0.0,
                })
                .collect();
            options[t] = opts;
            bonuses[t] = bonus;
        }
        let texts: Vec<String> = options.iter().flatten().cloned().collect();
        let mut scores: Vec<Vec<f32>> = vec![Vec::new(); k];
        let mut rows: Vec<Vec<usize>> = vec![Vec::new(); k];
        let vectors = if texts.is_empty() {
            Matrix::new(Vec::new(), topics.centroids.dim().max(1)).expect("empty")
        } else {
            encoder.encode(&texts).map_err(|source| NameError::Encode {
                what: "labels",
                source,
            })?
        };
        let mut row = 0;
        for t in 0..k {
            for bonus in &bonuses[t] {
                let d = distinctive(vectors.row(row), topics.centroids, t);
                scores[t].push(d + bonus);
                rows[t].push(row);
                row += 1;
            }
        }
        // A start: the most distinctive option first, across topics; each name once.
        let mut ranked: Vec<(f32, usize, usize)> = (0..k)
            .flat_map(|t| (0..options[t].len()).map(move |j| (t, j)))
            .map(|(t, j)| (scores[t][j], t, j))
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2))));
        let mut used: HashSet<String> = HashSet::new();
        let mut start: Vec<Option<usize>> = vec![None; k];
        for (_, t, j) in ranked {
            let name = &options[t][j];
            if start[t].is_none() && !used.contains(&name.to_lowercase()) {
                used.insert(name.to_lowercase());
                start[t] = Some(j);
            }
        }
        // Then checked against the documents.
        let picked = refine::refine(
            &refine::Options {
                texts: &options,
                rows: &rows,
                bonus: &themed,
                vectors: &vectors,
            },
            topics.data,
            topics.members,
            start,
        );
        let mut used: HashSet<String> = HashSet::new();
        let mut labels: Vec<Option<String>> = (0..k)
            .map(|t| picked[t].map(|j| options[t][j].clone()))
            .collect();
        for l in labels.iter().flatten() {
            used.insert(l.to_lowercase());
        }
        Ok((0..k)
            .map(|t| {
                labels[t].take().unwrap_or_else(|| {
                    let theme = themes[t].as_ref().map(|x| x.0.as_str());
                    let name = fallback(topics, t, theme, &self.vocab, &used);
                    used.insert(name.to_lowercase());
                    name
                })
            })
            .collect())
    }
}

/// A label for a topic without a phrase (tiny, symbol-only or unusual text): its nearest
/// document's first words that are not filler (by the labeller's vocabulary, `--stop-words`
/// too), else its theme, else "topic N"; never empty, never taken.
fn fallback(
    topics: &TopicDocs<'_>,
    t: usize,
    theme: Option<&str>,
    vocab: &Vocab,
    used: &HashSet<String>,
) -> String {
    let mut tries: Vec<String> = Vec::new();
    if let Some(&row) = topics.members[t].first() {
        let words: Vec<String> = segments(&topics.texts[row])
            .into_iter()
            .flatten()
            .filter(|w| vocab.kind(w) == super::vocab::Kind::Content)
            .map(|w| w.lower)
            .take(MAX_LABEL_WORDS)
            .collect();
        if !words.is_empty() {
            tries.push(words.join(" "));
        }
    }
    if let Some(theme) = theme {
        tries.push(theme.to_string());
    }
    tries
        .into_iter()
        .find(|x| !used.contains(&x.to_lowercase()))
        .unwrap_or_else(|| format!("topic {t}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fallback_skips_the_users_stop_words_and_never_repeats() {
        let texts = vec!["Zorp blick quux, the frobs".to_string()];
        let data = Matrix::new(vec![1.0, 0.0], 2).unwrap();
        let members = vec![vec![0]];
        let topics = TopicDocs {
            texts: &texts,
            data: &data,
            titles: &[],
            members: &members,
            centroids: &data,
        };
        let none = HashSet::new();
        let plain = Vocab::default();
        assert_eq!(
            fallback(&topics, 0, None, &plain, &none),
            "zorp blick quux frobs"
        );
        let user = Vocab::new(HashSet::from(["zorp".to_string()]));
        assert_eq!(fallback(&topics, 0, None, &user, &none), "blick quux frobs");
        let taken = HashSet::from(["blick quux frobs".to_string()]);
        assert_eq!(
            fallback(&topics, 0, Some("outages"), &user, &taken),
            "outages"
        );
        let taken = HashSet::from(["blick quux frobs".to_string(), "outages".to_string()]);
        assert_eq!(
            fallback(&topics, 0, Some("outages"), &user, &taken),
            "topic 0"
        );
    }
}
