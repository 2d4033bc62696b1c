//! Object storage (issue 14): the real client (`object_store`) against a real S3-compatible
//! HTTP server that this test starts on 127.0.0.1 (moto's server mode, installed by
//! `tests/setup.sh`). Four shard processes (`JOB_COMPLETION_INDEX=0..3`) embed an input in the
//! bucket into a prefix, `cluster` reads the prefix and writes its topics to the bucket: the
//! same assignments as one local job. Parquet and compressed JSONL inputs, locks, and refusals.

mod common;

use std::collections::HashMap;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{assert_fatal, model_dir, Run, Table};

const SAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/datasets/tech_news_sample.jsonl"
);

fn venv(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/test-venv/bin")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: run `sh tests/setup.sh` first",
        path.display()
    );
    path
}

/// Runs `code` in the tests' Python; its standard output.
fn python(code: &str) -> String {
    let out = Command::new(venv("python"))
        .args(["-c", code])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A moto S3 server on a free port of 127.0.0.1, stopped when dropped.
struct Server {
    child: Child,
    endpoint: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(venv("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        // Ready when it answers HTTP: a bare connect can succeed before it listens (a socket
        // connected to itself, when the kernel picks the same port as the source).
        let answers = || -> std::io::Result<bool> {
            use std::io::{Read, Write};
            let mut stream = TcpStream::connect(("127.0.0.1", port))?;
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            stream.write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
            let mut head = [0u8; 5];
            stream.read_exact(&mut head)?;
            Ok(&head == b"HTTP/")
        };
        while !answers().unwrap_or(false) {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// Runs a boto3 snippet against the server (`s3` is its client): the test's own setup
    /// and inspection, beside the binary under test.
    fn boto(&self, code: &str) -> String {
        let script = format!(
            "import boto3\ns3 = boto3.client('s3', endpoint_url='{}', aws_access_key_id='test', aws_secret_access_key='test', region_name='us-east-1')\n{code}",
            self.endpoint
        );
        python(&script)
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }

    fn command(&self, args: &[&str], extra: &[(&str, String)]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_newsclust"));
        cmd.args(args)
            .env("HF_HUB_OFFLINE", "1")
            .env("NO_COLOR", "1")
            .envs(self.env())
            .envs(extra.iter().map(|(k, v)| (k, v)));
        cmd
    }

    fn run(&self, args: &[&str]) -> Run {
        self.command(args, &[]).output().unwrap().into()
    }

    /// Objects under `prefix` in `bucket`, sorted.
    fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let out = self.boto(&format!(
            "r = s3.list_objects_v2(Bucket='{bucket}', Prefix='{prefix}')\nfor o in r.get('Contents', []): print(o['Key'])"
        ));
        out.lines().map(String::from).collect()
    }

    fn download(&self, bucket: &str, key: &str, to: &Path) {
        self.boto(&format!(
            "s3.download_file('{bucket}', '{key}', '{}')",
            to.display()
        ));
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// Topic of each document id in a documents.parquet.
fn assignments(path: &Path) -> HashMap<String, Option<String>> {
    let t = Table::read(path);
    let ids = t.strings("id");
    // topic_id is an integer column; its label stands for it here.
    let topics = t.strings("topic_label");
    ids.into_iter().map(|i| i.unwrap()).zip(topics).collect()
}

#[test]
fn four_shard_processes_into_a_bucket_cluster_as_one_local_job() {
    let server = Server::start();
    server.boto(&format!(
        "s3.create_bucket(Bucket='news')\ns3.upload_file('{SAMPLE}', 'news', 'in/sample.jsonl')"
    ));
    let model = model_dir();
    let dir = tempfile::tempdir().unwrap();

    // One local job over the whole input.
    let local = dir.path().join("local.parquet");
    let out = common::newsclust(&[
        "embed",
        "-q",
        "-i",
        SAMPLE,
        "-m",
        s(&model),
        "-o",
        s(&local),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let local_topics = dir.path().join("local");
    let args = ["--k", "8", "--seed", "7"];
    let mut cluster = vec![
        "cluster",
        "-q",
        "--embeddings",
        s(&local),
        "-o",
        s(&local_topics),
    ];
    cluster.extend_from_slice(&args);
    let out = common::newsclust(&cluster);
    assert_eq!(out.code, 0, "{}", out.stderr);

    // Four shard processes at once, as a Kubernetes Indexed Job starts them.
    let shards: Vec<Child> = (0..4)
        .map(|i| {
            server
                .command(
                    &[
                        "embed",
                        "-q",
                        "-i",
                        "s3://news/in/",
                        "-m",
                        s(&model),
                        "-o",
                        "s3://news/emb/",
                        "--shard",
                        "auto",
                        "--shard-count",
                        "4",
                    ],
                    &[("JOB_COMPLETION_INDEX", i.to_string())],
                )
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in shards {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let parts = server.keys("news", "emb/");
    let want: Vec<String> = (0..4)
        .map(|i| format!("emb/part-{i:05}-of-00004.parquet"))
        .collect();
    assert_eq!(
        parts, want,
        "the four parts and nothing else (no lock left)"
    );

    let mut cluster = vec![
        "cluster",
        "-q",
        "--embeddings",
        "s3://news/emb/",
        "-o",
        "s3://news/topics/",
    ];
    cluster.extend_from_slice(&args);
    let out = server.run(&cluster);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        server.keys("news", "topics/"),
        [
            "topics/documents.parquet",
            "topics/hierarchy.parquet",
            "topics/report.html",
            "topics/run.json",
            "topics/topics.parquet",
            "topics/topics_over_time.parquet"
        ]
    );
    let fetched = dir.path().join("documents.parquet");
    server.download("news", "topics/documents.parquet", &fetched);
    let (remote, local) = (
        assignments(&fetched),
        assignments(&local_topics.join("documents.parquet")),
    );
    assert_eq!(remote.len(), 304);
    assert_eq!(remote, local, "sharded through the bucket vs one local job");

    // The same prefix clustered in passes (every row in the sample): the same assignments.
    let mut cluster = vec![
        "cluster",
        "-q",
        "--embeddings",
        "s3://news/emb/",
        "-o",
        "s3://news/streamed/",
        "--stream",
        "on",
        "--stream-sample",
        "100000",
    ];
    cluster.extend_from_slice(&args);
    let out = server.run(&cluster);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let streamed = dir.path().join("streamed.parquet");
    server.download("news", "streamed/documents.parquet", &streamed);
    assert_eq!(assignments(&streamed), local, "streamed from the bucket");
    assert!(
        server.keys("news", "streamed/.newsclust").is_empty(),
        "no staging object or journal left"
    );

    // A job stopped while publishing left its journal and a staged run.json (and an object
    // staged by no journal): the next job to lock the folder copies the one into place and
    // deletes the rest, even when it then fails itself (k above the documents).
    server.boto(concat!(
        "s3.put_object(Bucket='news', Key='topics/.newsclust.staging/run.json', Body=b'{\"rolled\": 1}')\n",
        "s3.put_object(Bucket='news', Key='topics/.newsclust.staging/orphan.parquet', Body=b'x')\n",
        "s3.put_object(Bucket='news', Key='topics/.newsclust.publish', Body=b'run.json\\trun.json\\n')",
    ));
    let out = server.run(&[
        "cluster",
        "--embeddings",
        "s3://news/emb/",
        "-o",
        "s3://news/topics/",
        "--k",
        "999",
    ]);
    assert_fatal(&out, &["999"]);
    assert!(
        out.stderr.contains("stopped while publishing"),
        "{}",
        out.stderr
    );
    let rolled = dir.path().join("rolled.json");
    server.download("news", "topics/run.json", &rolled);
    assert_eq!(std::fs::read_to_string(&rolled).unwrap(), "{\"rolled\": 1}");
    assert!(server.keys("news", "topics/.newsclust").is_empty());

    // A missing part is refused, naming it.
    server.boto("s3.delete_object(Bucket='news', Key='emb/part-00002-of-00004.parquet')");
    let out = server.run(&[
        "cluster",
        "--embeddings",
        "s3://news/emb/",
        "-o",
        s(&dir.path().join("x")),
    ]);
    assert_fatal(&out, &["part", "2"]);
}

#[test]
fn parquet_and_compressed_inputs_locks_and_refusals_in_a_bucket() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let model = model_dir();
    // A Parquet input (an embeddings file has id, title and text) and a gzip JSONL one.
    let parquet = dir.path().join("in.parquet");
    let out = common::newsclust(&[
        "embed",
        "-q",
        "-i",
        SAMPLE,
        "-m",
        s(&model),
        "-o",
        s(&parquet),
        "--row-group-rows",
        "50",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let gz = dir.path().join("in.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, &std::fs::read(SAMPLE).unwrap()).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    server.boto(&format!(
        "s3.create_bucket(Bucket='news')\ns3.upload_file('{}', 'news', 'p/in.parquet')\ns3.upload_file('{}', 'news', 'g/in.jsonl.gz')",
        parquet.display(),
        gz.display()
    ));
    // Read from the bucket (the Parquet one by byte ranges, row group after row group), each
    // gives what the local sample gives.
    for (input, name) in [("s3://news/p/in.parquet", "p"), ("s3://news/g/", "g")] {
        let to = dir.path().join(format!("{name}.parquet"));
        let out = server.run(&["embed", "-q", "-i", input, "-m", s(&model), "-o", s(&to)]);
        assert_eq!(out.code, 0, "{input}: {}", out.stderr);
        let (a, b) = (Table::read(&to), Table::read(&parquet));
        assert_eq!(a.strings("id"), b.strings("id"), "{input}");
        assert_eq!(a.strings("title"), b.strings("title"), "{input}");
    }

    // An output in the input prefix, or the input itself, is refused.
    let out = server.run(&[
        "embed",
        "-i",
        "s3://news/g/",
        "-m",
        s(&model),
        "-o",
        "s3://news/g/e.parquet",
    ]);
    assert_fatal(&out, &["s3://news/g/e.parquet", "input folder"]);
    let out = server.run(&[
        "embed",
        "-i",
        "s3://news/p/in.parquet",
        "-m",
        s(&model),
        "-o",
        "s3://news/p/in.parquet",
    ]);
    assert_fatal(&out, &["also an input"]);
    // No such prefix, no such bucket: errors naming them.
    let out = server.run(&[
        "embed",
        "-i",
        "s3://news/none/",
        "-m",
        s(&model),
        "-o",
        s(&dir.path().join("n.parquet")),
    ]);
    assert_fatal(
        &out,
        &["s3://news/none/", "no input files under this prefix"],
    );
    let out = server.run(&[
        "embed",
        "-i",
        "s3://other/x.jsonl",
        "-m",
        s(&model),
        "-o",
        s(&dir.path().join("n.parquet")),
    ]);
    assert_fatal(&out, &["s3://other/x.jsonl", "NoSuchBucket"]);

    // An output in use by a live job elsewhere (its lease not expired) is refused; the lock of
    // a job that died (lease expired) is taken over.
    let far = 4_000_000_000u64;
    server.boto(&format!(
        "s3.put_object(Bucket='news', Key='busy/.newsclust.lock', Body=b'{{\"host\": \"node-7\", \"pid\": 42, \"expires\": {far}}}')\ns3.put_object(Bucket='news', Key='dead/.newsclust.lock', Body=b'{{\"host\": \"node-8\", \"pid\": 43, \"expires\": 1}}')"
    ));
    let run = |out: &str| {
        server.run(&[
            "run",
            "-i",
            "s3://news/g/",
            "-m",
            s(&model),
            "-o",
            out,
            "--k",
            "3",
            "--limit",
            "40",
        ])
    };
    let busy = run("s3://news/busy");
    assert_fatal(
        &busy,
        &["in use by another newsclust job", "process 42 on node-7"],
    );
    assert_eq!(server.keys("news", "busy/"), ["busy/.newsclust.lock"]);
    let dead = run("s3://news/dead");
    assert_eq!(dead.code, 0, "{}", dead.stderr);
    assert!(
        dead.stderr.contains("took over the lock"),
        "{}",
        dead.stderr
    );
    assert_eq!(
        server.keys("news", "dead/"),
        [
            "dead/documents.parquet",
            "dead/embeddings.parquet",
            "dead/hierarchy.parquet",
            "dead/report.html",
            "dead/run.json",
            "dead/topics.parquet",
            "dead/topics_over_time.parquet"
        ],
        "every output, and the lock released"
    );

    // Stopped by SIGTERM while embedding, a job deletes its lock object (the next job need not
    // wait for its lease to expire) and publishes nothing.
    let mut child = server
        .command(
            &[
                "run",
                "-v",
                "-i",
                "s3://news/g/",
                "-m",
                s(&model),
                "-o",
                "s3://news/stopped",
                "--k",
                "3",
            ],
            &[],
        )
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
    let mut sent = false;
    for line in stderr {
        if !sent && line.unwrap().contains("locked; opening the device") {
            // SAFETY: a signal to our own child, not yet reaped.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            sent = true;
        }
    }
    assert_eq!(child.wait().unwrap().code(), Some(143));
    assert!(
        server.keys("news", "stopped/").is_empty(),
        "{:?}",
        server.keys("news", "stopped/")
    );
}

/// `args` with the placeholders filled in: BUCKET and RUN, and `--device cpu` for `cuda` (no
/// GPU here).
fn filled(args: &[String], run: &str) -> Vec<String> {
    args.iter()
        .map(|a| match a.as_str() {
            "cuda" => "cpu".to_string(),
            _ => a.replace("BUCKET", "news").replace("RUN", run),
        })
        .collect()
}

#[test]
fn the_kubernetes_and_aws_batch_manifests_run_as_written_against_a_bucket() {
    let server = Server::start();
    server.boto(&format!(
        "s3.create_bucket(Bucket='news')\ns3.upload_file('{SAMPLE}', 'news', 'corpus/sample.jsonl')"
    ));
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let manifest = |name: &str| -> Vec<String> {
        let code = format!(
            "import json, yaml\nd = yaml.safe_load(open('{}'))\nprint(json.dumps(d['spec']['template']['spec']['containers'][0]['args']))",
            deploy.join("kubernetes").join(name).display()
        );
        serde_json::from_str(&python(&code)).unwrap()
    };
    let run = |args: &[String], env: &[(&str, String)]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = server.command(&args, env).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{args:?}: {stderr}");
    };
    let model = (
        "NEWSCLUST_MODELS",
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models")
            .display()
            .to_string(),
    );

    // Kubernetes: the Indexed Job's 8 pods (JOB_COMPLETION_INDEX 0..7), then the cluster Job.
    let embed = filled(&manifest("embed-job.yaml"), "k8s");
    for i in 0..8 {
        run(
            &embed,
            &[("JOB_COMPLETION_INDEX", i.to_string()), model.clone()],
        );
    }
    assert_eq!(server.keys("news", "runs/k8s/embeddings/").len(), 8);
    run(
        &filled(&manifest("cluster-job.yaml"), "k8s"),
        std::slice::from_ref(&model),
    );
    assert_eq!(
        server.keys("news", "runs/k8s/topics/"),
        [
            "runs/k8s/topics/documents.parquet",
            "runs/k8s/topics/hierarchy.parquet",
            "runs/k8s/topics/report.html",
            "runs/k8s/topics/run.json",
            "runs/k8s/topics/topics.parquet",
            "runs/k8s/topics/topics_over_time.parquet"
        ]
    );

    // AWS Batch: the job definitions' commands with their Ref:: parameters, 2 array children.
    let definition = |name: &str, params: &[(&str, &str)]| -> Vec<String> {
        let text = std::fs::read_to_string(deploy.join("aws-batch").join(name)).unwrap();
        let def: serde_json::Value = serde_json::from_str(&text).unwrap();
        let command: Vec<String> =
            serde_json::from_value(def["containerProperties"]["command"].clone()).unwrap();
        let command: Vec<String> = command
            .into_iter()
            .map(|a| match a.strip_prefix("Ref::") {
                Some(key) => params
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| v.to_string())
                    .unwrap_or_else(|| def["parameters"][key].as_str().unwrap().to_string()),
                None => a,
            })
            .collect();
        filled(&command, "batch")
    };
    let embed = definition("embed-job-definition.json", &[("shards", "2")]);
    for i in 0..2 {
        run(
            &embed,
            &[("AWS_BATCH_JOB_ARRAY_INDEX", i.to_string()), model.clone()],
        );
    }
    run(
        &definition("cluster-job-definition.json", &[]),
        std::slice::from_ref(&model),
    );
    let fetched = tempfile::tempdir().unwrap();
    let (a, b) = (
        fetched.path().join("a.parquet"),
        fetched.path().join("b.parquet"),
    );
    server.download("news", "runs/k8s/topics/documents.parquet", &a);
    server.download("news", "runs/batch/topics/documents.parquet", &b);
    assert_eq!(Table::read(&a).rows(), 304);
    assert_eq!(
        assignments(&a),
        assignments(&b),
        "8 shards or 2: the same topics"
    );
}

#[test]
fn a_job_into_a_bucket_killed_and_resumed_on_another_machine_goes_on_from_its_checkpoint() {
    let server = Server::start();
    server.boto(&format!(
        "s3.create_bucket(Bucket='news')\ns3.upload_file('{SAMPLE}', 'news', 'in/sample.jsonl')"
    ));
    let model = model_dir();
    let dir = tempfile::tempdir().unwrap();
    let small = [
        "--row-group-rows",
        "16",
        "--batch-size",
        "16",
        "--device",
        "cpu",
    ];
    let whole = dir.path().join("whole.parquet");
    let mut args = vec![
        "embed",
        "-q",
        "-i",
        SAMPLE,
        "-m",
        s(&model),
        "-o",
        s(&whole),
    ];
    args.extend_from_slice(&small);
    let out = common::newsclust(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);

    let mut args = vec![
        "embed",
        "-i",
        "s3://news/in/",
        "-m",
        s(&model),
        "-o",
        "s3://news/out/e.parquet",
        "--resume",
    ];
    args.extend_from_slice(&small);
    // The spool folder of each process is its own (TMPDIR), as on two machines.
    let first_tmp = tempfile::tempdir().unwrap();
    let mut child = server
        .command(&args, &[("TMPDIR", s(first_tmp.path()).to_string())])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let groups = || {
        server
            .keys("news", "out/.e.parquet.resume/")
            .iter()
            .filter(|k| k.contains("group-"))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while groups() < 3 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the job ended before it could be killed"
        );
        assert!(Instant::now() < deadline, "no checkpoint appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let kept = groups();
    assert!(kept < 19, "{kept} groups: the job had finished");
    assert!(
        server.keys("news", "out/e.parquet").is_empty(),
        "a killed job published its output"
    );

    // Its lock lease is still held for up to a minute: a retry is refused until it expires
    // (here it is made to expire at once, its expiry moved to the past).
    let lock = server.boto(
        "print(s3.get_object(Bucket='news', Key='out/.e.parquet.lock')['Body'].read().decode())",
    );
    assert!(lock.contains("\"expires\""), "{lock}");
    server.boto("s3.put_object(Bucket='news', Key='out/.e.parquet.lock', Body=b'{\"host\": \"gone\", \"pid\": 1, \"expires\": 1}')");
    let second_tmp = tempfile::tempdir().unwrap();
    let out = server
        .command(&args, &[("TMPDIR", s(second_tmp.path()).to_string())])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "resuming: {} rows in {kept} row groups",
            kept * 16
        )),
        "{stderr}"
    );
    assert!(stderr.contains("took over the lock"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(second_tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "the spool folder stayed: {left:?}");
    assert_eq!(
        server.keys("news", "out/"),
        ["out/e.parquet"],
        "the checkpoint is removed"
    );
    let fetched = dir.path().join("e.parquet");
    server.download("news", "out/e.parquet", &fetched);
    let (a, b) = (Table::read(&whole), Table::read(&fetched));
    assert_eq!(a.strings("id"), b.strings("id"));
    let same = a
        .embeddings()
        .iter()
        .zip(b.embeddings())
        .all(|(x, y)| x.iter().zip(&y).all(|(p, q)| p.to_bits() == q.to_bits()));
    assert!(same, "the vectors differ from an uninterrupted job's");
}
