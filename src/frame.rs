//! A decoded picture (RGB, 8 bits, interleaved) and the one sampling primitive every model crop uses:
//! an affine warp with bilinear interpolation, written straight into the caller's tensor layout.

/// An RGB image in memory.
#[derive(Clone)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    /// `width * height * 3` bytes, row-major, R G B.
    pub rgb: Vec<u8>,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Frame({}x{})", self.width, self.height)
    }
}

impl Frame {
    pub fn new(width: u32, height: u32, rgb: Vec<u8>) -> Option<Self> {
        (rgb.len() == width as usize * height as usize * 3).then_some(Self { width, height, rgb })
    }

    #[inline]
    fn px(&self, x: i64, y: i64) -> [f32; 3] {
        if x < 0 || y < 0 || x >= self.width as i64 || y >= self.height as i64 {
            return [0.0; 3];
        }
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [
            self.rgb[i] as f32,
            self.rgb[i + 1] as f32,
            self.rgb[i + 2] as f32,
        ]
    }

    /// Bilinear sample at a sub-pixel position; outside the image is black (as OpenCV's constant border).
    #[inline]
    pub fn sample(&self, x: f32, y: f32) -> [f32; 3] {
        let x0 = x.floor();
        let y0 = y.floor();
        let (fx, fy) = (x - x0, y - y0);
        let (xi, yi) = (x0 as i64, y0 as i64);
        let inside =
            xi >= 0 && yi >= 0 && xi + 1 < self.width as i64 && yi + 1 < self.height as i64;
        let (a, b, c, d) = if inside {
            let w = self.width as usize;
            let i = (yi as usize * w + xi as usize) * 3;
            let j = i + w * 3;
            // Two row slices, one bounds check each, instead of one per byte.
            let (top, bot) = (&self.rgb[i..i + 6], &self.rgb[j..j + 6]);
            let g =
                |r: &[u8], k: usize| [f32::from(r[k]), f32::from(r[k + 1]), f32::from(r[k + 2])];
            (g(top, 0), g(top, 3), g(bot, 0), g(bot, 3))
        } else {
            (
                self.px(xi, yi),
                self.px(xi + 1, yi),
                self.px(xi, yi + 1),
                self.px(xi + 1, yi + 1),
            )
        };
        let mut out = [0.0; 3];
        for k in 0..3 {
            let top = a[k] + (b[k] - a[k]) * fx;
            let bot = c[k] + (d[k] - c[k]) * fx;
            out[k] = top + (bot - top) * fy;
        }
        out
    }

    /// Samples an `out_w`×`out_h` picture through `dst_to_src` and hands each pixel (x, y, rgb) to `put`.
    pub fn warp(
        &self,
        dst_to_src: &Affine,
        out_w: usize,
        out_h: usize,
        mut put: impl FnMut(usize, usize, [f32; 3]),
    ) {
        let m = &dst_to_src.0;
        if m[1] == 0.0 && m[3] == 0.0 {
            return self.warp_axis_aligned(m, out_w, out_h, put);
        }
        for y in 0..out_h {
            let sx = m[1] * y as f32 + m[2];
            let sy = m[4] * y as f32 + m[5];
            for x in 0..out_w {
                let xf = x as f32;
                put(x, y, self.sample(m[0] * xf + sx, m[3] * xf + sy));
            }
        }
    }

    /// Where an `out_w`×`out_h` picture through `m` starts in this frame when `m` only shifts it by
    /// whole pixels and it lies inside: its pixels are then the frame's own.
    fn unscaled_origin(&self, m: &[f32; 6], out_w: usize, out_h: usize) -> Option<(usize, usize)> {
        let (dx, dy) = (m[2] as i64, m[5] as i64);
        let inside = m[0] == 1.0
            && m[1] == 0.0
            && m[3] == 0.0
            && m[4] == 1.0
            && m[2] == dx as f32
            && m[5] == dy as f32
            && dx >= 0
            && dy >= 0
            && dx + out_w as i64 <= i64::from(self.width)
            && dy + out_h as i64 <= i64::from(self.height);
        inside.then_some((dx as usize, dy as usize))
    }

    /// `n` pixels of row `y` from column `x` (RGB bytes); the caller keeps them inside.
    fn row(&self, x: usize, y: usize, n: usize) -> &[u8] {
        let start = (y * self.width as usize + x) * 3;
        &self.rgb[start..start + n * 3]
    }

    /// Appends the B, G and R planes (raw 0..255) of an `out_w`×`out_h` picture through `m`, each
    /// padded with zeros to `w`×`h` (the picture at the top left): the detector's input. A picture
    /// that is the frame's own pixels is copied plane by plane, row by row; any other is warped.
    pub fn push_bgr_planes(
        &self,
        m: &Affine,
        (out_w, out_h): (usize, usize),
        (w, h): (usize, usize),
        data: &mut Vec<f32>,
    ) {
        let (out_w, out_h) = (out_w.min(w), out_h.min(h));
        if let Some((dx, dy)) = self.unscaled_origin(&m.0, out_w, out_h) {
            for c in [2, 1, 0] {
                for y in 0..out_h {
                    let row = self.row(dx, dy + y, out_w);
                    data.extend(row.chunks_exact(3).map(|p| f32::from(p[c])));
                    data.resize(data.len() + (w - out_w), 0.0);
                }
                data.resize(data.len() + (h - out_h) * w, 0.0);
            }
            return;
        }
        let base = data.len();
        let plane = w * h;
        data.resize(base + 3 * plane, 0.0);
        let buf = &mut data[base..];
        self.warp(m, out_w, out_h, |x, y, p| {
            let o = y * w + x;
            buf[o] = p[2];
            buf[plane + o] = p[1];
            buf[2 * plane + o] = p[0];
        });
    }

    /// Scale + translate only (every resize and box crop): the column weights are computed once and
    /// rows read directly, several times faster than sampling each pixel through `sample`.
    fn warp_axis_aligned(
        &self,
        m: &[f32; 6],
        out_w: usize,
        out_h: usize,
        mut put: impl FnMut(usize, usize, [f32; 3]),
    ) {
        let (w, h) = (self.width as i64, self.height as i64);
        // Unscaled and whole-pixel shifted (a frame already at the detector's size): the pixels
        // themselves, as the weights below would give them (1 and 0), without the arithmetic.
        if let Some((dx, dy)) = self.unscaled_origin(m, out_w, out_h) {
            for y in 0..out_h {
                for (x, p) in self.row(dx, dy + y, out_w).chunks_exact(3).enumerate() {
                    put(x, y, [f32::from(p[0]), f32::from(p[1]), f32::from(p[2])]);
                }
            }
            return;
        }
        // For each output column: the two source columns (clamped, with a 0 weight when outside) and weights.
        let taps =
            |n_out: usize, scale: f32, offset: f32, n_src: i64| -> Vec<(usize, usize, f32, f32)> {
                (0..n_out)
                    .map(|i| {
                        let s = scale * i as f32 + offset;
                        let s0 = s.floor();
                        let f = s - s0;
                        let i0 = s0 as i64;
                        let (mut w0, mut w1) = (1.0 - f, f);
                        if i0 < 0 || i0 >= n_src {
                            w0 = 0.0;
                        }
                        if i0 + 1 < 0 || i0 + 1 >= n_src {
                            w1 = 0.0;
                        }
                        (
                            i0.clamp(0, n_src - 1) as usize,
                            (i0 + 1).clamp(0, n_src - 1) as usize,
                            w0,
                            w1,
                        )
                    })
                    .collect()
            };
        let cols = taps(out_w, m[0], m[2], w);
        let rows = taps(out_h, m[4], m[5], h);
        let stride = self.width as usize * 3;
        for (y, &(r0, r1, wy0, wy1)) in rows.iter().enumerate() {
            let (row0, row1) = (
                &self.rgb[r0 * stride..(r0 + 1) * stride],
                &self.rgb[r1 * stride..(r1 + 1) * stride],
            );
            for (x, &(c0, c1, wx0, wx1)) in cols.iter().enumerate() {
                let (a, b) = (c0 * 3, c1 * 3);
                let mut px = [0f32; 3];
                for k in 0..3 {
                    let top = row0[a + k] as f32 * wx0 + row0[b + k] as f32 * wx1;
                    let bot = row1[a + k] as f32 * wx0 + row1[b + k] as f32 * wx1;
                    px[k] = top * wy0 + bot * wy1;
                }
                put(x, y, px);
            }
        }
    }

    /// Mean luma (BT.601) inside a rectangle, clipped to the image; None if the rectangle is outside.
    pub fn mean_luma(&self, x: f32, y: f32, w: f32, h: f32) -> Option<f32> {
        let x0 = x.max(0.0) as usize;
        let y0 = y.max(0.0) as usize;
        let x1 = ((x + w).min(self.width as f32)).max(0.0) as usize;
        let y1 = ((y + h).min(self.height as f32)).max(0.0) as usize;
        if x1 <= x0 || y1 <= y0 {
            return None;
        }
        let mut sum = 0.0f64;
        for yy in y0..y1 {
            let row =
                &self.rgb[(yy * self.width as usize + x0) * 3..(yy * self.width as usize + x1) * 3];
            for p in row.chunks_exact(3) {
                sum += 0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64;
            }
        }
        Some((sum / ((x1 - x0) * (y1 - y0)) as f64) as f32)
    }
}

/// 2×3 affine matrix `[a, b, c, d, e, f]`: (x, y) ↦ (a·x + b·y + c, d·x + e·y + f).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine(pub [f32; 6]);

impl Affine {
    /// Maps output pixels of an `out_w`×`out_h` picture onto the source rectangle (x, y, w, h), with
    /// pixel centres aligned as in OpenCV's `resize`.
    pub fn crop_resize(x: f32, y: f32, w: f32, h: f32, out_w: usize, out_h: usize) -> Self {
        let sx = w / out_w as f32;
        let sy = h / out_h as f32;
        Affine([sx, 0.0, x + 0.5 * sx - 0.5, 0.0, sy, y + 0.5 * sy - 0.5])
    }

    pub fn apply(&self, x: f32, y: f32) -> (f32, f32) {
        let m = &self.0;
        (m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5])
    }

    pub fn invert(&self) -> Option<Self> {
        let [a, b, c, d, e, f] = self.0;
        let det = a * e - b * d;
        if det.abs() < 1e-12 {
            return None;
        }
        let (ia, ib, id, ie) = (e / det, -b / det, -d / det, a / det);
        Some(Affine([
            ia,
            ib,
            -(ia * c + ib * f),
            id,
            ie,
            -(id * c + ie * f),
        ]))
    }

    /// Uniform scale factor of a similarity transform.
    pub fn scale(&self) -> f32 {
        (self.0[0] * self.0[4] - self.0[1] * self.0[3]).abs().sqrt()
    }
}

/// Least-squares similarity transform (rotation, uniform scale, translation) taking `src` points
/// onto `dst` points (Umeyama 1991, 2-D). Returns None for degenerate input.
pub fn similarity_transform(src: &[[f32; 2]], dst: &[[f32; 2]]) -> Option<Affine> {
    let n = src.len();
    if n < 2 || n != dst.len() {
        return None;
    }
    let nf = n as f64;
    let (mut msx, mut msy, mut mdx, mut mdy) = (0.0f64, 0.0, 0.0, 0.0);
    for (s, d) in src.iter().zip(dst) {
        msx += s[0] as f64;
        msy += s[1] as f64;
        mdx += d[0] as f64;
        mdy += d[1] as f64;
    }
    msx /= nf;
    msy /= nf;
    mdx /= nf;
    mdy /= nf;
    // For a similarity, the least-squares optimum is closed-form: a = Σ(s·d)/Σ|s|², b = Σ(s×d)/Σ|s|².
    let (mut num_a, mut num_b, mut den) = (0.0f64, 0.0, 0.0);
    for (s, d) in src.iter().zip(dst) {
        let (sx, sy) = (s[0] as f64 - msx, s[1] as f64 - msy);
        let (dx, dy) = (d[0] as f64 - mdx, d[1] as f64 - mdy);
        num_a += sx * dx + sy * dy;
        num_b += sx * dy - sy * dx;
        den += sx * sx + sy * sy;
    }
    if den < 1e-9 {
        return None;
    }
    let a = num_a / den;
    let b = num_b / den;
    let tx = mdx - (a * msx - b * msy);
    let ty = mdy - (b * msx + a * msy);
    Some(Affine([
        a as f32, -b as f32, tx as f32, b as f32, a as f32, ty as f32,
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_recovers_a_known_transform() {
        let t = Affine([0.8, -0.6, 10.0, 0.6, 0.8, -5.0]);
        let src = [[0.0, 0.0], [10.0, 0.0], [3.0, 7.0], [12.0, 9.0]];
        let dst: Vec<[f32; 2]> = src
            .iter()
            .map(|p| {
                let (x, y) = t.apply(p[0], p[1]);
                [x, y]
            })
            .collect();
        let est = similarity_transform(&src, &dst).unwrap();
        for (a, b) in est.0.iter().zip(t.0.iter()) {
            assert!((a - b).abs() < 1e-4, "{est:?}");
        }
        let inv = est.invert().unwrap();
        let (x, y) = inv.apply(dst[2][0], dst[2][1]);
        assert!((x - 3.0).abs() < 1e-3 && (y - 7.0).abs() < 1e-3);
    }

    #[test]
    fn fast_path_matches_general_sampling() {
        let rgb: Vec<u8> = (0..7 * 5 * 3).map(|v| (v * 37 % 251) as u8).collect();
        let f = Frame::new(7, 5, rgb).unwrap();
        // A crop that runs off the image on every side, scaled up.
        let m = Affine::crop_resize(-1.5, -2.0, 9.0, 8.0, 11, 9);
        let mut fast = vec![];
        f.warp(&m, 11, 9, |_, _, p| fast.push(p));
        let mut slow = vec![];
        for y in 0..9 {
            for x in 0..11 {
                let (sx, sy) = m.apply(x as f32, y as f32);
                slow.push(f.sample(sx, sy));
            }
        }
        for (a, b) in fast.iter().zip(&slow) {
            for k in 0..3 {
                assert!((a[k] - b[k]).abs() < 1e-3, "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn an_unscaled_window_is_the_pixels_sampling_gives() {
        let rgb: Vec<u8> = (0..7 * 5 * 3).map(|v| (v * 37 % 251) as u8).collect();
        let f = Frame::new(7, 5, rgb).unwrap();
        let m = Affine::crop_resize(2.0, 1.0, 4.0, 3.0, 4, 3);
        let mut got = vec![];
        f.warp(&m, 4, 3, |x, y, p| got.push((x, y, p)));
        assert_eq!(got.len(), 12);
        for (x, y, p) in got {
            let (sx, sy) = m.apply(x as f32, y as f32);
            assert_eq!(p, f.sample(sx, sy), "({x}, {y})");
        }
    }

    /// A detector's input built plane by plane is what warping pixel by pixel gives, for a
    /// picture that is the frame's own pixels (copied) and for a scaled one (warped), zeros around.
    #[test]
    fn planes_copied_or_warped_are_the_warped_pixels_padded_with_zeros() {
        let rgb: Vec<u8> = (0..7 * 5 * 3).map(|v| (v * 37 % 251) as u8).collect();
        let f = Frame::new(7, 5, rgb).unwrap();
        let (w, h) = (8, 6);
        for (m, out) in [
            (Affine::crop_resize(1.0, 2.0, 5.0, 3.0, 5, 3), (5, 3)),
            (Affine::crop_resize(0.0, 0.0, 7.0, 5.0, 7, 5), (7, 5)),
            (Affine::crop_resize(-1.0, 0.5, 7.0, 5.0, 6, 4), (6, 4)),
        ] {
            let mut want = vec![0f32; 3 * w * h];
            f.warp(&m, out.0, out.1, |x, y, p| {
                want[y * w + x] = p[2];
                want[w * h + y * w + x] = p[1];
                want[2 * w * h + y * w + x] = p[0];
            });
            let mut got = vec![-1.0];
            f.push_bgr_planes(&m, out, (w, h), &mut got);
            assert_eq!(got[0], -1.0, "appended after what was there");
            assert_eq!(got[1..], want[..], "{m:?}");
        }
        assert!(f
            .unscaled_origin(&Affine::crop_resize(1.0, 2.0, 5.0, 3.0, 5, 3).0, 5, 3)
            .is_some());
        assert!(f
            .unscaled_origin(&Affine::crop_resize(3.0, 0.0, 5.0, 3.0, 5, 3).0, 5, 3)
            .is_none());
    }

    #[test]
    fn crop_resize_identity_samples_pixels_exactly() {
        let f = Frame::new(4, 2, (0..24).map(|v| v as u8).collect()).unwrap();
        let mut got = vec![];
        f.warp(
            &Affine::crop_resize(0.0, 0.0, 4.0, 2.0, 4, 2),
            4,
            2,
            |_, _, p| got.push(p[0] as u8),
        );
        assert_eq!(got, vec![0, 3, 6, 9, 12, 15, 18, 21]);
    }
}
