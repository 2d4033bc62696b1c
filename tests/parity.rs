//! Embeddings match sentence-transformers' own output (tests/reference/make_reference.py) through
//! the whole `embed` job: reading, tokenizing, length-sorted batching, the encoder and the writer.

mod common;

use common::{cosine, model_dir, Table};
use newsclust::config::{ComputeConfig, EmbedConfig, InputConfig, ModelSettings};
use newsclust::device::{DeviceChoice, Precision};
use newsclust::embed::{AttentionKernel, Embedder, Forward};
use newsclust::io::{Field, TextSpec};
use newsclust::progress::NoProgress;
use newsclust::Session;

#[derive(serde::Deserialize)]
struct Reference {
    max_seq_length: usize,
    items: Vec<Item>,
}

#[derive(serde::Deserialize)]
struct Item {
    text: String,
    n_tokens: u32,
    embedding: Vec<f32>,
}

fn reference() -> Reference {
    // Compiled in, so the test binary runs away from this checkout too.
    serde_json::from_str(include_str!("reference/minilm_reference.json")).unwrap()
}

#[test]
fn embed_job_matches_sentence_transformers() {
    // The CPU default: padded batches.
    check_job(
        DeviceChoice::Cpu,
        Precision::F32,
        Forward::Auto,
        CUDA_CORES,
        0.999,
    );
}

#[test]
fn packed_forward_matches_sentence_transformers() {
    // The packed pass (no padding; the CUDA default) through its CPU reference ops.
    check_job(
        DeviceChoice::Cpu,
        Precision::F32,
        Forward::Packed,
        CUDA_CORES,
        0.999,
    );
}

#[test]
#[ignore = "needs a CUDA GPU (cargo test --features cuda -- --include-ignored where there is one)"]
fn cuda_matches_sentence_transformers() {
    // The same body on a GPU (never on CI): asked for, it must find one.
    DeviceChoice::Cuda(0)
        .open()
        .expect("a CUDA GPU for this test");
    let tc = AttentionKernel::TensorCores;
    for (precision, forward, attention, tol) in [
        (Precision::F32, Forward::Packed, CUDA_CORES, 0.999),
        (Precision::F32, Forward::Padded, CUDA_CORES, 0.999),
        (Precision::F16, Forward::Packed, CUDA_CORES, 0.99),
        (Precision::Bf16, Forward::Packed, CUDA_CORES, 0.99),
        (Precision::F16, Forward::Packed, tc, 0.99),
        (Precision::Bf16, Forward::Packed, tc, 0.99),
        (Precision::F16, Forward::Padded, CUDA_CORES, 0.99),
    ] {
        eprintln!("cuda {precision:?} {forward:?} {attention:?}");
        check_job(DeviceChoice::Cuda(0), precision, forward, attention, tol);
    }
}

/// Embeds the reference texts with the whole job and compares with sentence-transformers:
/// every cosine ≥ `tol`, same token counts and truncation flags, unit norms, input order.
const CUDA_CORES: AttentionKernel = AttentionKernel::CudaCores;

fn check_job(
    device: DeviceChoice,
    precision: Precision,
    forward: Forward,
    attention: AttentionKernel,
    tol: f64,
) {
    let reference = reference();
    assert!(reference.items.len() >= 24);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("texts.jsonl");
    let lines: Vec<String> = reference
        .items
        .iter()
        .enumerate()
        .map(|(i, it)| serde_json::json!({"id": format!("r{i}"), "text": it.text}).to_string())
        .collect();
    std::fs::write(&input, lines.join("\n")).unwrap();
    let out = dir.path().join("emb.parquet");

    // A small batch size so texts of different lengths share batches and get padded.
    let config = EmbedConfig {
        input: InputConfig {
            text: TextSpec {
                fields: vec![Field::Text],
                separator: " ".into(),
            },
            ..InputConfig::new(&input)
        },
        model: ModelSettings {
            model: model_dir().to_str().unwrap().to_string(),
            ..ModelSettings::default()
        },
        compute: ComputeConfig {
            device,
            precision,
            batch_size: Some(4),
            forward,
            attention,
            ..ComputeConfig::default()
        },
        out: out.clone(),
        ..EmbedConfig::default()
    };
    // The model comes back alive in the session (the command line exits without freeing it):
    // the output must be whole already, and the model (its device, on a GPU) must still embed.
    let (session, embedded) =
        Session::embed(&config.check().unwrap(), false, &mut NoProgress).unwrap();
    let summary = embedded.summary;
    // The reference has texts that are not empty after trimming, so none is skipped.
    assert_eq!(summary.skipped, 0, "{summary:?}");
    assert_eq!(summary.embedded as usize, reference.items.len());
    let model = session.into_model();

    let table = Table::read(&out);
    let ids = table.strings("id");
    let n_tokens = table.strings("n_tokens");
    let truncated = table.strings("truncated");
    let vectors = table.embeddings();
    let mut min_cos = f64::MAX;
    for (i, item) in reference.items.iter().enumerate() {
        assert_eq!(
            ids[i].as_deref(),
            Some(format!("r{i}").as_str()),
            "output keeps input order"
        );
        assert_eq!(
            n_tokens[i].as_deref(),
            Some(item.n_tokens.to_string().as_str()),
            "tokens of {:?}",
            item.text
        );
        let was_cut = item.n_tokens as usize == reference.max_seq_length;
        assert_eq!(
            truncated[i].as_deref() == Some("true"),
            was_cut,
            "truncated flag of item {i}"
        );
        let c = cosine(&vectors[i], &item.embedding);
        min_cos = min_cos.min(c);
        assert!(
            c >= tol,
            "item {i} ({:?}): cosine {c}",
            &item.text[..item.text.len().min(40)]
        );
        let norm: f64 = vectors[i]
            .iter()
            .map(|x| (*x as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "normalized: norm {norm}");
    }
    eprintln!("min cosine against sentence-transformers: {min_cos:.7}");
    let tokens = model
        .tokenizer
        .encode_all(&[&reference.items[0].text, &reference.items[5].text])
        .unwrap();
    let again = model.embed_tokens(&tokens, 2, 1, |_, _| {}).unwrap();
    let dim = model.encoder.dim();
    for (row, i) in [0, 5].into_iter().enumerate() {
        let c = cosine(
            &again[row * dim..(row + 1) * dim],
            &reference.items[i].embedding,
        );
        assert!(c >= tol, "kept model, item {i}: cosine {c}");
    }
    drop(model);
    // The reference truncates two texts past 256 tokens; make sure the test covers that case.
    assert!(
        truncated
            .iter()
            .filter(|t| t.as_deref() == Some("true"))
            .count()
            >= 2
    );
}

/// One batch queued behind another (`SentenceEncoder::set_overlap`; on CUDA the vectors come
/// back asynchronously) leaves every text's vector where it was, and still matches
/// sentence-transformers: on the CPU here, on a GPU below.
#[test]
fn queued_batches_keep_their_vectors() {
    queued_batches_on(&[(DeviceChoice::Cpu, Precision::F32, 1e-6)]);
}

#[test]
#[ignore = "needs a CUDA GPU (cargo test --features cuda -- --include-ignored where there is one)"]
fn queued_batches_keep_their_vectors_on_a_gpu() {
    queued_batches_on(&[
        (DeviceChoice::Cuda(0), Precision::F32, 1e-5),
        (DeviceChoice::Cuda(0), Precision::F16, 1e-2),
    ]);
}

fn queued_batches_on(devices: &[(DeviceChoice, Precision, f32)]) {
    use newsclust::model::ResolveOptions;
    use newsclust::pipeline::LoadedModel;
    let reference = reference();
    let texts: Vec<&str> = reference.items.iter().map(|i| i.text.as_str()).collect();
    for &(device, precision, tol) in devices {
        let dir = model_dir();
        let mut model = LoadedModel::load_as(
            dir.to_str().unwrap(),
            &ResolveOptions::default(),
            None,
            device,
            precision,
        )
        .unwrap();
        let tokens = model.tokenizer.encode_all(&texts).unwrap();
        let dim = model.encoder.dim();
        model.encoder.set_overlap(false);
        let one_by_one = model.embed_tokens(&tokens, 4, 1, |_, _| {}).unwrap();
        model.encoder.set_overlap(true);
        let mut seen = 0;
        let queued = model
            .embed_tokens(&tokens, 4, 1, |texts, _| seen += texts)
            .unwrap();
        assert_eq!(
            seen as usize,
            texts.len(),
            "progress counts every text once"
        );
        assert_eq!(queued.len(), one_by_one.len());
        for (i, item) in reference.items.iter().enumerate() {
            let (a, b) = (
                &queued[i * dim..(i + 1) * dim],
                &one_by_one[i * dim..(i + 1) * dim],
            );
            let worst = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            assert!(
                worst <= tol,
                "{device} {precision:?} text {i}: differs by {worst}"
            );
            assert!(cosine(a, &item.embedding) >= 0.99, "{device} text {i}");
        }
    }
}
