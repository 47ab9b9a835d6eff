//! Spherical k-means for the inverted-file index: centroids are unit vectors so that a cosine
//! query ranks lists by one dot product each. Trained on a sample, deterministic (seeded).

use super::vector::{dot, normalize};

/// A small xorshift generator: training must be reproducible and needs no crate.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Index of the centroid with the largest dot product.
pub fn nearest(centroids: &[f32], dim: usize, v: &[f32]) -> usize {
    let mut best = (f32::NEG_INFINITY, 0);
    for (c, cen) in centroids.chunks_exact(dim).enumerate() {
        let s = dot(v, cen);
        if s > best.0 {
            best = (s, c);
        }
    }
    best.1
}

/// Nearest centroid of every row of `data`, split across the machine's cores.
pub fn assign_all(centroids: &[f32], dim: usize, data: &[f32]) -> Vec<u32> {
    let n = data.len() / dim;
    let threads = std::thread::available_parallelism()
        .map(std::num::NonZero::get)
        .unwrap_or(1)
        .clamp(1, 8);
    let chunk = n.div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = data
            .chunks(chunk * dim)
            .map(|part| {
                s.spawn(move || {
                    part.chunks_exact(dim)
                        .map(|v| nearest(centroids, dim, v) as u32)
                        .collect::<Vec<u32>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// `k` unit centroids from `sample` (rows of `dim`), `iterations` Lloyd steps.
pub fn train(sample: &[f32], dim: usize, k: usize, iterations: usize, seed: u64) -> Vec<f32> {
    let n = sample.len() / dim;
    let k = k.clamp(1, n.max(1));
    let mut rng = Rng(seed | 1);
    // Start from k distinct sample rows (a partial Fisher-Yates shuffle of row indices).
    let mut order: Vec<usize> = (0..n).collect();
    for i in 0..k {
        let j = i + rng.below(n - i);
        order.swap(i, j);
    }
    let mut centroids: Vec<f32> = order[..k]
        .iter()
        .flat_map(|&r| sample[r * dim..(r + 1) * dim].iter().copied())
        .collect();
    for _ in 0..iterations {
        let labels = assign_all(&centroids, dim, sample);
        let mut sums = vec![0f32; k * dim];
        let mut counts = vec![0usize; k];
        for (row, &c) in labels.iter().enumerate() {
            let c = c as usize;
            counts[c] += 1;
            for (s, x) in sums[c * dim..(c + 1) * dim]
                .iter_mut()
                .zip(&sample[row * dim..(row + 1) * dim])
            {
                *s += x;
            }
        }
        for c in 0..k {
            let dst = &mut centroids[c * dim..(c + 1) * dim];
            if counts[c] == 0 {
                // An empty list would never be probed: restart it on a random row.
                let r = rng.below(n);
                dst.copy_from_slice(&sample[r * dim..(r + 1) * dim]);
            } else {
                dst.copy_from_slice(&sums[c * dim..(c + 1) * dim]);
                normalize(dst);
            }
        }
    }
    centroids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_well_apart_clusters() {
        // Three tight clusters around the axes of a 3-d space.
        let mut data = vec![];
        let mut rng = Rng(7);
        for i in 0..300 {
            let mut v = [0.05f32; 3];
            v[i % 3] = 1.0;
            v[(i + 1) % 3] += (rng.below(100) as f32) / 2000.0;
            normalize(&mut v);
            data.extend_from_slice(&v);
        }
        let c = train(&data, 3, 3, 10, 42);
        let labels = assign_all(&c, 3, &data);
        // Every point of one axis lands in the same list, and the three lists differ.
        for axis in 0..3 {
            let l: Vec<u32> = (0..300)
                .filter(|i| i % 3 == axis)
                .map(|i| labels[i])
                .collect();
            assert!(l.iter().all(|&x| x == l[0]), "axis {axis} split: {l:?}");
        }
        let mut firsts = vec![labels[0], labels[1], labels[2]];
        firsts.sort();
        firsts.dedup();
        assert_eq!(firsts.len(), 3);
    }
}
