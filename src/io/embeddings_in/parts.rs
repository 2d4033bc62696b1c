//! The parts of a sharded `embed` job (`part-IIIII-of-NNNNN.parquet`), checked as one whole set
//! before any is read.

use std::collections::HashMap;
use std::path::Path;

use super::EmbeddingsReadError;
use crate::io::format::meta;

pub(super) fn missing_names(missing: &[u32], count: u32) -> String {
    let names: Vec<String> = missing
        .iter()
        .take(5)
        .map(|&index| crate::io::shard::Shard { index, count }.part_name())
        .collect();
    let more = missing.len().saturating_sub(names.len());
    if more > 0 {
        format!("{} and {more} more", names.join(", "))
    } else {
        names.join(", ")
    }
}

/// The parts among `files` (named `part-IIIII-of-NNNNN.parquet`; each with its footer
/// metadata) must be one whole set: one count, every index once, contiguous records of one input.
pub(super) fn check_parts(
    files: &[(&Path, &HashMap<String, String>)],
) -> Result<(), EmbeddingsReadError> {
    use crate::io::shard::Shard;
    let footer: HashMap<&Path, &HashMap<String, String>> = files.iter().copied().collect();
    let value = |path: &Path, key: &str| footer[path].get(key).cloned();
    let mut first: Option<(&Path, Shard)> = None;
    let mut seen: HashMap<u32, &Path> = HashMap::new();
    for &(path, _) in files {
        let Some(shard) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(Shard::of_part_name)
        else {
            continue;
        };
        let (first_path, first_shard) = *first.get_or_insert((path, shard));
        if shard.count != first_shard.count {
            return Err(EmbeddingsReadError::PartsMixed {
                path: path.to_path_buf(),
                theirs: shard.count,
                first_path: first_path.to_path_buf(),
                first: first_shard.count,
            });
        }
        if let Some(earlier) = seen.insert(shard.index, path) {
            return Err(EmbeddingsReadError::PartTwice {
                path: path.to_path_buf(),
                index: shard.index,
                first: earlier.to_path_buf(),
            });
        }
    }
    if let Some((path, shard)) = first {
        let missing: Vec<u32> = (0..shard.count).filter(|i| !seen.contains_key(i)).collect();
        if !missing.is_empty() {
            return Err(EmbeddingsReadError::PartsMissing {
                folder: path.parent().map(Path::to_path_buf).unwrap_or_default(),
                missing,
                count: shard.count,
            });
        }
        // In index order, each part starts where the one before ended, all of one input.
        let mut end = 0u64;
        let mut input_total = None;
        for index in 0..shard.count {
            let path = seen[&index];
            let Some((start, stop, total)) = value(path, meta::SHARD_RECORDS)
                .as_deref()
                .and_then(shard_records)
            else {
                return Ok(()); // parts without the metadata (older): nothing to compare
            };
            let total_now = *input_total.get_or_insert(total);
            if start != end || total != total_now || (index + 1 == shard.count && stop != total) {
                return Err(EmbeddingsReadError::PartsDisagree {
                    path: path.to_path_buf(),
                    got: format!("{start}-{stop} of {total}"),
                    want: end,
                    total: total_now,
                });
            }
            end = stop;
        }
        // All parts of one input, by its fingerprint (parts of older versions have none).
        let first_input = value(seen[&0], meta::INPUT);
        for index in 1..shard.count {
            let theirs = value(seen[&index], meta::INPUT);
            if let (Some(a), Some(b)) = (&first_input, &theirs) {
                if a != b {
                    return Err(EmbeddingsReadError::PartsOtherInput {
                        path: seen[&index].to_path_buf(),
                        first: seen[&0].to_path_buf(),
                    });
                }
            }
        }
    }
    Ok(())
}

/// A part's `START-END of TOTAL` (its metadata).
fn shard_records(text: &str) -> Option<(u64, u64, u64)> {
    let (range, total) = text.split_once(" of ")?;
    let (start, stop) = range.split_once('-')?;
    Some((start.parse().ok()?, stop.parse().ok()?, total.parse().ok()?))
}
