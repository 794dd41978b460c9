//! `paytap tools iso8583`: decode and encode messages in paytap's ISO 8583:1987 wire
//! format (see docs/wire-format.md). Card numbers and track data are masked in the
//! output unless `--show-pan` is given.

use anyhow::{Context, anyhow, bail};
use clap::Subcommand;
use paytap_iso8583::{Encoding, Message, Mti, Pan, decode_frame, encode_frame, field_spec};
use serde_json::{Map, Value, json};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum Cmd {
    /// Decode a message given as hex (whitespace allowed).
    Decode {
        /// The message bytes in hex.
        hex: String,
        /// The input starts with the 2-byte big-endian length prefix.
        #[arg(long)]
        framed: bool,
        /// Print JSON (`{"mti":..,"fields":{..}}`, the shape `encode` reads).
        #[arg(long)]
        json: bool,
        /// Print DE 2 and DE 35 in clear instead of masked.
        #[arg(long)]
        show_pan: bool,
    },
    /// Encode `{"mti":"0100","fields":{"2":"...","55":"9F26..."}}` read from stdin
    /// (binary elements as hex) and print the message as hex.
    Encode {
        /// Prefix the 2-byte big-endian length.
        #[arg(long)]
        framed: bool,
        /// Print JSON (`{"hex":..,"length":..}`).
        #[arg(long)]
        json: bool,
    },
    /// Print the data element table of paytap's wire format.
    Fields {
        /// Print JSON (the content of docs/iso8583-fields.json).
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: Cmd) -> anyhow::Result<ExitCode> {
    match cmd {
        Cmd::Decode {
            hex,
            framed,
            json,
            show_pan,
        } => decode(&hex, framed, json, show_pan),
        Cmd::Encode { framed, json } => {
            let input = std::io::read_to_string(std::io::stdin()).context("reading stdin")?;
            let out = encode_json(&input, framed)?;
            if json {
                println!("{}", json!({"hex": out, "length": out.len() / 2}));
            } else {
                println!("{out}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Fields { json } => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&paytap_iso8583::field_table_json())?
                );
            } else {
                for f in paytap_iso8583::FIELDS.iter() {
                    println!(
                        "DE {:>3}  {:<4} {:<6} {:>3}  {}",
                        f.number,
                        f.encoding.label(),
                        f.kind.label(),
                        f.kind.max(),
                        f.name
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn value_text(field: u8, v: &[u8], show_pan: bool) -> String {
    let binary = field_spec(field).is_some_and(|s| s.encoding == Encoding::Binary);
    if binary {
        return hex::encode_upper(v);
    }
    let s = String::from_utf8_lossy(v).into_owned();
    if show_pan {
        return s;
    }
    match field {
        2 => Pan::new(&s)
            .map(|p| p.masked())
            .unwrap_or_else(|_| "<redacted>".into()),
        35 | 34 | 36 | 45 => "<redacted>".into(),
        _ => s,
    }
}

fn decode(hex_in: &str, framed: bool, json: bool, show_pan: bool) -> anyhow::Result<ExitCode> {
    let clean: String = hex_in.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = hex::decode(&clean).map_err(|e| anyhow!("input is not hex: {e}"))?;
    let body = if framed {
        decode_frame(&bytes).context("bad frame")?
    } else {
        &bytes[..]
    };
    let msg = Message::decode(body).context("cannot decode ISO 8583 message")?;
    if json {
        let mut fields = Map::new();
        for f in msg.fields() {
            let v = msg.get(f).unwrap_or(&[]);
            fields.insert(f.to_string(), Value::String(value_text(f, v, show_pan)));
        }
        println!("{}", json!({"mti": msg.mti().as_str(), "fields": fields}));
    } else {
        println!("MTI {}  ({} bytes)", msg.mti(), body.len());
        for f in msg.fields() {
            let v = msg.get(f).unwrap_or(&[]);
            let name = field_spec(f).map(|s| s.name).unwrap_or("");
            println!("DE {f:>3}  {name:<48} {}", value_text(f, v, show_pan));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Build the message described by the JSON text and return its hex encoding.
fn encode_json(input: &str, framed: bool) -> anyhow::Result<String> {
    let v: Value = serde_json::from_str(input).context("stdin is not JSON")?;
    let mti = v
        .get("mti")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("missing \"mti\" string"))?;
    let mut msg = Message::new(Mti::from_str(mti).context("bad \"mti\"")?);
    let fields = v
        .get("fields")
        .and_then(Value::as_object)
        .ok_or_else(|| anyhow!("missing \"fields\" object"))?;
    for (k, val) in fields {
        let n: u8 = k
            .parse()
            .map_err(|_| anyhow!("field key {k:?} is not a data element number"))?;
        let s = val
            .as_str()
            .ok_or_else(|| anyhow!("data element {n}: value must be a string"))?;
        let spec = field_spec(n).ok_or_else(|| anyhow!("data element {n} does not exist"))?;
        if spec.encoding == Encoding::Binary {
            let b = hex::decode(s)
                .map_err(|_| anyhow!("data element {n}: binary value must be hex"))?;
            msg.set(n, b)?;
        } else {
            msg.set(n, s)?;
        }
    }
    let body = msg.encode();
    if framed {
        let mut out = Vec::new();
        encode_frame(&body, &mut out)?;
        return Ok(hex::encode_upper(out));
    }
    if body.is_empty() {
        bail!("empty message");
    }
    Ok(hex::encode_upper(body))
}
