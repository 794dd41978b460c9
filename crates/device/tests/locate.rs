//! "Find my device" on the device: obeying each command (locate, sound,
//! erase, verify_payment: the owner's finger arms the next tap), and the whole round trip over a real wallet: commands queued
//! while the device is away, delivered on its channel when it returns,
//! obeyed and answered.

use std::sync::Arc;

use paytap_device::locate::{CommandInfo, listen};
use paytap_device::{
    Device, DeviceKind, Finger, KeystoreKey, Outcome, Owner, PaymentPrompt, Position, WalletClient,
    obey, obey_command,
};
use paytap_seal::ProvisioningPayload;
use paytap_store::{Db, Regions};
use paytap_testkit::card_payload;
use paytap_wallet::{
    Actor, BoxFuture, CardDetails, DeviceBinding, IdvDecision, NetworkError, OtpDecision,
    PasswordParams, ProvisionedCard, ServerLimits, StateReason, TokenState, Wallet, WalletConfig,
    WalletNetwork,
};

const DEVICE_ID: &str = "dev_locate_1";

fn payload(token_ref: &str) -> ProvisioningPayload {
    card_payload(
        token_ref,
        "6295000000000018",
        "0123456789ABCDEFFEDCBA9876543210",
        0,
    )
}

fn people_square() -> Position {
    Position {
        lat: 31.2304,
        lon: 121.4737,
        accuracy_m: 15.0,
        place: Some("People's Square, Shanghai".into()),
    }
}

/// An enrolled phone in `dir` holding one card: the device, its keystore's
/// path and key.
fn phone_with_card(dir: &std::path::Path) -> (Device, std::path::PathBuf, KeystoreKey) {
    let path = dir.join("phone.se");
    let key = KeystoreKey::key_file_for(&path);
    let mut d = Device::create(&path, &key, DeviceKind::Phone, "Li's phone", "emulated").unwrap();
    d.set_enrolment(DEVICE_ID, "http://127.0.0.1:1/", "li@example.com")
        .unwrap();
    let sealed = payload("tok_1")
        .seal_to(&d.public_key(), DEVICE_ID)
        .unwrap();
    d.install("tok_1", &sealed, false).unwrap();
    (d, path, key)
}

#[test]
fn each_command_is_obeyed() {
    let dir = tempfile::tempdir().unwrap();
    let (mut d, path, key) = phone_with_card(dir.path());

    let mut rings = 0;
    let mut ring = || rings += 1;
    // No fix yet: locate fails and says why.
    assert_eq!(
        obey(&mut d, "locate", &mut ring),
        Outcome::Failed("no location fix".into())
    );
    d.set_position(people_square()).unwrap();
    assert_eq!(
        obey(&mut d, "locate", &mut ring),
        Outcome::Located(people_square())
    );
    assert_eq!(obey(&mut d, "sound", &mut ring), Outcome::Rang);
    assert!(matches!(
        obey(&mut d, "shout", &mut ring),
        Outcome::Failed(_)
    ));
    assert_eq!(obey(&mut d, "erase", &mut ring), Outcome::Erased(1));
    assert_eq!(rings, 1);
    assert!(d.cards().is_empty());
    // Erasing again finds nothing; the wipe and the position survive reopening.
    assert_eq!(obey(&mut d, "erase", &mut || {}), Outcome::Erased(0));
    drop(d);
    let d = Device::open(&path, &key).unwrap();
    assert!(d.cards().is_empty());
    assert_eq!(d.position(), Some(&people_square()));
    assert_eq!(d.device_id(), Some(DEVICE_ID));
}

/// A "verify_payment" command as the wallet's channel delivers it.
fn verify_payment(id: &str) -> CommandInfo {
    serde_json::from_value(serde_json::json!({
        "id": id, "device_id": DEVICE_ID, "kind": "verify_payment", "state": "delivered",
        "created_at": 1,
        "payment": { "payment_id": "ev_1", "merchant_name": "FamilyMart",
                     "amount": { "minor": 2000, "currency": "CNY" }, "amount_display": "20.00" }
    }))
    .unwrap()
}

/// Whether a tap without touching the sensor reports the user verified.
fn next_tap_verified(d: &mut Device) -> bool {
    d.tap(None).unwrap().report().user_verified
}

#[test]
fn a_verified_step_up_arms_only_the_next_tap() {
    let dir = tempfile::tempdir().unwrap();
    let (mut d, path, key) = phone_with_card(dir.path());
    let owner_finger = d.owner_finger();

    // The owner declines, or a stranger touches the sensor: refused, nothing armed.
    let mut shown: Vec<PaymentPrompt> = Vec::new();
    let stranger = Finger::stranger().unwrap();
    for finger in [None, Some(stranger)] {
        let mut owner = Owner {
            ring: &mut || {},
            touch: &mut |p| {
                shown.push(p.clone());
                finger.clone()
            },
        };
        assert_eq!(
            obey_command(&mut d, &verify_payment("c1"), &mut owner),
            Outcome::Refused
        );
        assert!(!next_tap_verified(&mut d));
    }
    assert_eq!(shown.len(), 2);
    assert_eq!(
        (
            shown[0].merchant_name.as_str(),
            shown[0].amount_display.as_str()
        ),
        ("FamilyMart", "20.00")
    );

    // The owner's finger: verified, and the next tap (only) carries it,
    // also after the keystore is reopened by another process.
    let mut owner = Owner {
        ring: &mut || {},
        touch: &mut |_| Some(owner_finger.clone()),
    };
    assert_eq!(
        obey_command(&mut d, &verify_payment("c2"), &mut owner),
        Outcome::Verified
    );
    drop(d);
    let mut d = Device::open(&path, &key).unwrap();
    assert!(next_tap_verified(&mut d));
    assert!(!next_tap_verified(&mut d));

    // A "verify_payment" without its payment cannot be answered yes.
    let mut bare = verify_payment("c3");
    bare.payment = None;
    assert!(matches!(
        obey_command(&mut d, &bare, &mut owner),
        Outcome::Failed(_)
    ));
}

/// A card network that is never needed: commands touch no token here.
struct NoNetwork;

fn down<'a, T: Send + 'a>() -> BoxFuture<'a, Result<T, NetworkError>> {
    Box::pin(async { Err(NetworkError::Unavailable("no network in this test".into())) })
}

impl WalletNetwork for NoNetwork {
    fn identify_and_verify<'a>(
        &'a self,
        _: &'a CardDetails,
        _: &'a DeviceBinding,
    ) -> BoxFuture<'a, Result<IdvDecision, NetworkError>> {
        down()
    }
    fn verify_otp<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
    ) -> BoxFuture<'a, Result<OtpDecision, NetworkError>> {
        down()
    }
    fn provision<'a>(
        &'a self,
        _: &'a str,
        _: &'a CardDetails,
        _: &'a DeviceBinding,
    ) -> BoxFuture<'a, Result<ProvisionedCard, NetworkError>> {
        down()
    }
    fn set_token_state<'a>(
        &'a self,
        _: &'a str,
        _: TokenState,
        _: StateReason,
        _: &'a Actor,
    ) -> BoxFuture<'a, Result<(), NetworkError>> {
        down()
    }
}

async fn wallet() -> String {
    let mut regions = Regions::new();
    regions.insert("cn", Db::for_tests().await.unwrap());
    regions.insert("in", Db::for_tests().await.unwrap());
    let config = WalletConfig {
        password_params: PasswordParams {
            m_cost_kib: 1024,
            t_cost: 1,
            p_cost: 1,
        },
        ..WalletConfig::default()
    };
    let w = Wallet::new(regions, Arc::new(NoNetwork), config)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = paytap_wallet::router(w);
    tokio::spawn(paytap_wallet::serve(
        listener,
        app,
        ServerLimits::default(),
        std::future::pending(),
    ));
    format!("http://{addr}")
}

#[tokio::test]
async fn commands_wait_for_the_device_and_are_answered() {
    let url = wallet().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.se");
    let key = KeystoreKey::key_file_for(&path);
    let mut client = WalletClient::new(&url).unwrap();
    client
        .register("li@example.com", "correct horse battery", "Li Lei")
        .await
        .unwrap();
    client
        .login("li@example.com", "correct horse battery")
        .await
        .unwrap();
    let mut d = Device::create(&path, &key, DeviceKind::Phone, "Li's phone", "emulated").unwrap();
    let info = client
        .register_device("phone", "Li's phone", "emulated", &d.public_key())
        .await
        .unwrap();
    d.set_enrolment(&info.id, &url, "li@example.com").unwrap();
    d.set_position(people_square()).unwrap();

    // The owner presses the buttons while the phone is away.
    let locate = client.send_command(&info.id, "locate").await.unwrap();
    let sound = client.send_command(&info.id, "sound").await.unwrap();
    assert_eq!(
        (locate.state.as_str(), sound.state.as_str()),
        ("queued", "queued")
    );

    // The phone comes back, opens its channel and obeys.
    let mut rang = 0;
    let mut heard: Vec<(String, Outcome)> = Vec::new();
    let n = listen(
        &mut d,
        &client,
        Some(2),
        &mut Owner {
            ring: &mut || rang += 1,
            touch: &mut |_| None,
        },
        &mut |c: &CommandInfo, o: &Outcome| heard.push((c.kind.clone(), o.clone())),
    )
    .await
    .unwrap();
    assert_eq!(n, 2);
    assert_eq!(rang, 1);
    assert_eq!(
        heard,
        vec![
            ("locate".to_string(), Outcome::Located(people_square())),
            ("sound".to_string(), Outcome::Rang),
        ]
    );
    let list = client.commands(&info.id).await.unwrap();
    let states: Vec<(&str, &str)> = list
        .iter()
        .map(|c| (c.kind.as_str(), c.state.as_str()))
        .collect();
    assert_eq!(
        states,
        vec![("sound", "acknowledged"), ("locate", "acknowledged")]
    );
    let answered = list.iter().find(|c| c.kind == "locate").unwrap();
    assert_eq!(
        answered.location.as_ref().and_then(|p| p.place.as_deref()),
        Some("People's Square, Shanghai")
    );
    // Answering "sound" is a contact too: it says where the phone is.
    let rang = list.iter().find(|c| c.kind == "sound").unwrap();
    assert_eq!(
        rang.location.as_ref().and_then(|p| p.place.as_deref()),
        Some("People's Square, Shanghai")
    );

    // An erase sent while the channel is open arrives at once.
    let owner = client.clone();
    let id = info.id.clone();
    let send = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        owner.send_command(&id, "erase").await.unwrap()
    });
    let mut owner = Owner {
        ring: &mut || {},
        touch: &mut |_| None,
    };
    let n = listen(&mut d, &client, Some(1), &mut owner, &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(n, 1);
    let erase = send.await.unwrap();
    let list = client.commands(&info.id).await.unwrap();
    let done = list.iter().find(|c| c.id == erase.id).unwrap();
    assert_eq!(done.state, "acknowledged");
}
