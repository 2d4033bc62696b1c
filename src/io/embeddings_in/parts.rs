//! The parts of a sharded `embed` job (`part-IIIII-of-NNNNN.parquet`), checked as one whole set
//! before any is read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{footer_value, EmbeddingsReadError};
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

/// The parts among `files` (named `part-IIIII-of-NNNNN.parquet`) must be one whole set: one
/// count, every index once.
pub(super) fn check_parts(files: &[PathBuf]) -> Result<(), EmbeddingsReadError> {
    use crate::io::shard::Shard;
    let mut first: Option<(&PathBuf, Shard)> = None;
    let mut seen: HashMap<u32, &PathBuf> = HashMap::new();
    for path in files {
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
                path: path.clone(),
                theirs: shard.count,
                first_path: first_path.clone(),
                first: first_shard.count,
            });
        }
        if let Some(earlier) = seen.insert(shard.index, path) {
            return Err(EmbeddingsReadError::PartTwice {
                path: path.clone(),
                index: shard.index,
                first: earlier.clone(),
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
            let Some((start, stop, total)) = shard_records(path) else {
                return Ok(()); // parts without the metadata (older): nothing to compare
            };
            let total_now = *input_total.get_or_insert(total);
            if start != end || total != total_now || (index + 1 == shard.count && stop != total) {
                return Err(EmbeddingsReadError::PartsDisagree {
                    path: path.clone(),
                    got: format!("{start}-{stop} of {total}"),
                    want: end,
                    total: total_now,
                });
            }
            end = stop;
        }
        // All parts of one input, by its fingerprint (parts of older versions have none).
        let first_input = footer_value(seen[&0], meta::INPUT);
        for index in 1..shard.count {
            let theirs = footer_value(seen[&index], meta::INPUT);
            if let (Some(a), Some(b)) = (&first_input, &theirs) {
                if a != b {
                    return Err(EmbeddingsReadError::PartsOtherInput {
                        path: seen[&index].clone(),
                        first: seen[&0].clone(),
                    });
                }
            }
        }
    }
    Ok(())
}

/// A part's `START-END of TOTAL` (its metadata), when it says so.
fn shard_records(path: &Path) -> Option<(u64, u64, u64)> {
    let text = footer_value(path, meta::SHARD_RECORDS)?;
    let (range, total) = text.split_once(" of ")?;
    let (start, stop) = range.split_once('-')?;
    Some((start.parse().ok()?, stop.parse().ok()?, total.parse().ok()?))
}
