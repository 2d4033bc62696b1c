//! Step 3 of a streamed clustering (see the module above): one pass that gathers, per centre,
//! what naming needs.

use rayon::prelude::*;

use super::{Fitted, BATCH_ROWS};
use crate::cluster::kmeans::LloydPass;
use crate::config::ValidCluster;
use crate::error::Error;
use crate::io::embeddings_in::{DocBatch, EmbeddingsFiles, Want};
use crate::io::{Field, TextSpec};
use crate::pipeline::naming::{text_spec, NamingParts};
use crate::topics::keywords::terms;
use crate::topics::over_time::Cells;
use crate::topics::streamed::{Sampled, Samples};
use crate::topics::vocab::Surfaces;
use crate::topics::KeywordCounts;

/// Documents per topic sampled for phrases and themes: at most this many...
const SAMPLE_PER_TOPIC: usize = 500;
/// ... and at most this many over all topics.
const SAMPLE_TOTAL: usize = 100_000;

/// Step 3's findings, per centre (numbered as k-means numbered them).
pub(super) struct Gathered {
    pub(super) sums: Vec<f64>,
    pub(super) sizes: Vec<u64>,
    pub(super) first: Vec<usize>,
    pub(super) keywords: KeywordCounts,
    pub(super) samples: Vec<Vec<Sampled>>,
    pub(super) cells: Option<Cells>,
}

/// Step 3; `cells`: the (topic, period) cells to count dated documents in.
pub(super) fn gather(
    files: &EmbeddingsFiles,
    config: &ValidCluster,
    fitted: &Fitted,
    cells: Option<Cells>,
    parts: &NamingParts<'_>,
) -> Result<Gathered, Error> {
    let k = fitted.centres.rows();
    let d = fitted.centres.dim();
    let spec = text_spec(&files.metadata);
    let vocab = &parts.keywords.vocab;
    let cap = SAMPLE_PER_TOPIC.min((SAMPLE_TOTAL / k.max(1)).max(16));
    let seed = config.clustering.config().seed;
    let mut out = Gathered {
        sums: vec![0.0; k * d],
        sizes: vec![0; k],
        first: vec![usize::MAX; k],
        keywords: KeywordCounts::new(k),
        samples: Vec::new(),
        cells,
    };
    let mut samples = Samples::new(k, cap, seed);
    let mut pass = LloydPass::new(&fitted.centres, fitted.kmeans.place());
    files.pass(Want::ALL, BATCH_ROWS, |mut batch: DocBatch| {
        batch.vectors.normalize_rows();
        let v = &batch.vectors;
        let (labels, _) = pass.add(v)?;
        let texts: Vec<String> = (0..batch.rows).map(|i| compose(&spec, &batch, i)).collect();
        let found: Vec<(usize, Vec<String>, Surfaces)> = (0..batch.rows)
            .into_par_iter()
            .map(|i| {
                let mut s = Surfaces::default();
                (labels[i], terms(&texts[i], vocab, &mut s), s)
            })
            .collect();
        out.keywords.add_found(found);
        for (i, &c) in labels.iter().enumerate() {
            let row = batch.first + i;
            out.sizes[c] += 1;
            out.first[c] = out.first[c].min(row);
            for (s, x) in out.sums[c * d..(c + 1) * d].iter_mut().zip(v.row(i)) {
                *s += f64::from(*x);
            }
            samples.offer(c, || Sampled {
                row,
                title: batch.titles[i].clone(),
                text: texts[i].clone(),
                vector: v.row(i).to_vec(),
            });
            if let (Some(cells), Some(dates)) = (out.cells.as_mut(), batch.dates.as_ref()) {
                if let Some(day) = dates[i].as_deref().and_then(crate::topics::dates::parse) {
                    cells.add(day, Some(c), &texts[i], vocab);
                }
            }
        }
        Ok::<(), Error>(())
    })?;
    out.samples = samples.into_topics();
    Ok(out)
}

/// Row `i`'s text as the embedding job composed it.
fn compose(spec: &TextSpec, batch: &DocBatch, i: usize) -> String {
    spec.compose_with(|field| match field {
        Field::Id => Some(batch.ids[i].as_str()),
        Field::Title => Some(batch.titles[i].as_str()),
        Field::Text => Some(batch.texts[i].as_str()),
        Field::Date => batch.dates.as_ref().and_then(|d| d[i].as_deref()),
        Field::Label => batch.labels.as_ref().and_then(|l| l[i].as_deref()),
    })
    .unwrap_or_default()
}
