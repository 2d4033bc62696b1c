//! What a model folder says about itself: the BERT shape (`config.json`), pooling
//! (`1_Pooling/config.json`), normalization (`modules.json`) and maximum length
//! (`sentence_bert_config.json`).

use std::path::Path;

use super::pooling::{Pooling, PoolingConfig};
use super::{EmbedError, ModelProblem};
use crate::model::ModelFiles;

/// The parts of a Hugging Face BERT `config.json` the encoder needs.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub model_type: Option<String>,
    #[serde(default)]
    pub position_embedding_type: Option<String>,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}

#[derive(serde::Deserialize)]
struct SentenceConfig {
    max_seq_length: Option<usize>,
}

/// Everything needed to embed with a model, read and checked once.
#[derive(Clone, Debug)]
pub struct ModelConfig {
    pub bert: BertConfig,
    pub pooling: Pooling,
    pub normalize: bool,
    /// Tokens per text, special tokens included.
    pub max_length: usize,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, EmbedError> {
    let bad = |problem| EmbedError::Model {
        path: path.to_path_buf(),
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(ModelProblem::Unreadable(e)))?;
    serde_json::from_str(&text).map_err(|e| bad(ModelProblem::Json(e)))
}

impl ModelConfig {
    /// Reads the model's own config files; `max_length` overrides `max_seq_length`.
    pub fn load(files: &ModelFiles, max_length: Option<usize>) -> Result<Self, EmbedError> {
        let bert: BertConfig = read_json(&files.config)?;
        let bad = |problem| EmbedError::Model {
            path: files.config.clone(),
            problem,
        };
        if let Some(kind) = bert.model_type.as_deref() {
            if kind != "bert" {
                return Err(bad(ModelProblem::ModelType(kind.to_string())));
            }
        }
        if bert
            .position_embedding_type
            .as_deref()
            .is_some_and(|t| t != "absolute")
        {
            return Err(bad(ModelProblem::PositionEmbeddings));
        }
        if !matches!(
            bert.hidden_act.as_str(),
            "gelu" | "gelu_new" | "gelu_pytorch_tanh" | "relu"
        ) {
            return Err(bad(ModelProblem::Activation(bert.hidden_act.clone())));
        }
        if bert.num_attention_heads == 0 || bert.hidden_size % bert.num_attention_heads != 0 {
            return Err(bad(ModelProblem::Heads));
        }
        let pooling = match &files.pooling {
            Some(path) => {
                let cfg: PoolingConfig = read_json(path)?;
                Pooling::try_from(cfg).map_err(|p| EmbedError::Model {
                    path: path.clone(),
                    problem: p.into(),
                })?
            }
            // A plain transformer folder without sentence-transformers modules: mean pooling.
            None => Pooling::Mean,
        };
        let normalize = match &files.modules {
            Some(path) => crate::model::read_modules(path)
                .map_err(|e| EmbedError::Model {
                    path: path.clone(),
                    problem: ModelProblem::Modules(Box::new(e)),
                })?
                .iter()
                .any(|m| m.kind.ends_with(".Normalize")),
            None => false,
        };
        let configured = match &files.sentence_config {
            Some(path) => read_json::<SentenceConfig>(path)?.max_seq_length,
            None => None,
        };
        let limit = bert.max_position_embeddings;
        let max_length = max_length.or(configured).unwrap_or(limit.min(512));
        if max_length < 2 || max_length > limit {
            return Err(EmbedError::MaxLength {
                max_length,
                limit,
                setting: crate::setting::Setting::MaxLength,
            });
        }
        Ok(Self {
            bert,
            pooling,
            normalize,
            max_length,
        })
    }
}
