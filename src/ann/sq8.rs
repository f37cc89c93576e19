//! 8-bit copies of a segment's vectors for the graph walk (faiss's `SQ8`, symmetric, one scale
//! per dimension).
//!
//! A search spends most of its time waiting for the vectors of the rows it scores, scattered over
//! the whole file (a 384-d f32 vector is 24 cache lines). The walk only has to rank candidates, so
//! it reads one byte per dimension instead (6 lines) and the rows it returns are re-scored from the
//! f32 vectors. Component `d` of row `r` is stored as `round(x[r][d] / s[d])` with
//! `s[d] = max_r |x[r][d]| / 127`, so nothing is clipped; the query stays f32 and is multiplied by
//! the scales once, so a row's approximate dot product is `Σ (q[d]·s[d]) · code[r][d]`: the
//! error is the rows' rounding alone (for unit 384-d vectors about 5e-4 of a cosine, well below
//! the gaps between neighbours). A scale per dimension, not per row, needs no per-row data beside
//! the codes (one more cache line per row otherwise), and follows the dimensions that sentence
//! models make systematically wide.

/// Per-dimension scales of `vectors` (`dim` wide, row-major): the largest magnitude over 127.
pub fn scales(vectors: &[f32], dim: usize) -> Vec<f32> {
    let mut max = vec![0f32; dim];
    for row in vectors.chunks_exact(dim) {
        for (m, x) in max.iter_mut().zip(row) {
            *m = m.max(x.abs());
        }
    }
    max.into_iter().map(|m| m / 127.0).collect()
}

/// The codes of `row` under `scales` into `out` (a zero scale gives zero codes).
pub fn encode(row: &[f32], scales: &[f32], out: &mut [i8]) {
    for ((o, x), s) in out.iter_mut().zip(row).zip(scales) {
        // `as` saturates (and maps NaN to 0), so a component past the scale cannot wrap around.
        *o = if *s > 0.0 { (x / s).round().clamp(-127.0, 127.0) as i8 } else { 0 };
    }
}

/// `q` multiplied by the scales: what `dot` takes, computed once per query.
pub fn scaled_query(q: &[f32], scales: &[f32]) -> Vec<f32> {
    q.iter().zip(scales).map(|(a, s)| a * s).collect()
}

/// `Σ q[d] · codes[d]` (q already scaled). On x86-64 AVX-512 or AVX2+FMA when the CPU has them.
#[inline]
pub fn dot(q: &[f32], codes: &[i8]) -> f32 {
    let n = q.len().min(codes.len());
    let (q, codes) = (&q[..n], &codes[..n]);
    #[cfg(target_arch = "x86_64")]
    match crate::cpu::simd() {
        // SAFETY: the CPU has the features (crate::cpu checked them).
        crate::cpu::Simd::Avx512 => return unsafe { simd::dot_avx512(q, codes) },
        crate::cpu::Simd::Avx2 => return unsafe { simd::dot_avx2(q, codes) },
        crate::cpu::Simd::Base => {}
    }
    dot_portable(q, codes)
}

/// The reference the SIMD paths are tested against; also the path for CPUs without them.
pub fn dot_portable(q: &[f32], codes: &[i8]) -> f32 {
    let mut acc = [0f32; 8];
    for (a, c) in q.chunks_exact(8).zip(codes.chunks_exact(8)) {
        for l in 0..8 {
            acc[l] += a[l] * c[l] as f32;
        }
    }
    let tail = q.len() / 8 * 8;
    acc.iter().sum::<f32>() + q[tail..].iter().zip(&codes[tail..]).map(|(a, &c)| a * c as f32).sum::<f32>()
}

/// Codes of `vectors` under one scale for every dimension (the largest magnitude over 127), and
/// that scale: the dot product of two rows is then `scale² · Σ a[d]·b[d]`, an integer product
/// (`dot_codes`), which is what building a graph on codes needs (both sides are rows).
pub fn uniform_codes(vectors: &[f32], dim: usize) -> (Vec<i8>, f32) {
    let max = vectors.iter().fold(0f32, |m, x| m.max(x.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    let scales = vec![scale; dim];
    let mut codes = vec![0i8; vectors.len()];
    for (row, out) in vectors.chunks_exact(dim).zip(codes.chunks_exact_mut(dim)) {
        encode(row, &scales, out);
    }
    (codes, scale)
}

/// `Σ a[d]·b[d]` of two code rows, exact in i32 (384 dimensions of ±127 are far from overflow).
#[inline]
pub fn dot_codes(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    #[cfg(target_arch = "x86_64")]
    match crate::cpu::simd() {
        // SAFETY: the CPU has the features (crate::cpu checked them; AVX-512 VNNI is what the
        // int8 path of AMX or of AVX-512 VNNI requires).
        crate::cpu::Simd::Avx512 if matches!(crate::cpu::int8_path(), crate::cpu::Int8Path::Amx | crate::cpu::Int8Path::Avx512Vnni) => {
            return unsafe { simd::dot_codes_vnni(a, b) }
        }
        crate::cpu::Simd::Avx512 => return unsafe { simd::dot_codes_avx512(a, b) },
        crate::cpu::Simd::Avx2 => return unsafe { simd::dot_codes_avx2(a, b) },
        crate::cpu::Simd::Base => {}
    }
    a.iter().zip(b).map(|(&x, &y)| x as i32 * y as i32).sum()
}

#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::*;

    /// 16 codes at a time widened to i32 then f32; four accumulators (384 dims = 6 rounds of 64),
    /// masked tail. Callers pass slices of equal length.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub unsafe fn dot_avx512(q: &[f32], codes: &[i8]) -> f32 {
        let n = q.len();
        let (pq, pc) = (q.as_ptr(), codes.as_ptr());
        let widen = |p: *const i8| _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(p.cast())));
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut i = 0;
        while i + 64 <= n {
            for (l, acc) in acc.iter_mut().enumerate() {
                *acc = _mm512_fmadd_ps(_mm512_loadu_ps(pq.add(i + 16 * l)), widen(pc.add(i + 16 * l)), *acc);
            }
            i += 64;
        }
        while i + 16 <= n {
            acc[0] = _mm512_fmadd_ps(_mm512_loadu_ps(pq.add(i)), widen(pc.add(i)), acc[0]);
            i += 16;
        }
        if i < n {
            let mask: __mmask16 = (1u32 << (n - i)) as u16 - 1;
            let c = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(mask, pc.add(i).cast())));
            acc[1] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, pq.add(i)), c, acc[1]);
        }
        let s = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
        _mm512_reduce_add_ps(s)
    }

    /// 64 codes at a time with `vpdpbusd`, which multiplies unsigned by signed bytes: `a`'s codes
    /// are offset by 128 (a flipped sign bit), and 128 · Σ b, summed beside with a second
    /// `vpdpbusd` against ones, is taken off at the end. Masked tail (zero bytes add nothing).
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub unsafe fn dot_codes_vnni(a: &[i8], b: &[i8]) -> i32 {
        let n = a.len();
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let (flip, ones) = (_mm512_set1_epi8(-128), _mm512_set1_epi8(1));
        let (mut acc, mut sum_b) = (_mm512_setzero_si512(), _mm512_setzero_si512());
        let mut i = 0;
        while i < n {
            let (x, y) = if i + 64 <= n {
                (_mm512_loadu_si512(pa.add(i).cast()), _mm512_loadu_si512(pb.add(i).cast()))
            } else {
                let mask: __mmask64 = (1u64 << (n - i)) - 1;
                (_mm512_maskz_loadu_epi8(mask, pa.add(i)), _mm512_maskz_loadu_epi8(mask, pb.add(i)))
            };
            acc = _mm512_dpbusd_epi32(acc, _mm512_xor_si512(x, flip), y);
            sum_b = _mm512_dpbusd_epi32(sum_b, ones, y);
            i += 64;
        }
        _mm512_reduce_add_epi32(acc) - 128 * _mm512_reduce_add_epi32(sum_b)
    }

    /// 32 codes at a time widened to i16 and multiplied pairwise into i32 (`vpmaddwd`), two
    /// accumulators, scalar tail.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub unsafe fn dot_codes_avx512(a: &[i8], b: &[i8]) -> i32 {
        let n = a.len();
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let widen = |p: *const i8| _mm512_cvtepi8_epi16(_mm256_loadu_si256(p.cast()));
        let mut acc = [_mm512_setzero_si512(); 2];
        let mut i = 0;
        while i + 64 <= n {
            acc[0] = _mm512_add_epi32(acc[0], _mm512_madd_epi16(widen(pa.add(i)), widen(pb.add(i))));
            acc[1] = _mm512_add_epi32(acc[1], _mm512_madd_epi16(widen(pa.add(i + 32)), widen(pb.add(i + 32))));
            i += 64;
        }
        if i + 32 <= n {
            acc[0] = _mm512_add_epi32(acc[0], _mm512_madd_epi16(widen(pa.add(i)), widen(pb.add(i))));
            i += 32;
        }
        let mut r = _mm512_reduce_add_epi32(_mm512_add_epi32(acc[0], acc[1]));
        while i < n {
            r += *pa.add(i) as i32 * *pb.add(i) as i32;
            i += 1;
        }
        r
    }

    /// 16 codes at a time, as the AVX-512 path.
    #[target_feature(enable = "avx2")]
    pub unsafe fn dot_codes_avx2(a: &[i8], b: &[i8]) -> i32 {
        let n = a.len();
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let widen = |p: *const i8| _mm256_cvtepi8_epi16(_mm_loadu_si128(p.cast()));
        let mut acc = [_mm256_setzero_si256(); 2];
        let mut i = 0;
        while i + 32 <= n {
            acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(widen(pa.add(i)), widen(pb.add(i))));
            acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(widen(pa.add(i + 16)), widen(pb.add(i + 16))));
            i += 32;
        }
        if i + 16 <= n {
            acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(widen(pa.add(i)), widen(pb.add(i))));
            i += 16;
        }
        let s = _mm256_add_epi32(acc[0], acc[1]);
        let h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        let h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0b01_00_11_10));
        let h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0b10_11_00_01));
        let mut r = _mm_cvtsi128_si32(h);
        while i < n {
            r += *pa.add(i) as i32 * *pb.add(i) as i32;
            i += 1;
        }
        r
    }

    /// 8 codes at a time; two accumulators, scalar tail.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_avx2(q: &[f32], codes: &[i8]) -> f32 {
        let n = q.len();
        let (pq, pc) = (q.as_ptr(), codes.as_ptr());
        let widen = |p: *const i8| _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(p.cast())));
        let mut acc = [_mm256_setzero_ps(); 2];
        let mut i = 0;
        while i + 16 <= n {
            acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(pq.add(i)), widen(pc.add(i)), acc[0]);
            acc[1] = _mm256_fmadd_ps(_mm256_loadu_ps(pq.add(i + 8)), widen(pc.add(i + 8)), acc[1]);
            i += 16;
        }
        while i + 8 <= n {
            acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(pq.add(i)), widen(pc.add(i)), acc[0]);
            i += 8;
        }
        let s = _mm256_add_ps(acc[0], acc[1]);
        let h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
        let h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        let h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
        let mut r = _mm_cvtss_f32(h);
        while i < n {
            r += *pq.add(i) * *pc.add(i) as f32;
            i += 1;
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simd_paths_match_the_portable_one_at_every_length() {
        for n in [0usize, 1, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 100, 383, 384, 385] {
            let q: Vec<f32> = (0..n).map(|i| ((i * 37 % 101) as f32 - 50.0) / 5000.0).collect();
            let c: Vec<i8> = (0..n).map(|i| ((i * 53 % 255) as i32 - 127) as i8).collect();
            let naive: f64 = q.iter().zip(&c).map(|(a, &b)| *a as f64 * b as f64).sum();
            assert!((dot(&q, &c) as f64 - naive).abs() < 1e-3, "n={n}");
            assert!((dot_portable(&q, &c) as f64 - naive).abs() < 1e-3, "n={n}");
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                // SAFETY: features checked just above.
                let v = unsafe { simd::dot_avx2(&q, &c) };
                assert!((v as f64 - naive).abs() < 1e-3, "avx2 n={n}");
            }
        }
    }

    #[test]
    fn code_products_are_exact_on_every_path_and_length() {
        for n in [0usize, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 383, 384, 385] {
            let a: Vec<i8> = (0..n).map(|i| ((i * 37 % 255) as i32 - 127) as i8).collect();
            let b: Vec<i8> = (0..n).map(|i| ((i * 53 % 255) as i32 - 127) as i8).collect();
            let naive: i32 = a.iter().zip(&b).map(|(&x, &y)| x as i32 * y as i32).sum();
            assert_eq!(dot_codes(&a, &b), naive, "n={n}");
            #[cfg(target_arch = "x86_64")]
            {
                use std::arch::is_x86_feature_detected as has;
                // SAFETY: each path runs only where its features were checked just before.
                if has!("avx2") {
                    assert_eq!(unsafe { simd::dot_codes_avx2(&a, &b) }, naive, "avx2 n={n}");
                }
                if has!("avx512f") && has!("avx512bw") {
                    assert_eq!(unsafe { simd::dot_codes_avx512(&a, &b) }, naive, "avx512 n={n}");
                }
                if has!("avx512f") && has!("avx512bw") && has!("avx512vnni") {
                    assert_eq!(unsafe { simd::dot_codes_vnni(&a, &b) }, naive, "vnni n={n}");
                }
            }
        }
        let v = crate::ann::clustered_unit_vectors(50, 384, 5, 0.5, 3);
        let (codes, scale) = uniform_codes(&v, 384);
        let (a, b) = (&v[..384], &v[384..768]);
        let approx = dot_codes(&codes[..384], &codes[384..768]) as f32 * scale * scale;
        assert!((approx - crate::ann::dot(a, b)).abs() < 4e-3, "{approx} vs {}", crate::ann::dot(a, b));
    }

    #[test]
    fn codes_approximate_the_dot_product_and_never_clip() {
        let dim = 384;
        let v = crate::ann::clustered_unit_vectors(500, dim, 10, 0.5, 7);
        let s = scales(&v, dim);
        let mut codes = vec![0i8; v.len()];
        for (row, out) in v.chunks_exact(dim).zip(codes.chunks_exact_mut(dim)) {
            encode(row, &s, out);
        }
        // Every dimension's widest component reaches ±127 (no clipping, full range used).
        for d in 0..dim {
            assert_eq!(codes.iter().skip(d).step_by(dim).map(|c| c.unsigned_abs()).max(), Some(127), "dimension {d}");
        }
        let q = &v[3 * dim..4 * dim];
        let qs = scaled_query(q, &s);
        let worst = (0..500).map(|r| (dot(&qs, &codes[r * dim..(r + 1) * dim]) - crate::ann::dot(q, &v[r * dim..(r + 1) * dim])).abs()).fold(0f32, f32::max);
        assert!(worst < 4e-3, "largest error {worst}");
        // A zero dimension (every row 0 there) encodes as 0, not NaN.
        let mut z = v[..dim * 2].to_vec();
        z[5] = 0.0;
        z[dim + 5] = 0.0;
        let s = scales(&z, dim);
        let mut out = vec![1i8; dim];
        encode(&z[..dim], &s, &mut out);
        assert_eq!(out[5], 0);
    }
}
