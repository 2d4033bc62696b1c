//! Helpers shared by the integration tests: the installed model, running the binary, reading outputs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use arrow_array::{Array, FixedSizeListArray, Float32Array, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

pub const MODEL_ID: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// The default model as installed by `models/install-default.sh`, or the folder named by
/// `NEWSCLUST_TEST_MODEL` (to run a test binary away from this checkout, e.g. on a GPU machine).
pub fn model_dir() -> PathBuf {
    let dir = match std::env::var_os("NEWSCLUST_TEST_MODEL") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models")
            .join(MODEL_ID),
    };
    assert!(
        dir.join("model.safetensors").is_file(),
        "the default model is not installed at {}: run `sh models/install-default.sh` first",
        dir.display()
    );
    dir
}

/// A copy of the default model folder at `dst` (the weights linked, not copied), then `change`d.
pub fn model_copy(dst: &Path, change: impl FnOnce(&Path)) -> PathBuf {
    let src = model_dir();
    std::fs::create_dir_all(dst.join("1_Pooling")).unwrap();
    for name in [
        "config.json",
        "tokenizer.json",
        "modules.json",
        "sentence_bert_config.json",
        "1_Pooling/config.json",
    ] {
        std::fs::copy(src.join(name), dst.join(name)).unwrap();
    }
    std::os::unix::fs::symlink(src.join("model.safetensors"), dst.join("model.safetensors"))
        .unwrap();
    change(dst);
    dst.to_path_buf()
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<std::process::Output> for Run {
    fn from(out: std::process::Output) -> Self {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// The project's sample, `datasets/tech_news_sample.jsonl`.
pub const SAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/datasets/tech_news_sample.jsonl"
);

/// The sample embedded once for every test of a test binary (in a folder left for the OS to
/// clean).
pub fn sample_embeddings() -> &'static Path {
    static EMB: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    EMB.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let out = dir.join("sample.parquet");
        let run = embed_quietly(Path::new(SAMPLE), &model_dir(), &out);
        assert_eq!(run.code, 0, "{}", run.stderr);
        out
    })
}

/// `newsclust cluster -q` of the embedded sample ([`sample_embeddings`]) into `out`, with `extra`
/// arguments.
pub fn cluster_sample(out: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "cluster".to_string(),
        "-q".to_string(),
        "--embeddings".to_string(),
        sample_embeddings()
            .to_str()
            .expect("UTF-8 path")
            .to_string(),
        "--out".to_string(),
        out.to_str().expect("UTF-8 path").to_string(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    newsclust(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// `newsclust eval --json` of a documents.parquet: its scores against the gold column.
pub fn eval_json(documents: &Path) -> serde_json::Value {
    let run = newsclust(&["eval", "--json", "--documents", documents.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

/// Runs `newsclust ARGS` with the installed models folder.
pub fn newsclust(args: &[&str]) -> Run {
    newsclust_with_env(args, &[])
}

/// `newsclust embed -q` of `input` with the model folder `model` into `out`.
#[allow(dead_code)] // not every test file embeds this way
pub fn embed_quietly(input: &Path, model: &Path, out: &Path) -> Run {
    let path = |p: &Path| p.to_str().expect("UTF-8 path").to_string();
    let (input, model, out) = (path(input), path(model), path(out));
    newsclust(&["embed", "-q", "-i", &input, "-m", &model, "-o", &out])
}

/// Runs `newsclust ARGS` with extra environment variables (offline hub, installed models folder).
pub fn newsclust_with_env(args: &[&str], env: &[(&str, &Path)]) -> Run {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_newsclust"));
    cmd.args(args)
        .env("NEWSCLUST_MODELS", models)
        .env("HF_HUB_OFFLINE", "1")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run newsclust").into()
}

/// The run ended with exit code 2 (fatal) and its stderr says each of `needles`.
pub fn assert_fatal(run: &Run, needles: &[&str]) {
    assert_eq!(run.code, 2, "{}", run.stderr);
    for needle in needles {
        assert!(
            run.stderr.contains(needle),
            "missing {needle:?} in:\n{}",
            run.stderr
        );
    }
}

/// A Parquet file's batches and key-value metadata.
pub struct Table {
    pub batches: Vec<RecordBatch>,
    pub metadata: Vec<(String, String)>,
}

impl Table {
    pub fn read(path: &Path) -> Table {
        let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        let metadata = builder
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .map(|kv| {
                kv.iter()
                    .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default();
        let batches = builder
            .build()
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        Table { batches, metadata }
    }

    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }

    pub fn column_names(&self) -> Vec<String> {
        self.batches[0]
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// A text column (nulls as None).
    pub fn strings(&self, name: &str) -> Vec<Option<String>> {
        let mut out = Vec::new();
        for b in &self.batches {
            let col = b
                .column_by_name(name)
                .unwrap_or_else(|| panic!("no column {name}"));
            let col = arrow_cast::cast(col, &arrow_schema::DataType::Utf8).unwrap();
            let col = col
                .as_any()
                .downcast_ref::<arrow_array::StringArray>()
                .unwrap();
            out.extend((0..col.len()).map(|i| (!col.is_null(i)).then(|| col.value(i).to_string())));
        }
        out
    }

    pub fn embeddings(&self) -> Vec<Vec<f32>> {
        let mut out = Vec::new();
        for b in &self.batches {
            let col = b.column_by_name("embedding").unwrap();
            let list = col.as_any().downcast_ref::<FixedSizeListArray>().unwrap();
            let dim = list.value_length() as usize;
            let values = list
                .values()
                .as_any()
                .downcast_ref::<Float32Array>()
                .unwrap();
            for i in 0..list.len() {
                let start = list.value_offset(i) as usize;
                out.push(values.values()[start..start + dim].to_vec());
            }
        }
        out
    }
}

pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}
