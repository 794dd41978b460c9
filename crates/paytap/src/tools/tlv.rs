//! `paytap tools tlv`: decode BER-TLV (EMV flavour) to an annotated tree,
//! encode a tree given as JSON. Codec: `paytap-tlv`.

use anyhow::{Context, bail};
use clap::Subcommand;
use paytap_tlv::{Tag, Tlv, Value, dict};
use serde_json::{Value as Json, json};
use std::io::Read;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum Cmd {
    /// Decode hex BER-TLV into a tree with EMV tag names.
    Decode {
        /// The TLV bytes in hex (spaces allowed).
        hex: String,
        /// Print the tree as JSON (the same shape `encode` reads).
        #[arg(long)]
        json: bool,
    },
    /// Encode TLV from a JSON tree on stdin and print hex.
    ///
    /// Input: a JSON array of objects. Each object has "tag" (hex, e.g. "9F02")
    /// and either "hex" (primitive value in hex), "ascii" (primitive value as
    /// text) or "value" (an array of child objects, for constructed tags such
    /// as 6F, 70, 77, A5, BF0C). Other keys (e.g. "name") are ignored.
    ///
    /// Example: [{"tag":"6F","value":[{"tag":"84","hex":"A0000003330101"},
    /// {"tag":"A5","value":[{"tag":"50","ascii":"PAYTAP"}]}]}]
    Encode {
        /// Print {"hex": "..."} instead of bare hex.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: Cmd) -> anyhow::Result<ExitCode> {
    match cmd {
        Cmd::Decode { hex, json } => {
            let clean: String = hex.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = hex::decode(&clean).context("input is not valid hex")?;
            let tree = paytap_tlv::decode(&bytes).context("malformed BER-TLV")?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&Json::Array(tree.iter().map(to_json).collect()))?
                );
            } else {
                for t in &tree {
                    print_tree(t, 0);
                }
            }
        }
        Cmd::Encode { json } => {
            let mut input = String::new();
            std::io::stdin()
                .read_to_string(&mut input)
                .context("reading stdin")?;
            let doc: Json = serde_json::from_str(&input).context("stdin is not valid JSON")?;
            let items = match &doc {
                Json::Array(a) => a
                    .iter()
                    .map(from_json)
                    .collect::<anyhow::Result<Vec<_>>>()?,
                Json::Object(_) => vec![from_json(&doc)?],
                _ => bail!("expected a JSON array of TLV objects"),
            };
            let out = hex::encode_upper(paytap_tlv::encode(&items)?);
            if json {
                println!("{}", json!({ "hex": out }));
            } else {
                println!("{out}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn name(tag: Tag) -> &'static str {
    dict::tag_info(tag).map_or("(unknown)", |i| i.name)
}

fn printable(v: &[u8]) -> Option<String> {
    (!v.is_empty() && v.iter().all(|b| (0x20..0x7F).contains(b)))
        .then(|| String::from_utf8_lossy(v).into_owned())
}

fn print_tree(t: &Tlv, depth: usize) {
    let pad = "  ".repeat(depth);
    match &t.value {
        Value::Constructed(children) => {
            println!("{pad}{} {}", t.tag, name(t.tag));
            for c in children {
                print_tree(c, depth + 1);
            }
        }
        Value::Primitive(v) => {
            let text = match (dict::format_of(t.tag), printable(v)) {
                (dict::Format::An | dict::Format::Ans, Some(s)) => format!(" \"{s}\""),
                _ => String::new(),
            };
            println!(
                "{pad}{} {} [{}]: {}{text}",
                t.tag,
                name(t.tag),
                v.len(),
                hex::encode_upper(v)
            );
        }
    }
}

fn to_json(t: &Tlv) -> Json {
    match &t.value {
        Value::Constructed(c) => {
            json!({ "tag": t.tag.to_string(), "name": name(t.tag), "value": c.iter().map(to_json).collect::<Vec<_>>() })
        }
        Value::Primitive(v) => {
            json!({ "tag": t.tag.to_string(), "name": name(t.tag), "hex": hex::encode_upper(v) })
        }
    }
}

fn from_json(j: &Json) -> anyhow::Result<Tlv> {
    let tag_s = j
        .get("tag")
        .and_then(Json::as_str)
        .context("each object needs a \"tag\" string")?;
    let tag = Tag::from_hex(tag_s).with_context(|| format!("invalid tag {tag_s:?}"))?;
    match (j.get("value"), j.get("hex"), j.get("ascii")) {
        (Some(Json::Array(children)), None, None) => {
            if !tag.is_constructed() {
                bail!("tag {tag} is primitive; give \"hex\" or \"ascii\", not \"value\"");
            }
            Ok(Tlv::constructed(
                tag,
                children
                    .iter()
                    .map(from_json)
                    .collect::<anyhow::Result<_>>()?,
            ))
        }
        (None, Some(Json::String(_)), None) | (None, None, Some(Json::String(_)))
            if tag.is_constructed() =>
        {
            bail!("tag {tag} is constructed; give \"value\": [children]")
        }
        (None, Some(Json::String(h)), None) => Ok(Tlv::primitive(
            tag,
            hex::decode(h).with_context(|| format!("tag {tag}: bad hex"))?,
        )),
        (None, None, Some(Json::String(s))) => Ok(Tlv::primitive(tag, s.as_bytes().to_vec())),
        _ => bail!(
            "tag {tag}: give exactly one of \"hex\" (string), \"ascii\" (string) or \"value\" (array)"
        ),
    }
}
