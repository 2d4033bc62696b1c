//! The names people read: each topic's phrase ([`super::phrase`]), its theme
//! ([`super::theme`]) and, from them, its label — at most four words, unique across topics.
//!
//! The label is the phrase, alone, followed by the theme's name ("cloud" + "alliance changes"),
//! or, when it is a name, joined to another of the topic's names ("IBM and Apple"), when they fit
//! in four words and share no word: whichever is most distinctive for its topic (closeness to
//! the own centroid plus half the margin over the nearest other) and not yet taken. A topic with
//! no phrase falls back to its first document's first content words, then its theme, then
//! "topic N".

use std::collections::HashSet;

use super::phrase::{self, Chosen, GramCounts, PhraseParams};
use super::theme::ThemeMatcher;
use super::vocab::{root, segments, Vocab};
use super::{refine, Encoder, Labeler, NameError, Naming, TopicDocs};
use crate::matrix::Matrix;

/// Words in a label at most.
pub const MAX_LABEL_WORDS: usize = 4;

/// Weight of a label option's margin over the nearest other topic, beside its closeness to its
/// own. The phrases it is built from were chosen with the full margin and kept apart by MMR, so
/// here half of it is enough to keep labels apart; the rest goes to closeness, which favours a
/// name for the whole topic ("Red Sox sports results") over a detail that sets it off from its
/// nearest neighbour ("Sox"). AG News k=20 gold agreement 0.799 -> 0.830 (the same for weights
/// 0.25-0.75), 20 Newsgroups 0.779 -> 0.782, retrieval unchanged or up (`benches/names.py`).
const LABEL_MARGIN: f32 = 0.5;

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

/// How many of a merged node's best phrases are tried joined to its theme or to a name: texts
/// no topic had, so embedded anew (a merged node's other options are its topics' texts, embedded
/// already).
const MERGED_FRESH: usize = 2;

/// What naming may embed: any text (topics), or mostly texts embedded for the topics already
/// (the merged nodes of their tree; see [`MERGED_FRESH`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Embeds {
    Any,
    Known,
}

impl Labeler for ReaderLabeler<'_> {
    fn label(&self, topics: &TopicDocs<'_>) -> Result<Vec<Naming>, NameError> {
        self.label_counted(topics, &self.counts(topics))
    }
}

/// The reader labeller naming topics from candidate counts made before ([`ReaderLabeler::counts`]):
/// the same counts then name the topics' tree ([`ReaderLabeler::grouped`]).
pub struct CountedReader<'a> {
    pub labeler: &'a ReaderLabeler<'a>,
    pub counts: &'a GramCounts,
}

impl Labeler for CountedReader<'_> {
    fn label(&self, topics: &TopicDocs<'_>) -> Result<Vec<Naming>, NameError> {
        self.labeler.label_counted(topics, self.counts)
    }
}

/// The reader labeller naming groups of topics (see [`ReaderLabeler::grouped`]).
pub struct GroupedReader<'a> {
    pub labeler: &'a ReaderLabeler<'a>,
    pub counts: GramCounts,
}

impl Labeler for GroupedReader<'_> {
    fn label(&self, topics: &TopicDocs<'_>) -> Result<Vec<Naming>, NameError> {
        self.labeler.label_from(topics, &self.counts, Embeds::Known)
    }
}

impl<'a> ReaderLabeler<'a> {
    /// The topics' candidate phrases counted, for [`CountedReader`] and then the tree.
    pub fn counts(&self, topics: &TopicDocs<'_>) -> GramCounts {
        let t = std::time::Instant::now();
        let counts = phrase::count(topics, &self.vocab, &self.params);
        tracing::debug!("phrase candidates: {:.3} s", t.elapsed().as_secs_f64());
        counts
    }

    /// Names topics from their candidate counts.
    pub fn label_counted(
        &self,
        topics: &TopicDocs<'_>,
        counts: &GramCounts,
    ) -> Result<Vec<Naming>, NameError> {
        self.label_from(topics, counts, Embeds::Any)
    }

    /// A labeller of groups of the topics `leaf` counted (the merged nodes of their tree: a
    /// group's rows in the [`TopicDocs`] it is handed are its topics' rows): each group's
    /// candidates are its topics' counts summed, not its documents read again, and it is named
    /// from the texts the topics' naming embedded, with its theme or a name joined to at most
    /// `MERGED_FRESH` of its best phrases.
    pub fn grouped(&'a self, leaf: &GramCounts, groups: &[Vec<usize>]) -> GroupedReader<'a> {
        GroupedReader {
            labeler: self,
            counts: leaf.grouped(groups),
        }
    }

    fn label_from(
        &self,
        topics: &TopicDocs<'_>,
        counts: &GramCounts,
        embeds: Embeds,
    ) -> Result<Vec<Naming>, NameError> {
        let memo = Memo {
            inner: self.encoder,
            seen: &self.seen,
        };
        let mut pools = counts.pools();
        if embeds == Embeds::Known {
            let seen = self.lock_seen()?;
            for pool in &mut pools {
                pool.retain(|c| seen.contains_key(&c.text));
            }
        }
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
        let labels = self.compose(topics, &phrases, &themes, &words, &memo, embeds)?;
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

impl ReaderLabeler<'_> {
    /// The texts embedded so far, held.
    fn lock_seen(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, std::collections::HashMap<String, Vec<f32>>>, NameError>
    {
        self.seen.lock().map_err(|_| NameError::Encode {
            what: "labels",
            source: "a thread naming topics panicked".into(),
        })
    }
}

fn word_keys(text: &str) -> HashSet<String> {
    text.split_whitespace()
        .map(|w| root(&w.to_lowercase()))
        .collect()
}

/// How well a name singles out topic `t`: its [`phrase::separation`] with [`LABEL_MARGIN`].
fn distinctive(v: &[f32], centroids: &Matrix, t: usize) -> f32 {
    phrase::separation(v, centroids, t, LABEL_MARGIN).0
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
        embeds: Embeds,
    ) -> Result<Vec<String>, NameError> {
        let k = phrases.len();
        let seen = self.lock_seen()?;
        // Whether the `i`-th phrase tried may be joined into `text`.
        let may = |i: usize, text: &str| {
            embeds == Embeds::Any || i < MERGED_FRESH || seen.contains_key(text)
        };
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
            for (i, (first, name, distinct)) in firsts.enumerate() {
                let base = self.params.distinct * distinct;
                opts.push(first.to_string());
                bonus.push(base);
                let keys = word_keys(first);
                let n = first.split_whitespace().count();
                if let Some((theme, _)) = &themes[t] {
                    let fits = n + theme.split_whitespace().count() <= MAX_LABEL_WORDS;
                    let joined = format!("{first} {theme}");
                    if fits && keys.is_disjoint(&word_keys(theme)) && may(i, &joined) {
                        opts.push(joined);
                        bonus.push(base + THEME_BONUS);
                    }
                }
                // Two names join ("IBM and Apple"); other pairs read as keyword lists.
                let others = words[t]
                    .iter()
                    .filter(|_| name)
                    .filter(|w| n + 1 + w.split_whitespace().count() <= MAX_LABEL_WORDS)
                    .filter(|w| keys.is_disjoint(&word_keys(w)))
                    .take(EXTRA_WORDS)
                    .map(|other| format!("{first} and {other}"))
                    .filter(|joined| may(i, joined));
                for joined in others {
                    opts.push(joined);
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
        drop(seen);
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

    /// Embeds a text as its words hashed into 32 dimensions (a stand-in for the model: texts
    /// sharing words are near), and records every text it is asked for.
    #[derive(Default)]
    struct Hashed {
        asked: std::sync::Mutex<Vec<String>>,
    }

    impl Encoder for Hashed {
        fn encode(&self, texts: &[String]) -> Result<Matrix, crate::topics::EncodeError> {
            self.asked.lock().unwrap().extend(texts.iter().cloned());
            let mut values = Vec::new();
            for t in texts {
                let mut v = [0f32; 32];
                for w in t.to_lowercase().split_whitespace() {
                    let h = w
                        .bytes()
                        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b.into()));
                    v[(h % 32) as usize] += 1.0;
                }
                values.extend(v);
            }
            let mut m = Matrix::new(values, 32).unwrap();
            m.normalize_rows();
            Ok(m)
        }
    }

    #[test]
    fn merged_nodes_are_named_from_their_topics_texts_with_few_new_ones() {
        let texts: Vec<String> = [
            "Memory chip shortage hits carmakers",
            "Memory chip shortage deepens at foundries",
            "Carmakers ration the memory chip supply",
            "Chip foundry capacity grows in Arizona",
            "Chip foundry capacity deal signed",
            "New chip foundry capacity for Intel",
            "Football league final ends in a draw",
            "Football league cup final tonight",
            "Football league final tickets sold out",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let encoder = Hashed::default();
        let data = encoder.encode(&texts).unwrap();
        encoder.asked.lock().unwrap().clear();
        let members = vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7, 8]];
        let mean = |rows: &[usize]| {
            let mut v = vec![0f32; 32];
            for &r in rows {
                for (x, y) in v.iter_mut().zip(data.row(r)) {
                    *x += y;
                }
            }
            v
        };
        let mut centroids =
            Matrix::new(members.iter().flat_map(|m| mean(m)).collect(), 32).unwrap();
        centroids.normalize_rows();
        let leaf = TopicDocs {
            texts: &texts,
            data: &data,
            titles: &[],
            members: &members,
            centroids: &centroids,
        };
        let reader = ReaderLabeler {
            encoder: &encoder,
            vocab: Vocab::default(),
            params: PhraseParams::default(),
            themes: None,
            seen: Default::default(),
        };
        let counts = reader.counts(&leaf);
        let topics = CountedReader {
            labeler: &reader,
            counts: &counts,
        }
        .label(&leaf)
        .unwrap();
        assert!(topics.iter().all(|n| n.label.is_some()), "{topics:?}");
        let leaf_asked = encoder.asked.lock().unwrap().len();
        assert!(leaf_asked > 0);
        // The two chip topics merged.
        let node_members = vec![vec![0, 1, 2, 3, 4, 5]];
        let mut node_centroid = Matrix::new(mean(&node_members[0]), 32).unwrap();
        node_centroid.normalize_rows();
        let node = TopicDocs {
            members: &node_members,
            centroids: &node_centroid,
            ..leaf
        };
        let named = reader.grouped(&counts, &[vec![0, 1]]).label(&node).unwrap();
        let phrase = named[0]
            .phrase
            .clone()
            .expect("a phrase from the topics' candidates");
        assert!(phrase.to_lowercase().contains("chip"), "{phrase}");
        assert!(named[0].label.is_some());
        // Every phrase it tried was embedded for the topics; at most the joins of its first
        // MERGED_FRESH phrases are new.
        let asked = encoder.asked.lock().unwrap();
        let new = &asked[leaf_asked..];
        assert!(new.len() <= MERGED_FRESH * (1 + EXTRA_WORDS), "{new:?}");
        assert!(new.iter().all(|t| t.contains(" and ")), "{new:?}");
    }

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
