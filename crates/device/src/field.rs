//! The NFC field over TCP, so a POS and a device can run as separate
//! processes.
//!
//! One TCP connection is one presence of the device in the reader's field
//! (one tap). Each command APDU from the POS (the client) and each response
//! APDU from the device (the server) travels as one frame: a **2-byte
//! big-endian length** followed by that many bytes (1 to 65 535). The POS
//! closes the connection when the transaction is over (the device leaves
//! the field).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use paytap_emv::Transport;
use paytap_emv::kernel::TransportError;

use crate::DeviceError;
use crate::se::{Device, DeviceAccess, Finger, TapReport};

/// Writes one frame.
pub fn write_frame(w: &mut impl Write, apdu: &[u8]) -> std::io::Result<()> {
    let len = u16::try_from(apdu.len())
        .ok()
        .filter(|l| *l > 0)
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "an APDU frame holds 1 to 65535 bytes",
            )
        })?;
    let mut buf = Vec::with_capacity(2 + apdu.len());
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(apdu);
    w.write_all(&buf)?;
    w.flush()
}

/// Reads one frame; `Ok(None)` when the peer closed the connection cleanly
/// between frames.
pub fn read_frame(r: &mut impl Read) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 2];
    match r.read_exact(&mut len[..1]) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    r.read_exact(&mut len[1..])?;
    let n = usize::from(u16::from_be_bytes(len));
    if n == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "empty APDU frame",
        ));
    }
    let mut buf = vec![0u8; n];
    r.read_exact(&mut buf)?;
    Ok(Some(buf))
}

/// The POS side: a [`Transport`] to a device across TCP.
#[derive(Debug)]
pub struct FieldTransport {
    stream: TcpStream,
}

impl FieldTransport {
    /// Brings the reader's field up to the device listening at `addr`.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> std::io::Result<FieldTransport> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        Ok(FieldTransport { stream })
    }
}

impl Transport for FieldTransport {
    fn transceive(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        write_frame(&mut self.stream, command)
            .map_err(|e| TransportError(format!("field lost: {e}")))?;
        match read_frame(&mut self.stream) {
            Ok(Some(r)) => Ok(r),
            Ok(None) => Err(TransportError("the device left the field".into())),
            Err(e) => Err(TransportError(format!("field lost: {e}"))),
        }
    }
}

/// The device side of one tap: answers APDUs on `stream` until the POS
/// closes it.
pub fn serve_tap(
    stream: TcpStream,
    device: &mut Device,
    finger: Option<&Finger>,
) -> Result<TapReport, DeviceError> {
    let io = |e: std::io::Error| DeviceError::Io {
        what: "serve the field",
        path: "tcp".into(),
        reason: e.to_string(),
    };
    stream.set_nodelay(true).map_err(io)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(io)?;
    let mut tap = device.tap(finger)?;
    let mut s = stream;
    while let Some(cmd) = read_frame(&mut s).map_err(io)? {
        let resp = tap.process(&cmd);
        write_frame(&mut s, &resp).map_err(io)?;
    }
    Ok(tap.report().clone())
}

/// Serves taps one after the other (a device is in one field at a time)
/// until `stop` is set. `finger` is asked before each tap for what the user
/// presents; `on_tap` hears how each tap went.
pub fn serve_field(
    listener: &TcpListener,
    device: &mut impl DeviceAccess,
    stop: &AtomicBool,
    mut finger: impl FnMut() -> Option<Finger>,
    mut on_tap: impl FnMut(Result<TapReport, DeviceError>),
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false)?;
                let f = finger();
                on_tap(device.with(|d| serve_tap(stream, d, f.as_ref())));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
