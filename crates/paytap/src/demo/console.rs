//! The demo's operator: someone who runs paytap's offers signs in to the
//! operator's console (its own login, not an account holder's), writes a
//! new offer, sees a payment get it, pauses it, and the next payment pays
//! full price. All through the console's JSON API, as a person's browser
//! or a script would.

use anyhow::ensure;
use paytap_device::wallet::HistoryItem;
use serde::Deserialize;
use std::time::Duration;

use super::Demo;

/// The demo's operator.
const OPERATOR: &str = "ops@paytap.example";
/// The shop the offer is for (the demo terminals' DE 42).
const SHOP_ID: &str = "PAYTAPMERCH0001";
/// Where the demo pays.
const SHOP: &str = "Metro Kiosk";
/// What the offer takes off, in fen.
const OFFER_MINOR: i64 = 100;
/// A small payment at the kiosk.
const TAP: &str = "6.00";
/// The history page read: more than the whole story's payments.
const HISTORY_PAGE: u32 = 100;
/// How often, and how many times, the history is read while a payment's
/// notification is on its way to the wallet.
const HISTORY_POLL_EVERY: Duration = Duration::from_millis(10);
const HISTORY_POLLS: usize = 300;
/// The offer the operator writes.
const OFFER_ID: &str = "kiosk-1-off";

fn offer_toml() -> String {
    format!(
        r#"id = "{OFFER_ID}"
title = "1 CNY off every payment at the kiosk"
funder = {{ kind = "merchant", id = "{SHOP_ID}" }}
order = 5
currency = "CNY"
[eligible]
merchants = ["{SHOP_ID}"]
[benefit]
kind = "discount"
fixed = "1.00"
[limits]
budget = "1000.00"
"#
    )
}

#[derive(Deserialize)]
struct ConsoleSession {
    token: String,
}

#[derive(Deserialize)]
struct ConsoleOffer {
    paused: bool,
    spent_minor: i64,
}

impl Demo {
    /// The operator writes an offer, a payment gets it, the operator
    /// pauses it, the next payment pays full price.
    pub(super) async fn operator_pauses_an_offer(&mut self) -> anyhow::Result<()> {
        let token = self.operator_signs_in().await?;
        let _: ConsoleOffer = self
            .console(
                reqwest::Method::POST,
                "/console/api/v1/offers",
                &token,
                offer_toml(),
            )
            .await?;
        self.story.say(format!(
            "An operator signs in to the operator's console (a login of its own; Li's wallet session would be refused) and writes an offer: 1 CNY off every payment at {SHOP}, paid by the shop."
        ));
        let saved = self.kiosk_payment().await?;
        ensure!(
            saved == OFFER_MINOR,
            "the new offer saved {saved} fen, not {OFFER_MINOR}"
        );
        let path = format!("/console/api/v1/offers/{OFFER_ID}/pause");
        let paused: ConsoleOffer = self
            .console(reqwest::Method::POST, &path, &token, String::new())
            .await?;
        ensure!(paused.paused, "the console did not pause the offer");
        let saved = self.kiosk_payment().await?;
        ensure!(saved == 0, "a paused offer still saved {saved} fen");
        self.story.say(format!(
            "With the offer, {TAP} CNY cost 5.00; the operator pauses it, and the next {TAP} CNY is charged in full. The shop has paid {} fen for it.",
            paused.spent_minor
        ));
        Ok(())
    }

    /// An operator for the demo (the lab's power), signed in.
    async fn operator_signs_in(&self) -> anyhow::Result<String> {
        let mut secret = [0u8; 16];
        super::getrandom_fill(&mut secret)?;
        let password = hex::encode(secret);
        let put = self
            .lab
            .http
            .put(format!(
                "{}/emulator/v1/console/operators/{OPERATOR}",
                self.lab.base
            ))
            .json(&serde_json::json!({ "password": password }))
            .send()
            .await?;
        ensure!(put.status().is_success(), "no operator: {}", put.status());
        let r = self
            .lab
            .http
            .post(format!("{}/console/api/v1/sessions", self.lab.base))
            .json(&serde_json::json!({ "login": OPERATOR, "password": password }))
            .send()
            .await?;
        ensure!(
            r.status().is_success(),
            "the operator was not let in: {}",
            r.status()
        );
        Ok(r.json::<ConsoleSession>().await?.token)
    }

    /// One console API call with the operator's token.
    async fn console<T: for<'de> Deserialize<'de>>(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: String,
    ) -> anyhow::Result<T> {
        let r = self
            .lab
            .http
            .request(method, format!("{}{path}", self.lab.base))
            .bearer_auth(token)
            .body(body)
            .send()
            .await?;
        let status = r.status();
        ensure!(
            status.is_success(),
            "{path}: {status}: {}",
            r.text().await.unwrap_or_default()
        );
        Ok(r.json().await?)
    }

    /// A fingerprint-verified payment at the kiosk; what it saved, in fen,
    /// once the wallet's history has it.
    async fn kiosk_payment(&mut self) -> anyhow::Result<i64> {
        let before = self.kiosk_payments().await?.len();
        let r = self.tap(true, TAP, SHOP).await?;
        self.receipt(&r);
        ensure!(
            r.approved,
            "the kiosk payment was not approved: {}",
            r.meaning
        );
        for _ in 0..HISTORY_POLLS {
            let now = self.kiosk_payments().await?;
            if now.len() > before {
                return Ok(now[0].saved.map_or(0, |m| m.minor));
            }
            tokio::time::sleep(HISTORY_POLL_EVERY).await;
        }
        anyhow::bail!("the kiosk payment never reached the wallet's history")
    }

    /// The approved kiosk payments in the history, newest first.
    async fn kiosk_payments(&self) -> anyhow::Result<Vec<HistoryItem>> {
        let items = self.client.transactions(HISTORY_PAGE).await?;
        Ok(items
            .into_iter()
            .filter(|t| t.approved && t.merchant_name == SHOP)
            .collect())
    }
}
