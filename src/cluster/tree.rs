//! The topic tree: topics merged two at a time, bottom-up, by Ward's criterion over their mean
//! vectors weighted by their sizes (so a merge costs what merging those documents would add to
//! the within-topic sum of squares), found with the nearest-neighbour chain (Murtagh 1983; the
//! same order as SciPy's `linkage(method="ward")`, `scipy/cluster/_hierarchy.pyx`).
//!
//! Node ids: the leaves are the topics `0..k`; merge `i` (in order of distance) makes node `k + i`.

use rayon::prelude::*;

use super::{means, Assignments, ClusterError, Clustering};
use crate::matrix::Matrix;
use crate::setting::Setting;

/// One merge of two nodes into node `leaves + i`.
#[derive(Clone, Debug, PartialEq)]
pub struct Merge {
    pub left: usize,
    pub right: usize,
    /// Ward's linkage distance as SciPy reports it: √(2 × the rise in the within-topic sum of
    /// squares), never below a child's.
    pub distance: f64,
    /// Documents under the new node.
    pub size: usize,
}

/// The merges over `leaves` topics, in order of distance (`leaves - 1` of them, none for one
/// topic).
#[derive(Clone, Debug, PartialEq)]
pub struct Tree {
    pub leaves: usize,
    pub leaf_sizes: Vec<usize>,
    pub merges: Vec<Merge>,
}

/// An earlier clustering's topics (`labels`, a topic per row of `data` or none) merged along
/// their tree down to `to` topics (renumbered by size). More than the topics there are is an
/// error; as many keeps them (renumbered).
pub fn reduce(
    data: &Matrix,
    labels: Vec<Option<usize>>,
    to: usize,
) -> Result<Clustering, ClusterError> {
    let earlier = Assignments::from_labels(labels);
    if to > earlier.topics {
        return Err(ClusterError::ReduceUp {
            to,
            topics: earlier.topics,
            setting: Setting::ReduceTo,
        });
    }
    let sizes: Vec<usize> = earlier.members().iter().map(Vec::len).collect();
    let tree = Tree::ward(&means(data, &earlier), &sizes);
    let group = tree.cut(to);
    let merged = earlier.labels.iter().map(|l| l.map(|t| group[t])).collect();
    Ok(Clustering {
        assignments: Assignments::from_labels(merged),
        k_scores: Vec::new(),
        reassigned: 0,
    })
}

/// A node while the chain runs: its mean, size, representative leaf and the distance it was
/// made at.
struct Live {
    mean: Vec<f64>,
    size: f64,
    leaf: usize,
    made_at: f64,
}

/// Ward's merge cost of two nodes: `|a| |b| / (|a| + |b|) × ‖mean a − mean b‖²`.
fn cost(a: &Live, b: &Live) -> f64 {
    let gap: f64 = a
        .mean
        .iter()
        .zip(&b.mean)
        .map(|(x, y)| (x - y).powi(2))
        .sum();
    a.size * b.size / (a.size + b.size) * gap
}

impl Tree {
    /// The tree over topics with mean vectors `means` (a row each) and `sizes` documents. An empty
    /// topic cannot be merged into anything meaningful: sizes of 0 count as 1.
    pub fn ward(means: &Matrix, sizes: &[usize]) -> Tree {
        let k = sizes.len().min(means.rows());
        let mut nodes: Vec<Option<Live>> = (0..k)
            .map(|t| {
                Some(Live {
                    mean: means.row(t).iter().map(|&v| f64::from(v)).collect(),
                    size: sizes[t].max(1) as f64,
                    leaf: t,
                    made_at: 0.0,
                })
            })
            .collect();
        // Merges as the chain finds them, by the leaves that stand for their two nodes.
        let mut found: Vec<(usize, usize, f64)> = Vec::with_capacity(k.saturating_sub(1));
        let mut chain: Vec<usize> = Vec::new();
        while found.len() + 1 < k {
            if chain.is_empty() {
                let first = nodes
                    .iter()
                    .position(Option::is_some)
                    .expect("two live nodes");
                chain.push(first);
            }
            loop {
                let tip = *chain.last().expect("a chain");
                let before = chain.len().checked_sub(2).map(|i| chain[i]);
                let (next, _) = nearest(&nodes, tip, before);
                if Some(next) == before {
                    break;
                }
                chain.push(next);
            }
            let a = chain.pop().expect("tip");
            let b = chain.pop().expect("its nearest");
            let (na, nb) = (
                nodes[a].take().expect("live"),
                nodes[b].take().expect("live"),
            );
            let height = (2.0 * cost(&na, &nb))
                .sqrt()
                .max(na.made_at)
                .max(nb.made_at);
            found.push((na.leaf, nb.leaf, height));
            let size = na.size + nb.size;
            let mean = na
                .mean
                .iter()
                .zip(&nb.mean)
                .map(|(x, y)| (x * na.size + y * nb.size) / size)
                .collect();
            nodes.push(Some(Live {
                mean,
                size,
                leaf: na.leaf.min(nb.leaf),
                made_at: height,
            }));
        }
        // In order of distance (ties: as found, so children still come before parents), then
        // numbered by replaying them over the leaves.
        found.sort_by(|x, y| x.2.total_cmp(&y.2));
        let leaf_sizes: Vec<usize> = sizes[..k].to_vec();
        let mut sets = Sets::new(k);
        let mut node_size: Vec<usize> = leaf_sizes.clone();
        let merges = found
            .into_iter()
            .enumerate()
            .map(|(i, (x, y, distance))| {
                let (left, right) = (sets.node(x), sets.node(y));
                let (left, right) = (left.min(right), left.max(right));
                let size = node_size[left] + node_size[right];
                node_size.push(size);
                sets.join(x, y, k + i);
                Merge {
                    left,
                    right,
                    distance,
                    size,
                }
            })
            .collect();
        Tree {
            leaves: k,
            leaf_sizes,
            merges,
        }
    }

    /// Nodes, leaves and merged ones.
    pub fn nodes(&self) -> usize {
        self.leaves + self.merges.len()
    }

    /// The group (`0..n`) of each leaf when the tree is cut into `n` groups (1 ≤ n ≤ leaves; an
    /// `n` outside is clamped), groups numbered by their smallest leaf.
    pub fn cut(&self, n: usize) -> Vec<usize> {
        let n = n.clamp(1.min(self.leaves), self.leaves);
        let mut sets = Sets::new(self.leaves);
        let leaf_of = self.first_leaves();
        for (i, m) in self.merges.iter().take(self.leaves - n).enumerate() {
            sets.join(leaf_of[m.left], leaf_of[m.right], self.leaves + i);
        }
        let mut group = vec![usize::MAX; self.leaves];
        let mut next = 0;
        let roots: Vec<usize> = (0..self.leaves).map(|t| sets.root(t)).collect();
        let mut named = std::collections::HashMap::new();
        for (t, root) in roots.into_iter().enumerate() {
            group[t] = *named.entry(root).or_insert_with(|| {
                next += 1;
                next - 1
            });
        }
        group
    }

    /// The leaves under each node, in order.
    pub fn leaves_under(&self) -> Vec<Vec<usize>> {
        let mut out: Vec<Vec<usize>> = (0..self.leaves).map(|t| vec![t]).collect();
        for m in &self.merges {
            let mut both = [out[m.left].clone(), out[m.right].clone()].concat();
            both.sort_unstable();
            out.push(both);
        }
        out
    }

    /// Each node's parent (`None`: the root).
    pub fn parents(&self) -> Vec<Option<usize>> {
        let mut out = vec![None; self.nodes()];
        for (i, m) in self.merges.iter().enumerate() {
            out[m.left] = Some(self.leaves + i);
            out[m.right] = Some(self.leaves + i);
        }
        out
    }

    /// The smallest leaf under each node.
    fn first_leaves(&self) -> Vec<usize> {
        let mut out: Vec<usize> = (0..self.leaves).collect();
        for m in &self.merges {
            out.push(out[m.left].min(out[m.right]));
        }
        out
    }
}

/// The live node nearest `tip` (ties: `before`, the node the chain came from, then the lowest
/// id), and its cost.
fn nearest(nodes: &[Option<Live>], tip: usize, before: Option<usize>) -> (usize, f64) {
    let here = nodes[tip].as_ref().expect("live tip");
    let best = nodes
        .par_iter()
        .enumerate()
        .filter(|&(i, n)| i != tip && n.is_some())
        .map(|(i, n)| (i, cost(here, n.as_ref().expect("live"))))
        .reduce(
            || (usize::MAX, f64::INFINITY),
            |x, y| match x.1.total_cmp(&y.1) {
                std::cmp::Ordering::Less => x,
                std::cmp::Ordering::Greater => y,
                std::cmp::Ordering::Equal => (x.0.min(y.0), x.1),
            },
        );
    match before {
        Some(b) if cost(here, nodes[b].as_ref().expect("live")) <= best.1 => (b, best.1),
        _ => best,
    }
}

/// Union-find over leaves that remembers which node each set is.
struct Sets {
    parent: Vec<usize>,
    node: Vec<usize>,
}

impl Sets {
    fn new(n: usize) -> Self {
        Self {
            parent: (0..n).collect(),
            node: (0..n).collect(),
        }
    }

    fn root(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    /// The node the set of leaf `x` is now.
    fn node(&mut self, x: usize) -> usize {
        let r = self.root(x);
        self.node[r]
    }

    fn join(&mut self, x: usize, y: usize, node: usize) {
        let (rx, ry) = (self.root(x), self.root(y));
        self.parent[ry] = rx;
        self.node[rx] = node;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(points: &[f32], sizes: &[usize]) -> Tree {
        Tree::ward(&Matrix::new(points.to_vec(), 1).unwrap(), sizes)
    }

    #[test]
    fn merges_the_cheapest_pair_first_with_scipys_heights() {
        // Points 0, 1, 10, 12 (one document each): {0,1} costs ½·1 = 0.5 (height 1), {10,12}
        // ½·4 = 2 (height 2), then the pairs (means 0.5 and 11): 2·2/4 · 10.5² = 110.25, height
        // √220.5 — what scipy.cluster.hierarchy.linkage([[0],[1],[10],[12]], "ward") gives.
        let t = tree(&[10., 0., 12., 1.], &[1, 1, 1, 1]);
        let got: Vec<(usize, usize, usize)> =
            t.merges.iter().map(|m| (m.left, m.right, m.size)).collect();
        assert_eq!(got, vec![(1, 3, 2), (0, 2, 2), (4, 5, 4)]);
        let heights: Vec<f64> = t.merges.iter().map(|m| m.distance).collect();
        assert!((heights[0] - 1.0).abs() < 1e-12, "{heights:?}");
        assert!((heights[1] - 2.0).abs() < 1e-12, "{heights:?}");
        assert!((heights[2] - 220.5f64.sqrt()).abs() < 1e-9, "{heights:?}");
        assert_eq!(t.cut(2), vec![0, 1, 0, 1]);
        assert_eq!(t.cut(3), vec![0, 1, 2, 1]);
        assert_eq!(t.cut(1), vec![0; 4]);
        assert_eq!(t.cut(4), vec![0, 1, 2, 3]);
        assert_eq!(
            t.parents(),
            vec![Some(5), Some(4), Some(5), Some(4), Some(6), Some(6), None]
        );
        assert_eq!(t.leaves_under()[6], vec![0, 1, 2, 3]);
    }

    #[test]
    fn sizes_weigh_the_merges() {
        // 0 and 3 are as far apart as 3 and 6, but 6 holds 100 documents: merging it with 3
        // would cost 100/101 · 9 ≈ 8.9, merging 0 with 3 only 4.5.
        let t = tree(&[0., 3., 6.], &[1, 1, 100]);
        assert_eq!((t.merges[0].left, t.merges[0].right), (0, 1));
        let t = tree(&[0., 3., 6.], &[100, 1, 1]);
        assert_eq!((t.merges[0].left, t.merges[0].right), (1, 2));
    }

    #[test]
    fn one_topic_and_identical_topics() {
        let t = tree(&[1.], &[5]);
        assert!(t.merges.is_empty());
        assert_eq!(t.cut(1), vec![0]);
        assert_eq!(t.cut(3), vec![0]);
        let t = tree(&[2., 2., 2.], &[1, 2, 3]);
        assert_eq!(t.merges.len(), 2);
        assert!(t.merges.iter().all(|m| m.distance == 0.0));
        assert_eq!(t.merges[1].size, 6);
        assert_eq!(t.cut(1), vec![0, 0, 0]);
    }

    #[test]
    fn heights_never_fall_and_every_cut_has_its_count() {
        let mut rng = crate::cluster::rng::Rng::new(3);
        let points: Vec<f32> = (0..60 * 4)
            .map(|_| rng.below(1000) as f32 / 100.0)
            .collect();
        let sizes: Vec<usize> = (0..60).map(|i| 1 + i % 7).collect();
        let t = Tree::ward(&Matrix::new(points, 4).unwrap(), &sizes);
        assert_eq!(t.merges.len(), 59);
        assert!(t.merges.windows(2).all(|w| w[0].distance <= w[1].distance));
        assert_eq!(t.merges.last().unwrap().size, sizes.iter().sum::<usize>());
        for n in 1..=60 {
            let cut = t.cut(n);
            let groups: std::collections::HashSet<usize> = cut.iter().copied().collect();
            assert_eq!(groups.len(), n);
            assert!(cut.iter().all(|&g| g < n));
        }
        // Each merge's children were made before it.
        for (i, m) in t.merges.iter().enumerate() {
            assert!(m.left < 60 + i && m.right < 60 + i && m.left != m.right);
        }
    }
}
