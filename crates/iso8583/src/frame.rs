//! TCP framing for paytap's ISO 8583 link: every message is preceded by a 2-byte
//! big-endian length (the length of the message only, not of the prefix). Sans-IO:
//! the caller moves bytes between these helpers and its socket.

use crate::Error;

/// The largest message a 2-byte prefix can describe.
pub const MAX_FRAME: usize = u16::MAX as usize;

/// Append `msg` with its 2-byte big-endian length prefix to `out`.
pub fn encode_frame(msg: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
    if msg.is_empty() {
        return Err(Error::EmptyFrame);
    }
    let len = u16::try_from(msg.len()).map_err(|_| Error::FrameTooLong {
        len: msg.len(),
        max: MAX_FRAME,
    })?;
    out.reserve(2 + msg.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(msg);
    Ok(())
}

/// Strip the 2-byte prefix from exactly one complete frame.
pub fn decode_frame(frame: &[u8]) -> Result<&[u8], Error> {
    let (len, body) = match frame {
        [a, b, body @ ..] => (usize::from(u16::from_be_bytes([*a, *b])), body),
        _ => {
            return Err(Error::Truncated {
                offset: 0,
                needed: 2 - frame.len(),
            });
        }
    };
    if len == 0 {
        return Err(Error::EmptyFrame);
    }
    if body.len() < len {
        return Err(Error::Truncated {
            offset: 2 + body.len(),
            needed: len - body.len(),
        });
    }
    if body.len() > len {
        return Err(Error::TrailingBytes(body.len() - len));
    }
    Ok(body)
}

/// Reassembles frames from a byte stream: feed it whatever the socket returned with
/// [`FrameDecoder::push`], then take complete messages with [`FrameDecoder::next_frame`].
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    start: usize,
    max: usize,
}

impl FrameDecoder {
    /// A decoder that rejects frames announcing more than `max_len` bytes
    /// (capped at [`MAX_FRAME`]).
    pub fn new(max_len: usize) -> FrameDecoder {
        FrameDecoder {
            buf: Vec::new(),
            start: 0,
            max: max_len.min(MAX_FRAME),
        }
    }

    /// Append bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next complete message (without its prefix), `Ok(None)` when more bytes are
    /// needed, or an error for a zero-length or over-long frame. After an error the
    /// stream is out of sync and the connection should be closed.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, Error> {
        let avail = self.buf.get(self.start..).unwrap_or(&[]);
        let len = match avail {
            [a, b, ..] => usize::from(u16::from_be_bytes([*a, *b])),
            _ => return Ok(None),
        };
        if len == 0 {
            return Err(Error::EmptyFrame);
        }
        if len > self.max {
            return Err(Error::FrameTooLong { len, max: self.max });
        }
        match avail.get(2..2 + len) {
            Some(body) => {
                let out = body.to_vec();
                self.start += 2 + len;
                if self.start == self.buf.len() {
                    self.buf.clear();
                    self.start = 0;
                }
                Ok(Some(out))
            }
            None => Ok(None),
        }
    }
}
