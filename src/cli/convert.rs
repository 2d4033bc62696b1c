//! Flags → the library's configuration, once; nothing else in the command line decides how a
//! job runs.

use newsclust::bench::BenchJob;
use newsclust::config::{
    ClusterConfig, ClusteringConfig, ComputeConfig, EmbedConfig, InputConfig, ModelSettings,
    RunConfig, ShardChoice, ThemesFrom, TopicConfig,
};
use newsclust::device::CudaOptions;
use newsclust::io::{FieldMap, ReadOptions, TextSpec};
use newsclust::model::ResolveOptions;

use super::args::{
    BenchArgs, ClusterArgs, ClusterCmdArgs, CudaArgs, EmbedArgs, InputArgs, ModelArgs,
    ModelsDirArg, RunArgs, ShardArg,
};

pub fn input(input: InputArgs) -> InputConfig {
    InputConfig {
        paths: input.input,
        read: ReadOptions {
            format: input.format,
            no_header: input.no_header,
            columns: input.columns,
            fields: FieldMap::new(input.fields),
            limit: input.limit,
        },
        text: TextSpec {
            fields: input.text_fields,
            separator: input.separator,
        },
        strict: input.strict,
    }
}

fn resolve(models: ModelsDirArg) -> ResolveOptions {
    ResolveOptions {
        models_dir: models.models_dir,
        ..ResolveOptions::default()
    }
}

fn cuda(args: &CudaArgs) -> CudaOptions {
    CudaOptions {
        preload: args.cuda_preload,
        ptx: args.cuda_ptx,
    }
}

/// The model and where it computes; `workers`: the CPU workers `main` set up.
fn model(args: ModelArgs, workers: usize) -> (ModelSettings, ComputeConfig) {
    let compute = ComputeConfig {
        device: args.device,
        precision: args.dtype,
        batch_size: args.pass.batch_size,
        forward: args.pass.forward,
        attention: args.pass.attention,
        queue_batches: args.pass.queue_batches,
        cpu_workers: workers,
        cuda: cuda(&args.cuda),
    };
    let settings = ModelSettings {
        model: args.model,
        resolve: resolve(args.models),
        max_length: args.max_length,
    };
    (settings, compute)
}

pub fn embed(args: EmbedArgs, workers: usize) -> EmbedConfig {
    let (model, compute) = model(args.model, workers);
    EmbedConfig {
        input: input(args.input),
        model,
        compute,
        out: args.out,
        write_sync: args.write.write_sync,
        resume: args.write.resume,
        row_group_rows: Some(args.write.row_group_rows),
        shard: args.shard.map(|s| match s {
            ShardArg::Fixed(shard) => ShardChoice::Fixed(shard),
            ShardArg::Auto => ShardChoice::Auto {
                count: args.shard_count,
            },
        }),
    }
}

fn clustering(args: &ClusterArgs) -> (ClusteringConfig, TopicConfig) {
    let clustering = ClusteringConfig {
        algorithm: args.algorithm,
        k: args.k,
        n_init: args.n_init,
        max_iter: args.max_iter,
        tol: args.tol,
        seed: args.seed,
        mini_batch: args.mini_batch,
        stream: args.stream,
        passes: args.passes,
        stream_sample: args.stream_sample,
        min_cluster_size: args.min_cluster_size,
        min_samples: args.min_samples,
        reduce_dims: (args.reduce_dims > 0).then_some(args.reduce_dims),
        max_cluster_share: args.max_cluster_share,
        reassign_outliers: args.reassign_outliers,
        outlier_threshold: args.outlier_threshold,
        kmeans_kernels: args.kmeans_kernels,
    };
    let topics = TopicConfig {
        top_keywords: args.top_keywords,
        min_df: args.min_df,
        labels_file: args.labels.clone(),
        stop_words_file: args.stop_words.clone(),
        label_threshold: args.label_threshold,
        naming: args.naming,
        themes: match &args.themes {
            None => ThemesFrom::Builtin,
            Some(p) if p.as_os_str() == "none" => ThemesFrom::None,
            Some(p) => ThemesFrom::File(p.clone()),
        },
        theme_threshold: args.theme_threshold,
        with_embeddings: args.with_embeddings,
        time_bins: args.time_bins,
        ..TopicConfig::default()
    };
    (clustering, topics)
}

pub fn run(args: RunArgs, workers: usize) -> RunConfig {
    let (clustering, topics) = clustering(&args.cluster);
    let (model, compute) = model(args.model, workers);
    RunConfig {
        input: input(args.input),
        model,
        compute,
        write_sync: args.write.write_sync,
        resume: args.write.resume,
        row_group_rows: Some(args.write.row_group_rows),
        clustering,
        topics,
        out: args.out,
    }
}

pub fn cluster(args: ClusterCmdArgs) -> ClusterConfig {
    let (clustering, topics) = clustering(&args.cluster);
    ClusterConfig {
        embeddings: args.embeddings,
        out: args.out,
        clustering,
        topics,
        model: args.model,
        resolve: resolve(args.models),
        device: args.device,
        cuda: cuda(&args.cuda),
        reduce: args.reduce_to.map(|to| newsclust::config::Reduce {
            to,
            from: args.from,
        }),
    }
}

pub fn bench(args: BenchArgs, workers: usize) -> BenchJob {
    let input = input(args.input);
    BenchJob {
        inputs: input.paths,
        read: input.read,
        text: input.text,
        model: args.model,
        resolve: resolve(args.models),
        devices: args.devices,
        dtypes: args.dtypes,
        batch_size: args.pass.batch_size,
        forward: args.pass.forward,
        attention: args.pass.attention,
        queue_batches: args.pass.queue_batches,
        profile: args.profile,
        cuda: cuda(&args.cuda),
        kmeans_kernels: args.kmeans_kernels,
        repeat: args.repeat,
        k: args.k,
        cpu_workers: workers,
        out: args.out,
    }
}
