//! The demo's offers and risk chapter. ICBC mails Li a new debit card; it
//! takes the place of one of the phone's eight. Its first payment is a
//! supermarket basket: the bank's default offer takes 10 CNY off (the bank
//! pays it, on the ledger, out of the offer's budget) and, as the card's
//! first payment with paytap, 5% of the charge comes back as cashback. Then
//! a burst of taps with the same card: the risk engine's velocity rule
//! stops the sixth in a minute before the bank sees it, the wallet's
//! history tells Li why and the wallet asks the phone to verify: Li's
//! finger on the sensor arms the phone's next tap, which goes through. Last, an operator writes an offer in the
//! operator's console and pauses it (`console.rs`).

use anyhow::{Context, bail, ensure};
use std::time::Duration;

use paytap_device::Outcome;
use paytap_device::locate::{Owner, PaymentPrompt, listen};
use paytap_device::wallet::HistoryItem;
use paytap_types::{Currency, Money};
use serde::Deserialize;

use super::{Demo, cny, show};

/// ICBC's id in `banks.toml`: the funder of the default supermarket offer.
const ICBC: &str = "01020000";
/// The default supermarket offer (`crates/offers/src/offers.toml`).
const SUPERMARKET_OFFER: &str = "icbc-supermarket-10-off-50";
/// What the offer takes off, in fen.
const DISCOUNT_MINOR: i64 = 1_000;
/// The basket: above the offer's 50 CNY minimum.
const BASKET: &str = "68.00";
/// The first-payment cashback: 5% of the charge (68 - 10 CNY), in fen.
const CASHBACK_MINOR: i64 = 290;
/// Where the basket is paid (a supermarket, MCC 5411).
const BASKET_SHOP: &str = "Wumart Supermarket";
/// Where the burst is tapped.
const BURST_SHOP: &str = "Metro Kiosk";
/// The small taps of the burst.
const BURST_TAP: &str = "6.00";
/// Approved payments a card may make in a minute under the default
/// `card-burst` rule (`crates/risk/src/rules.toml`); the next is stepped up.
const BURST_ALLOWED: usize = 5;
/// The history page read: more than the whole story's payments.
const HISTORY_PAGE: u32 = 100;
/// How often, and how many times, the history is read while a payment's
/// notification is on its way to the wallet.
const HISTORY_POLL_EVERY: Duration = Duration::from_millis(10);
const HISTORY_POLLS: usize = 300;

#[derive(Deserialize)]
struct LabAccount {
    debits_posted: i64,
    credits_posted: i64,
}

#[derive(Deserialize)]
struct LabBudget {
    total_minor: i64,
    spent_minor: i64,
}

impl Demo {
    /// A discount, a cashback and a burst stopped (module documentation).
    pub(super) async fn offers_and_risk(&mut self) -> anyhow::Result<()> {
        self.story
            .title("Offers and risk: a bank's discount, a first-payment cashback, a burst stopped");
        let before = self.funder_spent().await?;
        let default = self
            .phone
            .as_ref()
            .context("no phone")?
            .cards()
            .into_iter()
            .find(|c| c.is_default)
            .context("the phone has no default card")?
            .token_ref;
        let last4 = self.new_icbc_card().await?;
        self.supermarket_basket(before, &last4).await?;
        self.points_redeemed().await?;
        self.burst(&last4).await?;
        self.operator_pauses_an_offer().await?;
        // The first default card pays the rest of the story.
        self.phone
            .as_mut()
            .context("no phone")?
            .set_default(&default)?;
        self.story.ok("the bank paid the discount, paytap the cashback; the risk engine stopped the burst before the bank saw it");
        Ok(())
    }

    /// ICBC mails a new debit card; it replaces one of the other banks'
    /// cards in the phone and becomes the card the phone pays with.
    /// Returns the new card's last four digits.
    async fn new_icbc_card(&mut self) -> anyhow::Result<String> {
        let card = self.issue(ICBC, "debit", 100_000, false).await?;
        let cards = self.client.cards(&self.phone_id).await?;
        let icbc_name = phone_bank(&self.banks, ICBC);
        let spare = cards
            .iter()
            .rev()
            .find(|c| !c.is_default && c.bank_name != icbc_name)
            .context("no card to make room with")?;
        self.client.remove_card(&self.phone_id, &spare.id).await?;
        self.add_card_quietly(&card).await?;
        let n = self.sync_phone().await?;
        ensure!(n == 8, "the phone should hold 8 cards, it holds {n}");
        let phone = self.phone.as_mut().context("no phone")?;
        let token = phone
            .cards()
            .into_iter()
            .find(|c| c.card_last4 == card.last4)
            .context("the new card is not in the phone")?
            .token_ref;
        phone.set_default(&token)?;
        self.story.say(format!(
            "ICBC mails Li a new debit card {}; it goes into the phone in place of the {} card, and Li makes it the one to pay with.",
            card.masked(),
            spare.bank_name
        ));
        Ok(card.last4.clone())
    }

    /// The new card's first payment, at a supermarket: 10 CNY off and 5%
    /// back, shown in the history, paid by the funders on the ledger.
    async fn supermarket_basket(&mut self, spent_before: i64, last4: &str) -> anyhow::Result<()> {
        self.story.say(format!(
            "At Wumart Supermarket Li pays a {BASKET} CNY basket. ICBC's offer: 10 CNY off 50 CNY or more at supermarkets, once a day."
        ));
        let r = self.tap(true, BASKET, BASKET_SHOP).await?;
        self.receipt(&r);
        ensure!(r.approved, "the basket was not approved: {}", r.meaning);
        let t = self
            .payment_where(|t| {
                t.approved && t.card_last4 == last4 && t.merchant_name == BASKET_SHOP
            })
            .await?;
        let saved = t.saved.map_or(0, |m| m.minor);
        let earned = t.earned.map_or(0, |m| m.minor);
        ensure!(
            saved == DISCOUNT_MINOR && earned == CASHBACK_MINOR,
            "the basket saved {saved} and earned {earned} fen, not {DISCOUNT_MINOR} and {CASHBACK_MINOR}"
        );
        let charged = (cny(BASKET)?.minor) - saved;
        self.story.say(format!(
            "The wallet's history: {} at {}, saved {}, earned {} — the bank held only {}; the 5% back is the card's first payment with paytap.",
            t.amount_display,
            t.merchant_name,
            show(Money::new(saved, Currency::CNY)),
            show(Money::new(earned, Currency::CNY)),
            show(Money::new(charged, Currency::CNY))
        ));
        let spent = self.funder_spent().await?;
        ensure!(
            spent - spent_before == DISCOUNT_MINOR,
            "ICBC's offer account moved {} fen, not the discount",
            spent - spent_before
        );
        let budget: LabBudget = self
            .lab
            .get(&format!("/emulator/v1/offers/{SUPERMARKET_OFFER}/budget"))
            .await?;
        self.story.say(format!(
            "On the ledger, offers:bank:{ICBC}:CNY paid the 10 CNY; the offer's budget has {} of {} spent.",
            show(Money::new(budget.spent_minor, Currency::CNY)),
            show(Money::new(budget.total_minor, Currency::CNY))
        ));
        Ok(())
    }

    /// Taps in quick succession with the same card until the risk engine
    /// steps one up; it must be the one after [`BURST_ALLOWED`].
    async fn burst(&mut self, last4: &str) -> anyhow::Result<()> {
        self.story.say(format!(
            "Then the phone is tapped again and again, {BURST_TAP} CNY each time: below the terminal's limit, so nobody touches the sensor."
        ));
        // The basket was the card's first payment in this minute.
        for n in 2..=BURST_ALLOWED {
            let r = self.tap(false, BURST_TAP, BURST_SHOP).await?;
            ensure!(
                r.approved,
                "tap {n} of the burst was declined: {}",
                r.meaning
            );
        }
        let r = self.tap(false, BURST_TAP, BURST_SHOP).await?;
        self.receipt(&r);
        if r.approved {
            bail!("the risk engine let a sixth payment in a minute through");
        }
        ensure!(
            r.response_code.as_deref() == Some("1A"),
            "the burst was stopped with {} instead of a step-up",
            r.response_code.as_deref().unwrap_or("-")
        );
        let t = self
            .payment_where(|t| {
                !t.approved && t.card_last4 == last4 && t.merchant_name == BURST_SHOP
            })
            .await?;
        ensure!(
            !t.approved && t.reason.contains("velocity"),
            "the history does not say why: {}",
            t.reason
        );
        self.story.say(format!(
            "{BURST_ALLOWED} payments in a minute went through; the next is stopped before the bank sees it. The wallet's history says: {}",
            t.reason
        ));
        self.verify_on_phone(&t.id).await?;
        // The owner's finger, given on the phone, meets the biometric step-up.
        self.story.say(
            "Li taps once more without touching the sensor again: the cryptogram vouches for the fingerprint, which is what the rule asked for.",
        );
        let r = self.tap(false, BURST_TAP, BURST_SHOP).await?;
        self.receipt(&r);
        ensure!(
            r.approved,
            "the owner's fingerprint did not meet the step-up: {}",
            r.meaning
        );
        Ok(())
    }

    /// The wallet asks the phone to verify the stepped-up payment
    /// `payment_id` (its command is queued with the payment); Li touches
    /// the sensor, and the phone keeps the fingerprint for its next tap.
    async fn verify_on_phone(&mut self, payment_id: &str) -> anyhow::Result<()> {
        let mut phone = self.phone.take().context("no phone")?;
        let finger = phone.owner_finger();
        let mut asked: Option<PaymentPrompt> = None;
        let mut answer: Option<Outcome> = None;
        let heard = listen(
            &mut phone,
            &self.client,
            Some(1),
            &mut Owner {
                ring: &mut || {},
                touch: &mut |p| {
                    asked = Some(p.clone());
                    Some(finger.clone())
                },
            },
            &mut |_, o| answer = Some(o.clone()),
        )
        .await;
        self.phone = Some(phone);
        heard?;
        let p = asked.context("the phone was not asked to verify the payment")?;
        ensure!(
            p.payment_id == payment_id && answer == Some(Outcome::Verified),
            "the phone answered {answer:?} for payment {}, not verified for {payment_id}",
            p.payment_id
        );
        self.story.say(format!(
            "The wallet asks the phone at once: \"verify it's you: {} {} at {}\". Li touches the sensor; the phone answers verified.",
            p.amount_display,
            p.amount.currency.code(),
            p.merchant_name
        ));
        Ok(())
    }

    /// The newest payment in the wallet's history that `wanted` picks, once
    /// it is there (the network tells the wallet after it answers the
    /// terminal, so a payment's notification may still be on its way).
    async fn payment_where(
        &self,
        wanted: impl Fn(&HistoryItem) -> bool,
    ) -> anyhow::Result<HistoryItem> {
        for _ in 0..HISTORY_POLLS {
            let items = self.client.transactions(HISTORY_PAGE).await?;
            if let Some(t) = items.into_iter().find(|t| wanted(t)) {
                return Ok(t);
            }
            tokio::time::sleep(HISTORY_POLL_EVERY).await;
        }
        bail!("the payment never reached the wallet's history")
    }

    /// What ICBC's offer account has paid out so far, in fen (zero before
    /// its first payment).
    async fn funder_spent(&self) -> anyhow::Result<i64> {
        let id = format!("offers:bank:{ICBC}:CNY");
        match self
            .lab
            .get::<LabAccount>(&format!("/emulator/v1/ledger/accounts/{id}"))
            .await
        {
            Ok(a) => Ok(a.debits_posted - a.credits_posted),
            Err(e) => Err(e.context(format!("the ledger account {id}"))),
        }
    }
}

/// A bank's name as the wallet shows it.
fn phone_bank(banks: &[super::LabBank], id: &str) -> String {
    banks
        .iter()
        .find(|b| b.id == id)
        .map(|b| b.name.clone())
        .unwrap_or_default()
}
