//! The demo's QR chapter: scan to pay. A tea house signs up with the demo
//! acquirer through the merchant API, its register shows a dynamic code
//! (rendered as a real PNG), Li's phone reads the image, shows merchant and
//! amount, pays with the owner's finger through the acquirer's scan-to-pay
//! endpoint (a `0200` with DE 22 `031` through the switch), and the
//! merchant's settlement account shows the money. Then show to pay: Li's
//! phone shows a one-time code (an EMVCo consumer-presented code, as a
//! PNG), the register reads the image and takes the next sale through the
//! acquirer's signed endpoint (a `0200` with DE 22 `032`), and the same
//! code shown again is refused. The chapter ends with the band paying
//! offline (`demo/band.rs`).

use anyhow::{Context, ensure};
use paytap_acquirer::Merchant;
use paytap_device::scan::{ScanCryptogram, make_cryptogram, post_payment};
use paytap_emv::TxnDate;
use paytap_qr::mpm::Mpm;
use paytap_types::Money;
use serde_json::json;

use super::{Demo, getrandom_fill, show};
use crate::platform::merchants::MERCHANTS_PATH;
use crate::platform::presented::PRESENTED_PAYMENTS_PATH;
use crate::register::AcquirerClient;

/// The sale the tea house rings up, in fen.
const SALE_MINOR: u64 = 3_600;
/// The second sale, paid with the code Li's phone shows, in fen.
const SHOWN_SALE_MINOR: u64 = 2_800;

impl Demo {
    /// Scan a shop's dynamic code and pay it (module documentation).
    pub(super) async fn scan_to_pay(&mut self) -> anyhow::Result<()> {
        self.story
            .title("Pay by QR: scan the shop's code, show your own");
        let api = AcquirerClient::with_key(
            &self.lab.base,
            paytap_types::DEMO_ACQUIRER_ID,
            self.acquirer_key.clone(),
        )?;
        let shop = self.sign_up_shop(&api).await?;
        let code = shop.dynamic_code(SALE_MINOR, "T-0001")?;
        let png = self.dir.join("tea-house-sale.png");
        std::fs::write(&png, paytap_qrimage::render_png(&code)?)
            .with_context(|| format!("writing {}", png.display()))?;
        self.story.say(format!(
            "The register rings up a sale and shows a dynamic EMVCo code (amount and bill T-0001 in it): {}",
            png.display()
        ));
        let read = paytap_qrimage::read_png(&std::fs::read(&png)?)?;
        let mpm = Mpm::parse(&read).context("the phone could not read the code")?;
        let amount = Money::new(
            i64::try_from(mpm.amount.context("a dynamic code without its amount")?)?,
            shop.spec.currency,
        );
        self.story.say(format!(
            "Li's phone scans it and shows: {}, {}: {}. Li touches the fingerprint sensor.",
            mpm.merchant_name,
            mpm.merchant_city,
            show(amount)
        ));
        let chip = self.phone_chip_data(amount)?;
        let mut key = [0u8; 8];
        getrandom_fill(&mut key)?;
        let o = post_payment(
            &self.lab.base,
            &format!("demo-{}", hex::encode(key)),
            &read,
            SALE_MINOR,
            &chip,
        )
        .await?;
        ensure!(
            o.approved,
            "the scanned payment was declined: {}",
            o.meaning
        );
        self.story.say(format!(
            "The secure element made a cryptogram for the QR channel (ATC {}); the acquirer sent a 0200 with DE 22 031 through the switch: APPROVED {}.",
            chip.atc,
            o.response_code
        ));
        let path = format!("{MERCHANTS_PATH}/{}/settlement", shop.spec.id);
        let (_, s) = api.call("GET", &path, None).await?;
        let credited = s["credits_minor"].as_i64().unwrap_or(-1);
        ensure!(
            credited == amount.minor,
            "the merchant's settlement account shows {s}"
        );
        self.story.say(format!(
            "{} now holds {} from Li's bank's settlement account (transfer {}).",
            shop.account,
            show(Money::new(credited, shop.spec.currency)),
            o.transfer.as_deref().unwrap_or("-")
        ));
        self.story.ok(
            "the shop's code was paid once and the merchant's settlement account shows the money",
        );
        self.show_to_pay(&api, &shop).await
    }

    /// Li's phone shows a code and the tea house's register takes it
    /// (module documentation).
    async fn show_to_pay(&mut self, api: &AcquirerClient, shop: &Merchant) -> anyhow::Result<()> {
        self.story
            .say("The next customer, Li again, pays by showing a code instead.");
        let phone = self.phone.as_mut().context("no phone")?;
        let now = time::OffsetDateTime::now_utc();
        let (code, atc) = crate::device::show::make_code(phone, &now, shop.spec.currency)?;
        let png = self.dir.join("li-phone-code.png");
        std::fs::write(&png, paytap_qrimage::render_png(&code)?)
            .with_context(|| format!("writing {}", png.display()))?;
        self.story.say(format!(
            "Li touches the fingerprint sensor and the phone shows a one-time code (token, ATC {atc}, a cryptogram bound to this minute): {}",
            png.display()
        ));
        let read = paytap_qrimage::read_png(&std::fs::read(&png)?)?;
        let mut key = [0u8; 8];
        getrandom_fill(&mut key)?;
        let body = json!({
            "idempotency_key": format!("till-{}", hex::encode(key)),
            "merchant": shop.spec.id, "amount_minor": SHOWN_SALE_MINOR, "code": read,
        });
        let (_, o) = api
            .call("POST", PRESENTED_PAYMENTS_PATH, Some(&body))
            .await?;
        ensure!(o["approved"] == true, "the shown code was declined: {o}");
        let amount = Money::new(i64::try_from(SHOWN_SALE_MINOR)?, shop.spec.currency);
        self.story.say(format!(
            "The register scans it and rings up {}; the acquirer sent a 0200 with DE 22 032 carrying the code's chip data: APPROVED {}.",
            show(amount),
            o["response_code"].as_str().unwrap_or("-")
        ));
        getrandom_fill(&mut key)?;
        let again = json!({
            "idempotency_key": format!("till-{}", hex::encode(key)),
            "merchant": shop.spec.id, "amount_minor": SHOWN_SALE_MINOR, "code": read,
        });
        let refused = api
            .call("POST", PRESENTED_PAYMENTS_PATH, Some(&again))
            .await;
        let why = match refused {
            Ok((_, o)) => anyhow::bail!("the same code was taken twice: {o}"),
            Err(e) => e.to_string(),
        };
        self.story.say(format!(
            "A copy of the same code at the till is refused: {why}"
        ));
        self.story
            .ok("the phone's code paid once; shown again, it was refused");
        self.band_pays_offline(api, shop).await
    }

    /// The chip data Li's phone makes for a scanned code of `amount`,
    /// with the owner's finger.
    pub(super) fn phone_chip_data(&mut self, amount: Money) -> anyhow::Result<ScanCryptogram> {
        let phone = self.phone.as_mut().context("no phone")?;
        let owner = phone.owner_finger();
        let mut un = [0u8; 4];
        getrandom_fill(&mut un)?;
        let now = time::OffsetDateTime::now_utc();
        let date = TxnDate {
            yy: now.year().rem_euclid(100) as u8,
            mm: u8::from(now.month()),
            dd: now.day(),
        };
        Ok(make_cryptogram(phone, Some(&owner), amount, date, un)?)
    }

    /// The tea house signs up with the demo acquirer (a fresh id, so a
    /// running platform may hold earlier runs' shops).
    async fn sign_up_shop(&mut self, api: &AcquirerClient) -> anyhow::Result<Merchant> {
        let mut tag = [0u8; 4];
        getrandom_fill(&mut tag)?;
        let body = json!({
            "id": format!("TEA-{}", hex::encode_upper(tag)),
            "name": "Old Street Tea House", "city": "Shanghai", "mcc": "5814",
        });
        let (_, m) = api.call("POST", MERCHANTS_PATH, Some(&body)).await?;
        let m: Merchant = serde_json::from_value(m).context("reading the merchant")?;
        self.story.say(format!(
            "{} in {} signs up with its acquirer as merchant {}; it is paid into {}.",
            m.spec.name, m.spec.city, m.spec.id, m.account
        ));
        Ok(m)
    }
}
