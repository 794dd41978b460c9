//! `paytap tools emv`: EMV Book 2 key derivation and cryptograms from the
//! command line (library: `paytap-emv` `crypto`). Keys are given and printed
//! in hex: this is a workbench for test keys, not for production key material.

use super::fixed;
use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use paytap_emv::crypto;
use paytap_emv::{AesKey, EmvKey, TdesKey};
use serde_json::json;
use std::process::ExitCode;

#[derive(Clone, Copy, ValueEnum)]
pub enum MkOption {
    /// Option A (EMV Book 2 A1.4.1).
    A,
    /// Option B (A1.4.2; identical to A for PANs of 16 digits or fewer).
    B,
}

/// `--method` of `arpc`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ArpcMethod {
    /// Method 1: the ARQC XOR the ARC, enciphered (needs --arc).
    #[value(name = "1")]
    One,
    /// Method 2: a MAC over the ARQC, CSU and PAD (needs --csu).
    #[value(name = "2")]
    Two,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Derive the ICC master key from an issuer master key, PAN and PSN.
    IccMk(IccMkArgs),
    /// Derive the AC session key from an ICC master key and ATC (EMV common session key derivation).
    SessionKey {
        /// ICC master key (MK-AC), hex (32 digits for TDES; 32/48/64 with --aes).
        #[arg(long)]
        icc_mk: String,
        /// Application transaction counter, 4 hex digits.
        #[arg(long)]
        atc: String,
        /// AES keys and AES-CMAC instead of TDES and MAC algorithm 3.
        #[arg(long)]
        aes: bool,
        /// Print the result as one JSON object (errors too).
        #[arg(long)]
        json: bool,
    },
    /// Compute an application cryptogram (MAC alg 3 / AES-CMAC, 8 bytes) over hex data.
    Ac {
        /// AC session key, hex (32 digits for TDES; 32/48/64 with --aes).
        #[arg(long)]
        session_key: String,
        /// The cryptogram input, hex (padded by the MAC algorithm).
        #[arg(long)]
        data: String,
        /// AES keys and AES-CMAC instead of TDES and MAC algorithm 3.
        #[arg(long)]
        aes: bool,
        /// Print the result as one JSON object (errors too).
        #[arg(long)]
        json: bool,
    },
    /// Compute an ARPC: method 1 (default, needs --arc) or method 2 (needs --csu, optional --pad).
    Arpc(ArpcArgs),
}

/// `tools emv icc-mk`: the issuer master key and the card it derives for.
#[derive(Args)]
pub struct IccMkArgs {
    /// Issuer master key, hex (32 digits for TDES; 32/48/64 with --aes).
    #[arg(long)]
    imk: String,
    /// PAN, 12 to 19 digits.
    #[arg(long)]
    pan: String,
    /// PAN sequence number, 0 to 99.
    #[arg(long, default_value = "00")]
    psn: String,
    /// Derivation option (TDES only).
    #[arg(long, value_enum, default_value = "a")]
    option: MkOption,
    /// AES keys and AES-CMAC instead of TDES and MAC algorithm 3.
    #[arg(long)]
    aes: bool,
    /// Print the result as one JSON object (errors too).
    #[arg(long)]
    json: bool,
}

/// `tools emv arpc`: the cryptogram to answer and the method's inputs.
#[derive(Args)]
pub struct ArpcArgs {
    /// AC session key, hex (32 digits for TDES; 32/48/64 with --aes).
    #[arg(long)]
    session_key: String,
    /// The ARQC, 16 hex digits.
    #[arg(long)]
    arqc: String,
    /// Authorisation response code, 4 hex digits (method 1).
    #[arg(long)]
    arc: Option<String>,
    /// ARPC method (EMV Book 2 §8.2).
    #[arg(long, value_enum, default_value = "1")]
    method: ArpcMethod,
    /// Card status update, 8 hex digits (method 2).
    #[arg(long)]
    csu: Option<String>,
    /// Proprietary authentication data, 0 to 8 bytes hex (method 2).
    #[arg(long)]
    pad: Option<String>,
    /// AES keys and AES-CMAC instead of TDES and MAC algorithm 3.
    #[arg(long)]
    aes: bool,
    /// Print the result as one JSON object (errors too).
    #[arg(long)]
    json: bool,
}

fn key(hex_s: &str, aes: bool, what: &str) -> anyhow::Result<EmvKey> {
    Ok(if aes {
        EmvKey::Aes(AesKey::from_hex(hex_s).with_context(|| format!("--{what}"))?)
    } else {
        EmvKey::Tdes(TdesKey::from_hex(hex_s).with_context(|| format!("--{what}"))?)
    })
}

fn emit(json: bool, field: &str, value: &[u8], extra: serde_json::Value) {
    let h = hex::encode_upper(value);
    if json {
        let mut obj = json!({ field: h });
        if let (Some(o), serde_json::Value::Object(e)) = (obj.as_object_mut(), extra) {
            o.extend(e);
        }
        println!("{obj}");
    } else {
        println!("{h}");
    }
}

/// Runs one EMV workbench command: a dispatch, one arm per subcommand.
pub fn run(cmd: Cmd) -> anyhow::Result<ExitCode> {
    match cmd {
        Cmd::IccMk(args) => icc_mk(&args)?,
        Cmd::SessionKey {
            icc_mk,
            atc,
            aes,
            json,
        } => {
            let mk = key(&icc_mk, aes, "icc-mk")?;
            let atc = u16::from_be_bytes(fixed::<2>(&atc, "atc")?);
            let sk = crypto::derive_session_key(&mk, atc);
            emit(
                json,
                "session_key",
                sk.expose(),
                json!({ "atc": format!("{atc:04X}") }),
            );
        }
        Cmd::Ac {
            session_key,
            data,
            aes,
            json,
        } => {
            let sk = key(&session_key, aes, "session-key")?;
            let data = hex::decode(data.trim()).context("--data is not valid hex")?;
            emit(json, "ac", &crypto::generate_ac(&sk, &data), json!({}));
        }
        Cmd::Arpc(args) => arpc(&args)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the ICC master key derived from `--imk`, `--pan` and `--psn`,
/// with its key check value.
fn icc_mk(a: &IccMkArgs) -> anyhow::Result<()> {
    let psn: u8 = a
        .psn
        .trim()
        .parse()
        .ok()
        .filter(|p| *p <= 99)
        .context("--psn must be 0 to 99")?;
    crypto::validate_pan(&a.pan)?;
    let (mk, kcv) = if a.aes {
        let imk = AesKey::from_hex(&a.imk).context("--imk")?;
        let mk = crypto::derive_icc_mk_aes(&imk, &a.pan, psn)?;
        let kcv = mk.kcv();
        (EmvKey::Aes(mk), kcv)
    } else {
        let imk = TdesKey::from_hex(&a.imk).context("--imk")?;
        let mk = match a.option {
            MkOption::A => crypto::derive_icc_mk_a(&imk, &a.pan, psn)?,
            MkOption::B => crypto::derive_icc_mk_b(&imk, &a.pan, psn)?,
        };
        let kcv = mk.kcv();
        (EmvKey::Tdes(mk), kcv)
    };
    emit(
        a.json,
        "icc_mk",
        mk.expose(),
        json!({ "kcv": hex::encode_upper(kcv) }),
    );
    Ok(())
}

/// Prints the ARPC of `--arqc` by method 1 (with `--arc`) or method 2
/// (with `--csu` and `--pad`).
fn arpc(a: &ArpcArgs) -> anyhow::Result<()> {
    let sk = key(&a.session_key, a.aes, "session-key")?;
    let arqc = fixed::<8>(&a.arqc, "arqc")?;
    if a.method == ArpcMethod::One {
        let Some(arc) = &a.arc else {
            bail!("method 1 needs --arc")
        };
        let arc = fixed::<2>(arc, "arc")?;
        emit(
            a.json,
            "arpc",
            &crypto::arpc_method_1(&sk, arqc, arc),
            json!({ "method": 1 }),
        );
    } else {
        let Some(csu) = &a.csu else {
            bail!("method 2 needs --csu")
        };
        let csu = fixed::<4>(csu, "csu")?;
        let pad = match &a.pad {
            Some(p) => hex::decode(p.trim()).context("--pad is not valid hex")?,
            None => Vec::new(),
        };
        emit(
            a.json,
            "arpc",
            &crypto::arpc_method_2(&sk, arqc, csu, &pad)?,
            json!({ "method": 2 }),
        );
    }
    Ok(())
}
