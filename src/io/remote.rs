//! Object storage (`s3://`, `gs://`, `az://`) through the `object_store` crate, for the
//! synchronous pipeline: a small tokio runtime runs each request to completion. Credentials
//! and endpoints come from the usual environment (`AWS_*` with `AWS_ENDPOINT_URL` for
//! S3-compatible stores and `AWS_ALLOW_HTTP=true` for a plain-HTTP one, `GOOGLE_*`, `AZURE_*`).
//! Inputs are streamed (CSV, JSONL) or read by byte ranges (Parquet: its footer, then the
//! column chunks of each row group); outputs are written locally and uploaded when complete
//! (multipart above 8 MiB), so an object appears whole or not at all.

use std::collections::HashMap;
use std::io::{self, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::{Buf, Bytes};
use futures::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload, UpdateVersion};
use url::Url;

/// URL schemes read and written through object storage.
const SCHEMES: [&str; 3] = ["s3://", "gs://", "az://"];

/// Bytes fetched at a time where Parquet reads a stream (page headers).
const WINDOW: u64 = 256 * 1024;

/// Bytes buffered before an upload turns multipart (each part this size).
const PART: usize = 8 * 1024 * 1024;

/// Whether `path` names an object (or a prefix) in object storage.
pub fn is_url(path: &Path) -> bool {
    path.to_str()
        .is_some_and(|p| SCHEMES.iter().any(|s| p.starts_with(s)))
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("object-store")
            .enable_all()
            .build()
            .expect("a tokio runtime starts")
    })
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    runtime().block_on(f)
}

fn io_err(e: object_store::Error) -> io::Error {
    let kind = match &e {
        object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
        object_store::Error::AlreadyExists { .. } => io::ErrorKind::AlreadyExists,
        object_store::Error::Precondition { .. } => io::ErrorKind::AlreadyExists,
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => io::ErrorKind::PermissionDenied,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
}

/// One store per scheme and bucket (or container), made once from the environment.
fn store_for(url: &Url) -> io::Result<Arc<dyn ObjectStore>> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> = OnceLock::new();
    let key = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    let mut stores = STORES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(store) = stores.get(&key) {
        return Ok(store.clone());
    }
    let bad = |e: object_store::Error| io::Error::new(io::ErrorKind::InvalidInput, e);
    let store: Arc<dyn ObjectStore> = match url.scheme() {
        "s3" => Arc::new(
            object_store::aws::AmazonS3Builder::from_env()
                .with_url(url.as_str())
                .build()
                .map_err(bad)?,
        ),
        "gs" => Arc::new(
            object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_url(url.as_str())
                .build()
                .map_err(bad)?,
        ),
        "az" => Arc::new(
            object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_url(url.as_str())
                .build()
                .map_err(bad)?,
        ),
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown object storage scheme {other}://"),
            ))
        }
    };
    stores.insert(key, store.clone());
    Ok(store)
}

/// An object (or a prefix) in a store.
#[derive(Clone)]
pub struct Remote {
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    /// As the user wrote it (scheme, bucket and key), for messages and joined names.
    url: String,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

impl Remote {
    /// The object `path` names (`s3://bucket/key`); a malformed URL or a store the
    /// environment cannot configure is an error.
    pub fn parse(path: &Path) -> io::Result<Self> {
        let text = path
            .to_str()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the URL is not UTF-8"))?;
        let url = Url::parse(text)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("bad URL: {e}")))?;
        let store = store_for(&url)?;
        let key = url.path().trim_start_matches('/');
        let path =
            ObjectPath::parse(key).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(Self {
            store,
            path,
            url: text.to_string(),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The object's size; `NotFound` when there is none.
    pub fn size(&self) -> io::Result<u64> {
        block_on(self.store.head(&self.path))
            .map(|m| m.size)
            .map_err(io_err)
    }

    /// The objects directly under this prefix (not under deeper ones), as URLs, sorted.
    pub fn list(&self) -> io::Result<Vec<PathBuf>> {
        let prefix = (!self.path.as_ref().is_empty()).then_some(&self.path);
        let listed = block_on(self.store.list_with_delimiter(prefix)).map_err(io_err)?;
        let base = self.url.trim_end_matches('/');
        let mut found: Vec<PathBuf> = listed
            .objects
            .iter()
            .filter_map(|o| o.location.filename())
            .map(|name| PathBuf::from(format!("{base}/{name}")))
            .collect();
        found.sort();
        Ok(found)
    }

    /// Opens the object for reading: its size is looked up once.
    pub fn open(&self) -> io::Result<RemoteFile> {
        let size = self.size()?;
        Ok(RemoteFile {
            remote: self.clone(),
            size,
        })
    }

    /// The object's bytes `range`.
    fn range(&self, range: Range<u64>) -> io::Result<Bytes> {
        block_on(self.store.get_range(&self.path, range)).map_err(io_err)
    }

    /// Uploads the local file `local` as this object: in one request up to 8 MiB, else in
    /// parts; the object appears only when the upload completes (an upload that fails is
    /// aborted).
    pub fn upload(&self, local: &Path) -> io::Result<()> {
        use tokio::io::AsyncWriteExt;
        let mut file = std::fs::File::open(local)?;
        block_on(async {
            let mut writer = object_store::buffered::BufWriter::with_capacity(
                self.store.clone(),
                self.path.clone(),
                PART,
            );
            let mut buf = vec![0u8; PART];
            let written: io::Result<()> = async {
                loop {
                    let n = file.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    writer.write_all(&buf[..n]).await?;
                }
                writer.shutdown().await
            }
            .await;
            if written.is_err() {
                let _ = writer.abort().await;
            }
            written
        })
    }

    /// Writes `bytes` as this object, replacing any.
    pub fn put_bytes(&self, bytes: Vec<u8>) -> io::Result<()> {
        self.put(bytes, PutMode::Overwrite).map(|_| ())
    }

    /// Writes `bytes` as this object unless one is there already: its version tag, or `None`
    /// when there was one.
    pub fn put_new(&self, bytes: Vec<u8>) -> io::Result<Option<String>> {
        self.put(bytes, PutMode::Create)
    }

    /// Replaces this object with `bytes` if it is still the version `e_tag`: the new version's
    /// tag, or `None` if another writer changed it since.
    pub fn replace(&self, bytes: Vec<u8>, e_tag: &str) -> io::Result<Option<String>> {
        let version = UpdateVersion {
            e_tag: Some(e_tag.to_string()),
            version: None,
        };
        self.put(bytes, PutMode::Update(version))
    }

    /// A conditional put: the new version's tag, or `None` when its condition failed.
    fn put(&self, bytes: Vec<u8>, mode: PutMode) -> io::Result<Option<String>> {
        let opts = PutOptions {
            mode,
            ..Default::default()
        };
        match block_on(
            self.store
                .put_opts(&self.path, PutPayload::from(bytes), opts),
        ) {
            Ok(put) => Ok(Some(put.e_tag.unwrap_or_default())),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. })
            | Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(io_err(e)),
        }
    }

    /// The object's bytes and version tag (`None` when there is no object).
    pub fn read(&self) -> io::Result<Option<(Vec<u8>, String)>> {
        let got = match block_on(self.store.get(&self.path)) {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(io_err(e)),
        };
        let tag = got.meta.e_tag.clone().unwrap_or_default();
        let bytes = block_on(got.bytes()).map_err(io_err)?;
        Ok(Some((bytes.to_vec(), tag)))
    }

    /// Copies this object to `to` (in the same store) on the server side.
    pub fn copy_to(&self, to: &Remote) -> io::Result<()> {
        block_on(self.store.copy(&self.path, &to.path)).map_err(io_err)
    }

    /// The object named `name` under this prefix.
    pub fn join(&self, name: &str) -> io::Result<Remote> {
        Remote::parse(Path::new(&format!(
            "{}/{name}",
            self.url.trim_end_matches('/')
        )))
    }

    /// Removes the object (none there is no error).
    pub fn delete(&self) -> io::Result<()> {
        match block_on(self.store.delete(&self.path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(io_err(e)),
        }
    }

    /// The whole object as a stream of bytes, fetched as it is read.
    pub fn stream(&self) -> io::Result<Box<dyn Read + Send>> {
        let got = block_on(self.store.get(&self.path)).map_err(io_err)?;
        Ok(Box::new(StreamRead {
            stream: got.into_stream(),
            current: Bytes::new(),
        }))
    }
}

/// [`Read`] over an object's byte stream.
struct StreamRead {
    stream: futures::stream::BoxStream<'static, object_store::Result<Bytes>>,
    current: Bytes,
}

impl Read for StreamRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match block_on(self.stream.next()) {
                Some(Ok(bytes)) => self.current = bytes,
                Some(Err(e)) => return Err(io_err(e)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        self.current.copy_to_slice(&mut buf[..n]);
        Ok(n)
    }
}

/// An object opened for Parquet's reader: byte ranges on demand.
pub struct RemoteFile {
    remote: Remote,
    size: u64,
}

impl RemoteFile {
    /// The whole object as a stream of bytes.
    pub fn stream(&self) -> io::Result<Box<dyn Read + Send>> {
        self.remote.stream()
    }
}

impl parquet::file::reader::Length for RemoteFile {
    fn len(&self) -> u64 {
        self.size
    }
}

impl parquet::file::reader::ChunkReader for RemoteFile {
    type T = WindowRead;

    fn get_read(&self, start: u64) -> parquet::errors::Result<WindowRead> {
        Ok(WindowRead {
            remote: self.remote.clone(),
            pos: start,
            end: self.size,
            current: Bytes::new(),
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let end = start + length as u64;
        self.remote
            .range(start..end)
            .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))
    }
}

/// [`Read`] from a position to the end of an object, fetched a window at a time.
pub struct WindowRead {
    remote: Remote,
    pos: u64,
    end: u64,
    current: Bytes,
}

impl Read for WindowRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.current.is_empty() {
            if self.pos >= self.end {
                return Ok(0);
            }
            let to = (self.pos + WINDOW).min(self.end);
            self.current = self.remote.range(self.pos..to)?;
            self.pos = to;
        }
        let n = buf.len().min(self.current.len());
        self.current.copy_to_slice(&mut buf[..n]);
        Ok(n)
    }
}

/// A file opened where it lies: on the local disk, or an object in a store. Both are read the
/// same way: streamed ([`AnyFile::stream`]) or, for Parquet, by byte ranges (a `ChunkReader`).
pub enum AnyFile {
    Local(std::fs::File),
    Remote(RemoteFile),
}

/// Opens `path`, a local path or an object's URL.
pub fn open(path: &Path) -> io::Result<AnyFile> {
    match is_url(path) {
        true => Remote::parse(path)?.open().map(AnyFile::Remote),
        false => std::fs::File::open(path).map(AnyFile::Local),
    }
}

/// Removes the file or object `path`; one that is not there is no error.
pub fn remove_file(path: &Path) -> io::Result<()> {
    if is_url(path) {
        return Remote::parse(path)?.delete();
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

impl AnyFile {
    /// The whole file as a stream of bytes.
    pub fn stream(self) -> io::Result<Box<dyn Read + Send>> {
        match self {
            AnyFile::Local(file) => Ok(Box::new(file)),
            AnyFile::Remote(object) => object.stream(),
        }
    }
}

impl parquet::file::reader::Length for AnyFile {
    fn len(&self) -> u64 {
        match self {
            AnyFile::Local(file) => file.len(),
            AnyFile::Remote(object) => object.len(),
        }
    }
}

impl parquet::file::reader::ChunkReader for AnyFile {
    type T = Box<dyn Read + Send>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(match self {
            AnyFile::Local(file) => Box::new(file.get_read(start)?),
            AnyFile::Remote(object) => Box::new(object.get_read(start)?),
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        match self {
            AnyFile::Local(file) => file.get_bytes(start, length),
            AnyFile::Remote(object) => object.get_bytes(start, length),
        }
    }
}
