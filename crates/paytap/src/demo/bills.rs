//! The demo's bills and recharge step, in India: Asha, an India account
//! with ₹10,000 at ICICI, binds her phone's UPI app and sets her UPI PIN,
//! fetches her BESCOM electricity bill and pays it over UPI: PayU sends a
//! collect request to her UPI ID, which she approves in the app with her
//! PIN (BESCOM then confirms with its reference number), and her first bill
//! paid with UPI earns paytap's ₹50 cashback (the `in` region's offers,
//! credited on the INR ledger once the payment succeeded); then she
//! recharges a Jio number whose series names Jio and Karnataka, approved
//! the same way (a recharge is no bill: no cashback). Her balance and the
//! INR ledger are checked after.

use anyhow::{Context, ensure};
use paytap_types::{Currency, Money};
use serde::Deserialize;
use serde_json::{Value, json};

use super::india::UpiPhone;
use super::{Demo, show};

/// ICICI Bank's id in `banks.toml`: Asha's bank.
const ICICI: &str = "63560001";
/// What Asha has at ICICI, in paise.
const OPENING_PAISE: i64 = 1_000_000;
/// Her mobile number, which her bank account and her UPI binding share.
const ASHA_MOBILE: &str = "9876543210";
/// Her BESCOM account (the biller's 10-digit account id; the emulated
/// BESCOM has it in the name of Asha Rao).
const BESCOM_ACCOUNT: &str = "4417730923";
/// A Jio number of the Karnataka circle (its series, 7019).
const JIO_NUMBER: &str = "7019555123";
/// The plan: ₹299, 28 days.
const JIO_PLAN: &str = "JIO299";
/// The cashback on a first bill paid with UPI (`offers.toml`), in paise.
const FIRST_BILL_CASHBACK_PAISE: i64 = 5_000;

/// An India account holder, her phone's UPI app bound and her PIN set.
pub(super) struct IndiaPayer {
    /// Her session token.
    token: String,
    /// Her phone, with her UPI ID.
    phone: UpiPhone,
    /// Her bank account, as the lab opened it.
    ifsc: String,
    account_number: String,
}

fn inr(paise: i64) -> String {
    show(Money::new(paise, Currency::INR))
}

impl Demo {
    /// `POST` to the platform (wallet API or lab) as `token`; the JSON
    /// answer of a success.
    async fn post_json(
        &self,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: Value,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .lab
            .http
            .post(format!("{}{path}", self.lab.base))
            .json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        let r = req.send().await?;
        let status = r.status();
        let v: Value = r
            .json()
            .await
            .with_context(|| format!("{path}: {status}"))?;
        ensure!(
            status.is_success(),
            "{path}: {status} {}",
            v["error"]["message"]
        );
        Ok(v)
    }

    async fn get_json(&self, path: &str, token: &str) -> anyhow::Result<Value> {
        let r = self
            .lab
            .http
            .get(format!("{}{path}", self.lab.base))
            .bearer_auth(token)
            .send()
            .await?;
        let status = r.status();
        ensure!(status.is_success(), "{path}: {status}");
        Ok(r.json().await?)
    }

    /// Asha: an account at ICICI (with its debit card), an India wallet
    /// account, her phone's UPI app bound by her mobile number with a UPI
    /// ID, and her UPI PIN set with the bank's OTP.
    pub(super) async fn india_payer(&mut self) -> anyhow::Result<IndiaPayer> {
        let account = self
            .lab_post(
                "/emulator/v1/upi/accounts",
                json!({ "bank_id": ICICI, "holder": "Asha Rao", "mobile": ASHA_MOBILE,
                        "opening_paise": OPENING_PAISE }),
            )
            .await?;
        let phone = self.upi_phone("asha", ASHA_MOBILE).await?;
        self.set_upi_pin("Asha", &phone, &account).await?;
        let token = phone
            .client
            .session_token()
            .context("signed in")?
            .to_owned();
        let text = |k: &str| {
            account[k]
                .as_str()
                .map(str::to_owned)
                .context("the lab's account")
        };
        Ok(IndiaPayer {
            token,
            ifsc: text("ifsc")?,
            account_number: text("account_number")?,
            phone,
        })
    }

    /// Asha approves PayU's collect request for `paid` (a receipt still
    /// being charged) in her UPI app; the receipt after it, and the
    /// cashback the UPI payment earned (paise, `None` for none).
    async fn approve_bill(
        &self,
        asha: &IndiaPayer,
        paid: &Value,
    ) -> anyhow::Result<(Value, Option<i64>)> {
        let id = paid["payment_id"].as_str().context("a payment id")?;
        ensure!(
            paid["state"] == "charging",
            "{id} was {} before Asha approved it",
            paid["state"]
        );
        let answer = self.approve_collect(&asha.phone, id).await?;
        ensure!(answer["status"] == "success", "approving {id}: {answer}");
        let receipt = self
            .get_json(&format!("/api/v1/bills/receipts/{id}"), &asha.token)
            .await?;
        Ok((receipt, answer["earned_paise"].as_i64()))
    }

    /// The step (module documentation).
    pub(super) async fn bills_and_recharge(&mut self, asha: &IndiaPayer) -> anyhow::Result<()> {
        self.story
            .title("In India: an electricity bill and a Jio recharge, paid over UPI");
        self.story.say(format!(
            "Asha (an India account: her data stays in the in region's database) pays from {} at ICICI, {} in the account.",
            asha.phone.vpa,
            inr(OPENING_PAISE)
        ));
        let t = asha.token.as_str();
        let fetch = json!({ "biller_id": "BESCOM", "params": { "account_id": BESCOM_ACCOUNT } });
        let bill = self
            .post_json("/api/v1/bills/fetch", Some(t), None, fetch)
            .await?;
        let amount = bill["amount"]["minor"].as_i64().context("bill amount")?;
        self.story.say(format!(
            "{} bills {} for {}: bill {} due {}.",
            bill["biller_name"].as_str().unwrap_or_default(),
            bill["customer_name"].as_str().unwrap_or_default(),
            inr(amount),
            bill["bill_number"].as_str().unwrap_or_default(),
            bill["due_date"].as_str().unwrap_or_default()
        ));
        let key = format!("bill-{}", bill["fetch_id"].as_str().unwrap_or_default());
        let pay = json!({ "fetch_id": bill["fetch_id"], "vpa": asha.phone.vpa });
        let asked = self
            .post_json("/api/v1/bills/payments", Some(t), Some(&key), pay)
            .await?;
        let (paid, earned) = self.approve_bill(asha, &asked).await?;
        ensure!(
            paid["state"] == "confirmed",
            "the bill payment ended {}",
            paid["state"]
        );
        self.story.say(format!(
            "PayU (collecting for BESCOM) sends a collect request to her UPI ID; she approves it in her UPI app with her PIN: UPI reference {}; BESCOM confirms: {}.",
            paid["rail_ref"].as_str().unwrap_or_default(),
            paid["biller_ref"].as_str().unwrap_or_default()
        ));
        ensure!(
            earned == Some(FIRST_BILL_CASHBACK_PAISE),
            "her first bill paid with UPI earned {earned:?}"
        );
        self.story.say(format!(
            "Her first bill paid with UPI earns {} back: paytap's offer, decided in India by the in region's risk and offers services and credited on the INR ledger once the payment succeeded.",
            inr(FIRST_BILL_CASHBACK_PAISE)
        ));
        let plans = self
            .get_json(&format!("/api/v1/recharge/plans?mobile={JIO_NUMBER}"), t)
            .await?;
        ensure!(
            plans["operator"] == "JIO",
            "the series named {}",
            plans["operator"]
        );
        self.story.say(format!(
            "{JIO_NUMBER}: Jio by its series, circle {}; {} plans on offer.",
            plans["circle"].as_str().unwrap_or_default(),
            plans["plans"].as_array().map_or(0, Vec::len)
        ));
        let recharge = json!({ "mobile": JIO_NUMBER, "plan_id": JIO_PLAN, "vpa": asha.phone.vpa });
        let key = format!("jio-{}", paid["payment_id"].as_str().unwrap_or_default());
        let asked = self
            .post_json("/api/v1/recharge/payments", Some(t), Some(&key), recharge)
            .await?;
        let (topped, earned) = self.approve_bill(asha, &asked).await?;
        ensure!(earned.is_none(), "the recharge earned {earned:?}");
        ensure!(
            topped["state"] == "confirmed",
            "the recharge ended {}",
            topped["state"]
        );
        let price = topped["amount"]["minor"]
            .as_i64()
            .context("recharge amount")?;
        self.story.say(format!(
            "Recharged {} with {JIO_PLAN} for {}, approved with her PIN the same way; Jio confirms: {}.",
            topped["mobile"].as_str().unwrap_or_default(),
            inr(price),
            topped["biller_ref"].as_str().unwrap_or_default()
        ));
        self.india_books_balance(asha, OPENING_PAISE - amount - price)
            .await?;
        self.story
            .ok("bill and recharge confirmed with their references; the first bill's cashback earned once; Asha's balance and the INR ledger agree");
        Ok(())
    }

    /// Asha's balance is `expected` and the INR ledger sums to zero.
    async fn india_books_balance(&self, asha: &IndiaPayer, expected: i64) -> anyhow::Result<()> {
        #[derive(Deserialize)]
        struct Balance {
            paise: i64,
        }
        #[derive(Deserialize)]
        struct Totals {
            debits_posted: i64,
            credits_posted: i64,
            debits_pending: i64,
            credits_pending: i64,
        }
        let path = format!(
            "/emulator/v1/upi/balance/{}/{}",
            asha.ifsc, asha.account_number
        );
        let b: Balance = self.lab.get(&path).await?;
        ensure!(
            b.paise == expected,
            "Asha has {} instead of {}",
            inr(b.paise),
            inr(expected)
        );
        let l: Totals = self.lab.get("/emulator/v1/inr-ledger").await?;
        self.story.say(format!(
            "Asha has {} left; INR ledger: debits {} = credits {}.",
            inr(b.paise),
            inr(l.debits_posted + l.debits_pending),
            inr(l.credits_posted + l.credits_pending)
        ));
        ensure!(
            l.debits_posted == l.credits_posted && l.debits_pending == l.credits_pending,
            "the INR ledger does not sum to zero"
        );
        Ok(())
    }
}
