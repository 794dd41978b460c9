//! Typed errors of the codec. No variant ever carries a field value, so an error
//! message can never leak a card number or track data.

use thiserror::Error;

/// Why a single data element value was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FieldError {
    /// A character not allowed by the element's attribute (n, an, ans, z ...).
    #[error("character not allowed for attribute {attribute} at position {position}")]
    BadCharacter {
        /// The element's attribute.
        attribute: &'static str,
        /// Where in the value the character is.
        position: usize,
    },
    /// A fixed-length element with the wrong length.
    #[error("length {actual} but the element is fixed at {expected}")]
    WrongLength {
        /// The element's fixed length.
        expected: u16,
        /// The value's length.
        actual: usize,
    },
    /// A variable-length element longer than its maximum.
    #[error("length {actual} exceeds the maximum {max}")]
    TooLong {
        /// The element's maximum length.
        max: u16,
        /// The value's length.
        actual: usize,
    },
    /// A value that is well-formed for its attribute but out of range for its meaning
    /// (month 13, amount too large ...).
    #[error("value out of range: {0}")]
    OutOfRange(&'static str),
}

/// Every way encoding or decoding a message can fail.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    /// The input ended before a complete element.
    #[error("message truncated: needed {needed} more bytes at offset {offset}")]
    Truncated {
        /// Where the incomplete element starts.
        offset: usize,
        /// How many more bytes it needs.
        needed: usize,
    },
    /// The message type indicator is not four ASCII digits.
    #[error("invalid message type indicator")]
    InvalidMti,
    /// A data element number outside 2..=128 or one that is reserved for the codec
    /// (1: secondary bitmap, 65: tertiary bitmap).
    #[error("data element {0} cannot be set directly")]
    ReservedField(u8),
    /// Bit 65 (tertiary bitmap) was set: paytap does not use a tertiary bitmap.
    #[error("tertiary bitmap (bit 65) is not supported")]
    TertiaryBitmap,
    /// A length prefix that is not ASCII digits.
    #[error("data element {field}: length prefix is not ASCII digits")]
    BadLengthPrefix {
        /// The data element number.
        field: u8,
    },
    /// A data element value that violates its specification.
    #[error("data element {field}: {reason}")]
    Field {
        /// The data element number.
        field: u8,
        /// What is wrong with its value.
        reason: FieldError,
    },
    /// Bytes left over after the last element the bitmap announced.
    #[error("{0} trailing bytes after the last data element")]
    TrailingBytes(usize),
    /// A mandatory element is absent.
    #[error("data element {0} is missing")]
    MissingField(u8),
    /// The encoded message would not fit in one frame.
    #[error("message of {len} bytes exceeds the frame limit of {max}")]
    FrameTooLong {
        /// The encoded message's length.
        len: usize,
        /// The largest length a frame carries.
        max: usize,
    },
    /// A zero-length frame.
    #[error("empty frame")]
    EmptyFrame,
    /// A private-use subelement structure (DE 48/62/63) is malformed.
    #[error("data element {field}: malformed subelement structure at offset {offset}")]
    Subelement {
        /// The data element number.
        field: u8,
        /// Where in its value the bad subelement starts.
        offset: usize,
    },
}
