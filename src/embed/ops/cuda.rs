//! CUDA launches of the packed ops (`super::defs` holds their settings); the kernels are in
//! `embed/cuda/kernels.cu`, compiled by build.rs and loaded into candle's CUDA context on first
//! use (`embed/cuda/load.rs`).

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::driver::{
    CudaSlice, CudaView, DeviceRepr, LaunchConfig, PushKernelArg,
};
use candle_core::cuda_backend::{CudaDType, WrapErr};
use candle_core::{CudaDevice, CudaStorage, DType, Layout, Result, Shape};
use half::{bf16, f16};

use super::defs::{row_view, rows_cols, AddLayerNorm, Attention, BiasAct, EmbedLayerNorm, Pool};
use crate::embed::cuda::load;

/// Query rows per thread block in the attention kernels (TC_QT in attention_tc.cuh).
const ATTN_ROWS: usize = 64;

fn view<'a, T>(s: &'a CudaSlice<T>, l: &Layout, op: &str) -> Result<CudaView<'a, T>> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(s.slice(a..b)),
        None => candle_core::bail!("{op}: contiguous input only"),
    }
}

fn suffix(dtype: DType, op: &str) -> Result<&'static str> {
    match dtype {
        DType::F32 => Ok("f32"),
        DType::F16 => Ok("f16"),
        DType::BF16 => Ok("bf16"),
        other => candle_core::bail!("{op}: no kernel for {other:?}"),
    }
}

/// Runs `f` with the element type of `dtype` (f32, f16 or bf16) and wraps its output.
macro_rules! by_dtype {
    ($dtype:expr, $dev:expr, $op:expr, $f:ident ( $($arg:expr),* )) => {
        match $dtype {
            DType::F32 => Ok::<CudaStorage, candle_core::Error>(CudaStorage::wrap_cuda_slice($f::<f32>($($arg),*)?, $dev.clone())),
            DType::F16 => Ok(CudaStorage::wrap_cuda_slice($f::<f16>($($arg),*)?, $dev.clone())),
            DType::BF16 => Ok(CudaStorage::wrap_cuda_slice($f::<bf16>($($arg),*)?, $dev.clone())),
            other => candle_core::bail!("{}: no kernel for {other:?}", $op),
        }
    };
}

pub(super) fn add_layer_norm(
    op: &AddLayerNorm,
    s1: &CudaStorage,
    l1: &Layout,
    s2: &CudaStorage,
    l2: &Layout,
    s3: &CudaStorage,
    l3: &Layout,
) -> Result<(CudaStorage, Shape)> {
    let name = "add_layer_norm";
    let (rows, n) = rows_cols(l1, name)?;
    if n > 1024 || l2.shape() != l1.shape() || l3.shape().elem_count() != 3 * n {
        candle_core::bail!("{name}: shapes do not fit (n = {n} must be ≤ 1024)");
    }
    fn run<T: CudaDType + DeviceRepr>(
        op: &AddLayerNorm,
        s: [(&CudaStorage, &Layout); 3],
        rows: usize,
        n: usize,
        sfx: &str,
    ) -> Result<CudaSlice<T>> {
        let dev: &CudaDevice = &s[0].0.device;
        let x = view(s[0].0.as_cuda_slice::<T>()?, s[0].1, "add_layer_norm")?;
        let r = view(s[1].0.as_cuda_slice::<T>()?, s[1].1, "add_layer_norm")?;
        let p = view(s[2].0.as_cuda_slice::<T>()?, s[2].1, "add_layer_norm")?;
        let func = load::kernel(dev, &format!("add_layer_norm_{sfx}"))?;
        // SAFETY: every element is written by the kernel.
        let out = unsafe { dev.alloc::<T>(rows * n)? };
        let (rows_i, n_i, eps) = (rows as i32, n as i32, op.eps);
        let cfg = LaunchConfig {
            grid_dim: (rows.div_ceil(4) as u32, 1, 1),
            block_dim: (32, 4, 1),
            shared_mem_bytes: 0,
        };
        let mut b = func.builder();
        b.arg(&x)
            .arg(&r)
            .arg(&p)
            .arg(&out)
            .arg(&rows_i)
            .arg(&n_i)
            .arg(&eps);
        // SAFETY: argument types and order match the kernel; sizes were checked above.
        unsafe { b.launch(cfg) }.w()?;
        Ok(out)
    }
    let sfx = suffix(s1.dtype(), name)?;
    let dev = &s1.device;
    let args = [(s1, l1), (s2, l2), (s3, l3)];
    let out = by_dtype!(s1.dtype(), dev, name, run(op, args, rows, n, sfx))?;
    Ok((out, l1.shape().clone()))
}

pub(super) fn embed_layer_norm(
    op: &EmbedLayerNorm,
    s1: &CudaStorage,
    l1: &Layout,
    s2: &CudaStorage,
    l2: &Layout,
    s3: &CudaStorage,
    l3: &Layout,
) -> Result<(CudaStorage, Shape)> {
    let name = "embed_layer_norm";
    let (_, n) = rows_cols(l1, name)?;
    let t = l2.shape().elem_count() / 2;
    if n > 1024 || l3.shape().elem_count() != 3 * n || s2.dtype() != DType::U32 {
        candle_core::bail!("{name}: shapes do not fit (n = {n} must be ≤ 1024)");
    }
    fn run<T: CudaDType + DeviceRepr>(
        op: &EmbedLayerNorm,
        s: [(&CudaStorage, &Layout); 3],
        t: usize,
        n: usize,
        sfx: &str,
    ) -> Result<CudaSlice<T>> {
        let dev: &CudaDevice = &s[0].0.device;
        let table = view(s[0].0.as_cuda_slice::<T>()?, s[0].1, "embed_layer_norm")?;
        let idx = view(s[1].0.as_cuda_slice::<u32>()?, s[1].1, "embed_layer_norm")?;
        let p = view(s[2].0.as_cuda_slice::<T>()?, s[2].1, "embed_layer_norm")?;
        let func = load::kernel(dev, &format!("embed_layer_norm_{sfx}"))?;
        // SAFETY: every element is written by the kernel.
        let out = unsafe { dev.alloc::<T>(t * n)? };
        let (rows_i, n_i, offset, eps) = (t as i32, n as i32, op.pos_offset as i32, op.eps);
        let cfg = LaunchConfig {
            grid_dim: (t.div_ceil(4).max(1) as u32, 1, 1),
            block_dim: (32, 4, 1),
            shared_mem_bytes: 0,
        };
        let mut b = func.builder();
        b.arg(&table).arg(&idx).arg(&p).arg(&out);
        b.arg(&rows_i).arg(&n_i).arg(&offset).arg(&eps);
        // SAFETY: argument types and order match the kernel; ids index the table (the tokenizer
        // and the model share a vocabulary, checked when the model is loaded).
        unsafe { b.launch(cfg) }.w()?;
        Ok(out)
    }
    let sfx = suffix(s1.dtype(), name)?;
    let dev = &s1.device;
    let args = [(s1, l1), (s2, l2), (s3, l3)];
    let out = by_dtype!(s1.dtype(), dev, name, run(op, args, t, n, sfx))?;
    Ok((out, Shape::from((t, n))))
}

pub(super) fn bias_act(
    op: &BiasAct,
    s1: &CudaStorage,
    l1: &Layout,
    s2: &CudaStorage,
    l2: &Layout,
) -> Result<(CudaStorage, Shape)> {
    let name = "bias_act";
    let (rows, n) = rows_cols(l1, name)?;
    if l2.shape().elem_count() != n || n % 2 != 0 {
        candle_core::bail!("{name}: bias does not fit {n} columns (an even number)");
    }
    // The kernel reads element pairs: both inputs must start on an even element.
    if l1.start_offset() % 2 != 0 || l2.start_offset() % 2 != 0 {
        candle_core::bail!("{name}: inputs must start on an even element");
    }
    fn run<T: CudaDType + DeviceRepr>(
        op: &BiasAct,
        s: [(&CudaStorage, &Layout); 2],
        rows: usize,
        n: usize,
        sfx: &str,
    ) -> Result<CudaSlice<T>> {
        let dev: &CudaDevice = &s[0].0.device;
        let x = view(s[0].0.as_cuda_slice::<T>()?, s[0].1, "bias_act")?;
        let bias = view(s[1].0.as_cuda_slice::<T>()?, s[1].1, "bias_act")?;
        let func = load::kernel(dev, &format!("bias_act_{sfx}"))?;
        // SAFETY: every element is written by the kernel.
        let out = unsafe { dev.alloc::<T>(rows * n)? };
        let (n_i, act) = (n as i32, op.code());
        let cfg = LaunchConfig {
            grid_dim: (rows.max(1) as u32, (n / 2).div_ceil(256) as u32, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut b = func.builder();
        b.arg(&x).arg(&bias).arg(&out).arg(&n_i).arg(&act);
        // SAFETY: argument types and order match the kernel.
        unsafe { b.launch(cfg) }.w()?;
        Ok(out)
    }
    let sfx = suffix(s1.dtype(), name)?;
    let dev = &s1.device;
    let out = by_dtype!(
        s1.dtype(),
        dev,
        name,
        run(op, [(s1, l1), (s2, l2)], rows, n, sfx)
    )?;
    Ok((out, l1.shape().clone()))
}

pub(super) fn attention(
    op: &Attention,
    s1: &CudaStorage,
    l1: &Layout,
    s2: &CudaStorage,
    l2: &Layout,
    s3: &CudaStorage,
    l3: &Layout,
) -> Result<(CudaStorage, Shape)> {
    use candle_core::Storage;
    let name = "attention";
    let (t, hd, ld, d) = op.shape(l1, l2, l3)?;
    if d != 32 && d != 64 {
        candle_core::bail!("{name}: head size {d} has no kernel (32 or 64)");
    }
    let texts = op.cu.elem_count().saturating_sub(1);
    if texts > 65_535 {
        candle_core::bail!("{name}: {texts} texts in one batch, at most 65535");
    }
    let (bias_storage, bias_layout) = op.bias.storage_and_layout();
    let (cu_storage, cu_layout) = op.cu.storage_and_layout();
    let (Storage::Cuda(bias_storage), Storage::Cuda(cu_storage)) = (&*bias_storage, &*cu_storage)
    else {
        candle_core::bail!("{name}: bias and offsets must be on the GPU too");
    };
    if cu_storage.dtype() != DType::U32 {
        candle_core::bail!("{name}: row offsets must be u32");
    }
    #[allow(clippy::too_many_arguments)]
    fn run<T: CudaDType + DeviceRepr>(
        op: &Attention,
        s: [(&CudaStorage, &Layout); 4],
        cu: (&CudaStorage, &Layout),
        t: usize,
        hd: usize,
        ld: usize,
        d: usize,
        texts: usize,
        sfx: &str,
    ) -> Result<CudaSlice<T>> {
        let dev: &CudaDevice = &s[0].0.device;
        // q, k, v start at their first element and run to the end of their buffer.
        fn rows<'a, T: CudaDType>(
            (st, l): (&'a CudaStorage, &Layout),
            t: usize,
            ld: usize,
            hd: usize,
        ) -> Result<CudaView<'a, T>> {
            let slice = st.as_cuda_slice::<T>()?;
            let (_, _, _, offset) = row_view(l, "attention")?;
            if t > 0 && slice.len() < offset + (t - 1) * ld + hd {
                candle_core::bail!("attention: buffer too short");
            }
            Ok(slice.slice(offset..))
        }
        let (q, k, v) = (
            rows::<T>(s[0], t, ld, hd)?,
            rows::<T>(s[1], t, ld, hd)?,
            rows::<T>(s[2], t, ld, hd)?,
        );
        let bias = view(s[3].0.as_cuda_slice::<T>()?, s[3].1, "attention")?;
        let cu = view(cu.0.as_cuda_slice::<u32>()?, cu.1, "attention")?;
        // The tensor-core kernel (f16/bf16 only) runs four warps over the same 64 rows.
        let tc = op.tensor_cores && sfx != "f32";
        let (name, threads) = if tc {
            (format!("attention_tc{d}_{sfx}"), 4 * 32)
        } else {
            (format!("attention{d}_{sfx}"), ATTN_ROWS as u32)
        };
        let func = load::kernel(dev, &name)?;
        // SAFETY: every row of a text is written (the offsets cover all t rows).
        let out = unsafe { dev.alloc::<T>(t * hd)? };
        let (heads, scale, ld_i) = (op.heads as i32, op.scale, ld as i32);
        let cfg = LaunchConfig {
            grid_dim: (
                op.max_len.div_ceil(ATTN_ROWS).max(1) as u32,
                op.heads as u32,
                texts.max(1) as u32,
            ),
            block_dim: (threads, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut b = func.builder();
        b.arg(&q).arg(&k).arg(&v).arg(&bias).arg(&cu).arg(&out);
        b.arg(&heads).arg(&scale).arg(&ld_i);
        // SAFETY: argument types and order match the kernel; the grid covers max_len rows and
        // the buffers were checked to hold t rows ld apart.
        unsafe { b.launch(cfg) }.w()?;
        Ok(out)
    }
    let sfx = suffix(s1.dtype(), name)?;
    let dev = &s1.device;
    let args = [(s1, l1), (s2, l2), (s3, l3), (bias_storage, bias_layout)];
    let cu = (cu_storage, cu_layout);
    let out = by_dtype!(
        s1.dtype(),
        dev,
        name,
        run(op, args, cu, t, hd, ld, d, texts, sfx)
    )?;
    Ok((out, Shape::from((t, hd))))
}

pub(super) fn pool(
    op: &Pool,
    s1: &CudaStorage,
    l1: &Layout,
    s2: &CudaStorage,
    l2: &Layout,
) -> Result<(CudaStorage, Shape)> {
    let name = "pool";
    let (_, n) = rows_cols(l1, name)?;
    if n > 1024 {
        candle_core::bail!("{name}: {n} columns, at most 1024");
    }
    let texts = l2.shape().elem_count().saturating_sub(1);
    if s2.dtype() != DType::U32 {
        candle_core::bail!("{name}: row offsets must be u32");
    }
    fn run<T: CudaDType + DeviceRepr>(
        op: &Pool,
        s: [(&CudaStorage, &Layout); 2],
        n: usize,
        texts: usize,
        sfx: &str,
    ) -> Result<CudaSlice<f32>> {
        let dev: &CudaDevice = &s[0].0.device;
        let x = view(s[0].0.as_cuda_slice::<T>()?, s[0].1, "pool")?;
        let cu = view(s[1].0.as_cuda_slice::<u32>()?, s[1].1, "pool")?;
        let func = load::kernel(dev, &format!("pool_{sfx}"))?;
        // SAFETY: every element is written by the kernel.
        let out = unsafe { dev.alloc::<f32>(texts * n)? };
        let (n_i, mode, normalize) = (n as i32, op.code(), op.normalize as i32);
        let cfg = LaunchConfig {
            grid_dim: (texts.max(1) as u32, 1, 1),
            block_dim: (128, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut b = func.builder();
        b.arg(&x)
            .arg(&cu)
            .arg(&out)
            .arg(&n_i)
            .arg(&mode)
            .arg(&normalize);
        // SAFETY: argument types and order match the kernel.
        unsafe { b.launch(cfg) }.w()?;
        Ok(out)
    }
    let sfx = suffix(s1.dtype(), name)?;
    let dev = s1.device.clone();
    let args = [(s1, l1), (s2, l2)];
    let out = match s1.dtype() {
        DType::F32 => run::<f32>(op, args, n, texts, sfx)?,
        DType::F16 => run::<f16>(op, args, n, texts, sfx)?,
        DType::BF16 => run::<bf16>(op, args, n, texts, sfx)?,
        other => candle_core::bail!("{name}: no kernel for {other:?}"),
    };
    Ok((
        CudaStorage::wrap_cuda_slice(out, dev),
        Shape::from((texts, n)),
    ))
}
