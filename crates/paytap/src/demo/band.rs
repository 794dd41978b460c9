//! The demo's QR chapter, continued: the band pays offline. Li opens the
//! band's offline account (a key made in the band's secure element, a
//! limit), funds it with a card payment to the band funding merchant (a
//! real authorization through the network), and the band syncs to get its
//! certificate. The band then pays twice at a register that has no
//! network: each code is read from a PNG and verified offline. A copy of
//! the second code is refused at that register and taken by a second one,
//! which has not seen it. The registers upload later: both of Li's
//! payments settle from the band account to the shop, the copy is caught
//! as a double spend (paid from the held funds, the band's credential
//! revoked and on the registers' revocation list), and the ledger still
//! sums to zero.

use anyhow::{Context, ensure};
use base64::Engine as _;
use paytap_acquirer::Merchant;
use paytap_acquirer::bands::upload::{BandOperation, BandResult};
use paytap_device::scan::post_payment;
use paytap_qr::offline::RegisterVerifier;
use paytap_types::{Currency, Money};
use reqwest::Method;
use serde_json::{Value, json};

use super::{Demo, getrandom_fill, show};
use crate::platform::bands::{
    BAND_BATCHES_PATH, BAND_REVOCATIONS_PATH, BANDS_PATH, FUNDING_MERCHANT, band_id_of,
};
use crate::platform::merchants::MERCHANTS_PATH;
use crate::register::AcquirerClient;

/// The band account's limit, in fen (the default, 500 CNY).
const BAND_LIMIT_MINOR: i64 = 50_000;
/// What Li's card puts on it, in fen.
const FUNDING_MINOR: u64 = 20_000;
/// The band's two offline payments, in fen.
const BAND_SALES_MINOR: [u64; 2] = [1_200, 850];

impl Demo {
    /// The band's offline payments (module documentation).
    pub(super) async fn band_pays_offline(
        &mut self,
        api: &AcquirerClient,
        shop: &Merchant,
    ) -> anyhow::Result<()> {
        self.story
            .title("A band pays offline, the register uploads later");
        let band_hex = self.open_band_account().await?;
        self.fund_band(api, &band_hex).await?;
        self.sync_band(&band_hex).await?;
        let (_, v) = api.call("GET", BAND_REVOCATIONS_PATH, None).await?;
        let key: [u8; 32] = hex::decode(v["platform_key"].as_str().unwrap_or_default())?
            .try_into()
            .map_err(|_| anyhow::anyhow!("the platform key is 32 bytes"))?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&key)?;
        self.story.say("Both tills of the shop downloaded the platform's key and the revocation list earlier; now they are offline.");
        let mut till_1 = RegisterVerifier::new(key);
        let mut till_2 = RegisterVerifier::new(key);
        let mut queue_1 = Vec::new();
        let now = paytap_store::now_millis() / 1000;
        let mut last = String::new();
        for (i, amount) in BAND_SALES_MINOR.into_iter().enumerate() {
            let band = self.band.as_mut().context("no band")?;
            let code = band.band_code(now, amount)?.to_base64();
            let png = self.dir.join(format!("band-code-{}.png", i + 1));
            std::fs::write(&png, paytap_qrimage::render_png(&code)?)?;
            let read = paytap_qrimage::read_png(&std::fs::read(&png)?)?;
            let a = till_1.verify_text(&read, now)?;
            self.story.say(format!(
                "The band shows code #{} ({}); till 1 reads the image and verifies it offline: paid {}, {} of the band's {} spent at this till.",
                a.counter,
                png.display(),
                show(cny(amount)?),
                show(cny(a.spent)?),
                show(cny(a.limit)?)
            ));
            queue_1.push(op(shop, "till-1", &read, amount));
            last = read;
        }
        let again = till_1
            .verify_text(&last, now)
            .err()
            .context("till 1 took the same code twice")?;
        self.story.say(format!(
            "A copy of code #2 shown at till 1 again is refused: {again}."
        ));
        till_2.verify_text(&last, now)?;
        self.story.say("The same copy at till 2, which has not seen it, passes its offline checks: only the platform can catch it.");
        let queue_2 = vec![op(shop, "till-2", &last, BAND_SALES_MINOR[1])];
        let first = upload(api, &queue_1).await?;
        ensure!(
            first.iter().all(|r| r.paid && !r.double_spend),
            "till 1's upload: {first:?}"
        );
        self.story.say(format!(
            "Back online, till 1 uploads its batch: both payments settle from the band account to {} ({}).",
            shop.account,
            first.iter().filter_map(|r| r.transfer.as_deref()).map(short_transfer).collect::<Vec<_>>().join(", ")
        ));
        let caught = upload(api, &queue_2).await?;
        let c = caught.first().context("till 2's result")?;
        ensure!(c.double_spend, "the copied code was not caught: {c:?}");
        self.story.say(format!(
            "Till 2 uploads the copy: caught as a double spend ({}), paid from {}; the band's credential is revoked.",
            c.reason.as_deref().unwrap_or("-"),
            c.source.map_or("nobody", |s| s.as_str())
        ));
        let (_, v) = api.call("GET", BAND_REVOCATIONS_PATH, None).await?;
        let listed = v["revoked"]
            .as_array()
            .is_some_and(|r| r.iter().any(|b| b == band_hex.as_str()));
        ensure!(listed, "the band is not on the revocation list: {v}");
        self.story.say("The registers' next download of the revocation list names the band: it pays nowhere offline any more.");
        let view = self.band_view(&band_hex).await?;
        self.story.say(format!(
            "The band account: limit {}, balance {}, status {} ({}).",
            show(cny(view["limit_minor"].as_i64().unwrap_or(0))?),
            show(cny(view["balance_minor"].as_i64().unwrap_or(0))?),
            view["status"].as_str().unwrap_or("-"),
            view["status_reason"].as_str().unwrap_or("-")
        ));
        let report = self.lab.ledger().await?;
        let even = report
            .totals
            .iter()
            .all(|t| t.debits_posted == t.credits_posted && t.debits_pending == t.credits_pending);
        ensure!(even, "the ledger does not sum to zero");
        self.story.ok("the band paid offline twice, the uploads settled each once, the copy was caught, and the ledger sums to zero");
        Ok(())
    }

    async fn open_band_account(&mut self) -> anyhow::Result<String> {
        let band = self.band.as_mut().context("no band")?;
        let key = band.band_key()?;
        let body = json!({ "device_id": self.band_id, "band_key": hex::encode(key), "limit_minor": BAND_LIMIT_MINOR });
        let v = self
            .client
            .json(Method::POST, BANDS_PATH, Some(body))
            .await?;
        self.story.say(format!(
            "Li opens the band's offline account on the wallet with a limit of {}; the band made its own signing key in its secure element.",
            show(cny(v["limit_minor"].as_i64().unwrap_or(0))?)
        ));
        Ok(hex::encode(band_id_of(&self.band_id)))
    }

    /// Li's phone pays the band funding merchant by card, and the payment
    /// funds the band account.
    async fn fund_band(&mut self, api: &AcquirerClient, band_hex: &str) -> anyhow::Result<()> {
        let body = json!({ "id": FUNDING_MERCHANT, "name": "paytap band accounts", "city": "Beijing", "mcc": "6540" });
        let (_, m) = api.call("POST", MERCHANTS_PATH, Some(&body)).await?;
        let funding: Merchant =
            serde_json::from_value(m).context("reading the funding merchant")?;
        let band_id = paytap_acquirer::bands::parse_band_id(band_hex)?;
        let reference = paytap_acquirer::bands::funding_reference(&band_id);
        let code = funding.dynamic_code(FUNDING_MINOR, &reference)?;
        let chip = self.phone_chip_data(cny(FUNDING_MINOR)?)?;
        let mut k = [0u8; 8];
        getrandom_fill(&mut k)?;
        let key = format!("band-fund-{}", hex::encode(k));
        let o = post_payment(&self.lab.base, &key, &code, FUNDING_MINOR, &chip).await?;
        ensure!(o.approved, "the band's funding was declined: {}", o.meaning);
        let path = format!("{BANDS_PATH}/{band_hex}/fund");
        let v = self
            .client
            .json(Method::POST, &path, Some(json!({ "payment_key": key })))
            .await?;
        self.story.say(format!(
            "Li's phone pays {} by card to the band funding merchant (a 0200 through the switch: APPROVED); the band account now holds {} on the ledger.",
            show(cny(FUNDING_MINOR)?),
            show(cny(v["balance_minor"].as_i64().unwrap_or(0))?)
        ));
        Ok(())
    }

    async fn sync_band(&mut self, band_hex: &str) -> anyhow::Result<()> {
        let band = self.band.as_mut().context("no band")?;
        let reported = band.band_unsynced();
        let path = format!("{BANDS_PATH}/{band_hex}/sync");
        let v = self
            .client
            .json(Method::POST, &path, Some(json!({ "reported": reported })))
            .await?;
        let cert = base64::engine::general_purpose::STANDARD
            .decode(v["certificate"].as_str().context("no certificate")?)?;
        band.band_install(&cert, reported.len())?;
        self.story.say(format!(
            "The band syncs through the phone and installs its certificate #{}: {} offline until the next sync.",
            v["serial"],
            show(cny(v["limit_minor"].as_i64().unwrap_or(0))?)
        ));
        Ok(())
    }

    async fn band_view(&self, band_hex: &str) -> anyhow::Result<Value> {
        let all = self.client.json(Method::GET, BANDS_PATH, None).await?;
        all["bands"]
            .as_array()
            .and_then(|b| b.iter().find(|b| b["band_id"] == band_hex))
            .cloned()
            .context("the band account is not listed")
    }
}

fn cny(minor: impl TryInto<i64>) -> anyhow::Result<Money> {
    let minor = minor
        .try_into()
        .map_err(|_| anyhow::anyhow!("amount out of range"))?;
    Ok(Money::new(minor, Currency::CNY))
}

fn op(shop: &Merchant, till: &str, code: &str, amount: u64) -> BandOperation {
    BandOperation {
        register: till.into(),
        merchant: shop.spec.id.clone(),
        code: code.into(),
        amount_minor: amount,
        taken_at: paytap_store::now_millis() / 1000,
    }
}

async fn upload(api: &AcquirerClient, ops: &[BandOperation]) -> anyhow::Result<Vec<BandResult>> {
    let mut id = [0u8; 8];
    getrandom_fill(&mut id)?;
    let path = format!("{BAND_BATCHES_PATH}/demo-{}", hex::encode(id));
    let (_, v) = api
        .call("PUT", &path, Some(&json!({ "operations": ops })))
        .await?;
    Ok(serde_json::from_value(v["results"].clone())?)
}

/// A band operation's ledger transfer id as the story shows it: the band
/// id cut to its first eight hex digits (`band-op:8fa1bda7…:1:…`), so no
/// long run of digits that looks like a card number is printed.
fn short_transfer(id: &str) -> String {
    let mut parts: Vec<String> = id.split(':').map(str::to_owned).collect();
    if let Some(band) = parts.get_mut(1).filter(|b| b.len() > 8) {
        band.truncate(8);
        band.push('…');
    }
    parts.join(":")
}
