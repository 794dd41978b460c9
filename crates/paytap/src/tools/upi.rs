//! `paytap tools upi`: decode and build NPCI UPI payment links (`upi://pay?...`),
//! and decode UPI XML messages (`ReqPay`, `RespPay`, ...).

use anyhow::{Context, anyhow};
use clap::Subcommand;
use paytap_upi::{UpiPay, percent_encode};
use serde_json::{Map, Value, json};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum Cmd {
    /// Decode and validate a `upi://pay?...` link.
    Decode {
        /// The link.
        uri: String,
        /// Print JSON (`{"params":{..},"amount_paise":..}`).
        #[arg(long)]
        json: bool,
    },
    /// Build a link from a JSON object of parameters on stdin
    /// (`{"pa":"shop@okaxis","pn":"Shop","am":"150.50","cu":"INR"}`).
    Encode {
        /// Print JSON (`{"uri":..}`).
        #[arg(long)]
        json: bool,
    },
    /// Decode and validate a UPI XML message (`ReqPay`, `RespPay`, `ReqChkTxn`,
    /// `Ack`, ...) and print it as JSON.
    Xml {
        /// The message file, or `-` for stdin.
        #[arg(long, value_name = "FILE|-")]
        decode: String,
    },
}

pub fn run(cmd: Cmd) -> anyhow::Result<ExitCode> {
    match cmd {
        Cmd::Decode { uri, json } => {
            let p = UpiPay::parse(&uri).context("not a valid UPI payment link")?;
            let params = params(&p);
            if json {
                println!(
                    "{}",
                    json!({"params": params, "amount_paise": p.amount, "min_amount_paise": p.min_amount})
                );
            } else {
                println!("UPI payment link");
                for (k, v) in &params {
                    println!("  {k:<8} {}", v.as_str().unwrap_or(""));
                }
                if let Some(a) = p.amount {
                    println!("amount: {a} paise");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Encode { json } => {
            let input = std::io::read_to_string(std::io::stdin()).context("reading stdin")?;
            let uri = encode(&input)?;
            if json {
                println!("{}", json!({ "uri": uri }));
            } else {
                println!("{uri}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Xml { decode } => {
            let bytes = read_bounded(&decode)?;
            let msg = paytap_upi::xml::decode(&bytes).context("not a valid UPI XML message")?;
            println!("{}", serde_json::to_string_pretty(&msg)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Read a file (or stdin for `-`), at most one byte past the decoder's size
/// limit: enough for it to say "too large" without reading a huge input whole.
fn read_bounded(path: &str) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let limit = paytap_upi::xml::MAX_MESSAGE_BYTES as u64 + 1;
    let mut bytes = Vec::new();
    if path == "-" {
        std::io::stdin()
            .take(limit)
            .read_to_end(&mut bytes)
            .context("reading stdin")?;
    } else {
        std::fs::File::open(path)
            .with_context(|| format!("opening {path}"))?
            .take(limit)
            .read_to_end(&mut bytes)
            .with_context(|| format!("reading {path}"))?;
    }
    Ok(bytes)
}

fn params(p: &UpiPay) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            m.insert(k.to_owned(), Value::String(v));
        }
    };
    put("pa", Some(p.payee.to_string()));
    put("pn", p.payee_name.clone());
    put("mc", p.mcc.clone());
    put("tid", p.tid.clone());
    put("tr", p.tr.clone());
    put("tn", p.note.clone());
    put("am", p.amount.map(paytap_upi::format_amount));
    put("mam", p.min_amount.map(paytap_upi::format_amount));
    put("cu", p.currency_inr.then(|| "INR".to_owned()));
    put("url", p.url.clone());
    put("mode", p.mode.clone());
    put("purpose", p.purpose.clone());
    for (k, v) in &p.other {
        put(k, Some(v.clone()));
    }
    m
}

/// Build a link from a JSON object of parameter strings, validating it fully.
fn encode(input: &str) -> anyhow::Result<String> {
    let v: Value = serde_json::from_str(input).context("stdin is not JSON")?;
    let obj = v
        .as_object()
        .ok_or_else(|| anyhow!("expected a JSON object of parameters"))?;
    let mut query = String::from("upi://pay?");
    for (i, (k, val)) in obj.iter().enumerate() {
        let s = val
            .as_str()
            .ok_or_else(|| anyhow!("parameter {k:?}: value must be a string"))?;
        if i > 0 {
            query.push('&');
        }
        percent_encode(k, &mut query);
        query.push('=');
        percent_encode(s, &mut query);
    }
    let p = UpiPay::parse(&query).context("invalid UPI parameters")?;
    Ok(p.to_uri()?)
}
