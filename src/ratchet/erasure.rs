//! A systematic Reed–Solomon erasure code over GF(2^8) for the KEM
//! ratchet's payloads (docs/PROTOCOL.md §6.9.3).
//!
//! A payload of `k` chunks of [`CHUNK_LEN`] bytes is read as `CHUNK_LEN`
//! polynomials of degree below `k`, one per byte position: the data chunk
//! `j` holds their values at the point `x = j`. Chunk `i` (any index below
//! [`MAX_CHUNK_INDEX`] + 1) holds their values at `x = i`, so chunks
//! `0 .. k` are the payload itself and later ones are parity. Any `k`
//! distinct chunks give the payload back by Lagrange interpolation.
//!
//! The field is GF(2^8) with the reduction polynomial `x^8 + x^4 + x^3 +
//! x^2 + 1` (`0x11d`), whose generator is `2`.

/// The bytes of one chunk.
pub(crate) const CHUNK_LEN: usize = 64;

/// The highest chunk index: indices are `0 ..= 254`, so the wire's chunk
/// byte (`index + 1`, `0` for none) fits a `u8`, and every index is a
/// distinct field element.
pub(crate) const MAX_CHUNK_INDEX: u8 = 254;

/// Exponentials of the generator, twice over so that a sum of two
/// logarithms indexes it without a reduction.
const EXP: [u8; 510] = exp_table();
/// Discrete logarithms; `LOG[0]` is unused.
const LOG: [u8; 256] = log_table();

#[allow(clippy::indexing_slicing, reason = "evaluated at compile time: an index out of range fails the build")]
const fn exp_table() -> [u8; 510] {
    let mut t = [0u8; 510];
    let mut x: u16 = 1;
    let mut i = 0;
    while i < 510 {
        t[i] = x as u8;
        x <<= 1;
        if x & 0x100 != 0 {
            x ^= 0x11d;
        }
        i += 1;
    }
    t
}

#[allow(clippy::indexing_slicing, reason = "evaluated at compile time: an index out of range fails the build")]
const fn log_table() -> [u8; 256] {
    let exp = exp_table();
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 255 {
        t[exp[i] as usize] = i as u8;
        i += 1;
    }
    t
}

fn log(a: u8) -> usize {
    LOG.get(usize::from(a)).map_or(0, |l| usize::from(*l))
}

fn exp(i: usize) -> u8 {
    EXP.get(i).copied().unwrap_or_default()
}

fn mul(a: u8, b: u8) -> u8 {
    if a == 0 || b == 0 { 0 } else { exp(log(a) + log(b)) }
}

/// `a / b` for a non-zero `b` (`0` when `b` is zero, which no caller
/// passes: the points are distinct).
fn div(a: u8, b: u8) -> u8 {
    if a == 0 || b == 0 { 0 } else { exp(log(a) + 255 - log(b)) }
}

/// The Lagrange weights at `x` for the distinct `points`: the value at
/// `x` of the polynomial through `(points[m], y_m)` is `Σ weights[m]·y_m`.
fn weights(points: &[u8], x: u8) -> Vec<u8> {
    points
        .iter()
        .enumerate()
        .map(|(m, &xm)| {
            let mut w = 1u8;
            for (l, &xl) in points.iter().enumerate() {
                if l != m {
                    w = mul(w, div(x ^ xl, xm ^ xl));
                }
            }
            w
        })
        .collect()
}

/// Chunk `index` of `payload`, whose length is a multiple of
/// [`CHUNK_LEN`] (`k` chunks, `1 ≤ k ≤ 255`). A parity chunk costs
/// `64 · k` multiplications; the Lagrange weights of the KEM ratchet's two
/// payload sizes are computed at build time.
pub(crate) fn chunk(payload: &[u8], index: u8) -> [u8; CHUNK_LEN] {
    let mut out = [0u8; CHUNK_LEN];
    if let Some(systematic) = payload.chunks_exact(CHUNK_LEN).nth(usize::from(index)) {
        out.copy_from_slice(systematic);
        return out;
    }
    let k = payload.len() / CHUNK_LEN;
    let computed: Vec<u8>;
    let log_weights: &[u8] = match k {
        18 => LOG_WEIGHTS_18.get(usize::from(index)).map_or(&[], |r| r.as_slice()),
        19 => LOG_WEIGHTS_19.get(usize::from(index)).map_or(&[], |r| r.as_slice()),
        _ => {
            let points: Vec<u8> = (0..k).filter_map(|j| u8::try_from(j).ok()).collect();
            computed = weights(&points, index).iter().map(|w| LOG.get(usize::from(*w)).copied().unwrap_or(0)).collect();
            &computed
        }
    };
    for (lw, d) in log_weights.iter().zip(payload.chunks_exact(CHUNK_LEN)) {
        let lw = usize::from(*lw);
        for (o, b) in out.iter_mut().zip(d) {
            if *b != 0 {
                *o ^= exp(lw + log(*b));
            }
        }
    }
    out
}

/// The logarithms of the Lagrange weights of the parity chunks of a
/// payload of `K` chunks: row `x` (for `K ≤ x ≤ 254`) holds, for each data
/// chunk `m`, `log Π_{l ≠ m} (x − l) / (m − l)` (never the log of zero:
/// the points are distinct). Rows below `K` are unused.
#[allow(clippy::indexing_slicing, reason = "evaluated at compile time: an index out of range fails the build")]
const fn log_weights<const K: usize>() -> [[u8; K]; 255] {
    const fn cmul(a: u8, b: u8) -> u8 {
        if a == 0 || b == 0 { 0 } else { EXP[LOG[a as usize] as usize + LOG[b as usize] as usize] }
    }
    const fn cdiv(a: u8, b: u8) -> u8 {
        if a == 0 || b == 0 { 0 } else { EXP[LOG[a as usize] as usize + 255 - LOG[b as usize] as usize] }
    }
    let mut t = [[0u8; K]; 255];
    let mut x = K;
    while x < 255 {
        let mut m = 0;
        while m < K {
            let mut w = 1u8;
            let mut l = 0;
            while l < K {
                if l != m {
                    w = cmul(w, cdiv((x ^ l) as u8, (m ^ l) as u8));
                }
                l += 1;
            }
            t[x][m] = LOG[w as usize];
            m += 1;
        }
        x += 1;
    }
    t
}

/// [`log_weights`] for the ciphertext payload (18 chunks).
static LOG_WEIGHTS_18: [[u8; 18]; 255] = log_weights::<18>();
/// [`log_weights`] for the encapsulation-key payload (19 chunks).
static LOG_WEIGHTS_19: [[u8; 19]; 255] = log_weights::<19>();

/// Collects distinct chunks of one payload of `k` chunks and rebuilds it
/// once it holds `k` of them. Holds at most `k` chunks. The payloads
/// (encapsulation keys and ciphertexts) are public, so nothing here is
/// wiped.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Decoder {
    k: u8,
    /// Received chunks by index, at most `k`, in arrival order.
    chunks: Vec<(u8, [u8; CHUNK_LEN])>,
}

impl Decoder {
    /// A decoder for a payload of `k` chunks (`1 ≤ k ≤ 255`).
    pub(crate) fn new(k: u8) -> Self {
        // Grows as chunks arrive: an idle session holds an empty decoder.
        Self { k, chunks: Vec::new() }
    }

    /// Rebuilds a decoder from stored chunks (a pickle); `None` if they
    /// are more than `k`, repeat an index, or an index is out of range.
    pub(crate) fn from_chunks(k: u8, chunks: Vec<(u8, [u8; CHUNK_LEN])>) -> Option<Self> {
        let mut d = Self::new(k);
        if chunks.len() > usize::from(k) {
            return None;
        }
        for (index, data) in chunks {
            if index > MAX_CHUNK_INDEX || d.chunks.iter().any(|(i, _)| *i == index) {
                return None;
            }
            d.chunks.push((index, data));
        }
        Some(d)
    }

    /// The stored chunks, for pickling.
    pub(crate) fn chunks(&self) -> &[(u8, [u8; CHUNK_LEN])] {
        &self.chunks
    }

    /// Adds chunk `index`; a repeated index, or one past the `k` needed,
    /// is ignored. Returns the payload (`k · CHUNK_LEN` bytes) once `k`
    /// distinct chunks are held.
    pub(crate) fn add(&mut self, index: u8, data: &[u8; CHUNK_LEN]) -> Option<Vec<u8>> {
        if index > MAX_CHUNK_INDEX || self.is_complete() || self.chunks.iter().any(|(i, _)| *i == index) {
            return None;
        }
        self.chunks.push((index, *data));
        self.is_complete().then(|| self.decode())
    }

    fn is_complete(&self) -> bool {
        self.chunks.len() >= usize::from(self.k)
    }

    fn decode(&self) -> Vec<u8> {
        let points: Vec<u8> = self.chunks.iter().map(|(i, _)| *i).collect();
        let mut out = vec![0u8; usize::from(self.k) * CHUNK_LEN];
        for (j, target) in out.chunks_exact_mut(CHUNK_LEN).enumerate() {
            let Ok(x) = u8::try_from(j) else { continue };
            if let Some((_, data)) = self.chunks.iter().find(|(i, _)| *i == x) {
                target.copy_from_slice(data);
                continue;
            }
            for (w, (_, data)) in weights(&points, x).iter().zip(&self.chunks) {
                for (o, b) in target.iter_mut().zip(data.iter()) {
                    *o ^= mul(*w, *b);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_field_tables_are_inverse_and_mul_div_agree() {
        for a in 1..=255u8 {
            assert_eq!(exp(log(a)), a);
            for b in 1..=255u8 {
                assert_eq!(div(mul(a, b), b), a);
            }
        }
        // 0x11d: 2^8 = x^4 + x^3 + x^2 + 1.
        assert_eq!(mul(0x80, 2), 0x1d);
        assert_eq!((mul(0, 7), mul(7, 0), div(0, 7), div(7, 0)), (0, 0, 0, 0));
    }

    #[test]
    fn the_precomputed_weights_give_the_chunks_the_generic_ones_give() {
        for k in [18usize, 19] {
            let payload: Vec<u8> = (0..k * CHUNK_LEN).map(|i| (i * 13 + 5) as u8).collect();
            let points: Vec<u8> = (0..k as u8).collect();
            for index in k as u8..=MAX_CHUNK_INDEX {
                let mut generic = [0u8; CHUNK_LEN];
                for (w, d) in weights(&points, index).iter().zip(payload.chunks_exact(CHUNK_LEN)) {
                    for (o, b) in generic.iter_mut().zip(d) {
                        *o ^= mul(*w, *b);
                    }
                }
                assert_eq!(chunk(&payload, index), generic, "k {k}, index {index}");
            }
        }
    }

    /// The cost of a parity chunk with the precomputed weights against
    /// computing them per chunk, in one run:
    /// `cargo test --release --lib -- --ignored parity_chunk_cost --nocapture`.
    #[test]
    #[ignore = "a timing, run by hand"]
    fn parity_chunk_cost() {
        let payload: Vec<u8> = (0..19 * CHUNK_LEN).map(|i| (i * 13 + 5) as u8).collect();
        let points: Vec<u8> = (0..19).collect();
        let generic = |index: u8| {
            let mut out = [0u8; CHUNK_LEN];
            for (w, d) in weights(&points, index).iter().zip(payload.chunks_exact(CHUNK_LEN)) {
                for (o, b) in out.iter_mut().zip(d) {
                    *o ^= mul(*w, *b);
                }
            }
            out
        };
        let median = |f: &dyn Fn(u8) -> [u8; CHUNK_LEN]| {
            let mut samples: Vec<f64> = (0..31)
                .map(|_| {
                    let t = std::time::Instant::now();
                    for index in 19..=MAX_CHUNK_INDEX {
                        std::hint::black_box(f(std::hint::black_box(index)));
                    }
                    t.elapsed().as_secs_f64() * 1e6 / f64::from(MAX_CHUNK_INDEX - 18)
                })
                .collect();
            samples.sort_by(f64::total_cmp);
            samples[15]
        };
        let (before, after) = (median(&generic), median(&|i| chunk(&payload, i)));
        println!(
            "parity chunk, k = 19: weights per chunk {before:.2} µs, precomputed {after:.2} µs, {:.2}x",
            before / after
        );
    }

    #[test]
    fn the_first_k_chunks_are_the_payload() {
        let payload: Vec<u8> = (0..3 * CHUNK_LEN).map(|i| i as u8).collect();
        for j in 0..3u8 {
            assert_eq!(chunk(&payload, j).as_slice(), &payload[usize::from(j) * CHUNK_LEN..][..CHUNK_LEN]);
        }
    }

    #[test]
    fn the_last_k_indices_rebuild_the_payload() {
        let payload: Vec<u8> = (0..19 * CHUNK_LEN).map(|i| (i * 7 + 3) as u8).collect();
        let mut d = Decoder::new(19);
        let mut out = None;
        for index in (MAX_CHUNK_INDEX - 18)..=MAX_CHUNK_INDEX {
            assert!(out.is_none());
            out = d.add(index, &chunk(&payload, index));
        }
        assert_eq!(out.unwrap(), payload);
    }

    #[test]
    fn repeats_and_out_of_range_indices_are_ignored() {
        let payload = vec![9u8; 2 * CHUNK_LEN];
        let mut d = Decoder::new(2);
        assert!(d.add(5, &chunk(&payload, 5)).is_none());
        assert!(d.add(5, &chunk(&payload, 5)).is_none());
        assert!(d.add(255, &[0; CHUNK_LEN]).is_none());
        assert_eq!(d.chunks().len(), 1);
        assert_eq!(d.add(0, &chunk(&payload, 0)).unwrap(), payload);
        // Complete: later chunks change nothing.
        assert!(d.add(1, &[0; CHUNK_LEN]).is_none());
        assert!(Decoder::from_chunks(1, vec![(0, [0; CHUNK_LEN]), (1, [0; CHUNK_LEN])]).is_none());
        // At the limits: k chunks, and the highest index.
        let full = Decoder::from_chunks(2, vec![(0, [0; CHUNK_LEN]), (MAX_CHUNK_INDEX, [0; CHUNK_LEN])]).unwrap();
        assert_eq!(full.chunks().len(), 2);
        assert!(Decoder::from_chunks(2, vec![(0, [0; CHUNK_LEN]), (0, [0; CHUNK_LEN])]).is_none());
        assert!(Decoder::from_chunks(2, vec![(255, [0; CHUNK_LEN])]).is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_k_distinct_chunks_rebuild_the_payload(
            k in 1u8..=20,
            seed in any::<u64>(),
            picks in proptest::sample::subsequence((0..=MAX_CHUNK_INDEX).collect::<Vec<u8>>(), 20),
        ) {
            let payload: Vec<u8> = (0..usize::from(k) * CHUNK_LEN)
                .map(|i| (seed.wrapping_mul(i as u64 + 1) >> 13) as u8)
                .collect();
            let mut d = Decoder::new(k);
            let mut got = None;
            for &index in picks.iter().take(usize::from(k)) {
                got = d.add(index, &chunk(&payload, index));
            }
            prop_assert_eq!(got.unwrap(), payload);
        }
    }
}
