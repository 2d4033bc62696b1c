//! Checking a configuration, once, into the `Valid*` types the stages take: the values against
//! their rules, the precision against the device, and the label and stop-word files read.

use crate::io::shard::Shard;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::{
    ClusterConfig, ClusteringConfig, ComputeConfig, EmbedConfig, NamingMode, RunConfig, ThemesFrom,
    TopicConfig,
};
use crate::cluster::{
    Algorithm, Clusterer, HdbscanClusterer, HdbscanParams, KChoice, KMeansClusterer, KMeansKernels,
    KMeansParams,
};
use crate::device::{DeviceChoice, DeviceError};
use crate::setting::{Invalid, Rule, Setting};
use crate::topics::Themes;

/// A configuration that cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Shard(#[from] crate::io::shard::ShardError),
    #[error("{}: the output is also an input (it would be overwritten); write it elsewhere", output.display())]
    OutputIsInput { output: PathBuf },
    #[error("{}: the output would lie in the input folder {}, whose files are read as input (a later run would read it back); write it elsewhere", output.display(), folder.display())]
    OutputInInputFolder { output: PathBuf, folder: PathBuf },
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error("{}: {what} file {problem}", path.display())]
    ListFile {
        path: PathBuf,
        what: ListKind,
        problem: ListProblem,
    },
    #[error("{}: themes file cannot be read: {source}", path.display())]
    ThemesUnreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: bad themes file: {problem}", path.display())]
    ThemesFile {
        path: PathBuf,
        #[source]
        problem: crate::topics::ThemeError,
    },
}

/// Which one-per-line file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListKind {
    Labels,
    StopWords,
}

impl std::fmt::Display for ListKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ListKind::Labels => "labels",
            ListKind::StopWords => "stop words",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ListProblem {
    #[error("cannot be read: {0}")]
    Unreadable(#[source] std::io::Error),
    #[error("is not UTF-8 text ({0})")]
    NotUtf8(#[source] std::string::FromUtf8Error),
    #[error("has no entries (one per line)")]
    Empty,
}

/// A checked [`EmbedConfig`].
#[derive(Clone, Debug)]
pub struct ValidEmbed(pub(crate) EmbedConfig);

impl EmbedConfig {
    pub fn check(&self) -> Result<ValidEmbed, ConfigError> {
        check_compute(&self.compute)?;
        if let Some(rows) = self.row_group_rows {
            Invalid::at_least(Setting::RowGroupRows, rows, 1)?;
        }
        let mut checked = self.clone();
        if let Some(choice) = self.shard {
            let shard = match choice {
                super::ShardChoice::Fixed(shard) => shard,
                super::ShardChoice::Auto { count } => {
                    Shard::from_env(|name| std::env::var(name).ok(), count)?
                }
            };
            checked.shard = Some(super::ShardChoice::Fixed(shard));
            checked.out = self.out.join(shard.part_name());
        }
        super::outputs::check_apart(&self.input.paths, std::slice::from_ref(&checked.out))?;
        Ok(ValidEmbed(checked))
    }
}

impl ValidEmbed {
    /// The configuration as checked: `out` is the file written (a shard's part under the
    /// prefix it was given).
    pub fn config(&self) -> &EmbedConfig {
        &self.0
    }

    /// The shard this job is, if it is one.
    pub fn shard(&self) -> Option<Shard> {
        match self.0.shard {
            Some(super::ShardChoice::Fixed(shard)) => Some(shard),
            _ => None,
        }
    }
}

fn check_compute(compute: &ComputeConfig) -> Result<(), ConfigError> {
    if let Some(b) = compute.batch_size {
        Invalid::at_least(Setting::BatchSize, b, 1)?;
    }
    Invalid::at_least(Setting::Threads, compute.cpu_workers, 1)?;
    // A precision the CPU cannot run fails before any I/O.
    if compute.device == DeviceChoice::Cpu {
        compute.precision.check(&candle_core::Device::Cpu)?;
    }
    Ok(())
}

/// The algorithm with its checked parameters.
#[derive(Clone, Debug)]
pub(crate) enum ValidAlgorithm {
    KMeans {
        k: KChoice,
        params: KMeansParams,
        kernels: KMeansKernels,
    },
    Hdbscan {
        params: HdbscanParams,
        reassign: Option<f32>,
    },
}

/// A checked [`ClusteringConfig`] (the config itself kept for the report).
#[derive(Clone, Debug)]
pub struct ValidClustering {
    pub(crate) given: ClusteringConfig,
    pub(crate) algorithm: ValidAlgorithm,
}

impl ClusteringConfig {
    pub fn check(&self) -> Result<ValidClustering, ConfigError> {
        Invalid::at_least(Setting::Passes, self.passes, 1)?;
        Invalid::at_least(Setting::StreamSample, self.stream_sample, 1)?;
        if self.stream == crate::config::StreamChoice::On && self.algorithm == Algorithm::Hdbscan {
            return Err(Invalid::new(Setting::Stream, Rule::KMeansOnly, "on").into());
        }
        let algorithm = match self.algorithm {
            Algorithm::Kmeans => ValidAlgorithm::KMeans {
                k: self.k.check()?,
                params: KMeansParams::new(
                    self.n_init,
                    self.max_iter,
                    self.tol,
                    self.seed,
                    self.mini_batch,
                )?,
                kernels: self.kmeans_kernels,
            },
            Algorithm::Hdbscan => ValidAlgorithm::Hdbscan {
                params: HdbscanParams::new(
                    self.min_cluster_size,
                    self.min_samples,
                    self.reduce_dims,
                    self.max_cluster_share,
                    self.seed,
                )?,
                reassign: self.reassign_outliers.then_some(self.outlier_threshold),
            },
        };
        Ok(ValidClustering {
            given: self.clone(),
            algorithm,
        })
    }
}

impl ValidClustering {
    /// k-means' k, parameters and device kernels (`None` for HDBSCAN).
    pub(crate) fn kmeans(&self) -> Option<(KChoice, &KMeansParams, KMeansKernels)> {
        match &self.algorithm {
            ValidAlgorithm::KMeans { k, params, kernels } => Some((*k, params, *kernels)),
            ValidAlgorithm::Hdbscan { .. } => None,
        }
    }

    /// The clusterer these settings describe; k-means runs on `gpu` when given.
    pub fn clusterer(&self, gpu: Option<&candle_core::Device>) -> Box<dyn Clusterer> {
        match &self.algorithm {
            ValidAlgorithm::KMeans { k, params, kernels } => Box::new(KMeansClusterer {
                k: *k,
                params: params.clone(),
                device: gpu.map(|d| (d.clone(), *kernels)),
            }),
            ValidAlgorithm::Hdbscan { params, reassign } => Box::new(HdbscanClusterer {
                params: params.clone(),
                reassign: *reassign,
            }),
        }
    }

    pub fn config(&self) -> &ClusteringConfig {
        &self.given
    }
}

/// A checked [`TopicConfig`], its files read.
#[derive(Clone, Debug)]
pub struct ValidTopics {
    pub(crate) given: TopicConfig,
    /// The candidate labels, when a file names them.
    pub(crate) candidates: Option<Vec<String>>,
    /// Stop words besides the built-in ones (lower case).
    pub(crate) stop_words: HashSet<String>,
    /// The themes, unless turned off or naming by keywords.
    pub(crate) themes: Option<Themes>,
}

impl TopicConfig {
    pub fn check(&self) -> Result<ValidTopics, ConfigError> {
        let candidates = match &self.labels_file {
            Some(path) => Some(read_lines(path, ListKind::Labels)?),
            None => None,
        };
        let stop_words = match &self.stop_words_file {
            Some(path) => read_lines(path, ListKind::StopWords)?
                .into_iter()
                .map(|w| w.to_lowercase())
                .collect(),
            None => HashSet::new(),
        };
        if !(self.theme_threshold.is_finite() && self.theme_threshold >= 0.0) {
            return Err(Invalid::new(
                Setting::ThemeThreshold,
                Rule::FiniteNonNegative,
                self.theme_threshold,
            )
            .into());
        }
        let themes = match (&self.themes, self.naming) {
            (_, NamingMode::Keywords) | (ThemesFrom::None, _) => None,
            (ThemesFrom::Builtin, _) => Some(Themes::builtin()),
            (ThemesFrom::File(path), _) => {
                let text = std::fs::read(path)
                    .and_then(|b| {
                        String::from_utf8(b)
                            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
                    })
                    .map_err(|source| ConfigError::ThemesUnreadable {
                        path: path.clone(),
                        source,
                    })?;
                Some(
                    Themes::parse(&text).map_err(|problem| ConfigError::ThemesFile {
                        path: path.clone(),
                        problem,
                    })?,
                )
            }
        };
        Ok(ValidTopics {
            given: self.clone(),
            candidates,
            stop_words,
            themes,
        })
    }
}

impl ValidTopics {
    pub fn config(&self) -> &TopicConfig {
        &self.given
    }
}

/// Non-empty lines of a text file, `#` comments left out.
fn read_lines(path: &Path, what: ListKind) -> Result<Vec<String>, ConfigError> {
    let err = |problem| ConfigError::ListFile {
        path: path.to_path_buf(),
        what,
        problem,
    };
    let bytes = std::fs::read(path).map_err(|e| err(ListProblem::Unreadable(e)))?;
    let text = String::from_utf8(bytes).map_err(|e| err(ListProblem::NotUtf8(e)))?;
    let lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    if lines.is_empty() {
        return Err(err(ListProblem::Empty));
    }
    Ok(lines)
}

/// A checked [`ClusterConfig`].
#[derive(Clone, Debug)]
pub struct ValidCluster {
    pub(crate) given: ClusterConfig,
    pub(crate) clustering: ValidClustering,
    pub(crate) topics: ValidTopics,
}

impl ClusterConfig {
    pub fn check(&self) -> Result<ValidCluster, ConfigError> {
        super::outputs::check_apart(
            &self.embeddings,
            &super::outputs::cluster_outputs(&self.out),
        )?;
        if let Some(reduce) = &self.reduce {
            Invalid::at_least(Setting::ReduceTo, reduce.to, 1)?;
        }
        Ok(ValidCluster {
            given: self.clone(),
            clustering: self.clustering.check()?,
            topics: self.topics.check()?,
        })
    }
}

/// A checked [`RunConfig`]: its embedding half and its clustering half.
#[derive(Clone, Debug)]
pub struct ValidRun {
    pub(crate) embed: ValidEmbed,
    pub(crate) cluster: ValidCluster,
}

impl ValidRun {
    /// The embedding half: into `out/embeddings.parquet`.
    pub fn embed(&self) -> &ValidEmbed {
        &self.embed
    }

    /// The clustering half: from those embeddings into `out`.
    pub fn cluster(&self) -> &ValidCluster {
        &self.cluster
    }
}

impl RunConfig {
    /// Checks both halves (and reads the label and stop-word files) before any work.
    pub fn check(&self) -> Result<ValidRun, ConfigError> {
        let mut outputs = super::outputs::cluster_outputs(&self.out);
        outputs.push(self.out.join(crate::io::format::files::EMBEDDINGS));
        super::outputs::check_apart(&self.input.paths, &outputs)?;
        let embed = EmbedConfig {
            input: self.input.clone(),
            model: self.model.clone(),
            compute: self.compute.clone(),
            out: self.out.join(crate::io::format::files::EMBEDDINGS),
            write_sync: self.write_sync,
            resume: self.resume,
            row_group_rows: self.row_group_rows,
            shard: None,
        }
        .check()?;
        let cluster = ClusterConfig {
            embeddings: vec![embed.0.out.clone()],
            out: self.out.clone(),
            clustering: self.clustering.clone(),
            topics: self.topics.clone(),
            model: Some(self.model.model.clone()),
            resolve: self.model.resolve.clone(),
            device: self.compute.device,
            cuda: self.compute.cuda,
            reduce: None,
        }
        .check()?;
        Ok(ValidRun { embed, cluster })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_are_refused_naming_the_setting() {
        let bad = ClusteringConfig {
            n_init: 0,
            ..ClusteringConfig::default()
        };
        let err = bad.check().unwrap_err().to_string();
        assert!(err.contains("n_init must be at least 1"), "{err}");
        let bad = ClusteringConfig {
            algorithm: Algorithm::Hdbscan,
            max_cluster_share: 1.5,
            ..ClusteringConfig::default()
        };
        let err = bad.check().unwrap_err().to_string();
        assert!(err.contains("max_cluster_share must be in (0, 1]"), "{err}");
        let bad = EmbedConfig {
            compute: ComputeConfig {
                batch_size: Some(0),
                ..ComputeConfig::default()
            },
            ..EmbedConfig::default()
        };
        assert!(bad.check().is_err());
        assert!(ClusteringConfig::default().check().is_ok());
    }

    #[test]
    fn list_files_are_read_once_when_checked() {
        let dir = tempfile::tempdir().unwrap();
        let labels = dir.path().join("labels.txt");
        std::fs::write(&labels, "# themes\nchip supply\n\ncloud deals\n").unwrap();
        let stop = dir.path().join("stop.txt");
        std::fs::write(&stop, "Reuters\n").unwrap();
        let topics = TopicConfig {
            labels_file: Some(labels),
            stop_words_file: Some(stop.clone()),
            ..TopicConfig::default()
        }
        .check()
        .unwrap();
        assert_eq!(
            topics.candidates.as_deref(),
            Some(&["chip supply".to_string(), "cloud deals".to_string()][..])
        );
        assert!(topics.stop_words.contains("reuters"));
        std::fs::write(&stop, "# nothing\n").unwrap();
        let err = TopicConfig {
            stop_words_file: Some(stop),
            ..TopicConfig::default()
        }
        .check()
        .unwrap_err();
        assert!(
            err.to_string().contains("stop words file has no entries"),
            "{err}"
        );
    }
}
