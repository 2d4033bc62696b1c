//! How the command line spells each setting, so the library's errors name the flag to change.

use newsclust::setting::Setting;

/// The flag that sets `setting`.
pub fn flag(setting: Setting) -> &'static str {
    match setting {
        Setting::Input => "--input",
        Setting::Format => "--format",
        Setting::NoHeader => "--no-header",
        Setting::Columns => "--columns",
        Setting::Field => "--field",
        Setting::Limit => "--limit",
        Setting::TextFields => "--text-fields",
        Setting::Separator => "--separator",
        Setting::Strict => "--strict",
        Setting::Model => "--model",
        Setting::ModelsDir => "--models-dir",
        Setting::MaxLength => "--max-length",
        Setting::Device => "--device",
        Setting::Precision => "--dtype",
        Setting::BatchSize => "--batch-size",
        Setting::Forward => "--forward",
        Setting::Attention => "--attention",
        Setting::QueueBatches => "--queue-batches",
        Setting::Threads => "--threads",
        Setting::Out => "--out",
        Setting::Embeddings => "--embeddings",
        Setting::Algorithm => "--algorithm",
        Setting::K => "--k",
        Setting::NInit => "--n-init",
        Setting::MaxIter => "--max-iter",
        Setting::Tol => "--tol",
        Setting::Seed => "--seed",
        Setting::MiniBatch => "--mini-batch",
        Setting::MinClusterSize => "--min-cluster-size",
        Setting::MinSamples => "--min-samples",
        Setting::ReduceDims => "--reduce-dims",
        Setting::MaxClusterShare => "--max-cluster-share",
        Setting::OutlierThreshold => "--outlier-threshold",
        Setting::Labels => "--labels",
        Setting::StopWords => "--stop-words",
        Setting::LabelThreshold => "--label-threshold",
        Setting::TopKeywords => "--top-keywords",
        Setting::MinDf => "--min-df",
        Setting::Repeat => "--repeat",
        Setting::GoldColumn => "--gold-column",
    }
}
