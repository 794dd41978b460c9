//! `paytap tools qr`: decode EMVCo QR payloads (merchant-presented text or
//! consumer-presented base64, detected automatically) and build them from JSON;
//! render any payload as a QR image (PNG or terminal) and read it back.

use anyhow::{Context, anyhow, bail};
use clap::Subcommand;
use paytap_qr::offline::OfflineCode;
use paytap_qr::{Cpm, CpmTemplate, Mpm, QrError, QrPayload, mpm::parse_objects};
use paytap_tlv::Tag;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum Cmd {
    /// Decode a QR payload (MPM text or CPM base64) and check it (CRC, mandatory objects).
    Decode {
        /// The scanned text.
        payload: String,
        /// Print JSON (the shape `encode` reads).
        #[arg(long)]
        json: bool,
        /// Print track 2, application PAN and cardholder name in clear (CPM).
        #[arg(long)]
        show_pan: bool,
    },
    /// Build a payload from JSON on stdin: `{"mpm":{...}}` or `{"cpm":{...}}`.
    Encode {
        /// Print JSON (`{"payload":..}`).
        #[arg(long)]
        json: bool,
    },
    /// Render any payload as a standard QR code: a PNG file, or the terminal.
    Render {
        /// The text the code carries.
        #[arg(long)]
        payload: String,
        /// Write a PNG here instead of drawing in the terminal.
        #[arg(long)]
        png: Option<PathBuf>,
        /// Print JSON (`{"png":..,"bytes":..}` or `{"terminal":..}`).
        #[arg(long)]
        json: bool,
    },
    /// Read the QR code in a PNG image and decode its payload.
    Read {
        /// The PNG file.
        #[arg(long)]
        image: PathBuf,
        /// Print JSON: `{"payload":..,"mode":..,"fields":{..}}`.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: Cmd) -> anyhow::Result<ExitCode> {
    match cmd {
        Cmd::Decode {
            payload,
            json,
            show_pan,
        } => decode(payload.trim(), json, show_pan),
        Cmd::Encode { json } => {
            let input = std::io::read_to_string(std::io::stdin()).context("reading stdin")?;
            let out = encode(&input)?;
            if json {
                println!("{}", json!({ "payload": out }));
            } else {
                println!("{out}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Render { payload, png, json } => render(&payload, png.as_deref(), json),
        Cmd::Read { image, json } => read(&image, json),
    }
}

fn render(payload: &str, png: Option<&Path>, json: bool) -> anyhow::Result<ExitCode> {
    match png {
        Some(path) => {
            let bytes = paytap_qrimage::render_png(payload)?;
            std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?;
            if json {
                println!(
                    "{}",
                    json!({"png": path.display().to_string(), "bytes": bytes.len()})
                );
            } else {
                println!("wrote {} ({} bytes)", path.display(), bytes.len());
            }
        }
        None => {
            let text = paytap_qrimage::render_terminal(payload)?;
            if json {
                println!("{}", json!({ "terminal": text }));
            } else {
                print!("{text}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Largest image file read (a QR code PNG is a few kilobytes).
const MAX_IMAGE_FILE_BYTES: u64 = 32 * 1024 * 1024;

fn read(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if len > MAX_IMAGE_FILE_BYTES {
        bail!(
            "{} is {len} bytes; at most {MAX_IMAGE_FILE_BYTES} are read",
            path.display()
        );
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let payload = paytap_qrimage::read_png(&bytes)
        .with_context(|| format!("reading the QR code in {}", path.display()))?;
    let (mode, fields) = describe(&payload);
    if json {
        println!(
            "{}",
            json!({"payload": payload, "mode": mode, "fields": fields})
        );
    } else {
        println!("{payload}");
        println!("{mode}: {fields}");
    }
    Ok(ExitCode::SUCCESS)
}

/// What a scanned text is and its decoded fields: an EMVCo merchant code, a
/// band's offline code (signatures not checked here), a consumer-presented
/// code, or `"unknown"` with why none parses.
fn describe(payload: &str) -> (&'static str, Value) {
    let mpm_err = match Mpm::parse(payload) {
        Ok(m) => {
            let mut v = serde_json::to_value(&m).unwrap_or(Value::Null);
            if let Some(id) = paytap_qr::merchant::paytap_merchant_id(&m) {
                v["paytap_merchant_id"] = json!(id);
            }
            return ("mpm", v);
        }
        Err(e) => e,
    };
    if let Ok(code) = OfflineCode::from_base64(payload) {
        let c = &code.certificate;
        return (
            "band_offline",
            json!({
                "band_id": hex::encode(c.band_id), "counter": code.counter,
                "time": code.time, "amount": code.amount, "currency": c.currency,
                "limit": c.limit, "not_before": c.not_before, "not_after": c.not_after,
                "signatures_checked": false,
            }),
        );
    }
    match Cpm::parse(payload) {
        Ok(c) => {
            let apps: Vec<Value> = c
                .applications
                .iter()
                .map(|a| template_json(a, false))
                .collect();
            ("cpm", json!({ "applications": apps }))
        }
        Err(e) => (
            "unknown",
            json!({"mpm_error": mpm_err.to_string(), "cpm_error": e.to_string()}),
        ),
    }
}

const SENSITIVE: &[u32] = &[0x57, 0x5A, 0x5F20];

fn template_json(t: &CpmTemplate, show_pan: bool) -> Value {
    let map = |items: &[(Tag, Vec<u8>)]| {
        let mut m = Map::new();
        for (tag, v) in items {
            let val = if !show_pan && SENSITIVE.contains(&tag.value()) {
                "<redacted>".to_owned()
            } else {
                hex::encode_upper(v)
            };
            m.insert(format!("{:X}", tag.value()), Value::String(val));
        }
        Value::Object(m)
    };
    json!({"data": map(&t.data), "transparent": map(&t.transparent)})
}

fn decode(payload: &str, json: bool, show_pan: bool) -> anyhow::Result<ExitCode> {
    match paytap_qr::decode(payload) {
        Ok(QrPayload::Merchant(m)) => {
            let crc = payload.get(payload.len().saturating_sub(4)..).unwrap_or("");
            if json {
                println!(
                    "{}",
                    json!({"mode": "mpm", "crc": crc, "crc_valid": true, "mpm": serde_json::to_value(&m)?})
                );
            } else {
                println!("EMVCo merchant-presented QR, CRC {crc} (valid)");
                for (id, v) in parse_objects(payload)? {
                    println!("  {id:02} {:02} {v}", v.chars().count());
                }
                if let Some(a) = m.amount {
                    println!("amount: {a} minor units of currency {:03}", m.currency);
                }
            }
        }
        Ok(QrPayload::Consumer(c)) => {
            if json {
                let apps: Vec<Value> = c
                    .applications
                    .iter()
                    .map(|a| template_json(a, show_pan))
                    .collect();
                let mut out = json!({"mode": "cpm", "cpm": {"applications": apps}});
                if let Some(common) = &c.common {
                    out["cpm"]["common"] = template_json(common, show_pan);
                }
                println!("{out}");
            } else {
                println!("EMVCo consumer-presented QR (CPV01)");
                for (i, a) in c.applications.iter().enumerate() {
                    println!(
                        "  application template {}: {}",
                        i + 1,
                        template_json(a, show_pan)
                    );
                }
                if let Some(common) = &c.common {
                    println!(
                        "  common data template: {}",
                        template_json(common, show_pan)
                    );
                }
            }
        }
        Err(QrError::CrcMismatch { stated, computed }) => {
            bail!("CRC invalid: payload says {stated:04X}, computed {computed:04X}")
        }
        Err(e) => return Err(anyhow!(e).context("not a valid EMVCo QR payload")),
    }
    Ok(ExitCode::SUCCESS)
}

fn template_from_json(v: &Value) -> anyhow::Result<CpmTemplate> {
    let items = |key: &str| -> anyhow::Result<Vec<(Tag, Vec<u8>)>> {
        let mut out = Vec::new();
        if let Some(m) = v.get(key) {
            let m = m
                .as_object()
                .ok_or_else(|| anyhow!("\"{key}\" must be an object of tag: hex"))?;
            for (tag, val) in m {
                let t = Tag::from_hex(tag).map_err(|e| anyhow!("bad tag {tag:?}: {e}"))?;
                let s = val
                    .as_str()
                    .ok_or_else(|| anyhow!("tag {tag}: value must be a hex string"))?;
                out.push((
                    t,
                    hex::decode(s).map_err(|_| anyhow!("tag {tag}: value is not hex"))?,
                ));
            }
        }
        Ok(out)
    };
    Ok(CpmTemplate {
        data: items("data")?,
        transparent: items("transparent")?,
    })
}

/// Build the payload described by the JSON text.
fn encode(input: &str) -> anyhow::Result<String> {
    let v: Value = serde_json::from_str(input).context("stdin is not JSON")?;
    if let Some(m) = v.get("mpm") {
        let m: Mpm = serde_json::from_value(m.clone()).context("bad \"mpm\" object")?;
        return Ok(m.encode()?);
    }
    if let Some(c) = v.get("cpm") {
        let apps = c
            .get("applications")
            .and_then(Value::as_array)
            .ok_or_else(|| anyhow!("\"cpm\" needs an \"applications\" array"))?;
        let cpm = Cpm {
            applications: apps
                .iter()
                .map(template_from_json)
                .collect::<anyhow::Result<_>>()?,
            common: c.get("common").map(template_from_json).transpose()?,
            other: Vec::new(),
        };
        return Ok(cpm.to_base64()?);
    }
    bail!("expected {{\"mpm\": {{...}}}} or {{\"cpm\": {{...}}}}")
}
