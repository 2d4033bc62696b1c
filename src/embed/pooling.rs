//! Pooling token vectors into one sentence vector, as sentence-transformers' `Pooling` module does
//! (sentence_transformers/models/Pooling.py): mean over real tokens, the CLS token, max over real
//! tokens, or mean scaled by sqrt(length). Built from the model's own `1_Pooling/config.json`.

use candle_core::{DType, Tensor, D};

/// How token vectors become a sentence vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Pooling {
    Mean,
    Cls,
    Max,
    MeanSqrtLen,
}

impl Pooling {
    pub fn name(self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::Cls => "cls",
            Pooling::Max => "max",
            Pooling::MeanSqrtLen => "mean_sqrt_len",
        }
    }
}

/// The fields of `1_Pooling/config.json` that choose the mode.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct PoolingConfig {
    #[serde(default)]
    pub pooling_mode_cls_token: bool,
    #[serde(default)]
    pub pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pub pooling_mode_max_tokens: bool,
    #[serde(default)]
    pub pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pub pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pub pooling_mode_lasttoken: bool,
}

/// A pooling configuration newsclust cannot run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PoolingProblem {
    #[error("weighted-mean and last-token pooling are not supported")]
    Unsupported,
    #[error("no pooling mode is enabled")]
    None,
    #[error("several pooling modes at once (concatenated outputs) are not supported")]
    Several,
}

impl TryFrom<PoolingConfig> for Pooling {
    type Error = PoolingProblem;

    fn try_from(c: PoolingConfig) -> Result<Self, Self::Error> {
        if c.pooling_mode_weightedmean_tokens || c.pooling_mode_lasttoken {
            return Err(PoolingProblem::Unsupported);
        }
        let modes = [
            (c.pooling_mode_mean_tokens, Pooling::Mean),
            (c.pooling_mode_cls_token, Pooling::Cls),
            (c.pooling_mode_max_tokens, Pooling::Max),
            (c.pooling_mode_mean_sqrt_len_tokens, Pooling::MeanSqrtLen),
        ];
        let on: Vec<Pooling> = modes
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, p)| *p)
            .collect();
        match on.as_slice() {
            [one] => Ok(*one),
            [] => Err(PoolingProblem::None),
            _ => Err(PoolingProblem::Several),
        }
    }
}

impl Pooling {
    /// Pools `hidden` (batch, seq, dim) with `mask` (batch, seq; 1 for real tokens, in hidden's dtype).
    pub fn apply(self, hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1),
            Pooling::Mean | Pooling::MeanSqrtLen => {
                let m = mask.unsqueeze(2)?;
                let summed = hidden.broadcast_mul(&m)?.sum(1)?;
                let counts = mask
                    .sum_keepdim(1)?
                    .to_dtype(DType::F32)?
                    .clamp(1e-9f32, f32::MAX)?;
                let counts = if self == Pooling::MeanSqrtLen {
                    counts.sqrt()?
                } else {
                    counts
                };
                summed
                    .to_dtype(DType::F32)?
                    .broadcast_div(&counts)?
                    .to_dtype(hidden.dtype())
            }
            Pooling::Max => {
                // Padding positions get a very negative value so they never win.
                let m = mask.unsqueeze(2)?;
                let penalty = ((m.ones_like()? - &m)? * -1e4)?;
                hidden.broadcast_add(&penalty)?.max(1)
            }
        }
    }
}

/// Scales each row to unit L2 norm (rows of zeros stay zero), as torch's `F.normalize(eps=1e-12)`.
pub fn l2_normalize(x: &Tensor) -> candle_core::Result<Tensor> {
    let norm = x
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-12f32, f32::MAX)?;
    x.broadcast_div(&norm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn cfg(mean: bool, cls: bool, max: bool) -> PoolingConfig {
        PoolingConfig {
            pooling_mode_mean_tokens: mean,
            pooling_mode_cls_token: cls,
            pooling_mode_max_tokens: max,
            ..Default::default()
        }
    }

    #[test]
    fn mode_from_config() {
        assert_eq!(
            Pooling::try_from(cfg(true, false, false)),
            Ok(Pooling::Mean)
        );
        assert_eq!(Pooling::try_from(cfg(false, true, false)), Ok(Pooling::Cls));
        assert!(Pooling::try_from(cfg(false, false, false)).is_err());
        assert!(Pooling::try_from(cfg(true, true, false)).is_err());
    }

    #[test]
    fn pooling_ignores_padding() -> candle_core::Result<()> {
        let d = Device::Cpu;
        // batch 1, seq 3 (last is padding), dim 2
        let h = Tensor::new(&[[[1f32, 2.], [3., 6.], [100., -100.]]], &d)?;
        let m = Tensor::new(&[[1f32, 1., 0.]], &d)?;
        assert_eq!(
            Pooling::Mean.apply(&h, &m)?.to_vec2::<f32>()?,
            vec![vec![2., 4.]]
        );
        assert_eq!(
            Pooling::Cls.apply(&h, &m)?.to_vec2::<f32>()?,
            vec![vec![1., 2.]]
        );
        assert_eq!(
            Pooling::Max.apply(&h, &m)?.to_vec2::<f32>()?,
            vec![vec![3., 6.]]
        );
        let s = Pooling::MeanSqrtLen.apply(&h, &m)?.to_vec2::<f32>()?;
        assert!((s[0][0] - 4. / 2f32.sqrt()).abs() < 1e-6);
        let n = l2_normalize(&Tensor::new(&[[3f32, 4.], [0., 0.]], &d)?)?.to_vec2::<f32>()?;
        assert_eq!(n, vec![vec![0.6, 0.8], vec![0., 0.]]);
        Ok(())
    }
}
