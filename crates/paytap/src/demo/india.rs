//! The demo's India chapter: UPI. ICICI opens Priya's savings account
//! (with its debit card) and HDFC her brother Arjun's; each phone binds to
//! the bank by its mobile number and makes a UPI ID; Priya sets her UPI PIN
//! with the bank's OTP and her card, the PIN sealed on the phone to the
//! bank's key from ListKeys. She pays Arjun, scans a tea stall's UPI QR
//! image and pays it, approves the stall's collect request with her PIN,
//! and a wrong PIN is refused. The INR ledger sums to zero.

use anyhow::{Context, ensure};
use paytap_device::WalletClient;
use paytap_seal::upi_pin::PinPurpose;
use paytap_types::Secret;
use serde_json::{Value, json};

use super::{Demo, PASSWORD};

/// The banks' institution ids (`banks.toml`).
const ICICI: &str = "63560001";
const HDFC: &str = "63560002";
/// Priya's opening balance: ₹20,000.00, in paise.
const OPENING_PAISE: i64 = 2_000_000;
/// Looks at the SMS inbox before giving up on the OTP, and the pause
/// between looks: five seconds in all.
const SMS_POLLS: usize = 500;
const SMS_POLL_PAUSE: std::time::Duration = std::time::Duration::from_millis(10);
/// Priya's UPI PIN.
const PIN: &str = "2580";

/// A phone bound to its bank, with its UPI ID.
pub(super) struct UpiPhone {
    pub(super) client: WalletClient,
    pub(super) ifsc: String,
    pub(super) vpa: String,
}

impl Demo {
    /// The India chapter (module documentation).
    pub(super) async fn pay_with_upi(&mut self) -> anyhow::Result<()> {
        self.story
            .title("India: UPI to a contact, a tea stall's QR and its collect request");
        let priya_ac = self
            .lab_post(
                "/emulator/v1/upi/accounts",
                json!({"bank_id": ICICI, "holder": "Priya Sharma", "mobile": "9876501234",
                       "opening_paise": OPENING_PAISE}),
            )
            .await?;
        self.lab_post(
            "/emulator/v1/upi/accounts",
            json!({"bank_id": HDFC, "holder": "Arjun Sharma", "mobile": "9876505678"}),
        )
        .await?;
        let priya = self.upi_phone("priya", "9876501234").await?;
        let arjun = self.upi_phone("arjun", "9876505678").await?;
        self.story.say(format!(
            "Priya's and Arjun's phones bind to their banks by mobile number: {} and {}",
            priya.vpa, arjun.vpa
        ));
        self.set_upi_pin("Priya", &priya, &priya_ac).await?;
        let paid = self
            .upi_pay(
                &priya,
                json!({"to": arjun.vpa, "amount_paise": 50_000, "note": "Rakhi"}),
                PIN,
            )
            .await?;
        ensure!(paid["status"] == "success", "paying Arjun: {paid}");
        self.story.ok(format!(
            "Priya pays Arjun ₹500.00: {} (RRN {})",
            text(&paid["status"]),
            text(&paid["rrn"])
        ));
        self.tea_stall(&priya).await?;
        let wrong = self
            .upi_pay(
                &priya,
                json!({"to": arjun.vpa, "amount_paise": 100}),
                "0000",
            )
            .await?;
        ensure!(wrong["error_code"] == "ZM", "a wrong PIN: {wrong}");
        self.story
            .ok("A wrong PIN: the bank refuses the debit (ZM); two more today lock the PIN until tomorrow");
        // Bills (BBPS) and mobile recharge are paid here, as payments to a
        // biller's or an operator's UPI ID through PayU.
        self.inr_balances(&priya_ac).await
    }

    pub(super) async fn lab_post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let r = self
            .lab
            .http
            .post(format!("{}{path}", self.lab.base))
            .json(&body)
            .send()
            .await?;
        ensure!(r.status().is_success(), "{path}: {}", r.status());
        Ok(r.json().await?)
    }

    /// An India account, a phone bound by `mobile`, and `name@paytap`.
    pub(super) async fn upi_phone(&self, name: &str, mobile: &str) -> anyhow::Result<UpiPhone> {
        let email = format!("{name}.{}@example.in", self.story.step);
        let mut client = WalletClient::new(&self.lab.base)?;
        client
            .register_in(&email, PASSWORD, name, "in")
            .await
            .context("an India account")?;
        client.login(&email, PASSWORD).await?;
        let key = paytap_seal::DeviceKey::generate()?;
        let device = client
            .register_device(
                "phone",
                &format!("{name}'s phone"),
                "paytap emulated",
                &key.public(),
            )
            .await?;
        let bound = client
            .upi_post(
                "bindings",
                json!({"device_id": device.id, "mobile": mobile,
                       "device_key": paytap_seal::public_key_to_base64(&key.public())}),
            )
            .await?;
        let b = &bound["bindings"][0];
        let id = client
            .upi_post("ids", json!({"binding_id": b["binding_id"], "name": name}))
            .await?;
        Ok(UpiPhone {
            ifsc: b["ifsc"].as_str().context("a binding's IFSC")?.to_owned(),
            vpa: id["vpa"].as_str().context("a UPI ID")?.to_owned(),
            client,
        })
    }

    pub(super) async fn set_upi_pin(
        &mut self,
        holder: &str,
        p: &UpiPhone,
        account: &Value,
    ) -> anyhow::Result<()> {
        let bindings = p.client.upi_get("bindings").await?;
        let binding = bindings["bindings"][0]["binding_id"].clone();
        let otp = p
            .client
            .upi_post(
                &format!("bindings/{}/pin-otp", binding.as_str().unwrap_or_default()),
                json!({}),
            )
            .await?;
        let verification = otp["verification_id"].as_str().context("an OTP id")?;
        let code = self.lab_sms(verification).await?;
        let pin = Secret::new(PIN.to_owned());
        let block = p
            .client
            .upi_pin_block(&p.ifsc, PinPurpose::SetPin, verification, &pin)
            .await?;
        let card = &account["debit_card"];
        let body = json!({"card_last6": card["last6"], "card_expiry": card["expiry"],
                          "verification_id": verification, "otp": code.expose(), "pin_block": block});
        p.client
            .upi_post(
                &format!("bindings/{}/pin", binding.as_str().unwrap_or_default()),
                body,
            )
            .await?;
        self.story.ok(format!(
            "{holder} sets her UPI PIN with ICICI's OTP ({}) and her debit card's last six digits; the phone seals it to ICICI's key",
            otp["destination"].as_str().unwrap_or_default()
        ));
        Ok(())
    }

    /// The bank's OTP for `verification_id`, once the SMS gateway has it
    /// (it is texted as the request is answered, and arrives a moment later).
    async fn lab_sms(&mut self, verification_id: &str) -> anyhow::Result<Secret<String>> {
        for _ in 0..SMS_POLLS {
            let inbox: Value = self.lab.get("/emulator/v1/sms").await?;
            let all = inbox["messages"].as_array().cloned().unwrap_or_default();
            let found = all
                .iter()
                .rev()
                .find(|m| m["verification_id"] == verification_id)
                .and_then(|m| m["code"].as_str());
            if let Some(code) = found {
                // Later chapters wait for the passcodes after this one.
                self.otps_seen = all.len();
                return Ok(Secret::new(code.to_owned()));
            }
            tokio::time::sleep(SMS_POLL_PAUSE).await;
        }
        anyhow::bail!("the bank's OTP never reached the SMS inbox")
    }

    /// Pays from `p` with a transaction id chosen here and the PIN sealed for it.
    async fn upi_pay(&self, p: &UpiPhone, mut body: Value, pin: &str) -> anyhow::Result<Value> {
        let mut id = [0u8; 16];
        super::getrandom_fill(&mut id)?;
        let txn = format!("PTP{}", hex::encode_upper(id));
        let pin = Secret::new(pin.to_owned());
        body["txn_id"] = json!(txn);
        body["from"] = json!(p.vpa);
        body["pin_block"] = json!(
            p.client
                .upi_pin_block(&p.ifsc, PinPurpose::Debit, &txn, &pin)
                .await?
        );
        Ok(p.client.upi_post("payments", body).await?)
    }

    /// The tea stall's static QR, paid; then its collect request, approved.
    async fn tea_stall(&mut self, priya: &UpiPhone) -> anyhow::Result<()> {
        let stall = self
            .lab_post(
                "/emulator/v1/upi/merchants",
                json!({"name": "chaiwala", "display_name": "Sharma Tea Stall", "bank_id": HDFC,
                       "mcc": "5812", "mobile": "9000012345"}),
            )
            .await?;
        let link = stall["static_link"].as_str().context("the stall's link")?;
        let png = self.dir.join("tea-stall-upi.png");
        std::fs::write(&png, paytap_qrimage::render_png(link)?)?;
        let read = paytap_qrimage::read_png(&std::fs::read(&png)?)?;
        let paid = self
            .upi_pay(priya, json!({"link": read, "amount_paise": 6_000}), PIN)
            .await?;
        ensure!(paid["status"] == "success", "paying the stall: {paid}");
        self.story.ok(format!(
            "Priya scans the stall's UPI QR ({}) and pays ₹60.00 to {} (merchant category {})",
            png.display(),
            text(&paid["payee_name"]),
            text(&paid["mcc"])
        ));
        self.lab_post(
            "/emulator/v1/upi/collects",
            json!({"txn_id": "DEMOCOLLECT1", "merchant": stall["vpa"], "merchant_name": "Sharma Tea Stall",
                   "mcc": "5812", "payer": priya.vpa, "amount_paise": 24_000, "note": "Monthly tea"}),
        )
        .await?;
        let done = self.approve_collect(priya, "DEMOCOLLECT1").await?;
        ensure!(done["status"] == "success", "approving: {done}");
        self.story
            .ok("The stall asks for ₹240.00 (a collect request through PayU); Priya approves it with her PIN");
        Ok(())
    }

    /// `p`'s UPI app approves the merchant's collect request `txn_id` with
    /// the PIN sealed for it; the switch's answer.
    pub(super) async fn approve_collect(
        &self,
        p: &UpiPhone,
        txn_id: &str,
    ) -> anyhow::Result<Value> {
        let list = p.client.upi_get("collects").await?;
        let waiting = list["collects"]
            .as_array()
            .is_some_and(|all| all.iter().any(|c| c["txn_id"] == txn_id));
        ensure!(waiting, "no collect request {txn_id} in the app: {list}");
        let pin = Secret::new(PIN.to_owned());
        let block = p
            .client
            .upi_pin_block(&p.ifsc, PinPurpose::Debit, txn_id, &pin)
            .await?;
        let path = format!("collects/{txn_id}/approve");
        Ok(p.client
            .upi_post(&path, json!({"pin_block": block}))
            .await?)
    }

    async fn inr_balances(&mut self, priya: &Value) -> anyhow::Result<()> {
        let path = format!(
            "/emulator/v1/upi/balance/{}/{}",
            priya["ifsc"].as_str().unwrap_or_default(),
            priya["account_number"].as_str().unwrap_or_default()
        );
        let balance: Value = self.lab.get(&path).await?;
        let left = balance["paise"].as_i64().context("a balance")?;
        ensure!(
            left == OPENING_PAISE - 50_000 - 6_000 - 24_000,
            "Priya's balance: {left}"
        );
        let ledger = self.lab.ledger().await?;
        let inr = ledger
            .totals
            .iter()
            .find(|t| t.currency == "INR")
            .context("INR on the ledger")?;
        ensure!(
            inr.debits_posted == inr.credits_posted,
            "the INR ledger does not balance"
        );
        self.story.ok(format!(
            "Priya's account holds ₹{}; the INR ledger balances ({} posted each side)",
            paytap_upi::format_amount(u64::try_from(left)?),
            inr.debits_posted
        ));
        Ok(())
    }
}

/// A JSON string's text (empty for anything else).
fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}
