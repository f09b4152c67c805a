//! An upload made into a product image: its format sniffed from its bytes,
//! its size checked before a pixel is decoded, then decoded, turned
//! upright and resized to the core's widths, each copy encoded afresh.
//!
//! - The format is what the bytes say (JPEG, PNG or WebP magic numbers),
//!   never the file name or the declared type: a PNG called `.jpg` is a
//!   PNG, and a text file called `.png` is refused.
//! - A decompression bomb (a small file that declares a huge picture) is
//!   refused from its header: the dimensions are read first and checked
//!   against [`MAX_SIDE`] and [`MAX_PIXELS`], and the decoder itself runs
//!   under the same limits and a memory cap.
//! - The copies are encoded from pixels, so nothing of the upload's
//!   metadata (EXIF with a camera's GPS position, comments, colour
//!   profiles) survives. The EXIF orientation is applied first, so a
//!   phone's portrait photo stays upright.
//! - Copies are JPEG, or PNG when the picture has transparency.
//!
//! Decoding is CPU work: [`prepare`] is synchronous, and a caller on an
//! async runtime runs it on a blocking thread, a bounded number at a time.

use std::io::Cursor;

use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageReader, Limits};
use orders_core::catalogue::{BlobKey, ImageFormat, ImageKey, ProductImage};

/// The largest upload taken: 5 MiB.
pub const MAX_UPLOAD_BYTES: usize = 5 * 1024 * 1024;

/// The widest or tallest picture taken, in pixels.
pub const MAX_SIDE: u32 = 8_000;

/// The most pixels a picture may have (40 megapixels).
pub const MAX_PIXELS: u64 = 40_000_000;

/// The most memory the decoder may allocate.
const MAX_ALLOC: u64 = 512 * 1024 * 1024;

/// JPEG quality of the copies.
const JPEG_QUALITY: u8 = 85;

/// Why an upload is not taken. Each message is for the person who sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UploadError {
    /// No bytes.
    #[error("choose an image file to upload")]
    Empty,
    /// Over [`MAX_UPLOAD_BYTES`].
    #[error("must be at most 5 MB")]
    TooLarge,
    /// Not JPEG, PNG or WebP by its bytes.
    #[error("must be a JPEG, PNG or WebP image")]
    NotAnImage,
    /// Wider or taller than [`MAX_SIDE`], or more than [`MAX_PIXELS`].
    #[error("is {width}×{height} pixels: at most 8000 on a side and 40 megapixels")]
    TooManyPixels {
        /// Its declared width.
        width: u32,
        /// Its declared height.
        height: u32,
    },
    /// The bytes start like an image but do not decode.
    #[error("could not be read as an image (damaged or unsupported)")]
    Undecodable,
}

/// A prepared upload: the image the product will have, and the copies to
/// store first.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// What the product keeps.
    pub image: ProductImage,
    /// Each copy's key and encoded bytes, narrowest first.
    pub blobs: Vec<(BlobKey, Vec<u8>)>,
}

/// The format of `bytes` by their magic numbers.
fn sniff(bytes: &[u8]) -> Option<image::ImageFormat> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(image::ImageFormat::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(image::ImageFormat::Png)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(image::ImageFormat::WebP)
    } else {
        None
    }
}

fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    limits
}

fn reader(bytes: &[u8], format: image::ImageFormat) -> ImageReader<Cursor<&[u8]>> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits());
    reader
}

fn check_size(width: u32, height: u32) -> Result<(), UploadError> {
    let pixels = u64::from(width) * u64::from(height);
    if width == 0 || height == 0 {
        Err(UploadError::Undecodable)
    } else if width > MAX_SIDE || height > MAX_SIDE || pixels > MAX_PIXELS {
        Err(UploadError::TooManyPixels { width, height })
    } else {
        Ok(())
    }
}

/// Checks, decodes and resizes an upload. See the module documentation.
///
/// # Errors
/// [`UploadError`], saying what is wrong with the file.
pub fn prepare(bytes: &[u8]) -> Result<Prepared, UploadError> {
    if bytes.is_empty() {
        return Err(UploadError::Empty);
    }
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(UploadError::TooLarge);
    }
    let format = sniff(bytes).ok_or(UploadError::NotAnImage)?;
    // The header's dimensions, before any pixel is decoded.
    let mut header = ImageReader::with_format(Cursor::new(bytes), format);
    header.no_limits();
    let (width, height) = header
        .into_dimensions()
        .map_err(|_| UploadError::Undecodable)?;
    check_size(width, height)?;

    let mut decoder = reader(bytes, format)
        .into_decoder()
        .map_err(|_| UploadError::Undecodable)?;
    let orientation = decoder
        .orientation()
        .map_err(|_| UploadError::Undecodable)?;
    let mut picture = DynamicImage::from_decoder(decoder).map_err(|_| UploadError::Undecodable)?;
    picture.apply_orientation(orientation);

    let transparent = format != image::ImageFormat::Jpeg && picture.color().has_alpha();
    let out = if transparent {
        ImageFormat::Png
    } else {
        ImageFormat::Jpeg
    };
    let image = ProductImage::new(
        ImageKey::of_upload(bytes),
        out,
        picture.width(),
        picture.height(),
    );
    let blobs = image
        .variants()
        .into_iter()
        .map(|variant| {
            let copy = if variant.width == picture.width() {
                picture.clone()
            } else {
                picture.resize_exact(variant.width, variant.height, FilterType::CatmullRom)
            };
            encode(&copy, out).map(|bytes| (variant.key, bytes))
        })
        .collect::<Result<_, _>>()?;
    Ok(Prepared { image, blobs })
}

fn encode(picture: &DynamicImage, format: ImageFormat) -> Result<Vec<u8>, UploadError> {
    let mut out = Vec::new();
    let written = match format {
        ImageFormat::Jpeg => {
            let encoder =
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY);
            DynamicImage::ImageRgb8(picture.to_rgb8()).write_with_encoder(encoder)
        }
        ImageFormat::Png => {
            let encoder = image::codecs::png::PngEncoder::new(&mut out);
            DynamicImage::ImageRgba8(picture.to_rgba8()).write_with_encoder(encoder)
        }
    };
    written.map_err(|_| UploadError::Undecodable)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32, alpha: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let picture = if alpha {
            DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(
                width,
                height,
                image::Rgba([10, 200, 30, 128]),
            ))
        } else {
            DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
                width,
                height,
                image::Rgb([10, 200, 30]),
            ))
        };
        picture
            .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    /// A PNG whose header claims `width` × `height` (CRC fixed, pixels not).
    fn png_claiming(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = png(1, 1, false);
        bytes[16..20].copy_from_slice(&width.to_be_bytes());
        bytes[20..24].copy_from_slice(&height.to_be_bytes());
        let crc = crc32(&bytes[12..29]);
        bytes[29..33].copy_from_slice(&crc.to_be_bytes());
        bytes
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &byte in data {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn a_picture_becomes_copies_at_the_core_widths() {
        let prepared = prepare(&png(1000, 500, false)).unwrap();
        assert_eq!(prepared.image.format(), ImageFormat::Jpeg);
        assert_eq!(
            (prepared.image.width(), prepared.image.height()),
            (1000, 500)
        );
        let sizes: Vec<_> = prepared
            .blobs
            .iter()
            .map(|(key, bytes)| {
                let copy = image::load_from_memory(bytes).unwrap();
                (key.content_type(), copy.width(), copy.height())
            })
            .collect();
        assert_eq!(
            sizes,
            vec![("image/jpeg", 320, 160), ("image/jpeg", 800, 400)]
        );
        let transparent = prepare(&png(100, 80, true)).unwrap();
        assert_eq!(transparent.image.format(), ImageFormat::Png);
        assert_eq!(transparent.blobs.len(), 1);
    }

    #[test]
    fn refusals_say_why() {
        assert_eq!(prepare(b"").unwrap_err(), UploadError::Empty);
        assert_eq!(
            prepare(b"GIF89a not taken").unwrap_err(),
            UploadError::NotAnImage
        );
        assert_eq!(
            prepare(&png_claiming(100_000, 100_000)).unwrap_err(),
            UploadError::TooManyPixels {
                width: 100_000,
                height: 100_000
            }
        );
        assert_eq!(
            prepare(&png_claiming(7_000, 7_000)).unwrap_err(),
            UploadError::TooManyPixels {
                width: 7_000,
                height: 7_000
            }
        );
        let mut truncated = png(50, 50, false);
        truncated.truncate(60);
        assert_eq!(prepare(&truncated).unwrap_err(), UploadError::Undecodable);
        let big = vec![0xFF; MAX_UPLOAD_BYTES + 1];
        assert_eq!(prepare(&big).unwrap_err(), UploadError::TooLarge);
    }
}
