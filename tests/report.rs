//! report.html (issue 15, part 4) opened in a real headless browser (Debian's `chromium`,
//! installed by tests/setup.sh): no console message, as many bubbles as topics, the table and
//! the tree whole, a screenshot that is not blank; and the fallbacks of part 5 (one topic, all
//! centroids in one place, no dates, unreadable dates, one period, a title holding markup, HDBSCAN
//! noise) drawn without an error. A machine without chromium says "skipped".

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use arrow_array::cast::AsArray;
use common::{cluster_sample, model_dir, newsclust, Table, SAMPLE};
use newsclust::io::report_html::{render, ReportInput, MAX_CELLS};
use newsclust::topics::hierarchy::Node;
use newsclust::topics::over_time::Period;
use newsclust::topics::Topic;

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::var_os("PATH")?
            .to_str()?
            .split(':')
            .map(|dir| Path::new(dir).join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        eprintln!("skipped: no chromium on PATH (tests/setup.sh installs Debian's)");
    }
    found
}

/// What the browser made of a page: the DOM after its scripts ran, and the console's messages
/// (log lines and uncaught errors alike).
struct Opened {
    dom: String,
    console: Vec<String>,
}

fn browser(chromium: &Path, page: &Path, extra: &[String]) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium starts");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn open(chromium: &Path, page: &Path) -> Opened {
    let (dom, stderr) = browser(chromium, page, &["--dump-dom".into()]);
    let console = stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    Opened { dom, console }
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// The page's parts: bubbles, tree leaves, table rows, lines and dots over time.
fn marks(o: &Opened) -> (usize, usize, usize) {
    (
        count(&o.dom, "class=\"mark"),
        count(&o.dom, "class=\"leaf\""),
        count(&o.dom, "data-row=\""),
    )
}

fn clean(o: &Opened) {
    assert!(o.console.is_empty(), "console: {:#?}", o.console);
    assert!(o.dom.contains("id=\"summary\">"), "the page was drawn");
}

fn cluster(out: &Path, extra: &[&str]) {
    let run = cluster_sample(out, extra);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// The share of a screenshot's pixels that are not the background, and its distinct colours
/// (read by the test Python's Pillow), or why it cannot tell.
fn screenshot_ink(png: &Path) -> Result<(f64, usize), String> {
    let python = std::env::var_os("NEWSCLUST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/python")
        });
    if !python.exists() {
        return Err(format!("no test Python at {}", python.display()));
    }
    // Colour counts once (getcolors), the background the commonest colour.
    let script = "import sys\nfrom PIL import Image\nim = Image.open(sys.argv[1]).convert('RGB')\n\
                  colours = im.getcolors(1 << 24)\nbg = max(colours)[1]\n\
                  ink = sum(n for n, c in colours if max(abs(a - b) for a, b in zip(c, bg)) > 24)\n\
                  print(ink / (im.width * im.height), len(colours))\n";
    let out = Command::new(&python)
        .args(["-c", script])
        .arg(png)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace();
    let ink = it.next().and_then(|v| v.parse().ok()).ok_or("no ink")?;
    let colours = it.next().and_then(|v| v.parse().ok()).ok_or("no colours")?;
    Ok((ink, colours))
}

#[test]
fn the_sample_report_shows_every_topic_in_a_browser() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    cluster(&out, &["--k", "8"]);
    let page = out.join("report.html");
    let opened = open(&chromium, &page);
    clean(&opened);
    let topics = Table::read(&out.join("topics.parquet"));
    assert_eq!(topics.rows(), 8);
    assert_eq!(marks(&opened), (8, 8, 8));
    // Each topic's name, and the title of its nearest document, are on the page.
    for label in topics.strings("label").iter().flatten() {
        assert!(opened.dom.contains(label.as_str()), "{label}");
    }
    let docs = Table::read(&out.join("documents.parquet"));
    let reps = topics.batches[0]
        .column_by_name("representative_ids")
        .unwrap()
        .as_list::<i32>()
        .value(0);
    let nearest = reps.as_string::<i32>().value(0);
    let row = docs
        .strings("id")
        .iter()
        .position(|id| id.as_deref() == Some(nearest));
    let title = docs.strings("title")[row.expect("the representative's row")]
        .clone()
        .unwrap();
    assert!(opened.dom.contains(&title), "{title}");
    // The sample has dates: the five largest topics are drawn over its periods, a dot each.
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    let periods = run["dates"]["periods"].as_u64().unwrap() as usize;
    assert!(periods > 1);
    assert_eq!(count(&opened.dom, "class=\"line\""), 5);
    assert_eq!(count(&opened.dom, "data-cell=\""), 5 * periods);
    // A screenshot with something drawn on it.
    let png = dir.path().join("shot.png");
    browser(
        &chromium,
        &page,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1280,2000".into(),
        ],
    );
    assert!(std::fs::metadata(&png).unwrap().len() > 10_000);
    match screenshot_ink(&png) {
        Ok((ink, colours)) => {
            assert!(ink > 0.05, "{ink} of the pixels drawn");
            assert!(colours > 50, "{colours} colours");
        }
        Err(why) => eprintln!("skipped: the screenshot's pixels ({why})"),
    }
}

#[test]
fn hdbscan_noise_gets_no_bubble_and_one_topic_is_drawn_alone() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    for (name, args) in [
        (
            "hdbscan",
            vec!["--algorithm", "hdbscan", "--reassign-outliers", "false"],
        ),
        ("one", vec!["--k", "1"]),
    ] {
        let out = dir.path().join(name);
        cluster(&out, &args);
        let opened = open(&chromium, &out.join("report.html"));
        clean(&opened);
        let topics = Table::read(&out.join("topics.parquet")).rows();
        assert_eq!(marks(&opened), (topics, topics, topics), "{name}");
        let docs = Table::read(&out.join("documents.parquet"));
        let noise = docs
            .strings("topic_label")
            .iter()
            .filter(|l| l.is_none())
            .count();
        if name == "hdbscan" {
            assert!(noise > 0, "the sample leaves some noise");
            assert!(
                opened.dom.contains(&format!("{noise} unassigned")),
                "noise counted"
            );
        } else {
            assert_eq!(topics, 1);
            assert_eq!(count(&opened.dom, "data-node=\""), 0, "no merge");
        }
    }
}

/// The sample with its articles changed by `change` (the JSON of each), written to `path`.
fn sample_with(path: &Path, change: impl Fn(&mut serde_json::Value)) {
    let text = std::fs::read_to_string(SAMPLE).unwrap();
    let mut out = String::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        change(&mut v);
        out.push_str(&v.to_string());
        out.push('\n');
    }
    std::fs::write(path, out).unwrap();
}

fn run_on(input: &Path, out: &Path, k: &str) {
    let model = model_dir();
    let run = newsclust(&[
        "run",
        "-q",
        "--input",
        s(input),
        "--model",
        s(&model),
        "--k",
        k,
        "--out",
        s(out),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// How a case changes each article of the sample.
type Change = fn(&mut serde_json::Value);

#[test]
fn dates_missing_unreadable_or_all_in_one_period() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, Change); 3] = [
        ("equal", |v| v["date"] = "2026-03-01 09:30:00".into()),
        ("missing", |v| {
            v.as_object_mut().unwrap().remove("date");
        }),
        ("unreadable", |v| v["date"] = "some day soon".into()),
    ];
    for (name, change) in cases {
        let input = dir.path().join(format!("{name}.jsonl"));
        sample_with(&input, change);
        let out = dir.path().join(name);
        run_on(&input, &out, "4");
        let opened = open(&chromium, &out.join("report.html"));
        clean(&opened);
        assert_eq!(marks(&opened), (4, 4, 4), "{name}");
        match name {
            "equal" => {
                // One period: each line a single dot.
                assert_eq!(count(&opened.dom, "class=\"line\""), 4);
                assert_eq!(count(&opened.dom, "data-cell=\""), 4);
            }
            "missing" => assert!(opened.dom.contains("carry no dates"), "{name}"),
            _ => assert!(opened.dom.contains("could be read"), "{name}"),
        }
    }
}

fn topic(id: usize, size: usize) -> Topic {
    Topic {
        id,
        label: format!("topic {id} label"),
        keyword_label: format!("kw{id}"),
        guided_label: None,
        guided_similarity: None,
        phrase: Some(format!("phrase of topic {id}")),
        phrase_similarity: Some(0.5),
        theme: (id % 3 == 0).then(|| "chip supply".to_string()),
        theme_similarity: None,
        keywords: (0..10).map(|j| format!("word{id}x{j}")).collect(),
        keyword_scores: vec![0.1; 10],
        size,
        share: size as f64 / 100_000.0,
        centroid: vec![0.0; 4],
        representatives: vec![0, 1, 2],
        representative_ids: vec!["a".into(), "b".into(), "c".into()],
    }
}

/// A tree over `k` topics merging neighbours pairwise, level by level.
fn tree(topics: &[Topic]) -> Vec<Node> {
    let mut nodes: Vec<Node> = topics
        .iter()
        .map(|t| Node {
            id: t.id,
            parent: None,
            children: Vec::new(),
            distance: 0.0,
            size: t.size,
            label: t.label.clone(),
            keywords: Vec::new(),
            theme: None,
            topic_ids: vec![t.id],
        })
        .collect();
    let mut level: Vec<usize> = (0..topics.len()).collect();
    let mut distance = 1.0;
    while level.len() > 1 {
        let mut next = Vec::new();
        for pair in level.chunks(2) {
            if let [a, b] = pair {
                let id = nodes.len();
                let mut topic_ids = nodes[*a].topic_ids.clone();
                topic_ids.extend(nodes[*b].topic_ids.clone());
                nodes[*a].parent = Some(id);
                nodes[*b].parent = Some(id);
                nodes.push(Node {
                    id,
                    parent: None,
                    children: vec![*a, *b],
                    distance,
                    size: nodes[*a].size + nodes[*b].size,
                    label: format!("merged {id}"),
                    keywords: Vec::new(),
                    theme: None,
                    topic_ids,
                });
                next.push(id);
            } else {
                next.push(pair[0]);
            }
        }
        level = next;
        distance += 1.0;
    }
    nodes
}

#[test]
fn a_thousand_topics_stay_light_and_coinciding_centroids_are_spread() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut topics: Vec<Topic> = (0..1000).map(|i| topic(i, 2000 - i)).collect();
    let mut titles: Vec<Vec<String>> = (0..1000)
        .map(|i| {
            (0..3)
                .map(|j| format!("title {j} of topic {i} {}", "x".repeat(300)))
                .collect()
        })
        .collect();
    // Markup in a name or a title stays text.
    topics[0].label = "</script><b id=\"injected\">bold</b> & co".into();
    titles[0][0] = "a <!-- comment <script>x</script> \u{2028} title".into();
    let positions: Vec<[f32; 2]> = (0..1000)
        .map(|i| [(i as f32 * 0.37).sin(), (i as f32 * 0.11).cos()])
        .collect();
    let nodes = tree(&topics);
    let periods: Vec<Period> = (0..1000)
        .flat_map(|t| {
            (0..60).map(move |p| Period {
                topic: t,
                start: 20_000 + 30 * p,
                count: 3,
                share: 0.01,
                keywords: vec![
                    "alpha".into(),
                    "beta".into(),
                    "gamma".into(),
                    "delta".into(),
                ],
            })
        })
        .collect();
    let run = serde_json::json!({"counts": {"documents": 1_000_000, "unassigned": 0}});
    let page = render(&ReportInput {
        topics: &topics,
        titles: &titles,
        positions: &positions,
        nodes: &nodes,
        periods: Some(&periods),
        run: &run,
    });
    // Light: a few megabytes at most (titles cut, 8 keywords, periods of the largest topics).
    eprintln!("1,000 topics: {} bytes", page.len());
    assert!(page.len() < 4_000_000, "{} bytes", page.len());
    assert!(!page.contains(&"x".repeat(200)), "titles are cut");
    let path = dir.path().join("big.html");
    std::fs::write(&path, &page).unwrap();
    let opened = open(&chromium, &path);
    clean(&opened);
    assert_eq!(marks(&opened), (1000, 1000, 1000));
    assert_eq!(
        count(&opened.dom, "data-node=\""),
        999 + 8,
        "merges and group names"
    );
    assert!(
        !opened.dom.contains("<b id=\"injected\""),
        "markup in a name stays text"
    );
    assert!(opened
        .dom
        .contains("&lt;/script&gt;&lt;b id=\"injected\"&gt;bold&lt;/b&gt; &amp; co"));
    assert!(opened
        .dom
        .contains("a &lt;!-- comment &lt;script&gt;x&lt;/script&gt;"));
    let shown = MAX_CELLS / 60;
    assert!(opened
        .dom
        .contains(&format!("{} smallest topics are left out", 1000 - shown)));
    assert!(opened.dom.contains("Too many topics to name each leaf"));

    // Twenty topics whose centroids coincide: spread in a spiral, said so; no dates at all.
    let few = &topics[..20];
    let same = vec![[0.5f32, 0.5]; 20];
    let flat: Vec<Node> = tree(few)
        .into_iter()
        .map(|mut n| {
            n.distance = 0.0;
            n
        })
        .collect();
    let page = render(&ReportInput {
        topics: few,
        titles: &titles[..20],
        positions: &same,
        nodes: &flat,
        periods: None,
        run: &run,
    });
    std::fs::write(&path, &page).unwrap();
    let opened = open(&chromium, &path);
    clean(&opened);
    assert_eq!(marks(&opened).0, 20);
    assert!(opened.dom.contains("laid out in a spiral"));
    let centres: std::collections::HashSet<String> = opened
        .dom
        .split("class=\"mark\"")
        .skip(1)
        .map(|m| {
            let from = m.find(" cx=").unwrap();
            let to = m.find(" r=").unwrap();
            m[from..to].to_string()
        })
        .collect();
    assert_eq!(centres.len(), 20, "every bubble in a place of its own");
}
