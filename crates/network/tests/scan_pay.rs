//! Scan to pay through the acquirer (`paytap_acquirer::payments`) over the
//! real switch (ISO 8583 `0200` over loopback TCP, signed as the
//! merchant's acquirer), token service and issuer: a dynamic code paid
//! once, the same request retried answering the same outcome with the
//! money moved once, a reused cryptogram refused, a static code with the
//! amount typed, and an unknown merchant, a wrong amount, a tampered code
//! and a reused key refused with nothing moved. Every test checks that the
//! ledger balances. Runs on SQLite, and on PostgreSQL with
//! PAYTAP_TEST_DATABASE_URL.

mod common;

use common::*;
use paytap_acquirer::payments::{BoxFuture, PaymentError, QrPayments, ScanPayment, SwitchPort};
use paytap_acquirer::{Merchant, MerchantSpec, Merchants};
use paytap_iso8583::Message;
use paytap_issuer::{IssueCard, Product};
use paytap_network::RunningNetwork;
use paytap_network::terminal::{self, AcquirerClient};
use paytap_tsp::Domain;
use paytap_types::{Currency, DEMO_ACQUIRER_ID, Money};

/// The acquirer's side of the switch, as `paytap up` has it: a client
/// signed on as the acquirer, and the token's issuer's settlement account.
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
    fn port(&self) -> Port<'_> {
        Port {
            client: self.n.pos.clone(),
            net: &self.n.net,
        }
    }

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

    async fn pay(
        &self,
        p: &ScanPayment,
    ) -> Result<paytap_acquirer::payments::PaymentOutcome, PaymentError> {
        self.payments.pay(p, &self.port()).await
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

async fn phone(n: &Net) -> Phone {
    let mut req = IssueCard::new(ICBC, Product::Debit, "LI LEI", 100_000);
    req.limits = Some(generous_limits());
    n.phone_in(req, Domain::NfcQr).await
}

/// What the phone sends for `code` after its secure element made the chip
/// data for `amount`.
fn scan(phone: &mut Phone, key: &str, code: &str, amount: i64) -> ScanPayment {
    let t = terminal::tap(
        &mut phone.se,
        Money::new(amount, Currency::CNY),
        true,
        rand::random(),
    )
    .unwrap();
    ScanPayment {
        idempotency_key: key.into(),
        code: code.into(),
        amount_minor: amount.unsigned_abs(),
        token: t.pan.expose().clone(),
        expiry: format!("{:02}{:02}", t.expiry.year(), t.expiry.month()),
        psn: t.psn,
        track2: t.track2.expose().clone(),
        icc_data: hex::encode_upper(&t.icc_data),
    }
}

#[tokio::test]
async fn a_dynamic_code_is_paid_once_and_a_retry_answers_the_same() {
    let s = shop().await;
    let mut ph = phone(&s.n).await;
    let code = s.merchant.dynamic_code(1_234, "B-1").unwrap();
    let p = scan(&mut ph, "k-1", &code, 1_234);
    let first = s.pay(&p).await.unwrap();
    assert!(first.approved, "{first:?}");
    assert_eq!(first.response_code, "00");
    assert_eq!(first.merchant, "TEA-01");
    assert_eq!(first.bill.as_deref(), Some("B-1"));
    assert_eq!(first.transfer.as_deref(), Some("qr:k-1"));
    assert_eq!(s.credited().await, 1_234);
    assert_eq!(s.n.available(&ph).await, 100_000 - 1_234);

    // The phone did not hear the answer and sends the same request: the
    // stored outcome, nothing sent or moved again.
    let again = s.pay(&p).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(s.credited().await, 1_234);
    assert_eq!(s.n.available(&ph).await, 100_000 - 1_234);

    // The same cryptogram under another key is another payment: refused
    // by the token service as a replay, nothing moved.
    let mut replay = p.clone();
    replay.idempotency_key = "k-2".into();
    let r = s.pay(&replay).await.unwrap();
    assert!(!r.approved, "{r:?}");
    assert_eq!(r.transfer, None);
    assert_eq!(s.credited().await, 1_234);
    assert_eq!(s.n.available(&ph).await, 100_000 - 1_234);
    s.n.assert_ledger().await;
}

#[tokio::test]
async fn a_static_code_takes_the_typed_amount() {
    let s = shop().await;
    let mut ph = phone(&s.n).await;
    let code = s.merchant.static_code().unwrap();
    let o = s.pay(&scan(&mut ph, "k-static", &code, 880)).await.unwrap();
    assert!(o.approved, "{o:?}");
    assert_eq!(o.bill, None);
    assert_eq!(s.credited().await, 880);
    s.n.assert_ledger().await;
}

#[tokio::test]
async fn bad_codes_amounts_and_keys_are_refused_with_nothing_moved() {
    let s = shop().await;
    let mut ph = phone(&s.n).await;
    let code = s.merchant.dynamic_code(500, "B-2").unwrap();

    let mut stranger = s.merchant.clone();
    stranger.spec.id = "NOBODY".into();
    let unknown = stranger.dynamic_code(500, "B-2").unwrap();
    let e = s
        .pay(&scan(&mut ph, "k-a", &unknown, 500))
        .await
        .unwrap_err();
    assert!(
        matches!(e, PaymentError::UnknownMerchant(ref id) if id == "NOBODY"),
        "{e}"
    );

    let e = s.pay(&scan(&mut ph, "k-b", &code, 499)).await.unwrap_err();
    assert!(
        matches!(
            e,
            PaymentError::WrongAmount {
                expected: 500,
                got: 499
            }
        ),
        "{e}"
    );

    let tampered = code.replacen("0103B-2", "0103B-3", 1);
    assert_ne!(tampered, code);
    let e = s
        .pay(&scan(&mut ph, "k-c", &tampered, 500))
        .await
        .unwrap_err();
    assert!(
        matches!(e, PaymentError::Code(ref m) if m.contains("CRC")),
        "{e}"
    );

    let e = s
        .pay(&ScanPayment {
            icc_data: "zz".into(),
            ..scan(&mut ph, "k-d", &code, 500)
        })
        .await
        .unwrap_err();
    assert!(matches!(e, PaymentError::Invalid(_)), "{e}");
    assert_eq!(s.credited().await, 0);
    assert_eq!(s.n.available(&ph).await, 100_000);

    // A key used for a payment cannot carry another one.
    let paid = s.pay(&scan(&mut ph, "k-e", &code, 500)).await.unwrap();
    assert!(paid.approved);
    let e = s.pay(&scan(&mut ph, "k-e", &code, 500)).await.unwrap_err();
    assert!(matches!(e, PaymentError::KeyReused(_)), "{e}");
    assert_eq!(s.credited().await, 500);
    assert_eq!(s.n.available(&ph).await, 100_000 - 500);
    s.n.assert_ledger().await;
}

/// The acquirer's port whose next answer is lost on the way back (the
/// `0200` reached the switch and was answered; the acquirer heard
/// nothing, as when it crashed before storing the answer).
struct LossyPort<'a> {
    inner: Port<'a>,
    lose_next: std::sync::atomic::AtomicBool,
}

impl SwitchPort for LossyPort<'_> {
    fn send<'b>(
        &'b self,
        acquirer: &'b str,
        request: Message,
    ) -> BoxFuture<'b, Result<Message, String>> {
        Box::pin(async move {
            let answer = self.inner.send(acquirer, request).await?;
            if self
                .lose_next
                .swap(false, std::sync::atomic::Ordering::SeqCst)
            {
                return Err("the answer was lost".into());
            }
            Ok(answer)
        })
    }

    fn payer_account(&self, token: &str) -> Option<String> {
        self.inner.payer_account(token)
    }
}

#[tokio::test]
async fn a_retry_after_a_lost_answer_is_the_same_payment_not_a_replay() {
    let s = shop().await;
    let mut ph = phone(&s.n).await;
    let code = s.merchant.dynamic_code(700, "B-3").unwrap();
    let p = scan(&mut ph, "k-lost", &code, 700);
    let port = LossyPort {
        inner: s.port(),
        lose_next: true.into(),
    };
    let e = s.payments.pay(&p, &port).await.unwrap_err();
    assert!(matches!(e, PaymentError::NoAnswer(_)), "{e}");
    assert_eq!(s.credited().await, 0, "no answer, no credit yet");
    assert_eq!(s.n.available(&ph).await, 100_000 - 700, "the bank approved");
    // The phone retries: the same message again, which the switch answers
    // as a duplicate with the first answer, not as an ATC replay.
    let o = s.payments.pay(&p, &port).await.unwrap();
    assert!(o.approved, "{o:?}");
    assert_eq!(s.credited().await, 700);
    assert_eq!(s.n.available(&ph).await, 100_000 - 700);
    s.n.assert_ledger().await;
}
