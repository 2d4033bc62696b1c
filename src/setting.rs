//! The names of the settings a run takes, so that errors can say which one is wrong without
//! knowing how a caller spells it: the library names a setting by its config field
//! (`n_init`), the command line by its flag (`--n-init`, see `src/cli/flags.rs`).

use std::fmt;
use std::sync::OnceLock;

/// One setting of [`crate::config`], as errors name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Setting {
    Input,
    Format,
    NoHeader,
    Columns,
    Field,
    Limit,
    TextFields,
    Separator,
    Strict,
    Model,
    ModelsDir,
    MaxLength,
    Device,
    Precision,
    BatchSize,
    Forward,
    Attention,
    QueueBatches,
    Threads,
    Out,
    Embeddings,
    Algorithm,
    K,
    NInit,
    MaxIter,
    Tol,
    Seed,
    MiniBatch,
    Stream,
    Passes,
    StreamSample,
    MinClusterSize,
    MinSamples,
    ReduceDims,
    ReduceTo,
    ReduceFrom,
    MaxClusterShare,
    OutlierThreshold,
    Labels,
    StopWords,
    LabelThreshold,
    Naming,
    Themes,
    ThemeThreshold,
    TopKeywords,
    MinDf,
    Repeat,
    GoldColumn,
    Shard,
    ShardCount,
    Resume,
    RowGroupRows,
}

impl Setting {
    /// The config field's name.
    pub fn field(self) -> &'static str {
        match self {
            Setting::Input => "input",
            Setting::Format => "format",
            Setting::NoHeader => "no_header",
            Setting::Columns => "columns",
            Setting::Field => "fields",
            Setting::Limit => "limit",
            Setting::TextFields => "text_fields",
            Setting::Separator => "separator",
            Setting::Strict => "strict",
            Setting::Model => "model",
            Setting::ModelsDir => "models_dir",
            Setting::MaxLength => "max_length",
            Setting::Device => "device",
            Setting::Precision => "precision",
            Setting::BatchSize => "batch_size",
            Setting::Forward => "forward",
            Setting::Attention => "attention",
            Setting::QueueBatches => "queue_batches",
            Setting::Threads => "cpu_workers",
            Setting::Out => "out",
            Setting::Embeddings => "embeddings",
            Setting::Algorithm => "algorithm",
            Setting::K => "k",
            Setting::NInit => "n_init",
            Setting::MaxIter => "max_iter",
            Setting::Tol => "tol",
            Setting::Seed => "seed",
            Setting::MiniBatch => "mini_batch",
            Setting::Stream => "stream",
            Setting::Passes => "passes",
            Setting::StreamSample => "stream_sample",
            Setting::MinClusterSize => "min_cluster_size",
            Setting::MinSamples => "min_samples",
            Setting::ReduceDims => "reduce_dims",
            Setting::ReduceTo => "reduce.to",
            Setting::ReduceFrom => "reduce.from",
            Setting::MaxClusterShare => "max_cluster_share",
            Setting::OutlierThreshold => "outlier_threshold",
            Setting::Labels => "labels_file",
            Setting::StopWords => "stop_words_file",
            Setting::LabelThreshold => "label_threshold",
            Setting::Naming => "naming",
            Setting::Themes => "themes",
            Setting::ThemeThreshold => "theme_threshold",
            Setting::TopKeywords => "top_keywords",
            Setting::MinDf => "min_df",
            Setting::Repeat => "repeat",
            Setting::GoldColumn => "gold_column",
            Setting::Shard => "shard",
            Setting::ShardCount => "shard (its count)",
            Setting::Resume => "resume",
            Setting::RowGroupRows => "row_group_rows",
        }
    }

    /// Has every setting in messages named by `names` from now on (the command line passes its
    /// flag names); the first call wins.
    pub fn name_with(names: fn(Setting) -> &'static str) {
        let _ = NAMES.set(names);
    }
}

static NAMES: OnceLock<fn(Setting) -> &'static str> = OnceLock::new();

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = NAMES
            .get()
            .map_or_else(|| self.field(), |names| names(*self));
        f.write_str(name)
    }
}

/// What a value broke.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rule {
    AtLeast(u64),
    /// A finite number ≥ 0.
    FiniteNonNegative,
    /// A share in (0, 1].
    Share,
    /// A number, or `auto`.
    NumberOrAuto,
    /// Only with `--algorithm kmeans`.
    KMeansOnly,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::AtLeast(n) => write!(f, "must be at least {n}"),
            Rule::FiniteNonNegative => f.write_str("must be a finite number ≥ 0"),
            Rule::Share => f.write_str("must be in (0, 1]"),
            Rule::NumberOrAuto => f.write_str("takes a number or 'auto'"),
            Rule::KMeansOnly => f.write_str(
                "works with k-means only (HDBSCAN needs every vector in memory; use --stream auto or off)",
            ),
        }
    }
}

/// A setting whose value breaks its rule.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{setting} {rule}, not {value}")]
pub struct Invalid {
    pub setting: Setting,
    pub rule: Rule,
    pub value: String,
}

impl Invalid {
    pub fn new(setting: Setting, rule: Rule, value: impl fmt::Display) -> Self {
        Self {
            setting,
            rule,
            value: value.to_string(),
        }
    }

    /// `Err` unless `value` ≥ `min`.
    pub fn at_least(setting: Setting, value: usize, min: usize) -> Result<(), Self> {
        if value >= min {
            Ok(())
        } else {
            Err(Self::new(setting, Rule::AtLeast(min as u64), value))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_field_and_the_rule() {
        let err = Invalid::at_least(Setting::NInit, 0, 1).unwrap_err();
        // No naming was installed in unit tests: the config field's name.
        assert_eq!(err.to_string(), "n_init must be at least 1, not 0");
        assert!(Invalid::at_least(Setting::NInit, 1, 1).is_ok());
    }
}
