//! A product's picture: which image it has, and the names of the resized
//! copies a blob store ([`ImageStore`](crate::ports::ImageStore)) keeps.
//!
//! Keys are made here, never taken from a user: an image is named by the
//! SHA-256 of its uploaded bytes ([`ImageKey::of_upload`]), and each resized
//! copy by that name, its width and its format
//! (`<32 hex digits>-<width>.<jpg|png>`, [`BlobKey`]). A name therefore
//! always means the same bytes, which lets a server cache them forever
//! (`immutable`), and a request for any other name is refused by
//! [`BlobKey::parse`] before a store sees it (no `..`, no `/`).
//!
//! The product keeps only the key, the format and the stored size
//! ([`ProductImage`]); the copies' widths follow from those and
//! [`ProductImage::WIDTHS`], so a page can write `srcset`, `width` and
//! `height` without reading a blob.

use std::fmt;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};

/// The format of the stored copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    /// JPEG, for pictures without transparency.
    Jpeg,
    /// PNG, for pictures with transparency.
    Png,
}

impl ImageFormat {
    /// The file extension of a copy.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
        }
    }

    /// The `Content-Type` of a copy.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
        }
    }

    fn from_extension(ext: &str) -> Option<Self> {
        match ext {
            "jpg" => Some(Self::Jpeg),
            "png" => Some(Self::Png),
            _ => None,
        }
    }
}

/// The name of an uploaded image: the first 128 bits of the SHA-256 of its
/// bytes, as 32 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageKey(String);

impl ImageKey {
    /// The key of an upload's bytes.
    ///
    /// ```
    /// # use orders_core::catalogue::ImageKey;
    /// assert_eq!(ImageKey::of_upload(b"abc").as_str(), "ba7816bf8f01cfea414140de5dae2223");
    /// ```
    pub fn of_upload(bytes: &[u8]) -> Self {
        let digest = Sha256::digest(bytes);
        Self(digest[..16].iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Reads a key back: exactly 32 lower-case hex digits.
    pub fn parse(text: &str) -> Option<Self> {
        let ok = text.len() == 32 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        ok.then(|| Self(text.to_owned()))
    }

    /// The 32 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name of one stored copy: `<key>-<width>.<jpg|png>`.
///
/// ```
/// # use orders_core::catalogue::BlobKey;
/// let key = BlobKey::parse("ba7816bf8f01cfea414140de5dae2223-320.jpg").unwrap();
/// assert_eq!(key.content_type(), "image/jpeg");
/// assert!(BlobKey::parse("../../etc/passwd").is_none());
/// assert!(BlobKey::parse("BA7816BF8F01CFEA414140DE5DAE2223-320.jpg").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobKey {
    text: String,
    format: ImageFormat,
}

impl BlobKey {
    /// The copy of `key` at `width`, in `format`.
    pub fn new(key: &ImageKey, width: u32, format: ImageFormat) -> Self {
        Self {
            text: format!("{}-{width}.{}", key.as_str(), format.extension()),
            format,
        }
    }

    /// Reads a copy's name (from a URL, say); `None` for anything a
    /// [`BlobKey::new`] cannot have made.
    pub fn parse(text: &str) -> Option<Self> {
        let (stem, ext) = text.split_once('.')?;
        let format = ImageFormat::from_extension(ext)?;
        let (key, width) = stem.split_once('-')?;
        let key = ImageKey::parse(key)?;
        let digits = !width.is_empty() && width.len() <= 5 && !width.starts_with('0');
        let width: u32 = width.parse().ok().filter(|_| digits)?;
        Some(Self::new(&key, width, format))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The `Content-Type` of the copy.
    pub fn content_type(&self) -> &'static str {
        self.format.content_type()
    }
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// One resized copy of a product's image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageVariant {
    /// Its name in the blob store.
    pub key: BlobKey,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl ImageVariant {
    /// Where a host serves it: `/images/<key>` (see
    /// [`ProductImage::URL_PREFIX`]).
    pub fn url(&self) -> String {
        format!("{}{}", ProductImage::URL_PREFIX, self.key)
    }
}

/// The image a product has: its key, the format of its copies and the
/// size of the picture as stored (after any downscaling).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductImage {
    key: ImageKey,
    format: ImageFormat,
    width: u32,
    height: u32,
}

/// Stored image text that does not read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a stored product image")]
pub struct InvalidImage;

impl ProductImage {
    /// The widths of the copies made of every image (an image narrower than
    /// one of them is kept at its own width instead, never enlarged).
    pub const WIDTHS: [u32; 2] = [320, 800];

    /// The path under which hosts serve the copies, and which the JSON
    /// product's URLs start with.
    pub const URL_PREFIX: &'static str = "/images/";

    /// An image of `width` × `height` pixels (both at least 1).
    pub fn new(key: ImageKey, format: ImageFormat, width: u32, height: u32) -> Self {
        Self {
            key,
            format,
            width: width.max(1),
            height: height.max(1),
        }
    }

    /// Its key.
    pub fn key(&self) -> &ImageKey {
        &self.key
    }

    /// The format of its copies.
    pub fn format(&self) -> ImageFormat {
        self.format
    }

    /// The picture's width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// The picture's height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The copies, narrowest first: one per [`ProductImage::WIDTHS`] entry,
    /// at most the picture's own width, keeping its aspect ratio.
    pub fn variants(&self) -> Vec<ImageVariant> {
        let mut out: Vec<ImageVariant> = Vec::new();
        for wanted in Self::WIDTHS {
            let width = wanted.min(self.width);
            if out.iter().any(|v| v.width == width) {
                continue;
            }
            let height = (u64::from(self.height) * u64::from(width) + u64::from(self.width) / 2)
                / u64::from(self.width);
            out.push(ImageVariant {
                key: BlobKey::new(&self.key, width, self.format),
                width,
                height: u32::try_from(height.max(1)).unwrap_or(u32::MAX),
            });
        }
        out
    }

    /// The text a store keeps: `<key>.<ext> <width>x<height>`.
    pub fn to_stored(&self) -> String {
        format!(
            "{}.{} {}x{}",
            self.key.as_str(),
            self.format.extension(),
            self.width,
            self.height
        )
    }

    /// Reads [`ProductImage::to_stored`]'s text back.
    ///
    /// # Errors
    /// [`InvalidImage`] for any other text.
    pub fn from_stored(text: &str) -> Result<Self, InvalidImage> {
        let (name, size) = text.split_once(' ').ok_or(InvalidImage)?;
        let (key, ext) = name.split_once('.').ok_or(InvalidImage)?;
        let key = ImageKey::parse(key).ok_or(InvalidImage)?;
        let format = ImageFormat::from_extension(ext).ok_or(InvalidImage)?;
        let (w, h) = size.split_once('x').ok_or(InvalidImage)?;
        let w: u32 = w.parse().map_err(|_| InvalidImage)?;
        let h: u32 = h.parse().map_err(|_| InvalidImage)?;
        if w == 0 || h == 0 {
            return Err(InvalidImage);
        }
        Ok(Self::new(key, format, w, h))
    }
}

/// The JSON of a product's image: `{width, height, url, variants: [{width,
/// height, url}]}`, `url` being the widest copy's.
impl Serialize for ProductImage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Variant {
            width: u32,
            height: u32,
            url: String,
        }
        let variants: Vec<Variant> = self
            .variants()
            .into_iter()
            .map(|v| Variant {
                width: v.width,
                height: v.height,
                url: v.url(),
            })
            .collect();
        let url = variants.last().map(|v| v.url.clone()).unwrap_or_default();
        let mut s = serializer.serialize_struct("ProductImage", 4)?;
        s.serialize_field("width", &self.width)?;
        s.serialize_field("height", &self.height)?;
        s.serialize_field("url", &url)?;
        s.serialize_field("variants", &variants)?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_keep_the_aspect_and_never_enlarge() {
        let key = ImageKey::of_upload(b"x");
        let wide = ProductImage::new(key.clone(), ImageFormat::Jpeg, 1600, 900);
        let sizes: Vec<_> = wide
            .variants()
            .iter()
            .map(|v| (v.width, v.height))
            .collect();
        assert_eq!(sizes, vec![(320, 180), (800, 450)]);
        let small = ProductImage::new(key.clone(), ImageFormat::Png, 500, 1000);
        let sizes: Vec<_> = small
            .variants()
            .iter()
            .map(|v| (v.width, v.height))
            .collect();
        assert_eq!(sizes, vec![(320, 640), (500, 1000)]);
        let tiny = ProductImage::new(key, ImageFormat::Png, 100, 50);
        assert_eq!(tiny.variants().len(), 1);
        assert!(tiny.variants()[0].url().ends_with("-100.png"));
    }

    #[test]
    fn stored_text_round_trips_and_blob_keys_parse_strictly() {
        let image = ProductImage::new(ImageKey::of_upload(b"y"), ImageFormat::Png, 640, 480);
        assert_eq!(
            ProductImage::from_stored(&image.to_stored()),
            Ok(image.clone())
        );
        for bad in [
            "",
            "x",
            "abc.png 1x1",
            &image.to_stored().replace("480", "0"),
        ] {
            assert_eq!(ProductImage::from_stored(bad), Err(InvalidImage), "{bad:?}");
        }
        let variant = &image.variants()[0];
        assert_eq!(
            BlobKey::parse(variant.key.as_str()),
            Some(variant.key.clone())
        );
        let k = image.key().as_str();
        for bad in [
            format!("{k}-320.gif"),
            format!("{k}-0320.png"),
            format!("{k}-.png"),
            format!("{k}-320.png.png"),
            format!("{k}/320.png"),
            format!("{k}-999999.png"),
        ] {
            assert!(BlobKey::parse(&bad).is_none(), "{bad:?}");
        }
        let json = serde_json::to_value(&image).unwrap();
        assert_eq!(json["variants"][1]["width"], 640);
        assert_eq!(json["url"], format!("/images/{k}-640.png"));
    }
}
