//! # paytap-qrimage
//!
//! QR code images for any payload text (an EMVCo merchant code, a
//! consumer-presented code, a band's offline code): render to a standard QR
//! symbol (ISO/IEC 18004, error correction level M, a four-module quiet zone)
//! as PNG bytes or as Unicode half blocks for a terminal, and read the payload
//! back from PNG bytes. Bytes in, bytes out: the caller reads and writes files.
//!
//! Rendering is `qrcode`, reading is `rqrr` (a port of quirc), PNG is `image`
//! with only its PNG codec. Decoding is bounded ([`MAX_IMAGE_SIDE`],
//! [`MAX_DECODE_ALLOC`]) so a hostile image cannot take the memory.
#![deny(missing_docs)]

use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder, ImageFormat, ImageReader, Limits};
use qrcode::{Color, EcLevel, QrCode};
use std::io::Cursor;
use thiserror::Error;

/// Pixels per module in a rendered PNG.
pub const MODULE_PX: u32 = 8;
/// Light modules around the symbol (ISO/IEC 18004 asks for four).
pub const QUIET_ZONE_MODULES: u32 = 4;
/// Longest payload rendered, in bytes (a version 40-M symbol holds 2,331).
pub const MAX_PAYLOAD_LEN: usize = 2_331;
/// Widest and tallest image read, in pixels.
pub const MAX_IMAGE_SIDE: u32 = 8_192;
/// Most memory the PNG decoder may allocate, in bytes.
pub const MAX_DECODE_ALLOC: u64 = 128 * 1024 * 1024;

/// Every way rendering or reading an image fails.
#[derive(Debug, Error)]
pub enum ImageError {
    /// Nothing to render.
    #[error("payload is empty")]
    EmptyPayload,
    /// More than [`MAX_PAYLOAD_LEN`] bytes.
    #[error("payload is {0} bytes; a QR code here holds at most {MAX_PAYLOAD_LEN}")]
    PayloadTooLong(usize),
    /// The QR encoder refused the payload.
    #[error("cannot encode a QR code: {0}")]
    Encode(String),
    /// Writing the PNG failed.
    #[error("cannot write PNG: {0}")]
    Png(String),
    /// The bytes are not a PNG image that can be decoded within the limits.
    #[error("not a readable PNG image: {0}")]
    NotPng(String),
    /// The image holds no QR code that could be found.
    #[error("no QR code found in the image")]
    NoCode,
    /// A QR code was found but could not be decoded.
    #[error("QR code found but unreadable: {0}")]
    Unreadable(String),
}

fn symbol(payload: &str) -> Result<QrCode, ImageError> {
    if payload.is_empty() {
        return Err(ImageError::EmptyPayload);
    }
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(ImageError::PayloadTooLong(payload.len()));
    }
    QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::M)
        .map_err(|e| ImageError::Encode(e.to_string()))
}

/// The symbol's modules with the quiet zone: `true` is dark.
fn modules(code: &QrCode) -> (usize, Vec<bool>) {
    let w = code.width();
    let q = QUIET_ZONE_MODULES as usize;
    let side = w + 2 * q;
    let colors = code.to_colors();
    let mut out = vec![false; side * side];
    for (i, c) in colors.iter().enumerate() {
        out[(i / w + q) * side + i % w + q] = *c == Color::Dark;
    }
    (side, out)
}

/// Render `payload` as a PNG (8-bit greyscale) QR code.
pub fn render_png(payload: &str) -> Result<Vec<u8>, ImageError> {
    let (side, dark) = modules(&symbol(payload)?);
    let px = side as u32 * MODULE_PX;
    let mut pixels = Vec::with_capacity((px * px) as usize);
    for y in 0..px {
        let row = (y / MODULE_PX) as usize * side;
        pixels.extend((0..px).map(|x| {
            if dark[row + (x / MODULE_PX) as usize] {
                0u8
            } else {
                255u8
            }
        }));
    }
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(&pixels, px, px, ExtendedColorType::L8)
        .map_err(|e| ImageError::Png(e.to_string()))?;
    Ok(out)
}

/// Render `payload` for a terminal: two module rows per text line with
/// Unicode half blocks, light modules drawn (as `qrencode -t UTF8` does), so it
/// scans on a dark terminal background.
pub fn render_terminal(payload: &str) -> Result<String, ImageError> {
    let (side, dark) = modules(&symbol(payload)?);
    let light = |y: usize, x: usize| y < side && !dark[y * side + x];
    let mut out = String::with_capacity((side + 1) * side.div_ceil(2) * 3);
    for y in (0..side).step_by(2) {
        for x in 0..side {
            out.push(match (light(y, x), light(y + 1, x)) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            });
        }
        out.push('\n');
    }
    Ok(out)
}

/// Read the payload of the first QR code found in PNG bytes.
pub fn read_png(png: &[u8]) -> Result<String, ImageError> {
    let mut reader = ImageReader::with_format(Cursor::new(png), ImageFormat::Png);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| ImageError::NotPng(e.to_string()))?
        .into_luma8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| img.as_raw()[y * w + x]);
    let grids = prepared.detect_grids();
    let mut last = None;
    for grid in grids {
        match grid.decode() {
            Ok((_, text)) => return Ok(text),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => ImageError::Unreadable(e.to_string()),
        None => ImageError::NoCode,
    })
}
