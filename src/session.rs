//! The library's entry points: [`run`], [`embed`] and [`cluster`], and the [`Session`] that
//! holds a loaded model and its device across stages (`run` loads the model once, embeds, and
//! hands the vectors to clustering in memory).

use std::time::Instant;

use crate::config::{
    ClusterConfig, ComputeConfig, EmbedConfig, ModelSettings, RunConfig, ValidCluster, ValidEmbed,
    ValidRun,
};
use crate::error::Error;
use crate::io::embeddings_in::EmbeddedDocs;
use crate::io::lock::OutputLock;
use crate::io::publish::Staged;
use crate::matrix::Matrix;
use crate::pipeline::{cluster_job, embed_job, model, LoadedModel};
use crate::progress::{LogProgress, Progress};
use crate::report::{EmbedPart, EmbedSummary, TopicRun};

/// What the embedding job of a session did: its summary and, for `run`, the documents with
/// their vectors.
pub struct Embedded {
    pub summary: EmbedSummary,
    pub docs: Option<EmbeddedDocs>,
    /// For `run`: the embeddings file, complete but not yet in place (it is published with the
    /// topics), and the lock on the output folder, held until then.
    pending: Staged,
    lock: Option<OutputLock>,
}

/// A loaded model on its device, for embedding and then clustering without loading it again.
pub struct Session {
    model: LoadedModel,
}

impl Session {
    /// Loads `model` on the device `compute` names (f16/bf16 need CUDA).
    pub fn open(model: &ModelSettings, compute: &ComputeConfig) -> Result<Self, Error> {
        let mut loaded = LoadedModel::load_with(
            &model.model,
            &model.resolve,
            model.max_length,
            compute.device,
            compute.precision,
            compute.cuda,
        )?;
        loaded.set_pass(compute.forward, compute.attention, compute.queue_batches);
        Ok(Self { model: loaded })
    }

    /// Runs the embedding job of `config`, loading its model while the input opens; the
    /// session keeps the model. With `keep`, the documents come back in memory too.
    pub fn embed(
        config: &ValidEmbed,
        keep: bool,
        progress: &mut dyn Progress,
    ) -> Result<(Self, Embedded), Error> {
        let outcome = embed_job::run_embed(config, keep, true, progress)?;
        Ok(Self::embedded(outcome, None))
    }

    /// The session and what its embedding job hands on.
    fn embedded(outcome: embed_job::EmbedOutcome, lock: Option<OutputLock>) -> (Self, Embedded) {
        (
            Self {
                model: outcome.model,
            },
            Embedded {
                summary: outcome.summary,
                docs: outcome.docs,
                pending: outcome.staged,
                lock,
            },
        )
    }

    /// The embedding half of `run`: locks the output folder (another job writing it is
    /// refused), embeds, and keeps the documents in memory and the embeddings file unpublished
    /// for [`Self::cluster_embedded`], which publishes it with the topics: a run that fails
    /// later leaves the folder as it was.
    pub fn embed_for_run(
        config: &ValidRun,
        progress: &mut dyn Progress,
    ) -> Result<(Self, Embedded), Error> {
        let lock = OutputLock::folder(&config.cluster().given.out)?;
        let outcome = embed_job::run_embed(config.embed(), true, false, progress)?;
        Ok(Self::embedded(outcome, Some(lock)))
    }

    /// `run`: embeds `config`'s input, then clusters the vectors in memory with this session's
    /// model and device; every output is published at the end, together.
    pub fn run(config: &ValidRun, progress: &mut dyn Progress) -> Result<(Self, TopicRun), Error> {
        let (session, embedded) = Self::embed_for_run(config, progress)?;
        let run = session.cluster_embedded(embedded, config)?;
        Ok((session, run))
    }

    /// The clustering half of `run`, after [`Self::embed`] kept the documents.
    pub fn cluster_embedded(
        &self,
        embedded: Embedded,
        config: &ValidRun,
    ) -> Result<TopicRun, Error> {
        let started = Instant::now();
        let Embedded {
            summary,
            docs,
            pending,
            lock,
        } = embedded;
        // Locked by embed_for_run, or here when the caller embedded with Self::embed.
        let _lock = match lock {
            Some(lock) => lock,
            None => OutputLock::folder(&config.cluster().given.out)?,
        };
        let docs = docs.unwrap_or_else(EmbeddedDocs::empty);
        let part = EmbedPart {
            config: config.embed().config(),
            summary: &summary,
        };
        self.cluster_with(docs, config.cluster(), Some(part), started, pending)
    }

    /// Clusters `docs` and names their topics (k-means on this session's device when it is a
    /// GPU; candidate labels embedded with its model) into `config`'s output folder.
    pub fn cluster(&self, docs: EmbeddedDocs, config: &ValidCluster) -> Result<TopicRun, Error> {
        let _lock = OutputLock::folder(&config.given.out)?;
        self.cluster_with(docs, config, None, Instant::now(), Staged::new())
    }

    /// [`Self::cluster`] (the output folder locked by the caller); `embed`: the embedding half
    /// of a `run`, for its report; `started`: when the clustering half began; `pending`: files
    /// published with the topics.
    fn cluster_with(
        &self,
        docs: EmbeddedDocs,
        config: &ValidCluster,
        embed: Option<EmbedPart<'_>>,
        started: Instant,
        pending: Staged,
    ) -> Result<TopicRun, Error> {
        if docs.is_empty() {
            return Err(Error::NoDocuments {
                inputs: config.given.embeddings.clone(),
            });
        }
        let device = self.model.encoder.device().clone();
        cluster_job::cluster_docs(
            docs,
            config,
            &device,
            Some(&self.model),
            embed,
            started,
            pending,
        )
    }

    /// The loaded model as the topic stage's [`crate::topics::Encoder`] (phrases, themes, labels).
    pub fn encoder(&self) -> &dyn crate::topics::Encoder {
        &self.model
    }

    /// Embeds `texts` in one batch (unit-length rows when the model normalizes).
    pub fn embed_texts<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Result<Matrix, Error> {
        model::embed_texts(&self.model, texts)
    }

    /// The loaded model.
    pub fn model(&self) -> &LoadedModel {
        &self.model
    }

    pub fn into_model(self) -> LoadedModel {
        self.model
    }
}

/// Embeds, clusters and names topics: `config.out` gets embeddings.parquet, documents.parquet,
/// topics.parquet and run.json. Progress goes to the log.
pub fn run(config: &RunConfig) -> Result<TopicRun, Error> {
    let valid = config.check()?;
    let mut progress = LogProgress::new("embed");
    Session::run(&valid, &mut progress).map(|(_, run)| run)
}

/// Embeds `config`'s input into `config.out` (one Parquet row and vector per article).
pub fn embed(config: &EmbedConfig) -> Result<EmbedSummary, Error> {
    let valid = config.check()?;
    let mut progress = LogProgress::new("embed");
    Session::embed(&valid, false, &mut progress).map(|(_, e)| e.summary)
}

/// Clusters `embed` outputs and names their topics into `config.out`.
pub fn cluster(config: &ClusterConfig) -> Result<TopicRun, Error> {
    let valid = config.check()?;
    cluster_job::run_cluster(&valid).map(|(run, _)| run)
}
