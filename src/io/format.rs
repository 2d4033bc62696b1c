//! The names of the files and columns newsclust writes, and the keys of its Parquet metadata:
//! one place for what writers write and readers look for.

/// Parquet key-value metadata keys.
pub mod meta {
    pub const VERSION: &str = "newsclust.version";
    pub const MODEL_ID: &str = "newsclust.model_id";
    pub const MODEL_REVISION: &str = "newsclust.model_revision";
    pub const POOLING: &str = "newsclust.pooling";
    pub const NORMALIZE: &str = "newsclust.normalize";
    pub const DIMENSION: &str = "newsclust.dimension";
    pub const MAX_LENGTH: &str = "newsclust.max_length";
    pub const DEVICE: &str = "newsclust.device";
    pub const DTYPE: &str = "newsclust.dtype";
    pub const TEXT_FIELDS: &str = "newsclust.text_fields";
    /// What was placed between the text fields (absent in files of earlier versions: `. `).
    pub const TEXT_SEPARATOR: &str = "newsclust.text_separator";
    pub const ALGORITHM: &str = "newsclust.algorithm";
    pub const SEED: &str = "newsclust.seed";
    /// `I/N`: the file is part I of a job split into N shards.
    pub const SHARD: &str = "newsclust.shard";
    /// `START-END of TOTAL`: the positions of the input's records a shard's part holds.
    pub const SHARD_RECORDS: &str = "newsclust.shard_records";
    /// A sha256 of the input: each file's name and size, how the files were read and the texts
    /// composed (parts of one job carry the same).
    pub const INPUT: &str = "newsclust.input";
    /// Keys of an embeddings file that `run` / `cluster` outputs carry on.
    pub fn describes_model(key: &str) -> bool {
        key.starts_with("newsclust.model") || key == DIMENSION
    }
}

/// The files of a `run` / `cluster` output folder.
pub mod files {
    pub const EMBEDDINGS: &str = "embeddings.parquet";
    pub const DOCUMENTS: &str = "documents.parquet";
    pub const TOPICS: &str = "topics.parquet";
    /// Written when documents carry dates.
    pub const TOPICS_OVER_TIME: &str = "topics_over_time.parquet";
    /// The topic tree.
    pub const HIERARCHY: &str = "hierarchy.parquet";
    pub const RUN_JSON: &str = "run.json";
    /// The page a person opens: topic map, sizes, topics over time, tree, table, run.
    pub const REPORT: &str = "report.html";
}

/// Columns of an embeddings file.
pub mod columns {
    pub const ID: &str = "id";
    pub const TITLE: &str = "title";
    pub const TEXT: &str = "text";
    pub const DATE: &str = "date";
    pub const LABEL: &str = "label";
    pub const N_TOKENS: &str = "n_tokens";
    pub const TRUNCATED: &str = "truncated";
    pub const EMBEDDING: &str = "embedding";

    /// Column names the output itself uses; passed-through input columns with these names get
    /// an `input_` prefix.
    pub const RESERVED: [&str; 8] = [ID, TITLE, TEXT, DATE, LABEL, N_TOKENS, TRUNCATED, EMBEDDING];

    /// The output column of a passed-through input column: `input_` before a name the output
    /// uses.
    pub fn output_name(name: &str) -> String {
        if RESERVED.contains(&name) {
            format!("input_{name}")
        } else {
            name.to_string()
        }
    }
}
