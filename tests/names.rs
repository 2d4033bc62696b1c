//! Topic names (issue 13) with the real model: a hand-built corpus whose right phrase and theme
//! are known, the theme threshold, uniqueness when topics collide, tiny and odd topics, theme
//! files from the command line (good, bad, very long), and the gallery command.

mod common;

use std::path::{Path, PathBuf};

use common::{assert_fatal, model_dir, newsclust, Table};
use newsclust::cluster::Assignments;
use newsclust::config::{ComputeConfig, ModelSettings};
use newsclust::topics::phrase::PhraseParams;
use newsclust::topics::theme::DEFAULT_THRESHOLD;
use newsclust::topics::vocab::Vocab;
use newsclust::topics::{
    build, Corpus, KeywordLabeler, Labelers, ReaderLabeler, ThemeMatcher, Themes, TopicModel,
};
use newsclust::Session;

const SAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/datasets/tech_news_sample.jsonl"
);

fn session() -> Session {
    let model = ModelSettings {
        model: model_dir().to_str().unwrap().to_string(),
        ..ModelSettings::default()
    };
    Session::open(&model, &ComputeConfig::default()).unwrap()
}

/// Names `groups` (each a list of texts, one topic each) with the built-in themes at `threshold`.
fn name(session: &Session, groups: &[&[&str]], threshold: f32) -> TopicModel {
    let texts: Vec<String> = groups
        .iter()
        .flat_map(|g| g.iter().map(|t| t.to_string()))
        .collect();
    let labels: Vec<Option<usize>> = groups
        .iter()
        .enumerate()
        .flat_map(|(t, g)| std::iter::repeat_n(Some(t), g.len()))
        .collect();
    let mut data = session.embed_texts(&texts).unwrap();
    data.normalize_rows();
    let themes = ThemeMatcher::new(Themes::builtin(), session.encoder(), threshold).unwrap();
    let reader = ReaderLabeler {
        encoder: session.encoder(),
        vocab: Vocab::default(),
        params: PhraseParams::default(),
        themes: Some(&themes),
        seen: Default::default(),
    };
    let corpus = Corpus {
        texts: &texts,
        titles: &[],
        data: &data,
    };
    let labelers = Labelers {
        keywords: &KeywordLabeler::default(),
        reader: Some(&reader),
        guided: None,
    };
    build(&corpus, &Assignments::from_labels(labels), 3, &labelers).unwrap()
}

const CHIPS: &[&str] = &[
    "Memory chip shortage deepens as foundries run at full capacity",
    "Carmakers warn the memory chip shortage will cut output again",
    "The memory chip shortage pushes DRAM contract prices higher",
    "Foundry expansion may ease the memory chip shortage next year",
    "Phone makers ration parts during the memory chip shortage",
    "Analysts see no quick end to the memory chip shortage",
];
const FUNDING: &[&str] = &[
    "Robotics startup raises a Series B round led by venture investors",
    "Fintech startup closes a seed round from angel investors",
    "Venture capital firms pour money into a Series A round for a health app",
    "Climate startup raises a growth round to hire engineers",
    "Investors back a Series C round for the logistics startup",
    "Startup raises a seed round to build developer tools",
];
const BREACH: &[&str] = &[
    "Hackers stole customer passwords in a data breach at the retailer",
    "Data breach exposes millions of patient records to hackers",
    "Ransomware gang claims a data breach at the city council",
    "The bank discloses a data breach after hackers used stolen credentials",
    "Hackers exploit an unpatched server in a hotel data breach",
    "Airline says a data breach leaked passenger details to hackers",
];

#[test]
fn a_known_corpus_gets_its_phrase_theme_and_label() {
    let s = session();
    let m = name(&s, &[CHIPS, FUNDING, BREACH], DEFAULT_THRESHOLD);
    let t = &m.topics;
    let phrase = |i: usize| t[i].phrase.clone().unwrap().to_lowercase();
    assert!(phrase(0).contains("chip shortage"), "{:?}", t[0]);
    assert!(phrase(2).contains("data breach"), "{:?}", t[2]);
    let funding = format!("{} {}", phrase(1), t[1].label.to_lowercase());
    assert!(
        ["round", "startup", "venture", "funding"]
            .iter()
            .any(|w| funding.contains(w)),
        "{:?}",
        t[1]
    );
    assert_eq!(t[0].theme.as_deref(), Some("chip supply"));
    assert_eq!(t[1].theme.as_deref(), Some("funding rounds"));
    assert_eq!(t[2].theme.as_deref(), Some("security breaches"));
    for topic in t {
        let words = topic.label.split_whitespace().count();
        assert!((1..=4).contains(&words), "{:?}", topic.label);
        let sim = topic.theme_similarity.unwrap();
        assert!((DEFAULT_THRESHOLD..=1.0).contains(&sim), "{sim}");
    }
}

#[test]
fn the_theme_threshold_decides_which_topics_get_a_theme() {
    let s = session();
    let all = name(&s, &[CHIPS, FUNDING, BREACH], 0.0);
    assert!(
        all.topics.iter().all(|t| t.theme.is_some()),
        "threshold 0: every topic"
    );
    let none = name(&s, &[CHIPS, FUNDING, BREACH], 0.99);
    assert!(
        none.topics.iter().all(|t| t.theme.is_none()),
        "threshold 0.99: none"
    );
    // Between: exactly the topics at or above it keep theirs.
    let mid = all.topics[1].theme_similarity.unwrap();
    let some = name(&s, &[CHIPS, FUNDING, BREACH], mid);
    for (a, b) in all.topics.iter().zip(&some.topics) {
        assert_eq!(
            b.theme.is_some(),
            a.theme_similarity.unwrap() >= mid,
            "{a:?}"
        );
    }
}

#[test]
fn colliding_tiny_and_odd_topics_still_get_distinct_labels() {
    let s = session();
    // Two topics of the same texts; a one-document topic; symbols only; non-English text.
    let m = name(
        &s,
        &[
            CHIPS,
            CHIPS,
            &["Solar farm opens"],
            &["!!! ??? ###", "*** ---"],
            &["東京 株価 上昇", "東京 株価 下落"],
        ],
        DEFAULT_THRESHOLD,
    );
    let labels: Vec<&str> = m.topics.iter().map(|t| t.label.as_str()).collect();
    let unique: std::collections::HashSet<String> =
        labels.iter().map(|l| l.to_lowercase()).collect();
    assert_eq!(unique.len(), labels.len(), "{labels:?}");
    for l in &labels {
        assert!(!l.trim().is_empty(), "{labels:?}");
        assert!(l.split_whitespace().count() <= 4, "{labels:?}");
    }
    // Topics are numbered by size: the two copies, then the two-document ones, then the one.
    assert_eq!(
        m.topics.iter().map(|t| t.size).collect::<Vec<_>>(),
        [6, 6, 2, 2, 1]
    );
    assert!(labels[4].to_lowercase().contains("solar"), "{labels:?}");
    assert!(labels[3].contains("東京"), "{labels:?}");
    assert_eq!(
        labels[2], "topic 2",
        "symbols only: the topic's number, not an empty label"
    );
}

fn cluster_sample(dir: &Path, extra: &[&str]) -> (PathBuf, common::Run) {
    let out = dir.join("out");
    let model = model_dir();
    let mut args = vec![
        "run",
        "-q",
        "--input",
        SAMPLE,
        "--model",
        model.to_str().unwrap(),
        "--k",
        "8",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    (out.clone(), newsclust(&args))
}

#[test]
fn theme_files_replace_turn_off_or_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    // A file of our own: only its names appear; a description past the model's length is fine.
    let mine = dir.path().join("mine.txt");
    let long = "chips foundries wafers ".repeat(400);
    std::fs::write(
        &mine,
        format!("# house themes\nchip news: {long}\nmoney news: startups raise funding rounds\n"),
    )
    .unwrap();
    let (out, run) = cluster_sample(dir.path(), &["--themes", mine.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let themes = Table::read(&out.join("topics.parquet")).strings("theme");
    assert!(
        themes
            .iter()
            .flatten()
            .all(|t| t == "chip news" || t == "money news"),
        "{themes:?}"
    );
    assert!(themes.iter().any(Option::is_some), "{themes:?}");

    // none: no themes at all, names still there.
    let (out, run) = cluster_sample(&dir.path().join("none"), &["--themes", "none"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let topics = Table::read(&out.join("topics.parquet"));
    assert!(topics.strings("theme").iter().all(Option::is_none));
    assert!(topics
        .strings("label")
        .iter()
        .all(|l| l.as_deref().is_some_and(|l| !l.is_empty())));

    // Bad files: exit 2, the file and the line named, nothing written.
    for (name, text, want) in [
        (
            "dup.txt",
            "layoffs: jobs cut\n\nLayoffs: again\n",
            "line 3: theme \"Layoffs\" is already on line 1",
        ),
        ("empty.txt", "# nothing\n\n", "no themes"),
        (
            "colon.txt",
            "layoffs jobs cut\n",
            "line 1: expected `name: description`",
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let sub = dir.path().join(format!("bad-{name}"));
        let (out, run) = cluster_sample(&sub, &["--themes", path.to_str().unwrap()]);
        assert_fatal(&run, &[name, want]);
        assert!(!out.exists(), "no output for a bad themes file");
    }
    let (_, run) = cluster_sample(&dir.path().join("missing"), &["--themes", "missing.txt"]);
    assert_fatal(&run, &["missing.txt", "themes file cannot be read"]);
}

#[test]
fn keyword_naming_needs_no_phrases_or_themes() {
    let dir = tempfile::tempdir().unwrap();
    let (out, run) = cluster_sample(dir.path(), &["--naming", "keywords"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let topics = Table::read(&out.join("topics.parquet"));
    assert!(topics.strings("phrase").iter().all(Option::is_none));
    assert!(topics.strings("theme").iter().all(Option::is_none));
    assert_eq!(topics.strings("label"), topics.strings("keyword_label"));
}

#[test]
fn the_gallery_command_prints_labels_before_and_after() {
    let python = std::env::var_os("NEWSCLUST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/python")
        });
    if !python.exists() {
        eprintln!(
            "skipped: no test Python at {} (tests/setup.sh)",
            python.display()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/names.py");
    let out = std::process::Command::new(&python)
        .arg(&script)
        .args(["--gallery", "--sets", "sample", "--seeds", "7", "--work"])
        .arg(dir.path())
        .arg("--bin")
        .arg(env!("CARGO_BIN_EXE_newsclust"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| size"))
        .collect();
    assert_eq!(rows.len(), 8, "{stdout}");
    // Each row: size, keyword label, label, theme; the label at most four words.
    for r in rows {
        let cells: Vec<&str> = r.trim_matches('|').split('|').map(str::trim).collect();
        assert_eq!(cells.len(), 4, "{r}");
        assert!(cells[0].parse::<usize>().unwrap() > 0);
        assert!(
            (1..=4).contains(&cells[2].split_whitespace().count()),
            "{r}"
        );
    }
}
