//! The band's offline payment application in the secure element.
//!
//! The band's Ed25519 key is made in the secure element and never leaves
//! it; the wallet gets its public key when the band account is opened. The
//! platform's certificate ([`paytap_qr::offline::Certificate`]) arrives at
//! each sync, relayed by the phone. Each code the band shows
//! ([`Device::band_code`]) takes the next counter and counts its amount
//! against the certificate's limit; the counter, the spending and the code's
//! entry in the log of codes not yet reported are written to the keystore
//! *before* the code is returned, so a crash never lets a counter be shown
//! twice. The log ([`paytap_qr::offline::MAX_UNSYNCED_CODES`] at most) is
//! what the band reports at its next sync.

use paytap_qr::offline::{Band, Certificate, MAX_UNSYNCED_CODES, OfflineCode, public_key_of};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{Device, DeviceError};

/// The band application's state, inside the encrypted keystore.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub(crate) struct BandApp {
    secret_hex: String,
    #[zeroize(skip)]
    certificate_hex: Option<String>,
    #[zeroize(skip)]
    next_counter: u64,
    #[zeroize(skip)]
    spent: u64,
    #[zeroize(skip)]
    unsynced: Vec<(u64, u64)>,
}

/// What the band shows about its offline application (nothing secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BandInfo {
    /// The band's public key, hex.
    pub public_key: String,
    /// The certificate's serial, limit (minor units) and end of validity.
    pub serial: Option<u32>,
    pub limit_minor: Option<u64>,
    pub not_after: Option<i64>,
    /// Allowed under the certificate so far.
    pub spent_minor: u64,
    /// The counter the next code takes.
    pub next_counter: u64,
    /// Codes not yet reported at a sync: `(counter, amount)`.
    pub unsynced: Vec<(u64, u64)>,
}

fn secret_of(app: &BandApp) -> Result<Zeroizing<[u8; 32]>, DeviceError> {
    let mut raw = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(&app.secret_hex, raw.as_mut())
        .map_err(|_| DeviceError::Corrupt("band key"))?;
    Ok(raw)
}

fn certificate_of(app: &BandApp) -> Result<Option<Certificate>, DeviceError> {
    app.certificate_hex
        .as_ref()
        .map(|h| {
            let bytes = hex::decode(h).map_err(|_| DeviceError::Corrupt("band certificate"))?;
            Certificate::decode(&bytes).map_err(|_| DeviceError::Corrupt("band certificate"))
        })
        .transpose()
}

impl Device {
    /// The band's public key, its key pair made in the secure element (and
    /// persisted) on the first call.
    pub fn band_key(&mut self) -> Result<[u8; 32], DeviceError> {
        if self.band_app().is_none() {
            let mut secret = Zeroizing::new([0u8; 32]);
            getrandom::fill(secret.as_mut()).map_err(|_| DeviceError::Random)?;
            let app = BandApp {
                secret_hex: hex::encode(secret.as_ref()),
                certificate_hex: None,
                next_counter: 1,
                spent: 0,
                unsynced: Vec::new(),
            };
            self.set_band_app(app)?;
        }
        let app = self.band_app().ok_or(DeviceError::Corrupt("band key"))?;
        Ok(public_key_of(&*secret_of(app)?))
    }

    /// The codes made since the last sync, to report: `(counter, amount)`.
    pub fn band_unsynced(&self) -> Vec<(u64, u64)> {
        self.band_app()
            .map(|a| a.unsynced.clone())
            .unwrap_or_default()
    }

    /// Installs the certificate of a sync that reported the first
    /// `reported` entries of the log: they leave it, and the allowance
    /// starts afresh under the new certificate.
    pub fn band_install(&mut self, certificate: &[u8], reported: usize) -> Result<(), DeviceError> {
        let mut app = self
            .band_app()
            .cloned()
            .ok_or(DeviceError::Band("no band key yet".into()))?;
        let cert =
            Certificate::decode(certificate).map_err(|e| DeviceError::Band(e.to_string()))?;
        if cert.band_key != public_key_of(&*secret_of(&app)?) {
            return Err(DeviceError::Band(
                "the certificate is for another key".into(),
            ));
        }
        app.certificate_hex = Some(hex::encode(certificate));
        app.spent = 0;
        app.unsynced.drain(..reported.min(app.unsynced.len()));
        self.set_band_app(app)
    }

    /// Makes the code for one payment of at most `amount` at `now` (Unix
    /// seconds), persisted before it is returned.
    pub fn band_code(&mut self, now: i64, amount: u64) -> Result<OfflineCode, DeviceError> {
        let mut app = self
            .band_app()
            .cloned()
            .ok_or(DeviceError::Band("no band key yet".into()))?;
        if app.unsynced.len() >= MAX_UNSYNCED_CODES {
            return Err(DeviceError::Band(
                "the log of codes is full: sync the band".into(),
            ));
        }
        let cert = certificate_of(&app)?.ok_or(DeviceError::Band(
            "no certificate yet: sync the band".into(),
        ))?;
        let secret = secret_of(&app)?;
        let mut band = Band::new(&secret, cert, app.next_counter)
            .map_err(|e| DeviceError::Band(e.to_string()))?
            .with_spent(app.spent);
        let code = band
            .make_code(now, amount)
            .map_err(|e| DeviceError::Band(e.to_string()))?;
        app.next_counter = band.next_counter();
        app.spent = band.spent();
        app.unsynced.push((code.counter, amount));
        self.set_band_app(app)?;
        Ok(code)
    }

    /// The band application's public state, if it has a key.
    pub fn band_info(&self) -> Result<Option<BandInfo>, DeviceError> {
        let Some(app) = self.band_app() else {
            return Ok(None);
        };
        let cert = certificate_of(app)?;
        Ok(Some(BandInfo {
            public_key: hex::encode(public_key_of(&*secret_of(app)?)),
            serial: cert.as_ref().map(|c| c.serial),
            limit_minor: cert.as_ref().map(|c| c.limit),
            not_after: cert.as_ref().map(|c| c.not_after),
            spent_minor: app.spent,
            next_counter: app.next_counter,
            unsynced: app.unsynced.clone(),
        }))
    }
}
