//! `paytap demo`: the whole story, told and checked.
//!
//! Starts the platform in this process (ports chosen by the system, a
//! temporary data directory), or uses a running `paytap up` (`--against
//! URL`), and walks a newcomer through it: an account,
//! a phone and a band, cards from two banks (one through the one-time
//! passcode step-up), the eight-card limit, taps with a fingerprint
//! (approved, with the cryptogram changing every time), a purchase beyond
//! the card's limit, a replayed cryptogram, a lost phone (which answers
//! "Locate now" with its place), its recovery, a shop's QR code scanned
//! and paid and a code the phone shows taken at the register
//! (`demo/qr.rs`), a band that holds no card, a bank's discount, a
//! first-payment cashback and a burst stopped by the risk engine
//! (`demo/offers.rs`), a transit card ridden and lost (`demo/transit.rs`),
//! UPI in India: a PIN set, a contact, a tea stall's QR and its collect
//! request paid, a wrong PIN refused (`demo/india.rs`), the ledger summing
//! to zero per currency, and in India an electricity bill and a Jio
//! recharge paid over UPI (`demo/bills.rs`).
//!
//! The demo is a client like any other: the wallet's HTTP API for the
//! account holder, the switch's ISO 8583 port for the POS, and the
//! platform's loopback emulator API ([`crate::platform::emulator_router`])
//! for what a test lab has besides the product: banks issuing plastic
//! cards, the phone's SMS inbox, the ledger's totals.
//!
//! Every step checks its outcome; the demo exits non-zero when any step
//! does not turn out as told. Card and token numbers only ever appear
//! masked.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use clap::Args as ClapArgs;
use indicatif::{ProgressBar, ProgressStyle};
use paytap_device::locate::{Owner, listen};
use paytap_device::wallet::{AddCardResult, NewCardRequest};
use paytap_device::{Device, DeviceKind, KeystoreKey, Position, WalletClient, sync_device};
use paytap_emv::{Kernel, Outcome, Transaction, TxnDate};
use paytap_pos::{
    ArpcCheck, Pos, Receipt, RequestIds, SwitchLink, TerminalProfile, build_authorization,
};
use paytap_types::{Currency, Money, Secret};
use serde::Deserialize;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::platform::{Platform, PlatformOptions};

mod band;
mod bills;
mod console;
mod india;
mod offers;
mod points;
mod qr;
mod transit;

#[derive(ClapArgs)]
pub struct Args {
    /// Keep the demo's data directory here instead of a temporary one.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Play against a running `paytap up` (its wallet URL, on loopback).
    #[arg(long)]
    against: Option<String>,
    /// With `--against`: the platform's data directory, whose
    /// `acquirers.toml` holds the demo acquirer's key.
    #[arg(long, default_value = "paytap-data")]
    platform_data_dir: PathBuf,
}

/// The chapters the story tells (`Story::title` once each); checked when
/// the story ends.
const STEPS: u64 = 20;
const EMAIL: &str = "li.lei@example.com";
const PASSWORD: &str = "correct horse battery staple";

struct Story {
    pb: ProgressBar,
    step: u64,
}

impl Story {
    fn say(&self, line: impl AsRef<str>) {
        let l = format!("    {}", line.as_ref());
        if self.pb.is_hidden() {
            println!("{l}")
        } else {
            self.pb.println(l)
        }
    }
    fn title(&mut self, t: &str) {
        self.step += 1;
        let l = format!("\n[{}/{}] {t}", self.step, STEPS);
        if self.pb.is_hidden() {
            println!("{l}")
        } else {
            self.pb.println(l)
        }
        self.pb.set_message(t.to_owned());
    }
    fn ok(&self, line: impl AsRef<str>) {
        self.say(format!("✓ {}", line.as_ref()));
        self.pb.inc(1);
    }
}

struct Demo {
    story: Story,
    platform: Option<Platform>,
    lab: Lab,
    client: WalletClient,
    email: String,
    dir: PathBuf,
    banks: Vec<LabBank>,
    phone: Option<Device>,
    phone_id: String,
    band: Option<Device>,
    band_id: String,
    switch: SocketAddr,
    /// The demo acquirer's MAC key: its terminals sign on with it.
    acquirer_key: paytap_iso8583::AcquirerKey,
    /// The transit operators' API (`transit_url`).
    transit_url: String,
    /// The data directory whose keyring the demo's gates take their keys from.
    keys_dir: PathBuf,
    otps_seen: usize,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    crate::logging::init("error");
    let tmp = tempfile::tempdir().context("creating a temporary data directory")?;
    let dir = args.data_dir.unwrap_or_else(|| tmp.path().to_owned());
    let rt = tokio::runtime::Runtime::new()?;
    let result = rt.block_on(play(dir, args.against, args.platform_data_dir));
    match result {
        Ok(()) => {
            println!("\nThe story played out as told. paytap demo: all {STEPS} steps passed.");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("\n✗ DEMO FAILED: {e:#}");
            Ok(ExitCode::from(1))
        }
    }
}

fn cny(s: &str) -> anyhow::Result<Money> {
    Money::parse(s, Currency::CNY).map_err(|e| anyhow::anyhow!("{e}"))
}

fn show(m: Money) -> String {
    format!("{} {}", m.grouped(), m.currency.code())
}

async fn play(
    dir: PathBuf,
    against: Option<String>,
    platform_data_dir: PathBuf,
) -> anyhow::Result<()> {
    let pb = ProgressBar::new(STEPS);
    pb.set_style(
        ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut story = Story { pb, step: 0 };
    println!(
        "paytap demo: tap to pay with a tokenized card in a phone's secure element, end to end."
    );

    story.title("Start the platform");
    let fresh = std::fs::read_dir(&dir)
        .map(|mut d| d.next().is_none())
        .unwrap_or(true);
    let (platform, wallet_url, email) = match against {
        None => {
            story.say("One process runs the card network (twenty emulated banks, a token service, a switch, a double-entry ledger, a card vault)");
            story.say("and the wallet service with its web site. Databases are SQLite files in a fresh directory.");
            let platform = Platform::start(PlatformOptions::loopback(dir.clone())).await?;
            let url = platform.wallet_url.clone();
            // A kept data directory may hold an earlier run's account.
            let email = if fresh {
                EMAIL.to_owned()
            } else {
                let mut tag = [0u8; 4];
                getrandom_fill(&mut tag)?;
                format!("li.lei+{}@example.com", hex::encode(tag))
            };
            (Some(platform), url, email)
        }
        Some(url) => {
            story.say(format!(
                "Using the platform already running at {url} (`paytap up`)."
            ));
            let mut tag = [0u8; 4];
            getrandom_fill(&mut tag)?;
            (
                None,
                url,
                format!("li.lei+{}@example.com", hex::encode(tag)),
            )
        }
    };
    let lab = Lab::new(&wallet_url)?;
    let info = lab
        .info()
        .await
        .context("the platform's loopback emulator API")?;
    let switch: SocketAddr = info.switch_addr.parse().context("switch address")?;
    let keys_dir = if platform.is_some() {
        &dir
    } else {
        &platform_data_dir
    };
    let keys_dir = keys_dir.clone();
    let transit_url = match &platform {
        Some(p) => p.transit_url.clone(),
        None => transit_url_of(&keys_dir)?,
    };
    let keys_file = keys_dir.join(paytap_network::acquirers::ACQUIRERS_FILE);
    let acquirer_key = paytap_network::acquirers::load(&keys_file)
        .with_context(|| format!("reading the acquirer keys in {}", keys_file.display()))?
        .key(paytap_types::DEMO_ACQUIRER_ID)
        .cloned()
        .context("no key for the demo acquirer")?;
    let otps_seen = lab.sms().await?.len();
    story.say(format!("wallet API and web site: {wallet_url}"));
    story.say(format!("card network switch (ISO 8583 over TCP): {switch}"));
    story.ok("platform up");
    let client = WalletClient::new(&wallet_url)?;
    let mut demo = Demo {
        story,
        platform,
        lab,
        banks: info.banks,
        client,
        email,
        dir,
        phone: None,
        phone_id: String::new(),
        band: None,
        band_id: String::new(),
        switch,
        acquirer_key,
        transit_url,
        keys_dir,
        otps_seen,
    };
    let r = demo.story_steps().await;
    let told = demo.story.step;
    demo.story.pb.finish_and_clear();
    if let Some(platform) = demo.platform.take() {
        platform.shutdown().await;
    }
    r?;
    // A chapter added or removed without counting it is a bug of the demo.
    anyhow::ensure!(
        told == STEPS,
        "the story told {told} steps, not the {STEPS} it counts"
    );
    Ok(())
}

/// The transit operators' URL a running `paytap up` wrote in its
/// `endpoints.json`.
fn transit_url_of(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = data_dir.join("endpoints.json");
    let v: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
    )?;
    v["transit_url"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("{} names no transit_url", path.display()))
}

/// The test lab around the product: the platform's loopback emulator API.
struct Lab {
    http: reqwest::Client,
    base: String,
}

#[derive(Deserialize)]
struct LabInfo {
    switch_addr: String,
    banks: Vec<LabBank>,
}

#[derive(Deserialize, Clone)]
struct LabBank {
    id: String,
    name: String,
    currency: String,
}

/// A plastic card as the bank mails it. Wiped on drop.
#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
struct LabCard {
    bank_id: String,
    bank_name: String,
    pan: String,
    expiry_yymm: String,
    cvv: String,
    last4: String,
}

impl LabCard {
    fn masked(&self) -> String {
        let n = self.pan.len();
        format!(
            "{}{}{}",
            self.pan.get(..6).unwrap_or(""),
            "*".repeat(n.saturating_sub(10)),
            self.last4
        )
    }
}

#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
struct LabSms {
    code: String,
}

#[derive(Deserialize)]
struct LabLedger {
    accounts: usize,
    transfers: usize,
    totals: Vec<LabTotal>,
}

#[derive(Deserialize)]
struct LabTotal {
    currency: String,
    debits_posted: i64,
    credits_posted: i64,
    debits_pending: i64,
    credits_pending: i64,
}

impl Lab {
    fn new(wallet_url: &str) -> anyhow::Result<Lab> {
        Ok(Lab {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            base: wallet_url.trim_end_matches('/').to_owned(),
        })
    }

    async fn get<T: for<'de> Deserialize<'de>>(&self, path: &str) -> anyhow::Result<T> {
        let r = self.http.get(format!("{}{path}", self.base)).send().await?;
        ensure!(r.status().is_success(), "{path}: {}", r.status());
        Ok(r.json().await?)
    }

    async fn info(&self) -> anyhow::Result<LabInfo> {
        self.get("/emulator/v1/info").await
    }

    async fn sms(&self) -> anyhow::Result<Vec<LabSms>> {
        #[derive(Deserialize)]
        struct M {
            messages: Vec<LabSms>,
        }
        Ok(self.get::<M>("/emulator/v1/sms").await?.messages)
    }

    async fn ledger(&self) -> anyhow::Result<LabLedger> {
        self.get("/emulator/v1/ledger").await
    }

    async fn issue(
        &self,
        bank: &str,
        product: &str,
        amount_minor: i64,
        step_up: bool,
    ) -> anyhow::Result<LabCard> {
        let body = serde_json::json!({
            "bank_id": bank, "product": product, "holder_name": "LI LEI", "amount_minor": amount_minor,
            "step_up": step_up, "single_transaction_limit_minor": 200_000, "no_cvm_limit_minor": 30_000,
        });
        let r = self
            .http
            .post(format!("{}/emulator/v1/cards", self.base))
            .json(&body)
            .send()
            .await?;
        ensure!(
            r.status().is_success(),
            "the bank did not issue a card: {}",
            r.status()
        );
        Ok(r.json().await?)
    }
}

impl Demo {
    /// The story, one chapter after another.
    async fn story_steps(&mut self) -> anyhow::Result<()> {
        let (icbc, cmb) = self.issue_cards().await?;
        self.sign_up().await?;
        self.enrol_devices().await?;
        self.add_two_cards(&icbc, &cmb).await?;
        self.eight_cards_at_most(&icbc, &cmb).await?;
        self.tap_to_pay().await?;
        self.over_the_limit().await?;
        self.story.title("A replayed cryptogram");
        self.replay().await?;
        self.lost_phone().await?;
        self.found_phone().await?;
        self.scan_to_pay().await?;
        self.offers_and_risk().await?;
        self.band_holds_no_cards(&icbc).await?;
        self.ride_the_metro().await?;
        self.pay_with_upi().await?;
        self.history_and_ledger().await?;
        let asha = self.india_payer().await?;
        self.bills_and_recharge(&asha).await
    }

    /// Two banks issue Li Lei a debit and a credit card.
    async fn issue_cards(&mut self) -> anyhow::Result<(LabCard, LabCard)> {
        // Cards the banks issue to Li Lei.
        self.story.title("Two banks issue cards to Li Lei");
        let icbc = self.issue("01020000", "debit", 500_000, false).await?;
        let cmb_bank = self
            .bank_id_by_name("China Merchants Bank")
            .unwrap_or_else(|| "03080000".into());
        let cmb = self.issue(&cmb_bank, "credit", 2_000_000, true).await?;
        self.story.say(format!(
            "{}: debit card {} with 5,000.00 CNY; single purchases up to 2,000.00 CNY.",
            self.bank_name(&icbc.bank_id),
            icbc.masked()
        ));
        self.story.say(format!(
            "{}: credit card {} with a 20,000.00 CNY limit; its bank asks for a one-time passcode before it goes into a phone.",
            self.bank_name(&cmb.bank_id),
            cmb.masked()
        ));
        self.story.ok("two plastic cards exist at their banks");
        Ok((icbc, cmb))
    }

    /// Li Lei registers with the wallet and logs in.
    async fn sign_up(&mut self) -> anyhow::Result<()> {
        self.story.title("Register an account with the wallet");
        let email = self.email.clone();
        self.client.register(&email, PASSWORD, "Li Lei").await?;
        let s = self.client.login(&email, PASSWORD).await?;
        self.story.say(format!("Li Lei signs up as {email} (the password is stored only as an Argon2id hash) and logs in."));
        self.story.ok(format!(
            "account {} with a session that expires on its own",
            s.account.id
        ));
        Ok(())
    }

    /// A phone and a band enrol with keys made in their secure elements.
    async fn enrol_devices(&mut self) -> anyhow::Result<()> {
        self.story.title("Register a phone and a band");
        let (phone, phone_id) = self.enrol(DeviceKind::Phone, "Li's phone").await?;
        let (band, band_id) = self.enrol(DeviceKind::Band, "Li's band").await?;
        self.story.say("Each device makes an X25519 key pair inside its secure element and sends the wallet only the public half.");
        self.story.say("The secure element is a file encrypted at rest; it holds the device key, the tokens and their keys, never in clear.");
        self.phone = Some(phone);
        self.phone_id = phone_id.clone();
        self.band = Some(band);
        self.band_id = band_id.clone();
        self.story
            .ok(format!("phone {phone_id} and band {band_id} registered"));
        Ok(())
    }

    /// Both cards go into the phone, the second after a one-time passcode.
    async fn add_two_cards(&mut self, icbc: &LabCard, cmb: &LabCard) -> anyhow::Result<()> {
        self.story.title("Add the ICBC debit card to the phone");
        self.add_card(icbc, false).await?;
        self.story
            .ok("provisioned on the green path: the bank recognised card, expiry and CVV at once");

        self.story
            .title("Add the China Merchants Bank card: one-time passcode step-up");
        self.add_card(cmb, true).await?;
        let installed = self.sync_phone().await?;
        ensure!(
            installed == 2,
            "the phone should hold 2 cards, it holds {installed}"
        );
        self.story.ok("both cards are tokens in the phone's secure element; the card numbers never reached the phone");
        Ok(())
    }

    /// Six more cards fill the phone; a ninth is refused.
    async fn eight_cards_at_most(&mut self, icbc: &LabCard, cmb: &LabCard) -> anyhow::Result<()> {
        self.story.title("A phone holds at most eight cards");
        let mut banks: Vec<String> = self
            .banks
            .iter()
            .filter(|b| b.currency == "CNY" && b.id != icbc.bank_id && b.id != cmb.bank_id)
            .map(|b| b.id.clone())
            .collect();
        banks.truncate(7);
        ensure!(
            banks.len() == 7,
            "not enough CNY banks for the card-limit step"
        );
        for b in banks.iter().take(6) {
            let c = self.issue(b, "debit", 100_000, false).await?;
            self.add_card_quietly(&c).await?;
        }
        self.story
            .say("Six more cards from six more banks go in: eight in all.");
        let ninth = self
            .issue(banks.get(6).context("bank")?, "debit", 100_000, false)
            .await?;
        match self
            .client
            .add_card(&self.phone_id, &new_card(&ninth))
            .await
        {
            Err(e) if e.code() == Some("card_limit_reached") => self
                .story
                .say(format!("A ninth card: refused. The wallet says: {e}")),
            Err(e) => bail!("the ninth card was refused for the wrong reason: {e}"),
            Ok(_) => bail!("a ninth card was accepted"),
        }
        let n = self.sync_phone().await?;
        ensure!(n == 8, "the phone should hold 8 cards, it holds {n}");
        self.story.ok("eight cards, and no more");
        Ok(())
    }

    /// Two taps are approved, each with a new cryptogram and the issuer's ARPC.
    async fn tap_to_pay(&mut self) -> anyhow::Result<()> {
        self.story.title("Tap to pay with a fingerprint");
        self.story.say("Li touches the fingerprint sensor and holds the phone to the terminal. The default card (ICBC) answers:");
        self.story.say("the secure element computes an ARQC, a cryptogram over amount, date, the terminal's random number and a counter (ATC).");
        let r1 = self.tap(true, "12.50", "Wumart Supermarket").await?;
        self.receipt(&r1);
        ensure!(
            r1.approved,
            "the first tap was not approved: {}",
            r1.meaning
        );
        ensure!(
            r1.arpc == ArpcCheck::Verified,
            "the issuer's ARPC was not verified by the card"
        );
        let r2 = self.tap(true, "36.80", "Luckin Coffee").await?;
        self.receipt(&r2);
        ensure!(
            r2.approved,
            "the second tap was not approved: {}",
            r2.meaning
        );
        ensure!(
            r1.cryptogram != r2.cryptogram && r2.atc > r1.atc,
            "the cryptogram did not change"
        );
        self.story.say(format!(
            "The cryptogram changed from {} (ATC {}) to {} (ATC {}): a copied one is worthless.",
            r1.cryptogram.as_deref().unwrap_or("-"),
            r1.atc.unwrap_or(0),
            r2.cryptogram.as_deref().unwrap_or("-"),
            r2.atc.unwrap_or(0)
        ));
        self.story.say(
            "The terminal and the merchant only ever saw the token number; the card number stayed with the bank and the vault.",
        );
        self.story
            .ok("two taps approved; the bank's answer was authenticated by the card (ARPC)");
        Ok(())
    }

    /// The bank declines a purchase beyond the card's single-purchase limit.
    async fn over_the_limit(&mut self) -> anyhow::Result<()> {
        self.story.title("A purchase beyond the card's limit");
        self.story.say("Li tries to buy a 3,000.00 CNY television; the bank allows single purchases up to 2,000.00 CNY.");
        self.story.say("The token service checks the cryptogram and swaps the token for the card number; the bank decides.");
        let r = self.tap(true, "3000.00", "Suning Electronics").await?;
        self.receipt(&r);
        ensure!(
            !r.approved && r.response_code.as_deref() == Some("61"),
            "3,000.00 CNY beyond a 2,000.00 CNY single-purchase limit was not declined by the bank for its limit: {} {}",
            r.response_code.as_deref().unwrap_or("-"),
            r.meaning
        );
        self.story.ok(format!(
            "declined by the bank: {} {}",
            r.response_code.as_deref().unwrap_or(""),
            r.meaning
        ));
        Ok(())
    }

    /// The lost phone is suspended, its tap declined, and it answers Locate.
    async fn lost_phone(&mut self) -> anyhow::Result<()> {
        self.story.title("The phone is lost");
        let d = self.client.report_lost(&self.phone_id).await?;
        ensure!(
            d.status == paytap_types::DeviceStatus::Suspended,
            "the phone is {} after being reported lost",
            d.status
        );
        self.story.say("Li reports the phone lost on the wallet: every token on it is suspended at the token service at once.");
        self.story.say("Someone holds the phone to a terminal. Even a tap that passes the fingerprint check is now refused by the network:");
        let r = self.tap(true, "88.00", "Night Market").await?;
        self.receipt(&r);
        ensure!(
            !r.approved && r.response_code.is_some(),
            "a tap with the lost phone was not declined by the network"
        );
        self.locate_phone().await?;
        self.story.ok(format!(
            "declined: {} {}; the phone answered \"Locate now\"",
            r.response_code.as_deref().unwrap_or(""),
            r.meaning
        ));
        Ok(())
    }

    /// The found phone is resumed and pays again.
    async fn found_phone(&mut self) -> anyhow::Result<()> {
        self.story.title("The phone is found: resume");
        let d = self.client.resume(&self.phone_id).await?;
        ensure!(
            d.status == paytap_types::DeviceStatus::Active,
            "the phone is {} after resume",
            d.status
        );
        let r = self.tap(true, "18.00", "Wumart Supermarket").await?;
        self.receipt(&r);
        ensure!(
            r.approved,
            "the tap after resume was not approved: {}",
            r.meaning
        );
        self.story.ok("tokens active again; the tap is approved");
        Ok(())
    }

    /// The band refuses a card.
    async fn band_holds_no_cards(&mut self, icbc: &LabCard) -> anyhow::Result<()> {
        self.story
            .title("A band holds transit and QR credentials, not cards");
        let extra = self.issue(&icbc.bank_id, "debit", 10_000, false).await?;
        match self.client.add_card(&self.band_id, &new_card(&extra)).await {
            Err(e) if e.code() == Some("device_cannot_hold_cards") => {
                self.story.say(format!("The wallet says: {e}"))
            }
            Err(e) => bail!("adding a card to the band failed for the wrong reason: {e}"),
            Ok(_) => bail!("a card was added to the band"),
        }
        let band = self.band.as_ref().context("no band")?;
        ensure!(band.cards().is_empty(), "the band holds a card");
        self.story
            .ok("refused, and the band's secure element stays empty");
        Ok(())
    }

    /// The wallet's history, and a ledger whose every currency sums to zero.
    async fn history_and_ledger(&mut self) -> anyhow::Result<()> {
        self.story.title("The wallet's history and the ledger");
        let history = self.history(6).await?;
        for t in &history {
            self.story.say(format!(
                "{:<20} {:>10} CNY  card •••• {}  {}",
                t.merchant_name,
                t.amount_display,
                t.card_last4,
                if t.approved {
                    "approved".to_owned()
                } else {
                    format!("declined ({})", t.reason)
                }
            ));
        }
        let report = self.lab.ledger().await?;
        self.story.say(format!(
            "The ledger holds {} accounts and {} transfers. Per currency:",
            report.accounts, report.transfers
        ));
        for t in &report.totals {
            let cur = Currency::from_code(&t.currency).map_err(|e| anyhow::anyhow!("{e}"))?;
            let debits = Money::new(t.debits_posted + t.debits_pending, cur);
            let credits = Money::new(t.credits_posted + t.credits_pending, cur);
            self.story.say(format!(
                "{}: debits {} = credits {} → net {}",
                cur.code(),
                debits.decimal(),
                credits.decimal(),
                Money::new(credits.minor - debits.minor, cur).decimal()
            ));
            ensure!(
                t.debits_posted == t.credits_posted && t.debits_pending == t.credits_pending,
                "{} does not sum to zero",
                cur.code()
            );
        }
        ensure!(!report.totals.is_empty(), "the ledger is empty");
        self.story
            .ok("every currency sums to zero: money moved, none appeared or vanished");
        Ok(())
    }

    fn bank_name(&self, id: &str) -> String {
        self.banks
            .iter()
            .find(|b| b.id == id)
            .map(|b| b.name.clone())
            .unwrap_or_else(|| id.to_owned())
    }

    fn bank_id_by_name(&self, name: &str) -> Option<String> {
        self.banks
            .iter()
            .find(|b| b.name == name)
            .map(|b| b.id.clone())
    }

    /// A bank issues Li a card (through the lab).
    async fn issue(
        &self,
        bank: &str,
        product: &str,
        amount_minor: i64,
        step_up: bool,
    ) -> anyhow::Result<LabCard> {
        self.lab.issue(bank, product, amount_minor, step_up).await
    }

    async fn enrol(&self, kind: DeviceKind, name: &str) -> anyhow::Result<(Device, String)> {
        let path = self
            .dir
            .join("devices")
            .join(format!("{}.se", kind.as_str()));
        // The story's devices are never opened by another process: a random
        // passphrase only this run holds keeps them as the product keeps a
        // keystore (Argon2id, nothing that opens it on disk), even in a
        // `--data-dir` the user keeps.
        let mut d = Device::create(
            &path,
            &KeystoreKey::for_this_run()?,
            kind,
            name,
            "paytap emulated",
        )?;
        let info = self
            .client
            .register_device(kind.as_str(), name, "paytap emulated", &d.public_key())
            .await?;
        d.set_enrolment(&info.id, self.client.base_url(), &self.email)?;
        Ok((d, info.id))
    }

    /// Adds a card, passing the passcode step-up when the bank asks for it.
    async fn add_card_inner(&mut self, card: &LabCard, narrate: bool) -> anyhow::Result<bool> {
        let r = self
            .client
            .add_card(&self.phone_id, &new_card(card))
            .await?;
        let stepped_up = matches!(r, AddCardResult::OtpRequired { .. });
        let card_rec = match r {
            AddCardResult::Provisioned { card } => card,
            AddCardResult::OtpRequired { pending } => {
                if narrate {
                    self.story.say(format!(
                        "{} wants proof it is really Li: \"{}\".",
                        pending.bank_name, pending.otp_channel
                    ));
                }
                let code = self.wait_for_otp().await?;
                if narrate {
                    self.story.say("The code arrives on Li's phone by (emulated) SMS; Li types it into the wallet.");
                }
                match self
                    .client
                    .submit_otp(&self.phone_id, &pending.id, &code)
                    .await?
                {
                    AddCardResult::Provisioned { card } => card,
                    AddCardResult::OtpRequired { .. } => bail!("the passcode was not accepted"),
                }
            }
        };
        if narrate {
            self.story.say(format!(
                "Card •••• {} from {}: the bank approved, the token service created a token bound to this phone",
                card_rec.card_last4, card_rec.bank_name
            ));
            self.story
                .say("and sealed the token with its own key to the phone's public key.");
        }
        Ok(stepped_up)
    }

    async fn add_card(&mut self, card: &LabCard, expect_step_up: bool) -> anyhow::Result<()> {
        let stepped = self.add_card_inner(card, true).await?;
        ensure!(
            stepped == expect_step_up,
            "expected the {} path",
            if expect_step_up { "passcode" } else { "green" }
        );
        let n = self.sync_phone().await?;
        ensure!(n >= 1, "the phone holds no card");
        Ok(())
    }

    async fn add_card_quietly(&mut self, card: &LabCard) -> anyhow::Result<()> {
        self.add_card_inner(card, false).await.map(|_| ())
    }

    /// The next passcode the emulated SMS gateway delivers.
    async fn wait_for_otp(&mut self) -> anyhow::Result<String> {
        for _ in 0..500 {
            let msgs = self.lab.sms().await?;
            if let Some(m) = msgs.get(self.otps_seen) {
                self.otps_seen += 1;
                return Ok(m.code.as_str().to_owned());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        bail!("no passcode arrived")
    }

    /// Installs what the wallet provisioned; returns how many cards the phone holds.
    async fn sync_phone(&mut self) -> anyhow::Result<usize> {
        let mut phone = self.phone.take().context("no phone")?;
        let client = self.client.clone();
        let r = sync_device(&mut phone, &client).await;
        let n = phone.cards().len();
        let installed: Vec<String> = r
            .as_ref()
            .map(|r| {
                r.installed
                    .iter()
                    .map(|c| format!("{} ({})", c.masked_token, c.bank_name))
                    .collect()
            })
            .unwrap_or_default();
        self.phone = Some(phone);
        let r = r?;
        if let Some((t, why)) = r.refused.first() {
            bail!("the secure element refused {t}: {why}");
        }
        if installed.len() <= 2 {
            for i in installed {
                self.story.say(format!(
                    "The phone opens the sealed payload and installs token {i}."
                ));
            }
        }
        Ok(n)
    }

    /// Li presses "Locate now"; the phone, still on at the night market,
    /// gets the command over its channel to the wallet and answers with
    /// its place.
    async fn locate_phone(&mut self) -> anyhow::Result<()> {
        let asked = self.client.send_command(&self.phone_id, "locate").await?;
        let night_market = Position {
            lat: 31.2375,
            lon: 121.4690,
            accuracy_m: 18.0,
            place: Some("Night Market, Huanghe Road, Shanghai".into()),
        };
        let mut phone = self.phone.take().context("no phone")?;
        let heard = match phone.set_position(night_market) {
            Ok(()) => listen(
                &mut phone,
                &self.client,
                Some(1),
                &mut Owner {
                    ring: &mut || {},
                    touch: &mut |_| None,
                },
                &mut |_, _| {},
            )
            .await
            .map_err(anyhow::Error::from),
            Err(e) => Err(e.into()),
        };
        self.phone = Some(phone);
        heard?;
        self.story.say("Li presses \"Locate now\" on the wallet's web site. The phone keeps a channel open to the wallet; the command arrives at once:");
        let answered = self
            .client
            .commands(&self.phone_id)
            .await?
            .into_iter()
            .find(|c| c.id == asked.id)
            .context("the locate command is gone")?;
        ensure!(
            answered.state == "acknowledged",
            "the phone did not answer \"Locate now\": {}",
            answered.state
        );
        let at = answered
            .location
            .context("the phone's answer has no place")?;
        self.story.say(format!(
            "the phone is at {} ({:.4}, {:.4}), within {} m",
            at.place.as_deref().unwrap_or("an unnamed place"),
            at.lat,
            at.lon,
            at.accuracy_m
        ));
        Ok(())
    }

    /// Taps the phone on a fresh terminal of `merchant`.
    async fn tap(
        &mut self,
        verified: bool,
        amount: &str,
        merchant: &str,
    ) -> anyhow::Result<Receipt> {
        let money = cny(amount)?;
        let pos = Pos::new(
            TerminalProfile {
                merchant_name: merchant.to_owned(),
                ..TerminalProfile::default()
            },
            self.switch,
        )?
        .with_acquirer_key(self.acquirer_key.clone());
        let mut phone = self.phone.take().context("no phone")?;
        let (phone, r) = tokio::task::spawn_blocking(move || {
            let owner = phone.owner_finger();
            let r = match phone.tap(verified.then_some(&owner)) {
                Ok(mut tap) => pos.charge(&mut tap, money).map_err(anyhow::Error::from),
                Err(e) => Err(e.into()),
            };
            (phone, r)
        })
        .await?;
        self.phone = Some(phone);
        r
    }

    fn receipt(&self, r: &Receipt) {
        self.story.say(format!(
            "{} {} at {}: {} {} — cryptogram {} ATC {}, ARPC checked: {}",
            r.masked_token.as_deref().unwrap_or("-"),
            show(r.amount),
            r.merchant_name,
            if r.approved { "APPROVED" } else { "DECLINED" },
            r.response_code
                .as_deref()
                .map(|c| format!("{c} {}", r.meaning))
                .unwrap_or_else(|| r.meaning.clone()),
            r.cryptogram.as_deref().unwrap_or("-"),
            r.atc.map(|a| a.to_string()).unwrap_or_else(|| "-".into()),
            r.arpc.as_str()
        ));
    }

    /// A genuine authorization, then the same cryptogram sent again by an attacker.
    async fn replay(&mut self) -> anyhow::Result<()> {
        let mut phone = self.phone.take().context("no phone")?;
        let switch = self.switch;
        let key = self.acquirer_key.clone();
        let (phone, r) = tokio::task::spawn_blocking(move || {
            let r = (|| -> anyhow::Result<(String, String)> {
                let profile = TerminalProfile {
                    merchant_name: "Corner Shop".into(),
                    ..TerminalProfile::default()
                };
                let kernel = Kernel::new(profile.kernel_config());
                let now = time::OffsetDateTime::now_utc();
                let mut un = [0u8; 4];
                getrandom_fill(&mut un)?;
                let txn = Transaction {
                    amount_minor: 2500,
                    amount_other: 0,
                    currency: 156,
                    txn_type: 0,
                    date: TxnDate {
                        yy: (now.year().rem_euclid(100)) as u8,
                        mm: u8::from(now.month()),
                        dd: now.day(),
                    },
                    unpredictable_number: un,
                };
                let owner = phone.owner_finger();
                let outcome = {
                    let mut tap = phone.tap(Some(&owner))?;
                    kernel.run(&mut tap, &txn)?
                };
                ensure!(
                    matches!(outcome, Outcome::OnlineRequest { .. }),
                    "the card did not produce an ARQC"
                );
                let amount = Money::new(2500, Currency::CNY);
                let stan = 400_000 + u32::from(un[0]) * 256 + u32::from(un[1]);
                let genuine =
                    build_authorization(&profile, &outcome, amount, RequestIds { stan, now })?;
                let mut link = SwitchLink::connect(switch, Duration::from_secs(10))?;
                link.sign_on(
                    &profile.terminal_id,
                    &profile.acquirer_id,
                    key,
                    Duration::from_secs(10),
                )?;
                let a = link
                    .exchange(&genuine, Duration::from_secs(10))?
                    .context("no answer to the genuine request")?;
                // The attacker copied the ICC data off the wire and sends it in a request of its own.
                let later = now + time::Duration::seconds(7);
                let replayed = build_authorization(
                    &profile,
                    &outcome,
                    amount,
                    RequestIds {
                        stan: stan + 1,
                        now: later,
                    },
                )?;
                let b = link
                    .exchange(&replayed, Duration::from_secs(10))?
                    .context("no answer to the replay")?;
                Ok((
                    a.get_str(39).unwrap_or("").to_owned(),
                    b.get_str(39).unwrap_or("").to_owned(),
                ))
            })();
            (phone, r)
        })
        .await?;
        self.phone = Some(phone);
        let (first, second) = r?;
        self.story.say(format!(
            "Li pays 25.00 CNY at Corner Shop: response {first}."
        ));
        ensure!(
            first == "00",
            "the genuine payment was not approved ({first})"
        );
        self.story.say("Someone records that payment's cryptogram and sends it again in a new request of their own.");
        let meaning = paytap_iso8583::ResponseCode::from_code(&second)
            .map(|c| c.description())
            .unwrap_or("unknown");
        self.story.say(format!("The token service has already seen that ATC and cryptogram: response {second} ({meaning})."));
        ensure!(
            second != "00" && !second.is_empty(),
            "the replayed cryptogram was approved"
        );
        self.story
            .ok("the replay is rejected; only the genuine payment went through");
        Ok(())
    }

    /// The newest `n` transactions, once the network's events reached the wallet.
    async fn history(&self, n: usize) -> anyhow::Result<Vec<paytap_device::wallet::HistoryItem>> {
        // Approved: 12.50, 36.80, 25.00, 18.00; declined: 3000.00, replay, 88.00.
        let mut items = Vec::new();
        for _ in 0..300 {
            items = self.client.transactions(50).await?;
            if items.len() >= 7 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.story.say(format!(
            "The wallet received {} payment notifications from the network; the newest:",
            items.len()
        ));
        ensure!(
            items.len() >= 7,
            "the wallet's history has {} payments, expected 7",
            items.len()
        );
        ensure!(
            items.iter().filter(|t| t.approved).count() >= 4,
            "fewer than 4 approved payments in the history"
        );
        items.truncate(n);
        Ok(items)
    }
}

fn getrandom_fill(b: &mut [u8]) -> anyhow::Result<()> {
    getrandom::fill(b).map_err(|e| anyhow::anyhow!("random number generator: {e}"))
}

fn new_card(c: &LabCard) -> NewCardRequest {
    let e = c.expiry_yymm.as_str();
    NewCardRequest {
        pan: Secret::new(c.pan.clone()),
        expiry: format!(
            "{}/{}",
            e.get(2..4).unwrap_or("12"),
            e.get(..2).unwrap_or("30")
        ),
        cvv: Secret::new(c.cvv.clone()),
        cardholder_name: Secret::new("LI LEI".into()),
    }
}
