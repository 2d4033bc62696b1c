//! Words for keywords: lower-cased runs of letters and digits (two characters or more, not only
//! digits), English stop words removed, then unigrams and the bigrams of adjacent kept words
//! (as scikit-learn's CountVectorizer forms n-grams after removing stop words).

/// English function words and news filler, written for newsclust; also the remnants of HTML
/// entities found in scraped news text (`quot`, `amp`, ...).
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "across",
    "after",
    "again",
    "against",
    "all",
    "almost",
    "along",
    "already",
    "also",
    "although",
    "always",
    "am",
    "among",
    "amp",
    "an",
    "and",
    "another",
    "any",
    "anyone",
    "anything",
    "apos",
    "are",
    "around",
    "as",
    "at",
    "be",
    "became",
    "because",
    "become",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "cannot",
    "com",
    "could",
    "did",
    "didn",
    "do",
    "does",
    "doesn",
    "doing",
    "don",
    "done",
    "down",
    "during",
    "each",
    "either",
    "else",
    "enough",
    "etc",
    "even",
    "ever",
    "every",
    "few",
    "for",
    "from",
    "further",
    "get",
    "gets",
    "got",
    "gt",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "however",
    "http",
    "https",
    "i",
    "if",
    "in",
    "into",
    "is",
    "isn",
    "it",
    "its",
    "itself",
    "just",
    "least",
    "less",
    "let",
    "like",
    "ll",
    "lt",
    "many",
    "may",
    "me",
    "might",
    "more",
    "most",
    "much",
    "must",
    "my",
    "myself",
    "nbsp",
    "neither",
    "never",
    "new",
    "next",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "often",
    "on",
    "once",
    "one",
    "only",
    "onto",
    "or",
    "other",
    "others",
    "otherwise",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "per",
    "perhaps",
    "quot",
    "rather",
    "re",
    "said",
    "same",
    "say",
    "says",
    "see",
    "seem",
    "seems",
    "several",
    "she",
    "should",
    "since",
    "so",
    "some",
    "something",
    "still",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "though",
    "through",
    "thus",
    "to",
    "too",
    "toward",
    "towards",
    "under",
    "until",
    "up",
    "upon",
    "us",
    "use",
    "used",
    "ve",
    "very",
    "via",
    "was",
    "wasn",
    "we",
    "well",
    "were",
    "what",
    "whatever",
    "when",
    "where",
    "whether",
    "which",
    "while",
    "who",
    "whom",
    "whose",
    "why",
    "will",
    "with",
    "within",
    "without",
    "won",
    "would",
    "wouldn",
    "www",
    "yet",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

use std::collections::HashSet;

pub fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.binary_search(&word).is_ok()
}

/// The kept words of a text, in order; `extra` holds more stop words (lower case).
pub fn words(text: &str, extra: &HashSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    for raw in text.split(|c: char| !c.is_alphanumeric()) {
        if raw.chars().count() < 2 || raw.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let w = raw.to_lowercase();
        if !is_stop_word(&w) && !extra.contains(&w) {
            out.push(w);
        }
    }
    out
}

/// Unigrams and bigrams of a text.
pub fn terms(text: &str, extra: &HashSet<String>) -> Vec<String> {
    let w = words(text, extra);
    let mut out = w.clone();
    out.extend(w.windows(2).map(|p| format!("{} {}", p[0], p[1])));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_are_sorted_for_binary_search() {
        assert!(
            STOP_WORDS.windows(2).all(|p| p[0] < p[1]),
            "keep STOP_WORDS sorted and unique"
        );
    }

    #[test]
    fn words_and_bigrams() {
        let none = HashSet::new();
        assert_eq!(
            words("The GPU-cloud deal of 2026, said Ana.", &none),
            ["gpu", "cloud", "deal", "ana"]
        );
        let extra: HashSet<String> = ["reuters".to_string()].into();
        assert_eq!(words("Reuters - GPU deal", &extra), ["gpu", "deal"]);
        assert_eq!(
            terms("chip supply and chip demand", &none),
            [
                "chip",
                "supply",
                "chip",
                "demand",
                "chip supply",
                "supply chip",
                "chip demand"
            ]
        );
    }
}
