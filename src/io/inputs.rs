//! Several input files read as one: which files a list of paths and folders names, and how a
//! later file's columns map onto the first file's (the output's).

use std::path::{Path, PathBuf};

use super::{detect, Article, InputColumns, InputFormat, ReadError};

/// The files `inputs` name, in order: a file as given, a folder as its input files (by
/// extension: those of `format`, or of any format for `auto`; hidden files left out), sorted
/// by name, not descending into subfolders. A folder without one, or a file named twice
/// (directly or through a folder), is an error.
pub fn input_files(inputs: &[PathBuf], format: InputFormat) -> Result<Vec<PathBuf>, ReadError> {
    let mut files = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for input in inputs {
        let open_err = |source| ReadError::Open {
            path: input.clone(),
            source,
        };
        let found = if super::remote::is_url(input) {
            remote_files(input, format).map_err(open_err)?
        } else if std::fs::metadata(input).map_err(open_err)?.is_dir() {
            let mut found = Vec::new();
            for entry in std::fs::read_dir(input).map_err(open_err)? {
                let path = entry.map_err(open_err)?.path();
                let hidden = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_none_or(|n| n.starts_with('.'));
                let wanted = detect(&path)
                    .0
                    .is_some_and(|f| format == InputFormat::Auto || f == format);
                if hidden || !wanted {
                    continue;
                }
                // Followed through links: a link that leads nowhere (or in a circle) is an
                // error, as naming it directly would be, not a file silently left out.
                match std::fs::metadata(&path) {
                    Ok(meta) if meta.is_file() => found.push(path),
                    Ok(_) => {}
                    Err(source) => return Err(ReadError::BrokenLink { path, source }),
                }
            }
            if found.is_empty() {
                return Err(empty_folder(input, format));
            }
            found.sort();
            found
        } else {
            vec![input.clone()]
        };
        for path in found {
            let key = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            if let Some(first) = seen.insert(key, path.clone()) {
                let first = (first != path).then_some(first);
                return Err(ReadError::Twice { path, first });
            }
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(ReadError::NoInput);
    }
    Ok(files)
}

/// The objects an object-storage input names: the object itself when there is one (and the URL
/// does not end in `/`), else the input files directly under it as a prefix (by extension, as
/// in a folder; hidden names left out).
fn remote_files(input: &Path, format: InputFormat) -> std::io::Result<Vec<PathBuf>> {
    let remote = super::remote::Remote::parse(input)?;
    let as_prefix = input.to_str().is_some_and(|s| s.ends_with('/'));
    if !as_prefix {
        match remote.size() {
            Ok(_) => return Ok(vec![input.to_path_buf()]),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    let found: Vec<PathBuf> = remote
        .list()?
        .into_iter()
        .filter(|path| {
            let hidden = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_none_or(|n| n.starts_with('.'));
            let wanted = detect(path)
                .0
                .is_some_and(|f| format == InputFormat::Auto || f == format);
            !hidden && wanted
        })
        .collect();
    if found.is_empty() {
        let what = match as_prefix {
            true => "no input files under this prefix",
            false => "no such object, and no input files under it as a prefix",
        };
        return Err(std::io::Error::new(std::io::ErrorKind::NotFound, what));
    }
    Ok(found)
}

fn empty_folder(input: &Path, format: InputFormat) -> ReadError {
    ReadError::EmptyFolder {
        path: input.to_path_buf(),
        kinds: match format {
            InputFormat::Csv => ".csv, .csv.gz or .csv.zst",
            InputFormat::Jsonl => ".jsonl, .ndjson or .json, also .gz or .zst",
            InputFormat::Parquet => ".parquet or .pq",
            InputFormat::Auto => ".csv, .jsonl, .ndjson, .json (also .gz or .zst), .parquet or .pq",
        },
    }
}

/// How a later file's records map onto the output's columns (the first file's).
#[derive(Default)]
pub(super) struct Remap {
    /// For each output extra column, the index of the file's own column; `None`: same columns.
    extra: Option<Vec<Option<usize>>>,
    drop_date: bool,
    drop_label: bool,
    /// What differs, for the warning.
    missing: Vec<String>,
    left_out: Vec<String>,
}

impl Remap {
    pub(super) fn new(ours: &InputColumns, theirs: &InputColumns) -> Self {
        let mut remap = Self {
            drop_date: theirs.has_date && !ours.has_date,
            drop_label: theirs.has_label && !ours.has_label,
            ..Self::default()
        };
        for (flag, kept, name) in [
            (theirs.has_date, ours.has_date, "date"),
            (theirs.has_label, ours.has_label, "label"),
        ] {
            match (flag, kept) {
                (true, false) => remap.left_out.push(name.into()),
                (false, true) => remap.missing.push(name.into()),
                _ => {}
            }
        }
        if ours.extra != theirs.extra {
            let map: Vec<Option<usize>> = ours
                .extra
                .iter()
                .map(|name| theirs.extra.iter().position(|n| n == name))
                .collect();
            for (name, slot) in ours.extra.iter().zip(&map) {
                if slot.is_none() {
                    remap.missing.push(name.clone());
                }
            }
            for name in &theirs.extra {
                if !ours.extra.contains(name) {
                    remap.left_out.push(name.clone());
                }
            }
            remap.extra = Some(map);
        }
        remap
    }

    pub(super) fn warn(&self, path: &Path, first: &Path) {
        let list = |names: &[String]| names.join("', '");
        if !self.missing.is_empty() {
            tracing::warn!(
                "{}: lacks column '{}' of {}: its records have none there",
                path.display(),
                list(&self.missing),
                first.display()
            );
        }
        if !self.left_out.is_empty() {
            tracing::warn!(
                "{}: column '{}' left out: the output has the columns of the first input file, {}",
                path.display(),
                list(&self.left_out),
                first.display()
            );
        }
    }

    pub(super) fn apply(&self, article: &mut Article) {
        if self.drop_date {
            article.date = None;
        }
        if self.drop_label {
            article.label = None;
        }
        if let Some(map) = &self.extra {
            let mut theirs = std::mem::take(&mut article.extra);
            article.extra = map
                .iter()
                .map(|slot| slot.and_then(|i| theirs[i].take()))
                .collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_expand_to_their_input_files_by_name() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.jsonl", "a.csv", "c.parquet", ".hidden.csv", "notes.txt"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub.csv")).unwrap();
        let single = dir.path().join("notes.txt");
        let names = |files: Vec<PathBuf>| -> Vec<String> {
            let names = files
                .iter()
                .map(|p| p.file_name().unwrap().to_string_lossy());
            names.map(|n| n.into_owned()).collect()
        };
        let all = input_files(&[dir.path().to_path_buf()], InputFormat::Auto).unwrap();
        assert_eq!(names(all), ["a.csv", "b.jsonl", "c.parquet"]);
        let csv = input_files(&[dir.path().to_path_buf()], InputFormat::Csv).unwrap();
        assert_eq!(names(csv), ["a.csv"]);
        // A file given by name is taken whatever its extension (its reader judges it).
        let given = input_files(
            &[single.clone(), dir.path().join("a.csv")],
            InputFormat::Auto,
        );
        assert_eq!(names(given.unwrap()), ["notes.txt", "a.csv"]);
        let twice = input_files(
            &[dir.path().join("a.csv"), dir.path().to_path_buf()],
            InputFormat::Auto,
        );
        assert!(
            matches!(twice, Err(ReadError::Twice { first: None, .. })),
            "{twice:?}"
        );
        let none = input_files(&[dir.path().join("sub.csv")], InputFormat::Auto);
        assert!(
            matches!(none, Err(ReadError::EmptyFolder { .. })),
            "{none:?}"
        );
        assert!(matches!(
            input_files(&[], InputFormat::Auto),
            Err(ReadError::NoInput)
        ));
    }

    #[test]
    fn formats_and_compression_come_from_the_extensions() {
        use super::super::Compression;
        let d = |name: &str| detect(Path::new(name));
        assert_eq!(d("a.CSV.GZ"), (Some(InputFormat::Csv), Compression::Gzip));
        assert_eq!(
            d("dir.v2/x.ndjson.zst"),
            (Some(InputFormat::Jsonl), Compression::Zstd)
        );
        assert_eq!(
            d("p.parquet.gz"),
            (Some(InputFormat::Parquet), Compression::Gzip)
        );
        assert_eq!(d("t.json"), (Some(InputFormat::Jsonl), Compression::None));
        assert_eq!(d("dump.gz").0, None);
        assert_eq!(d("notes.txt").0, None);
    }

    #[test]
    fn a_later_file_is_mapped_onto_the_first_files_columns() {
        let cols = |date, label, extra: &[&str]| InputColumns {
            has_date: date,
            has_label: label,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        let ours = cols(true, false, &["source", "url"]);
        let theirs = cols(false, true, &["lang", "url"]);
        let remap = Remap::new(&ours, &theirs);
        assert_eq!(remap.missing, ["date", "source"]);
        assert_eq!(remap.left_out, ["label", "lang"]);
        let mut a = Article {
            position: 0,
            location: crate::io::Location::Line(1),
            id: "x".into(),
            made_up_id: false,
            title: "t".into(),
            text: String::new(),
            date: None,
            label: Some("gold".into()),
            extra: vec![Some("en".into()), Some("http://x".into())],
        };
        remap.apply(&mut a);
        assert_eq!(a.extra, [None, Some("http://x".to_string())]);
        assert_eq!(a.label, None);
        // Same columns in another order are the same columns, reordered.
        let swapped = Remap::new(&ours, &cols(true, false, &["url", "source"]));
        assert!(swapped.missing.is_empty() && swapped.left_out.is_empty());
        let mut b = Article {
            extra: vec![Some("u".into()), Some("s".into())],
            ..a.clone()
        };
        swapped.apply(&mut b);
        assert_eq!(b.extra, [Some("s".to_string()), Some("u".to_string())]);
    }
}
