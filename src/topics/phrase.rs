//! Each topic's best short phrase: candidate n-grams of 1–4 words from its documents (titles
//! count twice), the most distinctive by c-TF-IDF ([`super::ctfidf`]) kept per length, embedded in
//! batches, scored by how close each is to its topic's centroid and how far from the others', and
//! chosen across topics with maximal marginal relevance (Carbonell & Goldstein 1998) so no two
//! topics get the same or a near-same phrase.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rayon::prelude::*;

use super::vocab::{segments, Kind, Surfaces, Vocab, Word};
use super::{Encoder, NameError, TopicDocs};
use crate::matrix::{dot, Matrix};

/// Words of a document searched for phrases (the model reads about this many, too).
const WORDS_PER_DOC: usize = 256;

/// Documents of a topic read for phrases at most (an even sample of larger topics).
pub const DOCS_PER_TOPIC: usize = 500;

/// How many candidates of each length (1, 2, 3, 4 words) a topic keeps for embedding.
pub const POOL: [usize; 4] = [8, 6, 4, 2];

/// The phrase settings.
#[derive(Clone, Debug)]
pub struct PhraseParams {
    /// Words in a phrase at most (1–4).
    pub max_words: usize,
    /// Weight of the margin over the nearest other topic, beside closeness to the own topic.
    pub margin: f32,
    /// Weight of c-TF-IDF distinctiveness (scaled to 0–1 within a topic).
    pub distinct: f32,
    /// MMR: weight of similarity to phrases other topics already have.
    pub diversity: f32,
    /// Bonus per word past the first: of near-equal phrases, the fuller one ("red sox" over "sox").
    pub length: f32,
}

impl Default for PhraseParams {
    fn default() -> Self {
        Self {
            max_words: 4,
            margin: 1.0,
            distinct: 0.15,
            diversity: 0.3,
            length: 0.03,
        }
    }
}

/// One candidate phrase of one topic.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// Folded word keys, joined by spaces.
    pub key: String,
    /// As shown.
    pub text: String,
    pub words: usize,
    /// c-TF-IDF score within its topic.
    pub ctfidf: f32,
    /// Documents of the topic containing it.
    pub support: u32,
    /// Every word a name or acronym ("Red Sox", "IBM").
    pub name: bool,
}

/// The stop words that may stand inside a phrase ("bank of america", "war in iraq"); others
/// ("to", "will", "on") make snippets of sentences, and "and" lists, not names.
const JOINERS: &[&str] = &["of", "in"];

/// The n-grams of one segment that may name a topic: no filler, no stop word at either end and
/// only [`JOINERS`] inside, at least one content word, no word key twice ("startups startup").
fn grams(seg: &[Word], vocab: &Vocab, max_words: usize, out: &mut Vec<String>) {
    let kinds: Vec<Kind> = seg.iter().map(|w| vocab.kind(w)).collect();
    for start in 0..seg.len() {
        if !matches!(kinds[start], Kind::Content | Kind::Inside) {
            continue;
        }
        let mut content = false;
        let mut keys: Vec<&str> = Vec::new();
        for end in start..seg.len().min(start + max_words) {
            match kinds[end] {
                Kind::Filler | Kind::Verb => break,
                Kind::Content => content = true,
                Kind::Stop if !JOINERS.contains(&seg[end].lower.as_str()) => break,
                _ => {}
            }
            if keys.contains(&seg[end].key.as_str()) {
                break;
            }
            keys.push(&seg[end].key);
            if content && matches!(kinds[end], Kind::Content | Kind::Inside) {
                out.push(keys.join(" "));
            }
        }
    }
}

/// Whether a phrase starts or ends with a word mostly used as a verb ("blocks", "will buy").
fn verb_edge(key: &str, surfaces: &Surfaces) -> bool {
    let first = key.split(' ').next().unwrap_or(key);
    let last = key.rsplit(' ').next().unwrap_or(key);
    surfaces.verbish(first) || surfaces.verbish(last)
}

/// Adds a document's candidate keys to `counts` (weight: text once, title once more; support:
/// once per document) and its words to `surfaces`.
fn doc_grams(
    text: &str,
    title: &str,
    vocab: &Vocab,
    max_words: usize,
    counts: &mut HashMap<String, (f32, u32)>,
    surfaces: &mut Surfaces,
) {
    let mut found: HashMap<String, f32> = HashMap::new();
    let mut keys = Vec::new();
    for (source, weight) in [(text, 1.0f32), (title, 1.0)] {
        let mut left = WORDS_PER_DOC;
        for seg in segments(source) {
            if left == 0 {
                break;
            }
            let seg = &seg[..seg.len().min(left)];
            left -= seg.len();
            surfaces.observe(seg);
            grams(seg, vocab, max_words, &mut keys);
        }
        for k in keys.drain(..) {
            *found.entry(k).or_default() += weight;
        }
    }
    for (k, w) in found {
        let c = counts.entry(k).or_default();
        c.0 += w;
        c.1 += 1;
    }
}

type Counts = Vec<HashMap<String, (f32, u32)>>;

/// Every topic's candidate keys with their weighted counts and document support, read from an
/// even sample of its documents, and the words' shown forms: what [`GramCounts::pools`] draws
/// candidates from. Kept, so that groups of topics (the merged nodes of their tree) are counted
/// from it ([`GramCounts::grouped`]) without reading their documents again.
#[derive(Clone, Debug, Default)]
pub struct GramCounts {
    per_topic: Counts,
    /// Each topic's weights summed over all its keys (c-TF-IDF's norm).
    sums: Vec<f32>,
    /// Documents read per topic (at most [`DOCS_PER_TOPIC`]), and each topic's size.
    read: Vec<usize>,
    sizes: Vec<usize>,
    surfaces: Arc<Surfaces>,
}

/// Counts every topic's candidate keys (see [`GramCounts`]).
pub fn count(topics: &TopicDocs<'_>, vocab: &Vocab, params: &PhraseParams) -> GramCounts {
    let k = topics.members.len();
    let max_words = params.max_words.clamp(1, 4);
    // The documents are split across threads; the counts are whole numbers, so any order sums
    // alike. A large topic is read from an even sample of its documents: its phrases are as
    // clear there.
    let docs: Vec<(usize, usize)> = topics
        .members
        .iter()
        .enumerate()
        .flat_map(|(t, rows)| {
            let take = rows.len().min(DOCS_PER_TOPIC);
            (0..take).map(move |i| (t, rows[i * rows.len() / take]))
        })
        .collect();
    let empty = || (vec![HashMap::new(); k], Surfaces::default());
    let (per_topic, surfaces): (Counts, Surfaces) = docs
        .par_iter()
        .fold(empty, |(mut counts, mut surfaces), &(t, i)| {
            let title = topics.titles.get(i).map(String::as_str).unwrap_or("");
            doc_grams(
                &topics.texts[i],
                title,
                vocab,
                max_words,
                &mut counts[t],
                &mut surfaces,
            );
            (counts, surfaces)
        })
        .reduce(empty, |(mut a, mut sa), (b, sb)| {
            for (mine, theirs) in a.iter_mut().zip(b) {
                for (g, (w, n)) in theirs {
                    let c = mine.entry(g).or_default();
                    c.0 += w;
                    c.1 += n;
                }
            }
            sa.merge(sb);
            (a, sa)
        });
    let sizes: Vec<usize> = topics.members.iter().map(Vec::len).collect();
    GramCounts {
        sums: per_topic
            .iter()
            .map(|c| c.values().map(|x| x.0).sum())
            .collect(),
        per_topic,
        read: sizes.iter().map(|&n| n.min(DOCS_PER_TOPIC)).collect(),
        sizes,
        surfaces: Arc::new(surfaces),
    }
}

impl GramCounts {
    /// The counts of groups of these topics, as if each group's documents had been read as one
    /// topic's: from an even sample of at most [`DOCS_PER_TOPIC`] of them, so each member
    /// topic's counts are scaled to its share of the group; document support is summed. Only
    /// the keys in some topic's pool ([`Self::pools`]) are kept: a group's candidates are drawn
    /// from its topics' (their c-TF-IDF norms still count every key).
    pub fn grouped(&self, groups: &[Vec<usize>]) -> GramCounts {
        let pools = self.pools();
        let keep: HashSet<&str> = pools.iter().flatten().map(|c| c.key.as_str()).collect();
        // Each topic's counts of those keys, found once for all the groups it is in.
        let kept: Vec<Vec<(&str, f32, u32)>> = self
            .per_topic
            .iter()
            .map(|counts| {
                counts
                    .iter()
                    .filter(|(g, _)| keep.contains(g.as_str()))
                    .map(|(g, &(w, n))| (g.as_str(), w, n))
                    .collect()
            })
            .collect();
        let mut out = GramCounts {
            surfaces: Arc::clone(&self.surfaces),
            ..GramCounts::default()
        };
        for group in groups {
            let size: usize = group.iter().map(|&t| self.sizes[t]).sum();
            let reads = size.min(DOCS_PER_TOPIC);
            let mut counts: HashMap<String, (f32, u32)> = HashMap::new();
            let mut sum = 0f32;
            for &t in group {
                let scale = if self.read[t] == 0 {
                    0.0
                } else {
                    (self.sizes[t] as f64 / size as f64 * reads as f64 / self.read[t] as f64) as f32
                };
                sum += self.sums[t] * scale;
                for &(key, w, n) in &kept[t] {
                    let c = counts.entry(key.to_string()).or_default();
                    c.0 += w * scale;
                    c.1 += n;
                }
            }
            out.per_topic.push(counts);
            out.sums.push(sum);
            out.read.push(reads);
            out.sizes.push(size);
        }
        out
    }

    /// Every topic's candidate pool: the [`POOL`] most distinctive keys of each length by
    /// c-TF-IDF over these topics, most distinctive first within each length, shown as written
    /// most often.
    pub fn pools(&self) -> Vec<Vec<Candidate>> {
        let k = self.per_topic.len();
        let mut total: HashMap<&str, f32> = HashMap::new();
        for counts in &self.per_topic {
            for (g, &(w, _)) in counts {
                *total.entry(g.as_str()).or_default() += w;
            }
        }
        let sums = &self.sums;
        let avg = sums.iter().sum::<f32>() / k.max(1) as f32;
        self.per_topic
            .iter()
            .enumerate()
            .map(|(t, counts)| {
                let min_support = if self.read[t] >= 4 { 2 } else { 1 };
                let mut by_len: Vec<Vec<Candidate>> = vec![Vec::new(); 4];
                for (g, &(w, support)) in counts {
                    if support < min_support || verb_edge(g, &self.surfaces) {
                        continue;
                    }
                    let words = g.split(' ').count();
                    let score = w / sums[t].max(1.0) * (1.0 + avg / total[g.as_str()]).ln();
                    by_len[words - 1].push(Candidate {
                        key: g.clone(),
                        text: String::new(),
                        words,
                        ctfidf: score,
                        support,
                        name: false,
                    });
                }
                let mut pool = Vec::new();
                for (n, mut list) in by_len.into_iter().enumerate() {
                    list.sort_by(|a, b| b.ctfidf.total_cmp(&a.ctfidf).then(a.key.cmp(&b.key)));
                    list.truncate(POOL[n]);
                    pool.extend(list);
                }
                for c in &mut pool {
                    c.text = self.surfaces.show_all(&c.key);
                    c.name = self.surfaces.is_name(&c.key);
                }
                pool
            })
            .collect()
    }
}

/// A vector's cosine to topic `t`'s centroid, and to the nearest other centroid (None when `t` is
/// the only topic). Rows are unit length.
pub fn closeness(v: &[f32], centroids: &Matrix, t: usize) -> (f32, Option<f32>) {
    let own = dot(v, centroids.row(t));
    let other = (0..centroids.rows())
        .filter(|&s| s != t)
        .map(|s| dot(v, centroids.row(s)))
        .fold(f32::NEG_INFINITY, f32::max);
    (own, other.is_finite().then_some(other))
}

/// How well a vector singles out topic `t`: its [`closeness`] to `t`, plus `margin` × how much
/// closer it is to `t` than to the nearest other centroid (nothing when `t` is the only topic);
/// and the closeness alone.
pub fn separation(v: &[f32], centroids: &Matrix, t: usize, margin: f32) -> (f32, f32) {
    match closeness(v, centroids, t) {
        (own, Some(other)) => (own + margin * (own - other), own),
        (own, None) => (own, own),
    }
}

/// A topic's chosen phrase and how close it is to the topic's centroid.
#[derive(Clone, Debug, PartialEq)]
pub struct Chosen {
    pub text: String,
    pub similarity: f32,
    pub name: bool,
    /// c-TF-IDF scaled to 0–1 within the topic.
    pub distinct: f32,
    /// The topic's next best phrases, best first, for the label to try.
    pub alternatives: Vec<Alternative>,
}

/// A topic's next-best phrase.
#[derive(Clone, Debug, PartialEq)]
pub struct Alternative {
    pub text: String,
    pub name: bool,
    pub distinct: f32,
}

/// How many next-best phrases a [`Chosen`] keeps.
pub const ALTERNATIVES: usize = 10;

/// Embeds every pool's candidates (one batch list through `encoder`) and picks one phrase per
/// topic: greedily, the best (topic, phrase) pair first, each scored as closeness to the own
/// centroid, plus the margin over the nearest other centroid, plus distinctiveness, minus MMR's
/// similarity to phrases already taken. A topic with no candidate gets none.
pub fn choose(
    pools: &[Vec<Candidate>],
    centroids: &Matrix,
    encoder: &dyn Encoder,
    params: &PhraseParams,
) -> Result<Vec<Option<Chosen>>, NameError> {
    let k = pools.len();
    let texts: Vec<String> = pools.iter().flatten().map(|c| c.text.clone()).collect();
    let vectors = if texts.is_empty() {
        Matrix::new(Vec::new(), centroids.dim().max(1)).expect("empty")
    } else {
        encoder.encode(&texts).map_err(|source| NameError::Encode {
            what: "candidate phrases",
            source,
        })?
    };
    // Each candidate's base score, and its row in `vectors`.
    let mut scored: Vec<Vec<(usize, f32, f32)>> = Vec::with_capacity(k);
    let mut tops = Vec::with_capacity(k);
    let mut row = 0;
    for (t, pool) in pools.iter().enumerate() {
        let top = pool
            .iter()
            .map(|c| c.ctfidf)
            .fold(0f32, f32::max)
            .max(f32::MIN_POSITIVE);
        tops.push(top);
        let mut list = Vec::with_capacity(pool.len());
        for c in pool {
            let (separated, own) = separation(vectors.row(row), centroids, t, params.margin);
            let score =
                separated + params.distinct * c.ctfidf / top + params.length * (c.words - 1) as f32;
            list.push((row, score, own));
            row += 1;
        }
        scored.push(list);
    }
    let mut chosen: Vec<Option<Chosen>> = vec![None; k];
    // MMR: each candidate's highest similarity to a phrase already taken, kept up to date.
    let mut near: Vec<Vec<f32>> = scored.iter().map(|l| vec![0f32; l.len()]).collect();
    let mut taken_keys: HashSet<&str> = HashSet::new();
    let mut taken_texts: HashSet<String> = HashSet::new();
    let mut open: Vec<usize> = (0..k).filter(|&t| !pools[t].is_empty()).collect();
    while !open.is_empty() {
        let mut best: Option<(f32, usize, usize)> = None;
        for &t in &open {
            for (j, &(_, score, _)) in scored[t].iter().enumerate() {
                let c = &pools[t][j];
                if taken_keys.contains(c.key.as_str()) || taken_texts.contains(&c.text) {
                    continue;
                }
                let value = score - params.diversity * near[t][j];
                if best.is_none_or(|(b, _, _)| value > b) {
                    best = Some((value, t, j));
                }
            }
        }
        let Some((_, t, j)) = best else { break };
        let (r, _, own) = scored[t][j];
        taken_keys.insert(pools[t][j].key.as_str());
        taken_texts.insert(pools[t][j].text.clone());
        let mut order: Vec<usize> = (0..scored[t].len()).filter(|&x| x != j).collect();
        order.sort_by(|&a, &b| scored[t][b].1.total_cmp(&scored[t][a].1).then(a.cmp(&b)));
        chosen[t] = Some(Chosen {
            text: pools[t][j].text.clone(),
            similarity: own,
            name: pools[t][j].name,
            distinct: pools[t][j].ctfidf / tops[t],
            alternatives: order
                .into_iter()
                .filter(|&x| !taken_texts.contains(&pools[t][x].text))
                .take(ALTERNATIVES)
                .map(|x| Alternative {
                    text: pools[t][x].text.clone(),
                    name: pools[t][x].name,
                    distinct: pools[t][x].ctfidf / tops[t],
                })
                .collect(),
        });
        open.retain(|&x| x != t);
        for &u in &open {
            for (jj, &(rr, _, _)) in scored[u].iter().enumerate() {
                let sim = dot(vectors.row(rr), vectors.row(r)).max(0.0);
                near[u][jj] = near[u][jj].max(sim);
            }
        }
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topics::vocab::segments;

    fn keys(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for seg in segments(text) {
            grams(&seg, &Vocab::default(), 4, &mut out);
        }
        out
    }

    #[test]
    fn a_groups_counts_are_its_topics_summed_as_if_read_together() {
        let texts: Vec<String> = [
            "Memory chip shortage hits carmakers",
            "Memory chip shortage deepens at foundries",
            "Foundry capacity and the memory chip shortage",
            "Chip foundry capacity grows in Arizona",
            "Chip foundry capacity deal signed",
            "Football league final ends in a draw",
            "Football league cup final tonight",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let data = Matrix::new(vec![1.0; 7], 1).unwrap();
        let centroids = Matrix::new(vec![1.0; 3], 1).unwrap();
        let members = vec![vec![0, 1, 2], vec![3, 4], vec![5, 6]];
        let counts_of = |members: &[Vec<usize>]| {
            let topics = TopicDocs {
                texts: &texts,
                data: &data,
                titles: &[],
                members,
                centroids: &centroids,
            };
            count(&topics, &Vocab::default(), &PhraseParams::default())
        };
        let counted = counts_of(&members);
        let grouped = counted.grouped(&[vec![0, 1], vec![2]]).pools();
        // The same documents read as two topics (each under DOCS_PER_TOPIC: no sampling).
        let direct = counts_of(&[vec![0, 1, 2, 3, 4], vec![5, 6]]).pools();
        assert_eq!(grouped.len(), 2);
        assert!(grouped[0].iter().any(|c| c.key == "memory chip shortage"));
        assert!(grouped[0].iter().any(|c| c.key == "foundry capacity"));
        for (g, d) in grouped.iter().zip(&direct) {
            assert!(!g.is_empty());
            for c in g {
                let same = d
                    .iter()
                    .find(|x| x.key == c.key)
                    .expect("a candidate read together");
                assert_eq!(c.support, same.support, "{}", c.key);
                assert!((c.ctfidf - same.ctfidf).abs() < 1e-6, "{c:?} {same:?}");
                assert_eq!(c.text, same.text);
            }
        }
        // Groups of one topic each are the topics.
        let alone = counted.grouped(&[vec![0], vec![1], vec![2]]).pools();
        let own = counted.pools();
        let scored = |p: &[Candidate]| {
            p.iter()
                .map(|c| (c.key.clone(), c.ctfidf))
                .collect::<Vec<_>>()
        };
        for (a, o) in alone.iter().zip(&own) {
            assert_eq!(scored(a), scored(o));
        }
    }

    #[test]
    fn grams_skip_filler_edges_and_repeated_stems() {
        let g = keys("Startups startup funding, the Bank of America deal (Reuters)");
        assert!(g.contains(&"startup funding".to_string()), "{g:?}");
        assert!(!g.iter().any(|x| x == "startup startup"), "{g:?}");
        assert!(g.contains(&"bank of america".to_string()), "{g:?}");
        assert!(
            !keys("cloud and chips").iter().any(|x| x.contains(" and ")),
            "no lists"
        );
        assert!(
            !g.iter()
                .any(|x| x.ends_with(" of") || x.starts_with("the ")),
            "{g:?}"
        );
        assert!(!g.iter().any(|x| x.contains("reuters")), "{g:?}");
        let n = keys("new york yankees win the world series");
        assert!(n.contains(&"new york yankee".to_string()), "{n:?}");
        assert!(n.contains(&"world series".to_string()), "{n:?}");
        assert!(
            !n.iter().any(|x| x == "new" || x == "world"),
            "alone they are generic: {n:?}"
        );
    }
}
