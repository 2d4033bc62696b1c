//! CPU benchmarks of tokenization and embedding (criterion): `cargo bench --bench embed`.
//!
//! Texts: the first 2,000 AG News test articles when `../shared/datasets` is there, else the
//! project's sample. The model: the default one, installed by `models/install-default.sh`.

use std::path::Path;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use newsclust::device::DeviceChoice;
use newsclust::embed::{plan_batches, Embedder};
use newsclust::io::{ArticleReader, FieldMap, ReadOptions, TextSpec};
use newsclust::model::ResolveOptions;
use newsclust::pipeline::LoadedModel;

fn texts() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ag = root.join("../shared/datasets/ag_news/test.csv");
    let (path, options) = if ag.is_file() {
        let options = ReadOptions {
            no_header: true,
            columns: Some(vec!["label".into(), "title".into(), "text".into()]),
            fields: FieldMap::default(),
            limit: Some(2000),
            ..Default::default()
        };
        (ag, options)
    } else {
        (
            root.join("datasets/tech_news_sample.jsonl"),
            ReadOptions::default(),
        )
    };
    ArticleReader::texts(std::slice::from_ref(&path), &options, &TextSpec::default())
        .expect("bench input")
}

fn model() -> LoadedModel {
    let resolve = ResolveOptions {
        models_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("models"),
        offline: true,
        verify: false,
    };
    LoadedModel::load(
        "sentence-transformers/all-MiniLM-L6-v2",
        &resolve,
        None,
        DeviceChoice::Cpu,
    )
    .expect("the default model (run `sh models/install-default.sh`)")
}

fn benches(c: &mut Criterion) {
    let texts = texts();
    let model = model();

    let mut group = c.benchmark_group("tokenize");
    group.throughput(Throughput::Elements(texts.len() as u64));
    group.bench_function(format!("{}_texts", texts.len()), |b| {
        b.iter(|| model.tokenizer.encode_all(&texts).unwrap())
    });
    group.finish();

    // One length-sorted batch of 64 typical texts (the middle of the length distribution).
    let tokens = model.tokenizer.encode_all(&texts).unwrap();
    let lengths: Vec<usize> = tokens.iter().map(|t| t.ids.len()).collect();
    let batches = plan_batches(&lengths, 64, usize::MAX, false);
    let batch = &batches[batches.len() / 2];
    let seqs: Vec<&[u32]> = batch.iter().map(|&i| tokens[i].ids.as_slice()).collect();
    let n_tokens: usize = seqs.iter().map(|s| s.len()).sum();
    let mut group = c.benchmark_group("embed_cpu");
    group.sample_size(10);
    group.throughput(Throughput::Elements(seqs.len() as u64));
    group.bench_function(format!("batch64_{n_tokens}_tokens"), |b| {
        b.iter_batched(
            || seqs.clone(),
            |s| model.encoder.embed(&s).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(embed, benches);
criterion_main!(embed);
