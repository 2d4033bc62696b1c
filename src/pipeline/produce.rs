//! The embedding job's input side: one thread reads and checks records, a pool beside it
//! tokenizes, so reading the next chunk overlaps tokenizing the last one. Chunks reach the
//! embedding loop in input order through a bounded channel; bad records go to it as they are met.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::ops::Range;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::time::Instant;

use crate::embed::{TextTokenizer, Tokens};
use crate::error::Error;
use crate::io::embeddings_out::EmbeddedArticle;
use crate::io::{ArticleReader, BadRecord, Item, Location, TextSpec};

/// What the producer hands to the embedding loop.
pub(super) enum Produced {
    Bad(BadRecord),
    /// Articles, their tokens, and the seconds spent tokenizing them.
    Chunk(Vec<EmbeddedArticle>, Vec<Tokens>, f64),
    Fatal(Error),
}

/// Chunks read and waiting for the tokenizer at most.
const READ_AHEAD: usize = 2;

/// Reads records (on a thread of its own), drops the bad ones (sent for reporting), tokenizes
/// chunks of `chunk_size` articles on a pool and sends them, in input order. A chunk also ends
/// where a row group of `group_rows` rows does (counted from the slice's start), so that a job
/// resumed after a row group batches its texts as an uninterrupted one did. `slice`: the
/// positions a shard embeds (all when `None`). Returns when the input (or the slice) ends or the
/// receiver is gone.
pub(super) fn produce(
    reader: ArticleReader,
    text: &TextSpec,
    tokenizer: &TextTokenizer,
    (chunk_size, group_rows): (usize, usize),
    slice: Option<Range<u64>>,
    tx: SyncSender<Produced>,
) {
    // Tokenizing leaves two cores to the embedding loop (which launches the GPU's work) and the
    // writer: on 16 cores, a pool of all 16 slowed the GPU path down.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cores.saturating_sub(2).max(1))
        .thread_name(|i| format!("tokenize-{i}"))
        .build()
        .ok();
    let (chunks_tx, chunks) = sync_channel::<(Vec<EmbeddedArticle>, Vec<String>)>(READ_AHEAD);
    std::thread::scope(|scope| {
        let bad_tx = tx.clone();
        let sizes = (chunk_size, group_rows.max(1));
        scope.spawn(move || read_chunks(reader, text, sizes, slice, bad_tx, chunks_tx));
        // Returning drops `chunks`, which stops the reader at its next send.
        for (rows, texts) in chunks {
            let t0 = Instant::now();
            let tokens = match &pool {
                Some(pool) => pool.install(|| tokenizer.encode_all(&texts)),
                None => tokenizer.encode_all(&texts),
            };
            let (msg, fatal) = match tokens {
                Ok(tokens) => (
                    Produced::Chunk(rows, tokens, t0.elapsed().as_secs_f64()),
                    false,
                ),
                Err(err) => (Produced::Fatal(err.into()), true),
            };
            if tx.send(msg).is_err() || fatal {
                return;
            }
        }
    });
}

/// Reads the records, sends bad ones to `tx` and chunks of articles with their texts to
/// `chunks`.
fn read_chunks(
    mut reader: ArticleReader,
    text: &TextSpec,
    (chunk_size, group_rows): (usize, usize),
    slice: Option<Range<u64>>,
    tx: SyncSender<Produced>,
    chunks: SyncSender<(Vec<EmbeddedArticle>, Vec<String>)>,
) {
    let mut seen = SeenIds::default();
    let mut rows: Vec<EmbeddedArticle> = Vec::with_capacity(chunk_size);
    let mut texts: Vec<String> = Vec::with_capacity(chunk_size);
    // A shard reads the records before its slice too, for the duplicate-id check (so that it
    // keeps and skips what one job over the whole input would), but neither embeds nor reports
    // them: they are another shard's.
    let slice = slice.unwrap_or(0..u64::MAX);
    let mut position = 0u64;
    // Rows sent in earlier chunks.
    let mut sent = 0usize;
    loop {
        let item = if position >= slice.end {
            None
        } else {
            match reader.next().transpose() {
                Ok(item) => item,
                Err(err) => {
                    let _ = tx.send(Produced::Fatal(err.into()));
                    return;
                }
            }
        };
        let mine = position >= slice.start;
        position += 1;
        let end = item.is_none();
        let bad = match item {
            None => None,
            Some(Item::Bad(bad)) => Some(bad),
            Some(Item::Article(mut article)) => {
                let file = reader.file_index();
                let bad = |reason: String| BadRecord {
                    path: reader.path().to_path_buf(),
                    location: article.location,
                    reason,
                };
                match text.compose(&article) {
                    None => Some(bad(
                        "nothing to embed: title and text are empty after trimming".into(),
                    )),
                    Some(t) => {
                        if article.made_up_id {
                            // A real id took this one: the made-up id moves on (`#7-2`).
                            seen.make_unique(&mut article.id);
                        }
                        match seen.first(&article.id, file, article.location, article.made_up_id) {
                            Some(first) => {
                                Some(bad(duplicate(&article.id, first, file, reader.files())))
                            }
                            None if !mine => None,
                            None => {
                                rows.push(EmbeddedArticle {
                                    article,
                                    n_tokens: 0,
                                    truncated: false,
                                });
                                texts.push(t);
                                None
                            }
                        }
                    }
                }
            }
        };
        if let Some(bad) = bad.filter(|_| mine) {
            if tx.send(Produced::Bad(bad)).is_err() {
                return;
            }
        }
        let group_ends = !rows.is_empty() && (sent + rows.len()) % group_rows == 0;
        if rows.len() >= chunk_size || group_ends || (end && !rows.is_empty()) {
            sent += rows.len();
            let chunk = (
                std::mem::replace(&mut rows, Vec::with_capacity(chunk_size)),
                std::mem::replace(&mut texts, Vec::with_capacity(chunk_size)),
            );
            if chunks.send(chunk).is_err() {
                return;
            }
        }
        if end {
            return;
        }
    }
}

/// Why a record whose id was seen before is skipped: where the first was, and whether newsclust
/// made that id for a record without one.
fn duplicate(id: &str, first: Seen, file: usize, files: &[std::path::PathBuf]) -> String {
    let at = if first.file == file {
        format!("at {}", first.at)
    } else {
        format!("in {}, {}", files[first.file].display(), first.at)
    };
    if first.made_up {
        format!(
            "duplicate id '{id}': newsclust gave it to the record without an id {at} (ids {}N are made so for records without one); give this record another id",
            crate::io::MADE_UP_ID
        )
    } else {
        format!("duplicate id '{id}' (first {at})")
    }
}

/// Where an id was first seen: the input file's index and the place in it, and whether
/// newsclust made the id.
#[derive(Clone, Copy)]
struct Seen {
    file: usize,
    at: Location,
    made_up: bool,
}

/// Ids seen so far, kept as 128-bit hashes (16 bytes an article, not the id strings), with
/// where each was first seen.
#[derive(Default)]
struct SeenIds {
    first: HashMap<u128, Seen>,
}

impl SeenIds {
    fn key(id: &str) -> u128 {
        let half = |salt: u64| {
            let mut h = DefaultHasher::new();
            salt.hash(&mut h);
            id.hash(&mut h);
            h.finish()
        };
        ((half(0x9e37_79b9) as u128) << 64) | half(0x85eb_ca6b) as u128
    }

    /// Records `id`; returns where it was first seen if it is a duplicate.
    fn first(&mut self, id: &str, file: usize, at: Location, made_up: bool) -> Option<Seen> {
        let key = Self::key(id);
        match self.first.get(&key) {
            Some(seen) => Some(*seen),
            None => {
                self.first.insert(key, Seen { file, at, made_up });
                None
            }
        }
    }

    /// A made-up `id` that a real id took already gets `-2`, `-3`, … until it is new.
    fn make_unique(&self, id: &mut String) {
        if !self.first.contains_key(&Self::key(id)) {
            return;
        }
        let base = id.clone();
        for n in 2u64.. {
            *id = format!("{base}-{n}");
            if !self.first.contains_key(&Self::key(id)) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::ReadOptions;

    /// Chunks arrive whole and in input order while reading runs ahead of tokenizing; bad
    /// records arrive too, and every record is accounted for once.
    #[test]
    fn chunks_keep_input_order_and_every_record_is_accounted_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.jsonl");
        let mut lines = String::new();
        for i in 0..40 {
            // Every 7th record repeats an id, every 11th has nothing to embed.
            let id = if i % 7 == 6 { i - 1 } else { i };
            let title = if i % 11 == 10 {
                "  ".into()
            } else {
                format!("Story number {i}")
            };
            lines.push_str(&format!("{{\"id\": \"{id}\", \"title\": \"{title}\"}}\n"));
        }
        std::fs::write(&path, lines).unwrap();
        let reader = ArticleReader::open(&path, &ReadOptions::default()).unwrap();
        let model = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/models/sentence-transformers/all-MiniLM-L6-v2"
        );
        let tokenizer =
            TextTokenizer::from_file(&std::path::Path::new(model).join("tokenizer.json"), 256)
                .expect("the default model (sh models/install-default.sh)");
        let (tx, rx) = sync_channel(1);
        let text = TextSpec::default();
        let (mut ids, mut bad, mut sizes) = (Vec::new(), Vec::new(), Vec::new());
        std::thread::scope(|scope| {
            scope.spawn(|| produce(reader, &text, &tokenizer, (3, 8), None, tx));
            for msg in rx {
                match msg {
                    Produced::Chunk(rows, tokens, _) => {
                        sizes.push(rows.len());
                        assert_eq!(rows.len(), tokens.len());
                        for (row, t) in rows.iter().zip(&tokens) {
                            // [CLS] story number N [SEP]
                            assert!(t.ids.len() >= 4, "{:?}", t.ids);
                            ids.push(row.article.id.parse::<usize>().unwrap());
                        }
                    }
                    Produced::Bad(b) => bad.push(b.location),
                    Produced::Fatal(e) => panic!("{e}"),
                }
            }
        });
        let want: Vec<usize> = (0..40).filter(|i| i % 7 != 6 && i % 11 != 10).collect();
        assert_eq!(ids, want, "articles in input order");
        // Chunks of 3 that also end where each row group of 8 does.
        let mut expect = Vec::new();
        let mut left = want.len();
        while left > 0 {
            for n in [3, 3, 2] {
                let n = n.min(left);
                if n > 0 {
                    expect.push(n);
                }
                left -= n;
            }
        }
        assert_eq!(sizes, expect);
        bad.sort_by_key(|l| match l {
            Location::Line(n) | Location::Row(n) => *n,
        });
        let want_bad: Vec<Location> = (0..40u64)
            .filter(|i| i % 7 == 6 || i % 11 == 10)
            .map(|i| Location::Line(i + 1))
            .collect();
        assert_eq!(bad, want_bad);
    }
}
