//! Tokenizing texts with the model's `tokenizer.json`, in parallel, truncated to the max length,
//! and grouping them into length-sorted batches so that little padding is computed.

use std::path::Path;

use rayon::prelude::*;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use super::EmbedError;

/// One tokenized text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tokens {
    /// Token ids, special tokens included, at most the max length.
    pub ids: Vec<u32>,
    /// The text had more tokens than the max length.
    pub truncated: bool,
}

/// The model's tokenizer, set to truncate at `max_length` and not to pad.
pub struct TextTokenizer {
    inner: Tokenizer,
    max_length: usize,
}

impl TextTokenizer {
    pub fn from_file(path: &Path, max_length: usize) -> Result<Self, EmbedError> {
        let mut inner = Tokenizer::from_file(path).map_err(|source| EmbedError::Tokenizer {
            path: path.to_path_buf(),
            source,
        })?;
        inner.with_padding(None);
        inner
            .with_truncation(Some(TruncationParams {
                max_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|source| EmbedError::Truncation { max_length, source })?;
        Ok(Self { inner, max_length })
    }

    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Token ids this tokenizer can produce (added tokens included).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Tokenizes one text (no character offsets are computed: only ids are needed).
    pub fn encode(&self, text: &str) -> Result<Tokens, EmbedError> {
        let enc = self
            .inner
            .encode_fast(text, true)
            .map_err(|source| EmbedError::Tokenize { source })?;
        Ok(Tokens {
            ids: enc.get_ids().to_vec(),
            truncated: !enc.get_overflowing().is_empty(),
        })
    }

    /// Tokenizes many texts on rayon's threads; the output is in input order.
    pub fn encode_all<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Result<Vec<Tokens>, EmbedError> {
        texts.par_iter().map(|t| self.encode(t.as_ref())).collect()
    }
}

/// Texts in one packed batch at most (the CUDA attention kernel's grid has one z-slot a text).
pub const MAX_PACKED_TEXTS: usize = 65_535;

/// Groups text indices into batches of at most `batch_size` texts and `max_tokens` tokens,
/// longest first, so the texts in a batch have similar lengths. Tokens are counted padded to the
/// batch's longest text, or as they are when `packed` (the packed forward pass does no padding;
/// its batches also hold at most [`MAX_PACKED_TEXTS`]).
pub fn plan_batches(
    lengths: &[usize],
    batch_size: usize,
    max_tokens: usize,
    packed: bool,
) -> Vec<Vec<usize>> {
    let batch_size = if packed {
        batch_size.min(MAX_PACKED_TEXTS)
    } else {
        batch_size
    };
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    // Stable sort: equal lengths keep input order, so runs are reproducible.
    order.sort_by(|&a, &b| lengths[b].cmp(&lengths[a]));
    let mut batches = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut real = 0;
    for i in order {
        // Sorted longest first, so the first text of a batch sets its padded length.
        let padded = current.first().map_or(lengths[i], |&f| lengths[f]);
        let cost = if packed {
            real + lengths[i]
        } else {
            (current.len() + 1) * padded
        };
        if !current.is_empty() && (current.len() >= batch_size || cost > max_tokens) {
            batches.push(std::mem::take(&mut current));
            real = 0;
        }
        current.push(i);
        real += lengths[i];
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_length_sorted_and_cover_every_text_once() {
        let lengths = [5, 30, 7, 30, 2, 12, 9];
        let batches = plan_batches(&lengths, 3, usize::MAX, false);
        assert_eq!(batches, vec![vec![1, 3, 5], vec![6, 2, 0], vec![4]]);
        let mut all: Vec<usize> = batches.concat();
        all.sort();
        assert_eq!(all, (0..lengths.len()).collect::<Vec<_>>());
    }

    #[test]
    fn token_budget_splits_long_batches() {
        let lengths = [100, 100, 100, 10, 10];
        let batches = plan_batches(&lengths, 64, 250, false);
        // 100 + 10 + 10 padded to 100 each is 300 > 250, so the last short text starts a new batch.
        assert_eq!(batches, vec![vec![0, 1], vec![2, 3], vec![4]]);
        // Packed, the same texts cost 100 + 100 then 100 + 10 + 10: no padding counted.
        let batches = plan_batches(&lengths, 64, 250, true);
        assert_eq!(batches, vec![vec![0, 1], vec![2, 3, 4]]);
        // Packed batches never exceed what the GPU kernels take, whatever the batch size asked.
        let many = vec![3; MAX_PACKED_TEXTS + 5];
        let batches = plan_batches(&many, usize::MAX, usize::MAX, true);
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[0].len(), MAX_PACKED_TEXTS);
    }
}
