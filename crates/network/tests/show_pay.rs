//! Show to pay through the acquirer (`paytap_acquirer::presented`) over
//! the real switch (ISO 8583 `0200` with DE 22 `032` over loopback TCP,
//! signed as the merchant's acquirer), token service and issuer: the
//! phone's code (an EMVCo consumer-presented code made by its secure
//! element for an amount of zero, its unpredictable number the time) is
//! paid once for the amount the register rang up; a retry answers the same
//! outcome; the code presented again, an expired or future-dated code, a
//! code whose time was altered, a watch's token and another acquirer's
//! merchant are refused with nothing moved. Every test checks that the
//! ledger balances. Runs on SQLite, and on PostgreSQL with
//! PAYTAP_TEST_DATABASE_URL.

mod common;

use common::*;
use paytap_acquirer::payments::{BoxFuture, PaymentError, PaymentOutcome, QrPayments, SwitchPort};
use paytap_acquirer::presented::PresentedPayment;
use paytap_acquirer::{Merchant, MerchantSpec, Merchants};
use paytap_iso8583::Message;
use paytap_issuer::{IssueCard, Product};
use paytap_network::RunningNetwork;
use paytap_network::terminal::{self, AcquirerClient};
use paytap_qr::presented::{CODE_LIFETIME_SECS, MAX_CLOCK_AHEAD_SECS, PhoneCode, Stale};
use paytap_tsp::Domain;
use paytap_types::{Currency, DEMO_ACQUIRER_ID, Money};

/// The AID the code carries (the acquirer passes it on, nothing checks it).
const AID: [u8; 7] = [0xA0, 0x00, 0x00, 0x00, 0x03, 0x10, 0x10];

/// The acquirer's side of the switch, as `paytap up` has it.
struct Port<'a> {
    client: AcquirerClient,
    net: &'a RunningNetwork,
}

impl SwitchPort for Port<'_> {
    fn send<'b>(
        &'b self,
        acquirer: &'b str,
        request: Message,
    ) -> BoxFuture<'b, Result<Message, String>> {
        assert_eq!(acquirer, self.client.acquirer_id());
        assert_eq!(request.pos_entry_mode(), Some("032"));
        Box::pin(async move { self.client.send(&request).await.map_err(|e| e.to_string()) })
    }

    fn payer_account(&self, token: &str) -> Option<String> {
        Some(format!(
            "issuer:{}:settlement",
            self.net.tsp().issuer_of(token)?
        ))
    }
}

struct Shop {
    n: Net,
    payments: QrPayments,
    merchant: Merchant,
}

impl Shop {
    async fn credited(&self) -> i64 {
        let b = self
            .n
            .net
            .ledger()
            .balance(&self.merchant.account)
            .await
            .unwrap();
        assert_eq!(b.debits_posted, 0);
        b.credits_posted
    }

    /// The register of `acquirer` takes `code` for `amount` under `key` at `now`.
    async fn take(
        &self,
        key: &str,
        code: &str,
        amount: u64,
        now: i64,
    ) -> Result<PaymentOutcome, PaymentError> {
        let p = PresentedPayment {
            idempotency_key: key.into(),
            merchant: self.merchant.spec.id.clone(),
            amount_minor: amount,
            code: code.into(),
            currency: Some("CNY".into()),
        };
        let port = Port {
            client: self.n.pos.clone(),
            net: &self.n.net,
        };
        self.payments
            .pay_presented(&p, DEMO_ACQUIRER_ID, now, &port)
            .await
    }
}

async fn shop() -> Shop {
    let n = start().await;
    let merchants = Merchants::open(n.net.db().clone(), n.net.ledger().clone())
        .await
        .unwrap();
    let spec = MerchantSpec {
        id: "TEA-01".into(),
        name: "Tea House".into(),
        city: "Beijing".into(),
        mcc: "5814".into(),
        currency: Currency::CNY,
        country: "CN".into(),
    };
    let (merchant, _) = merchants.create(DEMO_ACQUIRER_ID, spec).await.unwrap();
    Shop {
        n,
        payments: QrPayments::new(merchants),
        merchant,
    }
}

async fn phone(n: &Net, domain: Domain) -> Phone {
    let mut req = IssueCard::new(ICBC, Product::Debit, "LI LEI", 100_000);
    req.limits = Some(generous_limits());
    n.phone_in(req, domain).await
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The code the phone shows at `made_at`: its secure element's chip data
/// for an amount of zero, the owner verified, the time as the unpredictable
/// number.
fn show(phone: &mut Phone, made_at: i64) -> String {
    let un = paytap_qr::presented::unpredictable_number(made_at);
    let t = terminal::tap(&mut phone.se, Money::new(0, Currency::CNY), true, un).unwrap();
    PhoneCode {
        aid: AID.to_vec(),
        token: t.pan.expose().clone(),
        expiry_yymm: format!("{:02}{:02}", t.expiry.year(), t.expiry.month()),
        psn: t.psn,
        track2: t.track2.expose().clone(),
        icc_data: t.icc_data,
    }
    .to_base64()
    .unwrap()
}

#[tokio::test]
async fn a_shown_code_is_paid_once_and_a_retry_answers_the_same() {
    let s = shop().await;
    let mut ph = phone(&s.n, Domain::NfcQr).await;
    let code = show(&mut ph, now());
    let first = s.take("r-1", &code, 1_234, now()).await.unwrap();
    assert!(first.approved, "{first:?}");
    assert_eq!(first.response_code, "00");
    assert_eq!(first.merchant, "TEA-01");
    assert_eq!(first.transfer.as_deref(), Some("qr:r-1"));
    assert_eq!(s.credited().await, 1_234);
    assert_eq!(s.n.available(&ph).await, 100_000 - 1_234);

    // The register did not hear the answer and sends the same request,
    // even after the code's minute: the stored outcome, nothing moved.
    let later = now() + CODE_LIFETIME_SECS + 30;
    let again = s.take("r-1", &code, 1_234, later).await.unwrap();
    assert_eq!(again, first);

    // The same code presented again (another key, this register or
    // another) is refused before anything is sent.
    let e = s.take("r-2", &code, 1_234, now()).await.unwrap_err();
    assert!(matches!(e, PaymentError::CodeReused), "{e}");
    let e = s.take("r-3", &code, 99, now()).await.unwrap_err();
    assert!(matches!(e, PaymentError::CodeReused), "{e}");
    assert_eq!(s.credited().await, 1_234);
    assert_eq!(s.n.available(&ph).await, 100_000 - 1_234);

    // A new code pays again.
    let next = show(&mut ph, now());
    assert_ne!(next, code);
    let o = s.take("r-4", &next, 66, now()).await.unwrap();
    assert!(o.approved, "{o:?}");
    assert_eq!(s.credited().await, 1_300);
    s.n.assert_ledger().await;
}

#[tokio::test]
async fn expired_future_and_altered_codes_are_refused_with_nothing_moved() {
    let s = shop().await;
    let mut ph = phone(&s.n, Domain::NfcQr).await;
    let t = now();

    let old = show(&mut ph, t - CODE_LIFETIME_SECS - 1);
    let e = s.take("x-1", &old, 500, t).await.unwrap_err();
    assert!(matches!(e, PaymentError::Stale(Stale::Expired(_))), "{e}");
    let ahead = show(&mut ph, t + MAX_CLOCK_AHEAD_SECS + 1);
    let e = s.take("x-2", &ahead, 500, t).await.unwrap_err();
    assert!(matches!(e, PaymentError::Stale(Stale::Future(_))), "{e}");

    // A code whose time was moved forward passes the acquirer's clock
    // check, but the cryptogram covers the time: the token service refuses.
    let code = show(&mut ph, t - CODE_LIFETIME_SECS - 30);
    let mut cpm = paytap_qr::Cpm::parse(&code).unwrap();
    for (tag, v) in &mut cpm.applications[0].transparent {
        if tag.value() == 0x9F37 {
            *v = paytap_qr::presented::unpredictable_number(t).to_vec();
        }
    }
    let altered = cpm.to_base64().unwrap();
    let o = s.take("x-3", &altered, 500, t).await.unwrap();
    assert!(!o.approved, "{o:?}");
    assert_eq!(o.transfer, None);

    let e = s.take("x-4", "not a code", 500, t).await.unwrap_err();
    assert!(matches!(e, PaymentError::Code(_)), "{e}");
    assert_eq!(s.credited().await, 0);
    assert_eq!(s.n.available(&ph).await, 100_000);
    s.n.assert_ledger().await;
}

#[tokio::test]
async fn a_watch_token_and_another_acquirers_merchant_are_refused() {
    let s = shop().await;
    // A watch's token pays by tap only: the token service refuses DE 22 032.
    let mut watch = phone(&s.n, Domain::Nfc).await;
    let o = s
        .take("w-1", &show(&mut watch, now()), 500, now())
        .await
        .unwrap();
    assert!(!o.approved, "{o:?}");
    assert_eq!(s.n.available(&watch).await, 100_000);

    let mut ph = phone(&s.n, Domain::NfcQr).await;
    let p = PresentedPayment {
        idempotency_key: "o-1".into(),
        merchant: "TEA-01".into(),
        amount_minor: 500,
        code: show(&mut ph, now()),
        currency: None,
    };
    let port = Port {
        client: s.n.pos.clone(),
        net: &s.n.net,
    };
    let e = s
        .payments
        .pay_presented(&p, "20000000002", now(), &port)
        .await
        .unwrap_err();
    assert!(matches!(e, PaymentError::NotYourMerchant(_)), "{e}");
    assert_eq!(s.credited().await, 0);
    assert_eq!(s.n.available(&ph).await, 100_000);
    s.n.assert_ledger().await;
}

#[tokio::test]
async fn a_registers_batch_is_taken_once_by_its_id() {
    use paytap_acquirer::batches::Batch;
    let s = shop().await;
    let mut ph = phone(&s.n, Domain::NfcQr).await;
    let t = now();
    // The register sent the first payment, heard nothing and queued it;
    // it could not send the second; the third it queued too long.
    let sent = show(&mut ph, t);
    let o = s.take("q-1", &sent, 300, t).await.unwrap();
    assert!(o.approved, "{o:?}");
    let op = |key: &str, code: String| PresentedPayment {
        idempotency_key: key.into(),
        merchant: "TEA-01".into(),
        amount_minor: 300,
        code,
        currency: None,
    };
    let batch = Batch {
        operations: vec![
            op("q-1", sent),
            op("q-2", show(&mut ph, t)),
            op("q-3", show(&mut ph, t - CODE_LIFETIME_SECS - 1)),
        ],
    };
    let port = Port {
        client: s.n.pos.clone(),
        net: &s.n.net,
    };
    let up = |b: &Batch, id: &'static str| {
        let b = b.clone();
        let port = &port;
        let payments = &s.payments;
        async move {
            payments
                .upload_batch(id, &b, DEMO_ACQUIRER_ID, t, port)
                .await
        }
    };
    let first = up(&batch, "till-1-0001").await.unwrap();
    let approved: Vec<bool> = first
        .iter()
        .map(|r| r.outcome.as_ref().is_some_and(|o| o.approved))
        .collect();
    assert_eq!(approved, [true, true, false], "{first:?}");
    assert_eq!(first[0].outcome.as_ref(), Some(&o), "the stored outcome");
    assert_eq!(first[2].error.as_deref(), Some("expired"));
    assert!(first.iter().all(|r| r.settled));
    assert_eq!(s.credited().await, 600);

    // Uploaded again (the register crashed before it heard the answer):
    // the same results, nothing moved again.
    assert_eq!(up(&batch, "till-1-0001").await.unwrap(), first);
    assert_eq!(s.credited().await, 600);
    assert_eq!(s.n.available(&ph).await, 100_000 - 600);

    // The same id with other operations is refused whole.
    let mut altered = batch.clone();
    altered.operations[1].amount_minor = 3_000;
    let e = up(&altered, "till-1-0001").await.unwrap_err();
    assert!(matches!(e, PaymentError::BatchAltered(_)), "{e}");
    assert_eq!(s.credited().await, 600);
    s.n.assert_ledger().await;
}
