//! hierarchy.parquet and --reduce-to (issue 15, part 2) on the sample: the tree's nodes add up
//! to its topics, a reduced output is the tree's cut (from a folder of its own or in place), and
//! bad requests (more topics than there are, other embeddings, no earlier output) stop with
//! exit 2 naming what is wrong.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type};
use arrow_array::Array;
use common::{assert_fatal, cluster_sample, embed_quietly, model_dir, newsclust, Table};

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// One row of hierarchy.parquet.
#[derive(Debug)]
struct Node {
    id: usize,
    parent: Option<usize>,
    children: Vec<usize>,
    distance: f64,
    size: i64,
    label: String,
    topics: BTreeSet<usize>,
}

fn ints(list: &dyn Array, i: usize) -> Vec<usize> {
    let l = list.as_list::<i32>().value(i);
    l.as_primitive::<Int32Type>()
        .values()
        .iter()
        .map(|&v| v as usize)
        .collect()
}

fn nodes(dir: &Path) -> Vec<Node> {
    let t = Table::read(&dir.join("hierarchy.parquet"));
    assert_eq!(
        t.column_names(),
        [
            "node_id",
            "parent_id",
            "children",
            "distance",
            "size",
            "label",
            "theme",
            "keywords",
            "topic_ids"
        ]
    );
    let labels = t.strings("label");
    let mut out = Vec::new();
    for b in &t.batches {
        let col = |name: &str| b.column(b.schema().index_of(name).unwrap()).clone();
        let (id, parent, children, distance, size, topics) = (
            col("node_id"),
            col("parent_id"),
            col("children"),
            col("distance"),
            col("size"),
            col("topic_ids"),
        );
        for i in 0..b.num_rows() {
            let parent = parent.as_primitive::<Int32Type>();
            out.push(Node {
                id: id.as_primitive::<Int32Type>().value(i) as usize,
                parent: (!parent.is_null(i)).then(|| parent.value(i) as usize),
                children: ints(children.as_ref(), i),
                distance: distance.as_primitive::<Float64Type>().value(i),
                size: size.as_primitive::<Int64Type>().value(i),
                label: labels[out.len()].clone().expect("a label"),
                topics: ints(topics.as_ref(), i).into_iter().collect(),
            });
        }
    }
    out
}

/// (topic_id, label, size) of each row of topics.parquet.
type TopicRows = Vec<(usize, String, i64)>;

/// topics.parquet's rows, and documents.parquet's topic per row.
fn topics(dir: &Path) -> (TopicRows, Vec<Option<usize>>) {
    let t = Table::read(&dir.join("topics.parquet"));
    let labels = t.strings("label");
    let ids = t.strings("topic_id");
    let sizes = t.strings("size");
    let rows = (0..t.rows())
        .map(|i| {
            (
                ids[i].as_ref().unwrap().parse().unwrap(),
                labels[i].clone().unwrap(),
                sizes[i].as_ref().unwrap().parse().unwrap(),
            )
        })
        .collect();
    let docs = Table::read(&dir.join("documents.parquet"))
        .strings("topic_id")
        .into_iter()
        .map(|t| t.map(|t| t.parse().unwrap()))
        .collect();
    (rows, docs)
}

/// The topic sets of the tree cut into `n` groups: the first `leaves - n` merges applied.
fn cut(nodes: &[Node], leaves: usize, n: usize) -> BTreeSet<BTreeSet<usize>> {
    let mut groups: Vec<BTreeSet<usize>> = (0..leaves).map(|t| BTreeSet::from([t])).collect();
    for node in &nodes[leaves..leaves + (leaves - n)] {
        groups.retain(|g| !g.is_subset(&node.topics));
        groups.push(node.topics.clone());
    }
    groups.into_iter().collect()
}

#[test]
fn the_tree_covers_the_topics_and_its_merges_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("k8");
    let run = cluster_sample(&out, &["--k", "8", "--seed", "7"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (topics, _) = topics(&out);
    let tree = nodes(&out);
    assert_eq!(tree.len(), 15, "8 topics and 7 merges");
    for (i, n) in tree.iter().enumerate() {
        assert_eq!(n.id, i);
        assert!(!n.label.trim().is_empty());
    }
    // The leaves are the topics, with their labels and sizes.
    for (t, label, size) in &topics {
        let leaf = &tree[*t];
        assert!(leaf.children.is_empty() && leaf.distance == 0.0);
        assert_eq!((&leaf.label, leaf.size), (label, *size));
        assert_eq!(leaf.topics, BTreeSet::from([*t]));
    }
    // Each merged node joins two earlier nodes: sizes and topics add up, distances never fall.
    let mut parents = HashMap::new();
    for n in &tree[8..] {
        let [a, b] = n.children[..] else {
            panic!("{n:?}")
        };
        assert!(a < n.id && b < n.id);
        assert_eq!(n.size, tree[a].size + tree[b].size);
        assert!(tree[a].topics.is_disjoint(&tree[b].topics));
        assert_eq!(n.topics, &tree[a].topics | &tree[b].topics);
        assert!(n.distance >= tree[a].distance && n.distance >= tree[b].distance);
        assert!(n.distance > 0.0);
        parents.insert(a, n.id);
        parents.insert(b, n.id);
    }
    for n in &tree {
        assert_eq!(n.parent, parents.get(&n.id).copied(), "{n:?}");
    }
    let root = &tree[14];
    assert_eq!((root.parent, root.size, root.topics.len()), (None, 304, 8));
    let labels: BTreeSet<String> = tree.iter().map(|n| n.label.to_lowercase()).collect();
    assert_eq!(labels.len(), 15, "labels are unique: {tree:?}");
}

#[test]
fn reduce_to_cuts_the_tree_from_another_folder_or_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let fine = dir.path().join("k8");
    assert_eq!(cluster_sample(&fine, &["--k", "8", "--seed", "7"]).code, 0);
    let tree = nodes(&fine);
    let (_, before) = topics(&fine);
    for n in [1, 3, 5, 8] {
        let out = dir.path().join(format!("to{n}"));
        let run = cluster_sample(&out, &["--reduce-to", &n.to_string(), "--from", s(&fine)]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let (reduced, after) = topics(&out);
        assert_eq!(reduced.len(), n);
        // Every earlier topic went whole into one new topic, and the new topics are the
        // earlier tree's cut at n.
        let mut groups: HashMap<usize, BTreeSet<usize>> = HashMap::new();
        let mut into: HashMap<usize, usize> = HashMap::new();
        for (b, a) in before.iter().zip(&after) {
            let (b, a) = (b.unwrap(), a.unwrap());
            assert_eq!(*into.entry(b).or_insert(a), a, "topic {b} was split");
            groups.entry(a).or_default().insert(b);
        }
        let got: BTreeSet<BTreeSet<usize>> = groups.into_values().collect();
        assert_eq!(got, cut(&tree, 8, n));
        // Topics by size, largest first.
        assert!(reduced.windows(2).all(|w| w[0].2 >= w[1].2));
        assert_eq!(nodes(&out).len(), 2 * n - 1);
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap();
        assert_eq!(report["config"]["reduce"]["to"], n);
        assert_eq!(report["counts"]["topics"], n);
    }
    // In place: --from defaults to --out.
    let run = cluster_sample(&fine, &["--reduce-to", "4"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (reduced, _) = topics(&fine);
    assert_eq!(reduced.len(), 4);
    assert_eq!(nodes(&fine).len(), 7);
}

#[test]
fn bad_reductions_stop_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let fine = dir.path().join("k5");
    assert_eq!(cluster_sample(&fine, &["--k", "5", "--seed", "7"]).code, 0);
    let out = dir.path().join("out");
    let up = cluster_sample(&out, &["--reduce-to", "6", "--from", s(&fine)]);
    assert_fatal(&up, &["--reduce-to 6", "5 topics", "at most 5"]);
    assert!(!out.exists(), "nothing written");
    let zero = cluster_sample(&out, &["--reduce-to", "0", "--from", s(&fine)]);
    assert_fatal(&zero, &["--reduce-to"]);
    let nowhere = dir.path().join("nowhere");
    let missing = cluster_sample(&out, &["--reduce-to", "2", "--from", s(&nowhere)]);
    assert_fatal(&missing, &["nowhere/documents.parquet", "cannot open"]);
    // Embeddings the earlier output was not clustered from.
    let few = dir.path().join("few.jsonl");
    std::fs::write(
        &few,
        "{\"id\": \"a\", \"title\": \"Chip plant opens\", \"text\": \"A new plant.\"}\n\
         {\"id\": \"b\", \"title\": \"Cloud deal signed\", \"text\": \"Two firms agree.\"}\n",
    )
    .unwrap();
    let few_emb = dir.path().join("few.parquet");
    assert_eq!(embed_quietly(&few, &model_dir(), &few_emb).code, 0);
    let other = newsclust(&[
        "cluster",
        "-q",
        "--embeddings",
        s(&few_emb),
        "--out",
        s(&out),
        "--reduce-to",
        "2",
        "--from",
        s(&fine),
    ]);
    assert_fatal(
        &other,
        &["documents.parquet", "304 rows", "the embeddings have 2"],
    );
    assert!(!out.exists(), "nothing written");
    // One topic: a tree of one node, and reducing it to one keeps it.
    let one = dir.path().join("k1");
    assert_eq!(cluster_sample(&one, &["--k", "1"]).code, 0);
    let tree = nodes(&one);
    assert_eq!(tree.len(), 1);
    assert_eq!((tree[0].parent, tree[0].size), (None, 304));
    assert_eq!(cluster_sample(&one, &["--reduce-to", "1"]).code, 0);
    assert_eq!(topics(&one).0.len(), 1);
}
