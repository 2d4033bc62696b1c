//! The words topic names are made of: texts cut into segments of words (punctuation ends a
//! segment, so no phrase spans two clauses), each word lower-cased, its variants folded to one key
//! (plural and singular, possessive), and judged against the built-in lists: English stop words
//! (`vocab/stop_words.txt`) and news filler (`vocab/filler.txt`: wires, honorifics, corporate
//! suffixes, generic news words, mail boilerplate, HTML leftovers), headline verbs
//! (`vocab/verbs.txt`) and the user's own stop words.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

/// What a word may do in a keyword, phrase or label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Says something: may stand alone.
    Content,
    /// Generic on its own ("new", "world", "year"), fine inside a longer phrase.
    Inside,
    /// A function word: may join words inside a phrase ("bank of america"), never start or end one.
    Stop,
    /// Never part of a name: filler, numbers, one-letter words.
    Filler,
    /// A headline verb ("blocks", "warns"): a keyword, never part of a phrase.
    Verb,
}

/// One word of a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    /// Lower case, as written otherwise ("data-center", "startups").
    pub lower: String,
    /// The variants' shared key ("startup" for "startups").
    pub key: String,
    /// Written in capitals ("AI", "IBM"), two letters or more.
    pub caps: bool,
    /// Written with a capital initial where case tells a name ("Microsoft" mid-sentence); None
    /// where it cannot tell (a segment's first word, a title-case or all-caps headline).
    pub proper: Option<bool>,
}

struct Lists {
    stop: HashSet<&'static str>,
    filler: HashSet<&'static str>,
    inside: HashSet<&'static str>,
    verbs: HashSet<&'static str>,
}

fn lists() -> &'static Lists {
    static LISTS: OnceLock<Lists> = OnceLock::new();
    LISTS.get_or_init(|| {
        let entries = |text: &'static str| {
            text.lines()
                .map(|l| l.split('#').next().unwrap_or("").trim())
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
        };
        let mut filler = HashSet::new();
        let mut inside = HashSet::new();
        for e in entries(include_str!("vocab/filler.txt")) {
            match e.strip_suffix('+') {
                Some(w) => inside.insert(w.trim()),
                None => filler.insert(e),
            };
        }
        Lists {
            stop: entries(include_str!("vocab/stop_words.txt"))
                .into_iter()
                .collect(),
            filler,
            inside,
            verbs: entries(include_str!("vocab/verbs.txt"))
                .into_iter()
                .collect(),
        }
    })
}

/// The built-in lists and the user's extra stop words (lower case; they count as filler).
#[derive(Clone, Debug, Default)]
pub struct Vocab {
    pub extra: HashSet<String>,
}

impl Vocab {
    pub fn new(extra: HashSet<String>) -> Self {
        Self { extra }
    }

    pub fn kind(&self, word: &Word) -> Kind {
        let l = lists();
        let w = word.lower.as_str();
        let letters = w.chars().filter(|c| c.is_alphabetic()).count();
        if letters == 0 || w.chars().count() < 2 || amount(w) {
            return Kind::Filler;
        }
        if self.extra.contains(w) || self.extra.contains(&word.key) {
            return Kind::Filler;
        }
        if l.stop.contains(w) {
            return Kind::Stop;
        }
        if l.filler.contains(w) || l.filler.contains(word.key.as_str()) {
            return Kind::Filler;
        }
        if l.inside.contains(w) || l.inside.contains(word.key.as_str()) {
            return Kind::Inside;
        }
        if l.verbs.contains(w) {
            return Kind::Verb;
        }
        Kind::Content
    }
}

/// The key variants of a word share: plural to singular, by English spelling rules. Only keys
/// are folded: names show the form written most often ([`Surfaces`]).
pub fn fold(lower: &str) -> String {
    // Accents fold away ("pokémon" and "pokemon" are one word).
    if !lower.is_ascii() && lower.chars().any(|c| plain(c) != c) {
        return fold(&lower.chars().map(plain).collect::<String>());
    }
    // A hyphenated word folds its last part ("data-centers" → "data-center").
    if let Some((head, last)) = lower.rsplit_once('-') {
        return format!("{head}-{}", fold(last));
    }
    let n = lower.chars().count();
    if n < 4 || !lower.is_ascii() {
        return lower.to_string();
    }
    const KEEP: &[&str] = &[
        "news",
        "series",
        "species",
        "physics",
        "politics",
        "economics",
    ];
    if KEEP.contains(&lower) {
        return lower.to_string();
    }
    if let Some(stem) = lower.strip_suffix("ies") {
        if n > 4 {
            return format!("{stem}y");
        }
    }
    for tail in ["sses", "ches", "shes", "xes", "zzes"] {
        if lower.ends_with(tail) {
            return lower[..lower.len() - 2].to_string();
        }
    }
    if lower.ends_with('s') && !["ss", "us", "is", "ous"].iter().any(|t| lower.ends_with(t)) {
        return lower[..lower.len() - 1].to_string();
    }
    lower.to_string()
}

/// A word's root, for telling whether two words of a label are one word twice: its folded
/// key less an ending that makes a verb, a gerund or a noun of it ("funding" and "fund",
/// "pricing" and "prices" share a root).
pub fn root(lower: &str) -> String {
    let key = fold(lower);
    for tail in ["ing", "ion", "ed", "e"] {
        if let Some(stem) = key.strip_suffix(tail) {
            if stem.chars().count() >= 3 {
                return stem.to_string();
            }
        }
    }
    key
}

/// A Latin letter without its accent (others as they are).
fn plain(c: char) -> char {
    match c {
        'à'..='å' => 'a',
        'ç' => 'c',
        'è'..='ë' => 'e',
        'ì'..='ï' => 'i',
        'ñ' => 'n',
        'ò'..='ö' | 'ø' => 'o',
        'ù'..='ü' => 'u',
        'ý' | 'ÿ' => 'y',
        _ => c,
    }
}

/// Whether a word is an amount: digits with a unit or an ordinal ("1b", "10m", "3rd", "90s").
fn amount(w: &str) -> bool {
    let letters = w.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
    letters.len() < w.len()
        && [
            "k", "m", "b", "bn", "mn", "x", "s", "st", "nd", "rd", "th", "pm", "am", "gb", "tb",
            "mb",
        ]
        .contains(&letters)
}

/// Cuts a text into segments of words. Letters and digits make words; a hyphen or dot between
/// two of them stays inside a word ("data-center", "u.s"); an apostrophe's "s" is dropped and
/// other apostrophes join ("don't" → "dont"); spaces separate words; any other character ends
/// the segment.
pub fn segments(text: &str) -> Vec<Vec<Word>> {
    let mut out: Vec<Vec<Word>> = Vec::new();
    let mut seg: Vec<Word> = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let flush = |cur: &mut String, seg: &mut Vec<Word>| {
        if !cur.is_empty() {
            seg.push(word(cur));
            cur.clear();
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let prev_alnum = cur.chars().last().is_some_and(char::is_alphanumeric);
        let joins = (c == '-' || c == '.') && prev_alnum && next.is_some_and(char::is_alphanumeric);
        if c.is_alphanumeric() || joins {
            cur.push(c);
        } else if c == '.' && cur.chars().rev().nth(1) == Some('.') {
            // The closing dot of an abbreviation ("U.S."): part of the word, not a full stop.
        } else if (c == '\'' || c == '’') && prev_alnum && next.is_some_and(char::is_alphabetic) {
            let after_s = chars.get(i + 2).is_none_or(|c| !c.is_alphanumeric());
            if matches!(next, Some('s' | 'S')) && after_s {
                i += 1; // possessive: skip the s
            }
        } else if c.is_whitespace() {
            flush(&mut cur, &mut seg);
        } else {
            flush(&mut cur, &mut seg);
            if !seg.is_empty() {
                out.push(std::mem::take(&mut seg));
            }
        }
        i += 1;
    }
    flush(&mut cur, &mut seg);
    if !seg.is_empty() {
        out.push(seg);
    }
    // Capitals tell an acronym only amid other writing: a run of capitalised words is a
    // dateline or a shouted headline ("NEW YORK (Reuters)").
    // A capital initial tells a name only in running text: not first in a segment, not in a
    // headline written in title case (most of its longer words capitalised).
    for seg in &mut out {
        let caps: Vec<bool> = seg.iter().map(|w| w.caps).collect();
        let long: Vec<&Word> = seg
            .iter()
            .skip(1)
            .filter(|w| w.lower.chars().count() >= 4)
            .collect();
        let titled = long.iter().filter(|w| w.proper == Some(true)).count();
        let title_case = long.len() >= 2 && 2 * titled > long.len();
        for (i, w) in seg.iter_mut().enumerate() {
            let before = i > 0 && caps[i - 1];
            let after = caps.get(i + 1).copied().unwrap_or(false);
            if before || after {
                w.caps = false;
            }
            if i == 0 || title_case || caps[i] {
                w.proper = None;
            }
        }
    }
    out
}

fn word(raw: &str) -> Word {
    let lower = raw.to_lowercase();
    let letters = raw.chars().filter(|c| c.is_alphabetic()).count();
    let caps = letters >= 2 && raw.chars().all(|c| !c.is_lowercase());
    let initial = raw.chars().next().is_some_and(char::is_uppercase);
    Word {
        key: fold(&lower),
        lower,
        caps,
        proper: Some(initial),
    }
}

/// Words after which the next word is mostly a verb ("will buy", "was killed").
const BEFORE_VERBS: &[&str] = &[
    "to", "also", "are", "be", "been", "can", "could", "did", "does", "had", "has", "have", "is",
    "may", "might", "must", "should", "was", "were", "will", "would",
];

/// Words before which the previous word is mostly a verb or preposition ("blocks the").
const AFTER_VERBS: &[&str] = &[
    "a", "an", "her", "his", "its", "our", "the", "their", "these", "this", "those",
];

/// How often each key was written in each form, and how it was used: names show a key as
/// written most often, in capitals when it mostly is ("AI", "IBM"); and a word mostly used as a
/// verb ("blocks the", "will buy") does not start or end a phrase.
#[derive(Clone, Debug, Default)]
pub struct Surfaces {
    forms: HashMap<String, HashMap<String, u32>>,
    caps: HashMap<String, (u32, u32)>,
    /// Per key: uses with a telling capital initial, and uses where case tells.
    proper: HashMap<String, (u32, u32)>,
    /// Per key: occurrences in segments seen whole, and those in a verb's place.
    roles: HashMap<String, (u32, u32)>,
}

impl Surfaces {
    /// Counts a whole segment: each word's form and, for content words, its role.
    pub fn observe(&mut self, seg: &[Word]) {
        for (i, w) in seg.iter().enumerate() {
            self.add(w);
            let before = i > 0 && BEFORE_VERBS.contains(&seg[i - 1].lower.as_str());
            let after = seg
                .get(i + 1)
                .is_some_and(|n| AFTER_VERBS.contains(&n.lower.as_str()));
            let r = self.roles.entry(w.key.clone()).or_default();
            r.0 += 1;
            r.1 += u32::from(before || after);
        }
    }

    /// Whether a word key is mostly seen where verbs stand (a quarter of three or more uses).
    pub fn verbish(&self, key: &str) -> bool {
        self.roles
            .get(key)
            .is_some_and(|&(all, verb)| all >= 3 && 4 * verb >= all)
    }

    pub fn add(&mut self, word: &Word) {
        *self
            .forms
            .entry(word.key.clone())
            .or_default()
            .entry(word.lower.clone())
            .or_default() += 1;
        let c = self.caps.entry(word.key.clone()).or_default();
        c.0 += u32::from(word.caps);
        c.1 += 1;
        if let Some(p) = word.proper {
            let c = self.proper.entry(word.key.clone()).or_default();
            c.0 += u32::from(p);
            c.1 += 1;
        }
    }

    pub fn merge(&mut self, other: Surfaces) {
        for (k, forms) in other.forms {
            let mine = self.forms.entry(k).or_default();
            for (f, n) in forms {
                *mine.entry(f).or_default() += n;
            }
        }
        for (k, (a, b)) in other.caps {
            let c = self.caps.entry(k).or_default();
            c.0 += a;
            c.1 += b;
        }
        for (k, (a, b)) in other.proper {
            let c = self.proper.entry(k).or_default();
            c.0 += a;
            c.1 += b;
        }
        for (k, (a, b)) in other.roles {
            let c = self.roles.entry(k).or_default();
            c.0 += a;
            c.1 += b;
        }
    }

    /// The form shown for one word key.
    pub fn show(&self, key: &str) -> String {
        let form = self
            .forms
            .get(key)
            .and_then(|forms| {
                forms
                    .iter()
                    .max_by(|a, b| {
                        a.1.cmp(b.1)
                            .then(b.0.len().cmp(&a.0.len()))
                            .then(b.0.cmp(a.0))
                    })
                    .map(|(f, _)| f.clone())
            })
            .unwrap_or_else(|| key.to_string());
        match self.caps.get(key) {
            Some(&(caps, all)) if 2 * caps > all => form.to_uppercase(),
            _ if self.is_proper(key) => {
                let mut c = form.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect())
                    .unwrap_or_default()
            }
            _ => form,
        }
    }

    /// Whether a word key is a name: capitalised in most of its uses where case tells.
    pub fn is_proper(&self, key: &str) -> bool {
        self.proper
            .get(key)
            .is_some_and(|&(yes, all)| all >= 2 && 3 * yes >= 2 * all)
    }

    /// Whether every word of a key is a name or an acronym ("Red Sox", "IBM").
    pub fn is_name(&self, keys: &str) -> bool {
        keys.split(' ')
            .all(|k| self.is_proper(k) || self.caps.get(k).is_some_and(|&(c, all)| 2 * c > all))
    }

    /// The form shown for a key of several words (keys joined by spaces).
    pub fn show_all(&self, keys: &str) -> String {
        keys.split(' ')
            .map(|k| self.show(k))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lowers(text: &str) -> Vec<Vec<String>> {
        segments(text)
            .into_iter()
            .map(|s| s.into_iter().map(|w| w.lower).collect())
            .collect()
    }

    #[test]
    fn roots_join_a_word_and_its_derived_forms() {
        for (a, b) in [
            ("fund", "funding"),
            ("prices", "pricing"),
            ("startups", "startup"),
            ("releases", "released"),
        ] {
            assert_eq!(root(a), root(b), "{a} {b}");
        }
        for (a, b) in [("fun", "funding"), ("price", "profit"), ("chip", "chin")] {
            assert_ne!(root(a), root(b), "{a} {b}");
        }
        assert_eq!(root("ai"), "ai");
    }

    #[test]
    fn lists_parse_and_judge_words() {
        let v = Vocab::default();
        let w = |s: &str| word(s);
        assert_eq!(v.kind(&w("Reuters")), Kind::Filler);
        assert_eq!(v.kind(&w("Inc")), Kind::Filler);
        assert_eq!(v.kind(&w("the")), Kind::Stop);
        assert_eq!(v.kind(&w("2004")), Kind::Filler);
        assert_eq!(v.kind(&w("x")), Kind::Filler);
        assert_eq!(v.kind(&w("new")), Kind::Inside);
        assert_eq!(
            v.kind(&w("companies")),
            Kind::Filler,
            "folded onto a listed word"
        );
        assert_eq!(v.kind(&w("3D")), Kind::Content);
        assert_eq!(v.kind(&w("5G")), Kind::Content);
        for amount in ["1B", "10m", "3rd", "90s", "2.5bn"] {
            assert_eq!(v.kind(&w(amount)), Kind::Filler, "{amount}");
        }
        assert_eq!(v.kind(&w("chip")), Kind::Content);
        let extra = Vocab::new(["cloud".to_string()].into());
        assert_eq!(extra.kind(&w("Clouds")), Kind::Filler);
        assert_eq!(v.kind(&w("quot")), Kind::Filler);
        assert_eq!(v.kind(&w("said")), Kind::Filler);
    }

    #[test]
    fn segments_split_at_punctuation_and_keep_joined_words() {
        assert_eq!(
            lowers("Apple's data-center plan: U.S. chips (don't) sell"),
            vec![
                vec!["apple", "data-center", "plan"],
                vec!["u.s", "chips"],
                vec!["dont"],
                vec!["sell"]
            ]
        );
        assert_eq!(
            lowers("Reuters - GPU deal"),
            vec![vec!["reuters"], vec!["gpu", "deal"]]
        );
        assert!(segments("!!! ??? ...").is_empty());
        assert_eq!(lowers("東京 株価"), vec![vec!["東京", "株価"]]);
    }

    #[test]
    fn variants_fold_to_one_key() {
        for (a, b) in [
            ("startups", "startup"),
            ("companies", "company"),
            ("batteries", "battery"),
            ("searches", "search"),
            ("boxes", "box"),
            ("data-centers", "data-center"),
            ("chips", "chip"),
            ("pokémon", "pokemon"),
            ("café", "cafe"),
        ] {
            assert_eq!(fold(a), fold(b), "{a} / {b}");
        }
        for w in [
            "news", "gas", "virus", "analysis", "business", "ios", "series",
        ] {
            assert_eq!(fold(w), w, "{w} is not a plural");
        }
    }

    #[test]
    fn surfaces_show_the_most_written_form() {
        let mut s = Surfaces::default();
        for raw in ["startups", "startups", "startup", "AI", "AI", "ai"] {
            s.add(&word(raw));
        }
        for seg in segments("NEW YORK (Reuters) - New York stocks") {
            seg.iter().for_each(|w| s.add(w));
        }
        assert_eq!(
            s.show("york"),
            "york",
            "a dateline is not an acronym (nor one sighting a name)"
        );
        for seg in segments("Shares of Microsoft rose as the market for cloud services grew. Shares in Microsoft fell. OIL PRICES SOAR") {
            s.observe(&seg);
        }
        assert_eq!(s.show_all("microsoft cloud"), "Microsoft cloud");
        assert!(s.is_name("microsoft") && !s.is_name("microsoft cloud"));
        assert_eq!(s.show("oil"), "oil", "an all-caps headline tells nothing");
        for seg in segments(
            "regulator blocks the merger. court blocks a deal. it blocks an app. red blocks",
        ) {
            s.observe(&seg);
        }
        assert!(s.verbish("block"));
        assert!(!s.verbish("merger") && !s.verbish("court"), "nouns");
        assert_eq!(s.show("startup"), "startups");
        assert_eq!(s.show("ai"), "AI");
        assert_eq!(s.show_all("ai startup"), "AI startups");
    }
}
