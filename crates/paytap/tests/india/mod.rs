//! Shared set-up of the binary's in-process India tests, over real HTTP
//! to a started [`Platform`]: an account of a region signed up and signed
//! in, the wallet API's calls as an account holder, and an India account
//! holder's phone with its UPI app bound to her bank by her mobile number,
//! her UPI ID made and her UPI PIN set with the bank's OTP and her debit
//! card, as the phone does it.
#![allow(dead_code, reason = "each test file uses a part")]

use crate::platform::Platform;
use paytap_device::WalletClient;
use paytap_seal::upi_pin::PinPurpose;
use paytap_types::Secret;
use serde_json::{Value, json};

/// ICICI Bank and HDFC Bank in `banks.toml`.
pub const ICICI: &str = "63560001";
pub const HDFC: &str = "63560002";
/// Every test account's password.
pub const PASSWORD: &str = "a long enough password";
/// Every test holder's UPI PIN.
pub const PIN: &str = "2468";
/// What each test holder has at the bank: ₹10,000.00, in paise.
pub const OPENING_PAISE: i64 = 1_000_000;

/// Registers an account of `region` over the API and logs in; its token.
pub async fn sign_up(http: &reqwest::Client, base: &str, login: &str, region: &str) -> String {
    let body = json!({ "login": login, "password": PASSWORD,
                       "display_name": "Asha", "language": "en", "region": region });
    let r = http
        .post(format!("{base}api/v1/accounts"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let body = json!({ "login": login, "password": PASSWORD });
    let r = http
        .post(format!("{base}api/v1/sessions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let session: Value = r.json().await.unwrap();
    session["token"].as_str().unwrap().to_owned()
}

/// `POST url` as `token`, with an idempotency key if given; the status and
/// the JSON answer.
pub async fn post(
    http: &reqwest::Client,
    url: String,
    token: &str,
    key: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut req = http.post(url).bearer_auth(token).json(&body);
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// `GET url` as `token`; the status and the JSON answer.
pub async fn get(http: &reqwest::Client, url: String, token: &str) -> (u16, Value) {
    let r = http.get(url).bearer_auth(token).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// An India account holder's phone: signed in to the wallet, bound to her
/// bank, with her UPI ID and PIN.
pub struct UpiPhone {
    /// The wallet API as the phone calls it, with her session.
    pub client: WalletClient,
    /// Her session token.
    pub token: String,
    /// Her bank account's IFSC (whose key seals her PIN).
    pub ifsc: String,
    /// Her UPI ID.
    pub vpa: String,
}

/// `holder` opens an account at `bank` with [`OPENING_PAISE`] and mobile
/// number `mobile`; `name@paytap` signs up in India, binds her phone by
/// that number, makes her UPI ID and sets her PIN.
pub async fn upi_phone(
    p: &Platform,
    bank: &str,
    name: &str,
    holder: &str,
    mobile: &str,
) -> UpiPhone {
    let account = p
        .india
        .banks
        .open_account(bank, holder, mobile, OPENING_PAISE)
        .await
        .unwrap();
    let mut client = WalletClient::new(&p.wallet_url).unwrap();
    let login = format!("{name}@example.in");
    client
        .register_in(&login, PASSWORD, holder, "in")
        .await
        .unwrap();
    client.login(&login, PASSWORD).await.unwrap();
    let key = paytap_seal::DeviceKey::generate().unwrap();
    let device = client
        .register_device("phone", "her phone", "paytap emulated", &key.public())
        .await
        .unwrap();
    let body = json!({"device_id": device.id, "mobile": mobile,
                      "device_key": paytap_seal::public_key_to_base64(&key.public())});
    let bound = client.upi_post("bindings", body).await.unwrap();
    let binding = bound["bindings"][0]["binding_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({"binding_id": binding, "name": name});
    let id = client.upi_post("ids", body).await.unwrap();
    let phone = UpiPhone {
        token: client.session_token().unwrap().to_owned(),
        ifsc: account.ifsc.clone(),
        vpa: id["vpa"].as_str().unwrap().to_owned(),
        client,
    };
    set_pin(p, &phone, &binding, &account).await;
    phone
}

/// Sets the phone's UPI PIN with the bank's OTP and the debit card.
async fn set_pin(
    p: &Platform,
    phone: &UpiPhone,
    binding: &str,
    account: &paytap_issuer::UpiAccount,
) {
    let mut sms = p.india.banks.subscribe_otp();
    let path = format!("bindings/{binding}/pin-otp");
    let otp = phone.client.upi_post(&path, json!({})).await.unwrap();
    let verification = otp["verification_id"].as_str().unwrap();
    let code = sms.recv().await.unwrap().code;
    let pin = Secret::new(PIN.to_owned());
    let block = phone
        .client
        .upi_pin_block(&phone.ifsc, PinPurpose::SetPin, verification, &pin)
        .await
        .unwrap();
    let card = account.debit_card.as_ref().unwrap();
    let body = json!({"card_last6": card.last6().expose(), "card_expiry": card.expiry.to_string(),
                      "verification_id": verification, "otp": code.expose(), "pin_block": block});
    let path = format!("bindings/{binding}/pin");
    phone.client.upi_post(&path, body).await.unwrap();
}

/// The phone's UPI app approves the collect request `txn_id` waiting for
/// it, with the PIN sealed for it; the app's answer.
pub async fn approve_collect(phone: &UpiPhone, txn_id: &str) -> Value {
    let pin = Secret::new(PIN.to_owned());
    let block = phone
        .client
        .upi_pin_block(&phone.ifsc, PinPurpose::Debit, txn_id, &pin)
        .await
        .unwrap();
    let path = format!("collects/{txn_id}/approve");
    phone
        .client
        .upi_post(&path, json!({"pin_block": block}))
        .await
        .unwrap()
}

/// The phone pays the BESCOM bill of `bescom_account` over UPI: fetched,
/// paid (PayU's collect request to her UPI ID) and approved in her UPI
/// app; the app's answer to the approval.
pub async fn pay_bescom_bill(p: &Platform, phone: &UpiPhone, bescom_account: &str) -> Value {
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}api/v1/{path}", p.wallet_url);
    let fetch = json!({ "biller_id": "BESCOM", "params": { "account_id": bescom_account } });
    let (status, bill) = post(&http, url("bills/fetch"), &phone.token, None, fetch).await;
    assert_eq!(status, 200, "{bill}");
    let pay = json!({ "fetch_id": bill["fetch_id"], "vpa": phone.vpa });
    let key = format!("bill-{bescom_account}");
    let (status, paid) = post(&http, url("bills/payments"), &phone.token, Some(&key), pay).await;
    assert_eq!(
        (status, &paid["state"]),
        (201, &json!("charging")),
        "{paid}"
    );
    let answer = approve_collect(phone, paid["payment_id"].as_str().unwrap()).await;
    assert_eq!(answer["status"], "success", "{answer}");
    answer
}
