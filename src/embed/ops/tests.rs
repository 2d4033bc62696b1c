//! The packed ops against their definitions, on the CPU.

use super::*;
use candle_core::Device;

fn rand(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        })
        .collect()
}

fn packed(lengths: &[usize]) -> Result<Packed> {
    let seqs: Vec<Vec<u32>> = lengths.iter().map(|&n| vec![1u32; n]).collect();
    let refs: Vec<&[u32]> = seqs.iter().map(|s| s.as_slice()).collect();
    Packed::new(&refs, &Device::Cpu)
}

#[test]
fn packing_lays_texts_end_to_end() -> Result<()> {
    let p = Packed::new(&[&[5, 6, 7], &[], &[8]], &Device::Cpu)?;
    assert_eq!(p.tokens.to_vec1::<u32>()?, vec![5, 6, 7, 8, 0, 1, 2, 0]);
    assert_eq!(p.cu.to_vec1::<u32>()?, vec![0, 3, 3, 4]);
    assert_eq!((p.n_tokens(), p.texts(), p.max_len), (4, 3, 3));
    Ok(())
}

/// Attention of each text over its own tokens only, in f64, straight from the definition.
fn naive_attention(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    bias: &[f32],
    cu: &[u32],
    heads: usize,
    hd: usize,
) -> Vec<f64> {
    let d = hd / heads;
    let scale = 1.0 / (d as f64).sqrt();
    let mut out = vec![0f64; q.len()];
    for w in cu.windows(2) {
        let (a, b) = (w[0] as usize, w[1] as usize);
        for h in 0..heads {
            for i in a..b {
                let cols = h * d..(h + 1) * d;
                let s: Vec<f64> = (a..b)
                    .map(|j| {
                        cols.clone()
                            .map(|c| {
                                (q[i * hd + c] + bias[c]) as f64
                                    * (k[j * hd + c] + bias[hd + c]) as f64
                                    * scale
                            })
                            .sum()
                    })
                    .collect();
                let m = s.iter().cloned().fold(f64::MIN, f64::max);
                let z: f64 = s.iter().map(|x| (x - m).exp()).sum();
                for c in cols {
                    out[i * hd + c] = (a..b)
                        .map(|j| {
                            (s[j - a] - m).exp() / z * (v[j * hd + c] + bias[2 * hd + c]) as f64
                        })
                        .sum();
                }
            }
        }
    }
    out
}

#[test]
fn attention_stays_within_each_text() -> Result<()> {
    let (heads, hd) = (2, 8);
    let p = packed(&[3, 1, 5])?;
    let t = p.n_tokens();
    let (q, k, v, bias) = (
        rand(t * hd, 1),
        rand(t * hd, 2),
        rand(t * hd, 3),
        rand(3 * hd, 4),
    );
    let want = naive_attention(&q, &k, &v, &bias, &p.cu.to_vec1()?, heads, hd);
    let dev = Device::Cpu;
    let tensor = |x: &[f32]| Tensor::from_slice(x, (t, hd), &dev);
    let bias_t = Tensor::from_slice(&bias, 3 * hd, &dev)?;
    let scale = 1.0 / (hd as f32 / heads as f32).sqrt();
    let split = attention(
        &tensor(&q)?,
        &tensor(&k)?,
        &tensor(&v)?,
        &bias_t,
        &p,
        &Heads {
            count: heads,
            scale,
            tensor_cores: false,
        },
    )?;
    // The same from column blocks of one (t, 3·hd) matrix: rows 3·hd apart.
    let qkv = Tensor::cat(&[tensor(&q)?, tensor(&k)?, tensor(&v)?], 1)?;
    let blocks = attention(
        &qkv.narrow(1, 0, hd)?,
        &qkv.narrow(1, hd, hd)?,
        &qkv.narrow(1, 2 * hd, hd)?,
        &bias_t,
        &p,
        &Heads {
            count: heads,
            scale,
            tensor_cores: true,
        },
    )?;
    for got in [split, blocks] {
        let got = got.flatten_all()?.to_vec1::<f32>()?;
        let worst = got
            .iter()
            .zip(&want)
            .map(|(g, w)| (*g as f64 - w).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-5, "max error {worst}");
    }
    Ok(())
}

#[test]
fn layer_norms_and_pooling_follow_their_definitions() -> Result<()> {
    let dev = Device::Cpu;
    let n = 4;
    let p = packed(&[2, 1])?;
    // The embedding table: 3 word rows, then 2 position rows.
    let table: Vec<f32> = rand(5 * n, 7);
    let ids = Packed::new(&[&[2, 0], &[1]], &dev)?;
    let params = rand(3 * n, 8);
    let table_t = Tensor::from_slice(&table, (5, n), &dev)?;
    let params_t = Tensor::from_slice(&params, 3 * n, &dev)?;
    let emb = embed_layer_norm(&table_t, &ids, &params_t, 3, 1e-5)?.to_vec2::<f32>()?;
    // Token 0 of text 0: word 2 + position 0 (table row 3) + params[..n], normalized.
    let row: Vec<f32> = (0..n)
        .map(|c| table[2 * n + c] + table[3 * n + c] + params[c])
        .collect();
    let mean = row.iter().sum::<f32>() / n as f32;
    let var = row.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / n as f32;
    for c in 0..n {
        let want = (row[c] - mean) / (var + 1e-5).sqrt() * params[n + c] + params[2 * n + c];
        assert!((emb[0][c] - want).abs() < 1e-5);
    }
    // An id that is not a word row is an error, not a read of the position rows.
    let bad = Packed::new(&[&[3]], &dev)?;
    assert!(embed_layer_norm(&table_t, &bad, &params_t, 3, 1e-5).is_err());

    let x = Tensor::from_slice(
        &[1f32, 2., 3., 4., 3., 6., 9., 12., -1., 0., 0., 0.],
        (3, n),
        &dev,
    )?;
    let mean = pool(&x, &p, Pooling::Mean, false)?.to_vec2::<f32>()?;
    assert_eq!(mean, vec![vec![2., 4., 6., 8.], vec![-1., 0., 0., 0.]]);
    let max = pool(&x, &p, Pooling::Max, false)?.to_vec2::<f32>()?;
    assert_eq!(max[0], vec![3., 6., 9., 12.]);
    let cls = pool(&x, &p, Pooling::Cls, true)?.to_vec2::<f32>()?;
    let norm = (1f32 + 4. + 9. + 16.).sqrt();
    assert!((cls[0][3] - 4. / norm).abs() < 1e-6);
    let sqrt_len = pool(&x, &p, Pooling::MeanSqrtLen, false)?.to_vec2::<f32>()?;
    assert!((sqrt_len[0][0] - 4. / 2f32.sqrt()).abs() < 1e-6);

    let gelu = bias_act(
        &x,
        &Tensor::zeros(n, candle_core::DType::F32, &dev)?,
        Act::Relu,
    )?;
    assert_eq!(gelu.to_vec2::<f32>()?[2], vec![0., 0., 0., 0.]);
    Ok(())
}
