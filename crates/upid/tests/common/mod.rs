//! What the switch's tests share: setting a holder's UPI PIN at the bank the
//! way a phone does (ListKeys, the OTP by SMS, the debit card), and the PIN
//! block of a debit.
#![allow(dead_code)]

use paytap_issuer::{LegResult, SetPin, UpiAccount, UpiBanks};
use paytap_seal::upi_pin::{PinPurpose, seal_pin};
use paytap_types::Secret;
use paytap_upi::xml::{Cred, EncData};

/// The PIN the tests' payers set.
pub const PIN: &str = "2468";

/// The PIN key of the bank of `ifsc`, from ListKeys.
pub fn bank_key(banks: &UpiBanks, ifsc: &str) -> [u8; 32] {
    banks
        .list_keys()
        .into_iter()
        .find(|k| ifsc.starts_with(&k.bank))
        .expect("the bank has a PIN key")
        .public
}

/// Sets `pin` on account `a` (opened just now, so its debit card is known).
pub async fn set_pin(banks: &UpiBanks, a: &UpiAccount, pin: &str) {
    let mut sms = banks.subscribe_otp();
    let now = paytap_types::system_millis();
    let otp = banks
        .request_pin_otp(&a.ifsc, &a.account_number, now)
        .await
        .unwrap();
    let code = sms.recv().await.unwrap().code;
    let card = a.debit_card.as_ref().expect("a new account's debit card");
    let pin = Secret::new(pin.to_owned());
    let block = seal_pin(
        &bank_key(banks, &a.ifsc),
        PinPurpose::SetPin,
        &otp.verification_id,
        &pin,
    )
    .unwrap();
    let req = SetPin {
        ifsc: a.ifsc.clone(),
        account_number: a.account_number.clone(),
        card_last6: card.last6(),
        card_expiry: card.expiry,
        verification_id: otp.verification_id,
        otp: code,
        pin_block: block,
    };
    assert_eq!(banks.set_pin(&req, now).await.unwrap(), LegResult::Success);
}

/// The `Cred` carrying `pin` for the debit of transaction `txn_id` at the
/// bank of `ifsc`.
pub fn pin_cred(banks: &UpiBanks, ifsc: &str, txn_id: &str, pin: &str) -> Cred {
    use base64::Engine;
    let block = seal_pin(
        &bank_key(banks, ifsc),
        PinPurpose::Debit,
        txn_id,
        &Secret::new(pin.to_owned()),
    )
    .unwrap();
    Cred {
        kind: "PIN".into(),
        sub_type: "MPIN".into(),
        data: EncData {
            code: ifsc[..4].to_owned(),
            ki: paytap_issuer::upi_pin::PIN_KEY_INDEX.into(),
            value: base64::engine::general_purpose::STANDARD.encode(block),
        },
    }
}
