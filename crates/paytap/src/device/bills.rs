//! `paytap device bills` and `paytap device recharge`: an India account's
//! bills and prepaid recharges from the phone, over the wallet API with
//! the device's session. Payments carry an idempotency key (`--key`, or
//! one made here and printed): run again with the same key, a payment
//! answers its receipt instead of paying twice. A payment over UPI is a
//! collect request to the payer's UPI ID, approved with the UPI PIN in the
//! UPI app (`paytap device upi approve`); until then it is `charging`.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args as ClapArgs, Subcommand};
use paytap_types::{Currency, Money};
use serde_json::{Value, json};

use super::{Keystore, Login, client_for};

/// Random bytes of an idempotency key made here (hex).
const KEY_BYTES: usize = 12;

#[derive(ClapArgs)]
pub(super) struct BillsArgs {
    #[command(subcommand)]
    command: BillsCmd,
}

#[derive(ClapArgs)]
pub(super) struct RechargeArgs {
    #[command(subcommand)]
    command: RechargeCmd,
}

/// The device and how to print.
#[derive(ClapArgs)]
struct On {
    #[command(flatten)]
    ks: Keystore,
    #[command(flatten)]
    login: Login,
    /// Print the wallet's answer as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum BillsCmd {
    /// The billers by category and the customer parameters each asks for.
    Billers {
        #[command(flatten)]
        on: On,
    },
    /// Fetch a biller's bill: name, amount, due date, bill number.
    Fetch {
        #[command(flatten)]
        on: On,
        /// The biller's id (BESCOM, MSEDCL, DJB, IGL, ACTFIBER, TATAPLAY, AIRTELPOST).
        #[arg(long)]
        biller: String,
        /// A customer parameter, name=value (repeat for each).
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
    },
    /// Pay a fetched bill over UPI.
    Pay {
        #[command(flatten)]
        on: On,
        /// The fetched bill's id.
        #[arg(long)]
        fetch_id: String,
        /// Your UPI id.
        #[arg(long)]
        vpa: String,
        /// The idempotency key (a retry with it never pays twice).
        #[arg(long)]
        key: Option<String>,
    },
    /// Unpaid bills due within three days, or overdue.
    Reminders {
        #[command(flatten)]
        on: On,
    },
    /// Bill payments and recharges, newest first.
    Receipts {
        #[command(flatten)]
        on: On,
    },
}

#[derive(Subcommand)]
enum RechargeCmd {
    /// A number's operator and circle (by its series) and the plans sold there.
    Plans {
        #[command(flatten)]
        on: On,
        /// The number (ten digits): its series names the operator and circle where known.
        #[arg(long)]
        mobile: Option<String>,
        /// JIO, AIRTEL, VI or BSNL (a ported number's operator).
        #[arg(long)]
        operator: Option<String>,
        /// The circle's code (KA, DL, MU, ...).
        #[arg(long)]
        circle: Option<String>,
    },
    /// Recharge a prepaid number over UPI.
    Pay {
        #[command(flatten)]
        on: On,
        /// The number to recharge (ten digits).
        #[arg(long)]
        mobile: String,
        /// The plan's id (see `recharge plans`), e.g. JIO299.
        #[arg(long)]
        plan: String,
        /// The operator, when the number's series does not name it (a ported number).
        #[arg(long)]
        operator: Option<String>,
        /// The circle's code, when the number's series does not name it.
        #[arg(long)]
        circle: Option<String>,
        /// Your UPI id.
        #[arg(long)]
        vpa: String,
        /// The idempotency key (a retry with it never recharges twice).
        #[arg(long)]
        key: Option<String>,
    },
}

/// The wallet's base URL and a live session of the device.
struct Session {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Session {
    async fn open(on: &On) -> anyhow::Result<Session> {
        let mut device = on.ks.open()?;
        client_for(&mut device, &on.login).await?;
        let base = device
            .wallet_url()
            .context("not enrolled")?
            .trim_end_matches('/')
            .to_owned();
        let (token, _) = device.session().context("no wallet session")?;
        Ok(Session {
            http: reqwest::Client::new(),
            base,
            token: token.to_owned(),
        })
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let r = req.bearer_auth(&self.token).send().await?;
        let status = r.status();
        let v: Value = r
            .json()
            .await
            .with_context(|| format!("the wallet answered {status}"))?;
        if !status.is_success() {
            // A refusal exits 1, as every refusal does.
            return Err(crate::register::Refused {
                status: status.as_u16(),
                message: v["error"]["message"]
                    .as_str()
                    .unwrap_or("refused")
                    .to_owned(),
            }
            .into());
        }
        Ok(v)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    async fn post(&self, path: &str, key: Option<&str>, body: Value) -> anyhow::Result<Value> {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        self.send(req).await
    }
}

fn inr(v: &Value) -> String {
    let m = Money::new(v["minor"].as_i64().unwrap_or_default(), Currency::INR);
    format!("{} INR", m.grouped())
}

fn new_key() -> anyhow::Result<String> {
    let mut b = [0u8; KEY_BYTES];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("random source: {e}"))?;
    Ok(hex::encode(b))
}

fn params(pairs: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|p| {
            let (k, v) = p
                .split_once('=')
                .with_context(|| format!("--param {p:?}: NAME=VALUE"))?;
            Ok((k.to_owned(), v.to_owned()))
        })
        .collect()
}

fn print_receipt(r: &Value) {
    println!(
        "{} {} {} to {}: {}",
        r["kind"].as_str().unwrap_or_default(),
        r["payment_id"].as_str().unwrap_or_default(),
        inr(&r["amount"]),
        r["payee_name"].as_str().unwrap_or_default(),
        r["state"].as_str().unwrap_or_default()
    );
    for (label, field) in [
        ("UPI reference", "rail_ref"),
        ("biller's reference", "biller_ref"),
        ("refunded because", "refund_reason"),
        ("declined", "decline_code"),
        ("bill", "bill_number"),
        ("number", "mobile"),
    ] {
        if let Some(v) = r[field].as_str() {
            println!("  {label}: {v}");
        }
    }
    if r["state"] == "charging" {
        println!(
            "  waiting for the payer: approve the collect request {} in the UPI app with the UPI PIN (paytap device upi approve), then read the receipt again",
            r["payment_id"].as_str().unwrap_or_default()
        );
    }
}

/// Prints `v` as JSON, or by `text`; a payment that did not go through
/// ends with exit code 1.
fn answer(json: bool, v: &Value, text: impl Fn(&Value)) -> ExitCode {
    if json {
        println!("{v}");
    } else {
        text(v);
    }
    crate::exit::of_answer(!matches!(
        v["state"].as_str(),
        Some("declined" | "refunded")
    ))
}

/// A payment under `key` (or a new one, printed), its receipt printed.
async fn pay(on: &On, path: &str, key: Option<String>, body: Value) -> anyhow::Result<ExitCode> {
    let key = match key {
        Some(k) => k,
        None => new_key()?,
    };
    eprintln!("idempotency key: {key}");
    let v = Session::open(on)
        .await?
        .post(path, Some(&key), body)
        .await?;
    Ok(answer(on.json, &v, print_receipt))
}

/// `paytap device bills ...`.
pub(super) async fn bills(a: BillsArgs) -> anyhow::Result<ExitCode> {
    match a.command {
        BillsCmd::Billers { on } => {
            let v = Session::open(&on).await?.get("/api/v1/billers").await?;
            Ok(answer(on.json, &v, |v| {
                for b in v["billers"].as_array().into_iter().flatten() {
                    let names: Vec<&str> = b["params"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|p| p["name"].as_str())
                        .collect();
                    println!(
                        "{:<11} {:<16} {} ({})",
                        b["id"].as_str().unwrap_or_default(),
                        b["category"].as_str().unwrap_or_default(),
                        b["name"].as_str().unwrap_or_default(),
                        names.join(", ")
                    );
                }
            }))
        }
        BillsCmd::Fetch {
            on,
            biller,
            params: p,
        } => {
            let body = json!({ "biller_id": biller, "params": params(&p)? });
            let v = Session::open(&on)
                .await?
                .post("/api/v1/bills/fetch", None, body)
                .await?;
            Ok(answer(on.json, &v, |b| {
                println!(
                    "{} for {}: {} due {} (bill {}); pay with --fetch-id {}",
                    b["biller_name"].as_str().unwrap_or_default(),
                    b["customer_name"].as_str().unwrap_or_default(),
                    inr(&b["amount"]),
                    b["due_date"].as_str().unwrap_or_default(),
                    b["bill_number"].as_str().unwrap_or_default(),
                    b["fetch_id"].as_str().unwrap_or_default()
                );
            }))
        }
        BillsCmd::Pay {
            on,
            fetch_id,
            vpa,
            key,
        } => {
            let body = json!({ "fetch_id": fetch_id, "vpa": vpa });
            pay(&on, "/api/v1/bills/payments", key, body).await
        }
        BillsCmd::Reminders { on } => {
            let v = Session::open(&on)
                .await?
                .get("/api/v1/bills/reminders")
                .await?;
            Ok(answer(on.json, &v, |v| {
                for r in v["reminders"].as_array().into_iter().flatten() {
                    let b = &r["bill"];
                    println!(
                        "{} {} due {} ({} {} days)",
                        b["biller_name"].as_str().unwrap_or_default(),
                        inr(&b["amount"]),
                        b["due_date"].as_str().unwrap_or_default(),
                        r["reminder"]["kind"].as_str().unwrap_or_default(),
                        r["reminder"]["days"]
                    );
                }
            }))
        }
        BillsCmd::Receipts { on } => {
            let v = Session::open(&on)
                .await?
                .get("/api/v1/bills/receipts")
                .await?;
            Ok(answer(on.json, &v, |v| {
                v["receipts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .for_each(print_receipt)
            }))
        }
    }
}

/// `paytap device recharge ...`.
pub(super) async fn recharge(a: RechargeArgs) -> anyhow::Result<ExitCode> {
    match a.command {
        RechargeCmd::Plans {
            on,
            mobile,
            operator,
            circle,
        } => {
            let mut query = Vec::new();
            for (k, v) in [
                ("mobile", mobile),
                ("operator", operator),
                ("circle", circle),
            ] {
                if let Some(v) = v {
                    query.push(format!("{k}={v}"));
                }
            }
            let path = format!("/api/v1/recharge/plans?{}", query.join("&"));
            let v = Session::open(&on).await?.get(&path).await?;
            Ok(answer(on.json, &v, |v| {
                println!(
                    "{} in circle {}",
                    v["operator"].as_str().unwrap_or_default(),
                    v["circle"].as_str().unwrap_or_default()
                );
                for p in v["plans"].as_array().into_iter().flatten() {
                    println!(
                        "  {:<8} {:>10} {:>4} days  {}  {}",
                        p["id"].as_str().unwrap_or_default(),
                        inr(&json!({ "minor": p["price"] })),
                        p["validity_days"],
                        p["data"].as_str().unwrap_or_default(),
                        p["description"].as_str().unwrap_or_default()
                    );
                }
            }))
        }
        RechargeCmd::Pay {
            on,
            mobile,
            plan,
            operator,
            circle,
            vpa,
            key,
        } => {
            let body = json!({ "mobile": mobile, "plan_id": plan, "operator": operator,
                               "circle": circle, "vpa": vpa });
            pay(&on, "/api/v1/recharge/payments", key, body).await
        }
    }
}
