//! `paytap register`: a shop's cash register at its acquirer.
//!
//! * `register merchant` signs the shop up through the acquirer's merchant
//!   API (`/acquirer/v1/merchants` on `paytap up`, see
//!   `platform/merchants.rs`), each request signed with the acquirer's key
//!   from the platform's `acquirers.toml` (as `paytap pos` signs on). The
//!   id is chosen here (`--id`, or a random one), so the request is resent
//!   as it was and a retry creates nothing twice.
//! * `register code` fetches the merchant and prints its EMVCo
//!   merchant-presented code: static (the buyer types the amount) or, with
//!   `--amount` and `--bill`, dynamic for one sale; as a QR in the terminal
//!   and, with `--png FILE`, as a PNG image.
//! * `register scan` takes the payment for the code a phone shows
//!   (`register/scan.rs`), queued first in the register's directory with
//!   `--register-dir` (`register/queue.rs`).
//! * `register upload` sends the queued payments whose outcome the
//!   register does not know, and the band codes taken offline
//!   (`register/upload.rs`).
//! * `register band-sync` and `register band`: the band's offline codes,
//!   verified with no network (`register/band.rs`).

mod band;
mod queue;
mod scan;
mod upload;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args as ClapArgs, Subcommand};
use paytap_acquirer::Merchant;
use paytap_types::Money;
use serde_json::{Value, json};

use crate::platform::merchants::{ACQUIRER_HEADER, MAC_HEADER, MERCHANTS_PATH, signed_bytes};
use crate::pos::AcquirerArgs;

/// How long one request to the acquirer API may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Random bytes in an id chosen for the caller (hex, after `M`).
const GENERATED_ID_BYTES: usize = 6;

#[derive(ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Sign a merchant up at the acquirer (idempotent by its id).
    Merchant(MerchantArgs),
    /// Print a merchant's QR code: static, or dynamic with --amount and --bill.
    Code(CodeArgs),
    /// Scan the code a phone shows and take the payment.
    Scan(scan::ScanArgs),
    /// Upload the payments and band codes queued in the register's directory.
    Upload(upload::UploadArgs),
    /// Take a band's offline code with no network, queued for upload.
    Band(band::BandArgs),
    /// Download the platform's band key and the revoked bands (online).
    BandSync(band::BandSyncArgs),
}

/// Where the acquirer API is and who signs the requests.
#[derive(ClapArgs)]
struct Connection {
    /// The platform's HTTP address (`paytap up`'s wallet URL).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    platform: String,
    #[command(flatten)]
    acquirer: AcquirerArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(ClapArgs)]
struct MerchantArgs {
    /// The merchant's id (1-15 letters, digits or '-'); a random one if absent.
    #[arg(long)]
    id: Option<String>,
    /// Trading name (at most 25 characters).
    #[arg(long)]
    name: String,
    /// City (at most 15 characters).
    #[arg(long)]
    city: String,
    /// ISO 18245 merchant category code (four digits).
    #[arg(long)]
    mcc: String,
    /// The currency the merchant is paid in (ISO 4217).
    #[arg(long, default_value = "CNY", value_parser = crate::pos::currency_codes())]
    currency: String,
    /// ISO 3166-1 alpha-2 country.
    #[arg(long, default_value = "CN")]
    country: String,
    #[command(flatten)]
    conn: Connection,
}

#[derive(ClapArgs)]
struct CodeArgs {
    /// The merchant's id.
    #[arg(long)]
    merchant: String,
    /// The sale's amount in major units (e.g. 12.34): a dynamic code.
    #[arg(long, requires = "bill")]
    amount: Option<String>,
    /// The sale's bill reference (at most 25 characters).
    #[arg(long, requires = "amount")]
    bill: Option<String>,
    /// Also write the code as a PNG image.
    #[arg(long)]
    png: Option<PathBuf>,
    #[command(flatten)]
    conn: Connection,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new()?;
    match args.command {
        Cmd::Merchant(a) => rt.block_on(merchant(a)),
        Cmd::Code(a) => rt.block_on(code(a)),
        Cmd::Scan(a) => rt.block_on(scan::run(a)),
        Cmd::Upload(a) => rt.block_on(upload::run(a)),
        Cmd::Band(a) => rt.block_on(band::take(a)),
        Cmd::BandSync(a) => rt.block_on(band::sync(a)),
    }
}

/// The text of a scanned code: read from a PNG image, or given as text.
pub(crate) fn scanned_text(
    image: Option<&std::path::Path>,
    payload: Option<&str>,
) -> anyhow::Result<String> {
    Ok(match (image, payload) {
        (Some(path), _) => {
            let png = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            paytap_qrimage::read_png(&png)
                .with_context(|| format!("no QR code readable in {}", path.display()))?
        }
        (None, Some(p)) => p.to_owned(),
        (None, None) => anyhow::bail!("scan a code: --image FILE or --payload TEXT"),
    })
}

fn generated_id() -> anyhow::Result<String> {
    let mut bytes = [0u8; GENERATED_ID_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(format!("M{}", hex::encode_upper(bytes)))
}

async fn merchant(a: MerchantArgs) -> anyhow::Result<ExitCode> {
    let id = match a.id {
        Some(id) => id,
        None => generated_id()?,
    };
    let body = json!({
        "id": id, "name": a.name, "city": a.city, "mcc": a.mcc,
        "currency": a.currency, "country": a.country,
    });
    let client = AcquirerClient::new(&a.conn)?;
    let (status, m) = client.call("POST", MERCHANTS_PATH, Some(&body)).await?;
    let m: Merchant = serde_json::from_value(m).context("reading the merchant")?;
    if a.conn.json {
        println!("{}", serde_json::to_string(&m)?);
    } else {
        let what = if status == 201 {
            "signed up"
        } else {
            "already signed up"
        };
        println!("merchant {} {what}", m.spec.id);
        println!("  {} in {}, MCC {}", m.spec.name, m.spec.city, m.spec.mcc);
        println!("  paid in {} to {}", m.spec.currency.code(), m.account);
    }
    Ok(ExitCode::SUCCESS)
}

async fn code(a: CodeArgs) -> anyhow::Result<ExitCode> {
    let client = AcquirerClient::new(&a.conn)?;
    let path = format!("{MERCHANTS_PATH}/{}", a.merchant);
    let (_, m) = client.call("GET", &path, None).await?;
    let m: Merchant = serde_json::from_value(m).context("reading the merchant")?;
    let payload = match (&a.amount, &a.bill) {
        (Some(amount), Some(bill)) => {
            let money = Money::parse(amount, m.spec.currency)
                .map_err(|e| anyhow::anyhow!("--amount: {e}"))?;
            let minor = u64::try_from(money.minor)
                .ok()
                .filter(|&n| n > 0)
                .context("--amount must be above zero")?;
            m.dynamic_code(minor, bill).context("--bill")?
        }
        _ => m.static_code().context("the merchant's code")?,
    };
    if let Some(png) = &a.png {
        let bytes = paytap_qrimage::render_png(&payload)?;
        std::fs::write(png, &bytes).with_context(|| format!("writing {}", png.display()))?;
    }
    if a.conn.json {
        let png = a.png.as_ref().map(|p| p.display().to_string());
        let kind = if a.amount.is_some() {
            "dynamic"
        } else {
            "static"
        };
        println!(
            "{}",
            json!({ "payload": payload, "kind": kind, "merchant": m.spec.id, "png": png })
        );
    } else {
        print!("{}", paytap_qrimage::render_terminal(&payload)?);
        println!("{payload}");
        if let Some(png) = &a.png {
            println!("wrote {}", png.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The acquirer API answered with an error (exit status 1, as any refusal).
#[derive(Debug)]
pub struct Refused {
    /// The HTTP status.
    pub status: u16,
    /// The API's message.
    pub message: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the acquirer refused ({}): {}",
            self.status, self.message
        )
    }
}

impl std::error::Error for Refused {}

/// Signed requests to the acquirer API.
pub(crate) struct AcquirerClient {
    http: reqwest::Client,
    base: String,
    id: String,
    key: paytap_iso8583::AcquirerKey,
}

impl AcquirerClient {
    fn new(conn: &Connection) -> anyhow::Result<AcquirerClient> {
        AcquirerClient::with_key(
            &conn.platform,
            &conn.acquirer.acquirer_id,
            conn.acquirer.key()?,
        )
    }

    /// A client of the API at `platform`, signing as acquirer `id`.
    pub(crate) fn with_key(
        platform: &str,
        id: &str,
        key: paytap_iso8583::AcquirerKey,
    ) -> anyhow::Result<AcquirerClient> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("making the HTTP client")?;
        Ok(AcquirerClient {
            http,
            base: platform.trim_end_matches('/').to_owned(),
            id: id.to_owned(),
            key,
        })
    }

    /// The same client with another per-request timeout.
    pub(crate) fn with_timeout(mut self, timeout: Duration) -> anyhow::Result<AcquirerClient> {
        self.http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .context("making the HTTP client")?;
        Ok(self)
    }

    /// Sends a signed request; a success's status and JSON body, or the
    /// API's error as an error.
    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let bytes = match body {
            Some(b) => serde_json::to_vec(b)?,
            None => Vec::new(),
        };
        let mac = paytap_iso8583::mac::sign_bytes(&signed_bytes(method, path, &bytes), &self.key);
        let url = format!("{}{path}", self.base);
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut req = self
            .http
            .request(method, &url)
            .header(ACQUIRER_HEADER, &self.id)
            .header(MAC_HEADER, hex::encode(mac));
        if body.is_some() {
            req = req.header("content-type", "application/json").body(bytes);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::ConnectionRefused, e))
            .with_context(|| format!("reaching the acquirer API at {url}"))?;
        let status = resp.status().as_u16();
        let v: Value = resp
            .json()
            .await
            .context("reading the acquirer API's answer")?;
        if status >= 400 {
            let message = v["error"]["message"].as_str().unwrap_or("no message");
            return Err(Refused {
                status,
                message: message.to_owned(),
            }
            .into());
        }
        Ok((status, v))
    }
}
