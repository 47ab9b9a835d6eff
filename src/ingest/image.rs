//! Still images: read, check and decode, refusing bad input with an error that names the problem.
//! Dimensions are checked from the header before any pixel is decoded (decompression bombs).

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{ImageDecoder, ImageFormat, ImageReader};

use crate::base::error::ErrorKind;
use crate::config::ImageLimits;
use crate::frame::Frame;

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{path}: file not found or not readable ({reason})")]
    Unreadable { path: PathBuf, reason: String },
    #[error("{path}: file is empty (0 bytes)")]
    Empty { path: PathBuf },
    #[error("{path}: file is {bytes} bytes, over the limit of {limit}")]
    FileTooLarge {
        path: PathBuf,
        bytes: u64,
        limit: u64,
    },
    #[error("{path}: not an image in a supported format (JPEG, PNG, BMP, WebP)")]
    NotImage { path: PathBuf },
    #[error("{path}: GIF images are not supported; convert to JPEG or PNG")]
    Gif { path: PathBuf },
    #[error("{path}: image is corrupt or truncated: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "{path}: image is {width}x{height}, over the limit of {limit} (refused before decoding)"
    )]
    TooLarge {
        path: PathBuf,
        width: u32,
        height: u32,
        limit: String,
    },
    #[error("{path}: image is {width}x{height}; both sides must be at least {min} px")]
    TooSmall {
        path: PathBuf,
        width: u32,
        height: u32,
        min: u32,
    },
}

impl InputError {
    /// What went wrong; the API families choose their codes from it (src/codes/).
    pub fn kind(&self) -> ErrorKind {
        match self {
            InputError::Unreadable { .. } => ErrorKind::ImageUnreadable,
            InputError::Empty { .. } => ErrorKind::ImageEmpty,
            InputError::FileTooLarge { .. } => ErrorKind::FileTooLarge,
            InputError::NotImage { .. } => ErrorKind::NotImage,
            InputError::Gif { .. } => ErrorKind::Gif,
            InputError::Corrupt { .. } => ErrorKind::ImageCorrupt,
            InputError::TooLarge { .. } => ErrorKind::ImageTooLarge,
            InputError::TooSmall { .. } => ErrorKind::ImageTooSmall,
        }
    }
}

/// Reads and decodes an image file into RGB, applying its EXIF orientation.
pub fn load_image(path: &Path, limits: &ImageLimits) -> Result<Frame, InputError> {
    let p = || path.to_path_buf();
    let meta = std::fs::metadata(path).map_err(|e| InputError::Unreadable {
        path: p(),
        reason: e.to_string(),
    })?;
    if !meta.is_file() {
        return Err(InputError::Unreadable {
            path: p(),
            reason: "not a regular file".into(),
        });
    }
    if meta.len() == 0 {
        return Err(InputError::Empty { path: p() });
    }
    if meta.len() > limits.max_file_bytes {
        return Err(InputError::FileTooLarge {
            path: p(),
            bytes: meta.len(),
            limit: limits.max_file_bytes,
        });
    }
    let bytes = std::fs::read(path).map_err(|e| InputError::Unreadable {
        path: p(),
        reason: e.to_string(),
    })?;
    decode_image(&bytes, path, limits)
}

/// Decodes image bytes (from a file or a request body); `origin` names the source in errors.
pub fn decode_image(
    bytes: &[u8],
    origin: &Path,
    limits: &ImageLimits,
) -> Result<Frame, InputError> {
    let p = || origin.to_path_buf();
    if bytes.is_empty() {
        return Err(InputError::Empty { path: p() });
    }
    let format = image::guess_format(bytes).map_err(|_| InputError::NotImage { path: p() })?;
    match format {
        ImageFormat::Gif => return Err(InputError::Gif { path: p() }),
        ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::Bmp | ImageFormat::WebP => {}
        _ => return Err(InputError::NotImage { path: p() }),
    }
    if format == ImageFormat::Jpeg && !jpeg_has_end(bytes) {
        return Err(InputError::Corrupt {
            path: p(),
            reason: "JPEG data ends before its end-of-image marker".into(),
        });
    }
    let corrupt = |e: image::ImageError| InputError::Corrupt {
        path: p(),
        reason: e.to_string(),
    };
    // Header only: refuse oversized pictures before any pixel buffer exists.
    let (width, height) = ImageReader::with_format(Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(corrupt)?;
    check_dimensions(width, height, origin, limits)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut lim = image::Limits::default();
    lim.max_image_width = Some(limits.max_dimension);
    lim.max_image_height = Some(limits.max_dimension);
    lim.max_alloc = Some(limits.max_pixels.saturating_mul(4).max(1 << 20));
    reader.limits(lim);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| header_error(e, origin, limits))?;
    // The pixel limit counts pixels; the decoded buffer also depends on the bit depth (a 16-bit
    // RGBA picture takes 8 bytes a pixel). The buffer may be no larger than an 8-bit RGBA picture
    // at the pixel limit, so deep pictures are held to fewer pixels.
    let budget = limits.max_pixels.saturating_mul(4);
    if decoder.total_bytes() > budget {
        return Err(InputError::TooLarge {
            path: p(),
            width,
            height,
            limit: format!(
                "{} MB decoded ({:?} pixels; images.max_pixels × 4 bytes)",
                budget / 1_000_000,
                decoder.color_type()
            ),
        });
    }
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = image::DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    img.apply_orientation(orientation);
    let rgb = img.into_rgb8();
    let (w, h) = rgb.dimensions();
    Frame::new(w, h, rgb.into_raw()).ok_or_else(|| InputError::Corrupt {
        path: p(),
        reason: "decoded buffer has the wrong size".into(),
    })
}

fn header_error(e: image::ImageError, origin: &Path, limits: &ImageLimits) -> InputError {
    match e {
        image::ImageError::Limits(_) => InputError::TooLarge {
            path: origin.to_path_buf(),
            width: 0,
            height: 0,
            limit: format!("{} px per side", limits.max_dimension),
        },
        other => InputError::Corrupt {
            path: origin.to_path_buf(),
            reason: other.to_string(),
        },
    }
}

pub fn check_dimensions(
    width: u32,
    height: u32,
    origin: &Path,
    limits: &ImageLimits,
) -> Result<(), InputError> {
    let p = || origin.to_path_buf();
    if width > limits.max_dimension || height > limits.max_dimension {
        return Err(InputError::TooLarge {
            path: p(),
            width,
            height,
            limit: format!("{} px per side", limits.max_dimension),
        });
    }
    if width as u64 * height as u64 > limits.max_pixels {
        return Err(InputError::TooLarge {
            path: p(),
            width,
            height,
            limit: format!("{} pixels", limits.max_pixels),
        });
    }
    if width < limits.min_dimension || height < limits.min_dimension {
        return Err(InputError::TooSmall {
            path: p(),
            width,
            height,
            min: limits.min_dimension,
        });
    }
    Ok(())
}

/// A complete JPEG has an end-of-image marker (FF D9) after its last start-of-scan (FF DA).
/// Entropy-coded data stuffs every FF with 00, so neither marker can appear inside scan data.
fn jpeg_has_end(bytes: &[u8]) -> bool {
    let last_sos = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    match last_sos {
        Some(i) => bytes[i..].windows(2).any(|w| w == [0xFF, 0xD9]),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32, sixteen_bit: bool) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        if sixteen_bit {
            let img = image::ImageBuffer::<image::Rgb<u16>, _>::from_fn(width, height, |x, y| {
                image::Rgb([(x * 50) as u16, (y * 50) as u16, 7])
            });
            img.write_to(&mut out, ImageFormat::Png).unwrap();
        } else {
            let img =
                image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 7]));
            img.write_to(&mut out, ImageFormat::Png).unwrap();
        }
        out.into_inner()
    }

    /// A 16-bit picture within the pixel limit used to decode whole (6 bytes a pixel, then an
    /// 8-bit copy): 40 megapixels took ~420 MB. The decoded buffer is now capped too.
    #[test]
    fn deep_pictures_are_held_to_the_decoded_size() {
        let limits = ImageLimits {
            max_pixels: 1_500_000,
            ..Default::default()
        };
        let origin = Path::new("deep.png");
        let deep = decode_image(&png(1200, 1000, true), origin, &limits).unwrap_err();
        assert_eq!(deep.kind(), ErrorKind::ImageTooLarge, "{deep}");
        assert!(deep.to_string().contains("decoded"), "{deep}");
        let frame = decode_image(&png(1200, 1000, false), origin, &limits).unwrap();
        assert_eq!((frame.width, frame.height), (1200, 1000));
        // A smaller 16-bit picture still decodes.
        assert!(decode_image(&png(600, 500, true), origin, &limits).is_ok());
    }
}
