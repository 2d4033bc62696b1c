//! Surviving GPU out-of-memory: a batch that does not fit is halved and retried; a single text
//! that still does not fit is embedded by a fallback (the CPU) with a warning. Every text is
//! embedded exactly once, and the output keeps the input order.

use super::{EmbedError, Embedder};

/// Does this error say the device ran out of memory?
pub fn is_out_of_memory(err: &EmbedError) -> bool {
    match err {
        EmbedError::Compute { source, .. } => {
            let text = source.to_string().to_ascii_lowercase();
            // The driver's CUDA_ERROR_OUT_OF_MEMORY ("out of memory"), cuBLAS failing to get
            // its workspace (CUBLAS_STATUS_ALLOC_FAILED), or an allocator's "OOM" as a word.
            text.contains("out of memory")
                || text.contains("out_of_memory")
                || text.contains("alloc_failed")
                || text
                    .split(|c: char| !c.is_ascii_alphanumeric())
                    .any(|word| word == "oom")
        }
        _ => false,
    }
}

/// Embeds `seqs` with `primary`, halving on out-of-memory; `fallback` gives the embedder used
/// when even one text does not fit (created on first need).
pub fn embed_resilient<'a>(
    primary: &dyn Embedder,
    fallback: &dyn Fn() -> Result<&'a dyn Embedder, EmbedError>,
    seqs: &[&[u32]],
) -> Result<Vec<f32>, EmbedError> {
    match primary.embed(seqs) {
        Ok(v) => Ok(v),
        Err(err) if is_out_of_memory(&err) => {
            if seqs.len() > 1 {
                let (left, right) = seqs.split_at(seqs.len() / 2);
                tracing::warn!(
                    "out of memory on {} with {} texts; retrying as {} + {}",
                    primary.device_name(),
                    seqs.len(),
                    left.len(),
                    right.len()
                );
                let mut out = embed_resilient(primary, fallback, left)?;
                out.extend(embed_resilient(primary, fallback, right)?);
                Ok(out)
            } else {
                let fb = fallback()?;
                tracing::warn!(
                    "out of memory on {} for a single text of {} tokens; embedding it on {}",
                    primary.device_name(),
                    seqs[0].len(),
                    fb.device_name()
                );
                fb.embed(seqs)
            }
        }
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Embeds a text as [first token, length]; fails with OOM above `limit` texts or tokens.
    struct Fake {
        max_texts: usize,
        max_tokens: usize,
        calls: AtomicUsize,
        name: &'static str,
    }

    impl Embedder for Fake {
        fn dim(&self) -> usize {
            2
        }
        fn embed(&self, seqs: &[&[u32]]) -> Result<Vec<f32>, EmbedError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if seqs.len() > self.max_texts || seqs.iter().any(|s| s.len() > self.max_tokens) {
                return Err(EmbedError::Compute {
                    device: self.name.into(),
                    source: candle_core::Error::Msg(
                        "DriverError(CUDA_ERROR_OUT_OF_MEMORY, \"out of memory\")".into(),
                    ),
                });
            }
            Ok(seqs
                .iter()
                .flat_map(|s| [s[0] as f32, s.len() as f32])
                .collect())
        }
        fn device_name(&self) -> String {
            self.name.into()
        }
    }

    fn fake(max_texts: usize, max_tokens: usize, name: &'static str) -> Fake {
        Fake {
            max_texts,
            max_tokens,
            calls: AtomicUsize::new(0),
            name,
        }
    }

    #[test]
    fn halves_until_it_fits_and_keeps_order() {
        let texts: Vec<Vec<u32>> = (0..13).map(|i| vec![i; 3]).collect();
        let seqs: Vec<&[u32]> = texts.iter().map(|t| t.as_slice()).collect();
        let gpu = fake(3, 100, "cuda:0");
        let cpu = fake(usize::MAX, usize::MAX, "cpu");
        let used_fallback = Cell::new(false);
        let fb = || {
            used_fallback.set(true);
            Ok(&cpu as &dyn Embedder)
        };
        let out = embed_resilient(&gpu, &fb, &seqs).unwrap();
        let expected: Vec<f32> = (0..13).flat_map(|i| [i as f32, 3.0]).collect();
        assert_eq!(out, expected, "each text once, in order");
        assert!(!used_fallback.get());
    }

    #[test]
    fn a_single_text_that_does_not_fit_goes_to_the_fallback() {
        let texts = [vec![1u32; 2], vec![2u32; 50], vec![3u32; 2]];
        let seqs: Vec<&[u32]> = texts.iter().map(|t| t.as_slice()).collect();
        let gpu = fake(8, 10, "cuda:0");
        let cpu = fake(usize::MAX, usize::MAX, "cpu");
        let fb = || Ok(&cpu as &dyn Embedder);
        let out = embed_resilient(&gpu, &fb, &seqs).unwrap();
        assert_eq!(out, vec![1., 2., 2., 50., 3., 2.]);
        assert_eq!(
            cpu.calls.load(Ordering::SeqCst),
            1,
            "only the long text went to the CPU"
        );
    }

    #[test]
    fn out_of_memory_is_told_from_other_errors() {
        let compute = |message: &str| EmbedError::Compute {
            device: "cuda:0".into(),
            source: candle_core::Error::Msg(message.into()),
        };
        for oom in [
            "DriverError(CUDA_ERROR_OUT_OF_MEMORY, \"out of memory\")",
            "cublas error: CUBLAS_STATUS_ALLOC_FAILED",
            "allocator: OOM while growing the pool",
        ] {
            assert!(is_out_of_memory(&compute(oom)), "{oom}");
        }
        for other in [
            "shape mismatch in zoom_layer",
            "DriverError(CUDA_ERROR_ILLEGAL_ADDRESS, \"an illegal memory access\")",
            "no room for the key",
        ] {
            assert!(!is_out_of_memory(&compute(other)), "{other}");
        }
        assert!(!is_out_of_memory(&EmbedError::Tokenize {
            source: "out of memory".into()
        }));
    }

    #[test]
    fn other_errors_are_not_retried() {
        struct Broken;
        impl Embedder for Broken {
            fn dim(&self) -> usize {
                1
            }
            fn embed(&self, _: &[&[u32]]) -> Result<Vec<f32>, EmbedError> {
                Err(EmbedError::Tokenize {
                    source: "bad".into(),
                })
            }
            fn device_name(&self) -> String {
                "x".into()
            }
        }
        let cpu = fake(1, 1, "cpu");
        let fb = || Ok(&cpu as &dyn Embedder);
        let t = [1u32];
        assert!(embed_resilient(&Broken, &fb, &[&t[..]]).is_err());
        assert_eq!(cpu.calls.load(Ordering::SeqCst), 0);
    }
}
