//! Issuer / token service provider side of the cryptogram: rebuild the
//! cryptogram input from DE 55 exactly as the card did
//! ([`crate::cryptogram::cryptogram_input`]), verify the ARQC in constant
//! time, report ATC and CVR flags, and answer with an ARPC (method 1) and the
//! DE 55 response data (tag 91 = ARPC ‖ ARC, EMV Book 3 Annex A, Book 2 §8.2.1).

use crate::crypto::{self, CryptoError, arpc_method_1, derive_session_key};
use crate::cryptogram::{self, AcType, Cvr, Iad, IadError};
use crate::keys::{EmvKey, TdesKey};
use paytap_tlv::{Builder, Tag, TlvError, tags};

/// Why an ARQC was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// DE 55 is not valid BER-TLV.
    #[error("malformed ICC data: {0}")]
    Tlv(#[from] TlvError),
    /// DE 55 lacks a tag the cryptogram needs.
    #[error("ICC data lacks mandatory tag {0}")]
    MissingTag(Tag),
    /// A fixed-length tag with the wrong length.
    #[error("tag {tag} has length {len}, expected {expected}")]
    BadLength {
        /// The tag.
        tag: Tag,
        /// Its length in DE 55.
        len: usize,
        /// The length EMV fixes for it.
        expected: usize,
    },
    /// The IAD (9F10) is not in paytap's layout.
    #[error("issuer application data: {0}")]
    Iad(#[from] IadError),
    /// The CID (9F27) names another cryptogram than an ARQC.
    #[error("the cryptogram is not an ARQC (CID {0:02X})")]
    NotArqc(u8),
    /// The IAD's CCI names another algorithm than the issuer key's.
    #[error("IAD cryptogram version does not match the key algorithm")]
    AlgorithmMismatch,
    /// The ARQC differs from the one recomputed with the issuer's keys.
    #[error("application cryptogram does not verify")]
    BadCryptogram,
    /// Key derivation failed (bad PAN or PSN, key of the wrong family).
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// A verified ARQC and the issuer's answer to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArqcVerified {
    /// The card's Application Transaction Counter (9F36).
    pub atc: u16,
    /// The Card Verification Results from the IAD.
    pub cvr: Cvr,
    /// The wallet verified the user on the device (CDCVM).
    pub cdcvm_performed: bool,
    /// The ARQC the card sent (9F26).
    pub arqc: [u8; 8],
    /// The issuer's Authorisation Response Cryptogram.
    pub arpc: [u8; 8],
    /// The Authorisation Response Code the ARPC covers.
    pub arc: [u8; 2],
    /// DE 55 response data: `91 0A ARPC ‖ ARC`.
    pub response_icc_data: Vec<u8>,
    /// The AC session key for this ATC (redacted in `Debug`, zeroized on
    /// drop), for an ARPC over the final response code without deriving it
    /// again.
    pub session_key: EmvKey,
}

fn fixed<const N: usize>(de55: &[u8], tag: Tag) -> Result<[u8; N], VerifyError> {
    let v = paytap_tlv::find_flat(de55, tag)?.ok_or(VerifyError::MissingTag(tag))?;
    v.try_into().map_err(|_| VerifyError::BadLength {
        tag,
        len: v.len(),
        expected: N,
    })
}

/// Verifies the ARQC in `de55` (a flat TLV list: 9F26, 9F27, 9F10, 9F36, 82
/// and the terminal data of the cryptogram input) with the card's ICC master
/// key, and answers with ARPC method 1 for authorisation response code `arc`
/// (e.g. `*b"00"` approve, `*b"05"` decline).
pub fn verify_arqc(
    icc_mk: &EmvKey,
    de55: &[u8],
    arc: [u8; 2],
) -> Result<ArqcVerified, VerifyError> {
    // Validate the whole field once; lookups below then cannot fail on structure.
    for item in paytap_tlv::iter(de55) {
        item?;
    }
    let arqc: [u8; 8] = fixed(de55, tags::AC)?;
    let [cid]: [u8; 1] = fixed(de55, tags::CID)?;
    let atc_b: [u8; 2] = fixed(de55, tags::ATC)?;
    let _aip: [u8; 2] = fixed(de55, tags::AIP)?;
    let iad_raw =
        paytap_tlv::find_flat(de55, tags::IAD)?.ok_or(VerifyError::MissingTag(tags::IAD))?;
    let iad = Iad::parse(iad_raw)?;
    if AcType::from_bits(cid) != Some(AcType::Arqc) {
        return Err(VerifyError::NotArqc(cid));
    }
    if (iad.cci == cryptogram::CCI_AES) != icc_mk.is_aes() {
        return Err(VerifyError::AlgorithmMismatch);
    }
    for t in cryptogram::AC_TERMINAL_TAGS {
        if paytap_tlv::find_flat(de55, *t)?.is_none() {
            return Err(VerifyError::MissingTag(*t));
        }
    }
    let atc = u16::from_be_bytes(atc_b);
    let input =
        cryptogram::cryptogram_input(|t| paytap_tlv::find_flat(de55, t).ok().flatten(), &iad.cvr);
    let sk = derive_session_key(icc_mk, atc);
    if !crypto::verify_ac(&sk, &input, &arqc) {
        return Err(VerifyError::BadCryptogram);
    }
    let arpc = arpc_method_1(&sk, arqc, arc);
    let mut ad = [0u8; 10];
    ad[..8].copy_from_slice(&arpc);
    ad[8..].copy_from_slice(&arc);
    let response_icc_data = Builder::new()
        .primitive(tags::ISSUER_AUTH_DATA, &ad)
        .build();
    Ok(ArqcVerified {
        atc,
        cvr: iad.cvr,
        cdcvm_performed: iad.cvr.cdcvm_performed(),
        arqc,
        arpc,
        arc,
        response_icc_data,
        session_key: sk,
    })
}

/// As [`verify_arqc`], deriving the ICC master key from the issuer master key
/// (TDES: Option A, or Option B for PANs over 16 digits).
pub fn verify_arqc_with_imk(
    imk: &TdesKey,
    pan: &str,
    psn: u8,
    de55: &[u8],
    arc: [u8; 2],
) -> Result<ArqcVerified, VerifyError> {
    let mk = crypto::derive_icc_mk(imk, pan, psn)?;
    verify_arqc(&EmvKey::Tdes(mk), de55, arc)
}
