//! The transit purse in the secure element beside the EMV application: PPSE
//! lists both, APDUs reach the selected application, the purse's state is kept
//! in the encrypted keystore across reopening, in-process and over the TCP field.

use std::net::TcpListener;
use std::time::Duration;

use paytap_device::se::MAX_PURSES;
use paytap_device::{Device, DeviceError, DeviceKind, FieldTransport, KeystoreKey, serve_tap};
use paytap_emv::Transport;
use paytap_purse::command::PurchaseKind;
use paytap_purse::host::{Host, LoadInit};
use paytap_purse::records::{DateTime, PublicData};
use paytap_purse::sam::Sam;
use paytap_purse::terminal::{self, Next, PurchaseFlow, Receipt, split};
use paytap_purse::{MasterKeys, PurseKey, PurseState, TUNION_AID};
use paytap_testkit::card_payload;

const SERIAL: [u8; 10] = [0x10, 0x00, 0x31, 0x04, 0x99, 0x00, 0x00, 0x00, 0x00, 0x42];
const GATE: [u8; 6] = [0x01, 0, 0, 0, 0, 0x07];
const HOST_TERMINAL: [u8; 6] = [0, 0x11, 0x22, 0x33, 0x44, 0x55];
const DEVICE_ID: &str = "dev_transit_1";

fn masters() -> MasterKeys {
    MasterKeys {
        load: PurseKey::new([0x11; 16]),
        purchase: PurseKey::new([0x22; 16]),
        tac: PurseKey::new([0x33; 16]),
    }
}

fn purse_state(serial: [u8; 10]) -> PurseState {
    let public = PublicData::adult_card(*b"BJ-METRO", serial);
    PurseState::new(public, masters().derive(&serial), 100_000)
}

fn at() -> DateTime {
    DateTime::from_parts(2026, 12, 5, 8, 30, 0).unwrap()
}

fn device(dir: &std::path::Path, kind: DeviceKind) -> (Device, KeystoreKey, std::path::PathBuf) {
    let path = dir.join("dev.se");
    let key = KeystoreKey::key_file_for(&path);
    let d = Device::create(&path, &key, kind, "Li's device", "emulated").unwrap();
    (d, key, path)
}

fn send(t: &mut impl Transport, apdu: &[u8]) -> Vec<u8> {
    let r = t.transceive(apdu).unwrap();
    let (d, sw) = split(&r).unwrap();
    assert!(sw.is_success(), "{} -> {sw:?}", hex::encode(apdu));
    d.to_vec()
}

fn load(t: &mut impl Transport, amount: u32) {
    let host = Host::new(masters());
    send(t, &terminal::select());
    let d = send(t, &terminal::init_load(amount, &HOST_TERMINAL));
    let s = host
        .begin_load(
            &SERIAL,
            LoadInit::decode(&d).unwrap(),
            amount,
            HOST_TERMINAL,
        )
        .unwrap();
    let tac = send(t, &terminal::credit_load(&at(), &s.mac2(&at())));
    host.verify_load_tac(&s, &at(), tac.as_slice().try_into().unwrap())
        .unwrap();
}

fn purchase(t: &mut impl Transport, sam: &mut Sam, amount: u32) -> Receipt {
    let (mut flow, mut apdu) = PurchaseFlow::new(PurchaseKind::Simple, amount, at(), None, None);
    loop {
        let r = t.transceive(&apdu).unwrap();
        match flow.on_response(&r, sam).unwrap() {
            Next::Send(a) => apdu = a,
            Next::Done(receipt) => return receipt,
        }
    }
}

#[test]
fn band_purse_loads_and_pays_in_process_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (mut d, key, path) = device(dir.path(), DeviceKind::Band);
    assert_eq!(d.tap(None).err(), Some(DeviceError::NoCards));
    d.install_purse(&purse_state(SERIAL)).unwrap();
    let mut sam = Sam::new(GATE, masters().purchase.clone(), 1);
    {
        let mut tap = d.tap(None).unwrap();
        load(&mut tap, 5000);
        let r = purchase(&mut tap, &mut sam, 300);
        assert_eq!((r.amount, r.balance_after), (300, 4700));
        Host::new(masters())
            .verify_purchase_tac(&SERIAL, 300, 0x06, &GATE, r.terminal_seq, &at(), &r.tac)
            .unwrap();
    }
    drop(d);
    let d = Device::open(&path, &key).unwrap();
    let p = &d.purses().unwrap()[0];
    assert_eq!(
        (p.balance, p.online_counter, p.offline_counter),
        (4700, 1, 1)
    );
    let raw = std::fs::read(&path).unwrap();
    assert!(
        !raw.windows(SERIAL.len()).any(|w| w == SERIAL),
        "nothing in clear at rest"
    );
}

#[test]
fn ppse_lists_emv_and_purse_and_routes_to_the_selected_one() {
    let dir = tempfile::tempdir().unwrap();
    let (mut d, _, _) = device(dir.path(), DeviceKind::Phone);
    d.set_enrolment(DEVICE_ID, "http://127.0.0.1:1/", "li@example.com")
        .unwrap();
    let p = card_payload(
        "tok_a",
        "6295000000000018",
        "0123456789ABCDEFFEDCBA9876543210",
        0,
    );
    let sealed = p.seal_to(&d.public_key(), DEVICE_ID).unwrap();
    d.install(&p.token_ref, &sealed, false).unwrap();
    d.install_purse(&purse_state(SERIAL)).unwrap();
    let mut tap = d.tap(None).unwrap();
    let ppse = send(
        &mut tap,
        &hex::decode("00A404000E325041592E5359532E444446303100").unwrap(),
    );
    let has = |aid: &[u8]| ppse.windows(aid.len()).any(|w| w == aid);
    assert!(
        has(&hex::decode("A000000333010101").unwrap()) && has(&TUNION_AID),
        "{}",
        hex::encode(&ppse)
    );
    // The purse answers GET BALANCE once selected; the EMV card then refuses it.
    send(&mut tap, &terminal::select());
    assert_eq!(send(&mut tap, &terminal::get_balance()), 0u32.to_be_bytes());
    send(
        &mut tap,
        &hex::decode("00A4040008A00000033301010100").unwrap(),
    );
    let r = tap.transceive(&terminal::get_balance()).unwrap();
    assert_ne!(split(&r).unwrap().1.0, 0x9000);
}

#[test]
fn at_most_four_purses_and_no_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let (mut d, _, _) = device(dir.path(), DeviceKind::Watch);
    d.install_purse(&purse_state(SERIAL)).unwrap();
    assert!(matches!(
        d.install_purse(&purse_state(SERIAL)),
        Err(DeviceError::Payload(_))
    ));
    for i in 1..MAX_PURSES as u8 {
        let mut s = SERIAL;
        s[9] = i;
        d.install_purse(&purse_state(s)).unwrap();
    }
    let mut s = SERIAL;
    s[9] = 0xEE;
    assert_eq!(
        d.install_purse(&purse_state(s)),
        Err(DeviceError::Full(MAX_PURSES))
    );
}

#[test]
fn purse_over_the_tcp_field() {
    let dir = tempfile::tempdir().unwrap();
    let (mut d, _, _) = device(dir.path(), DeviceKind::Band);
    d.install_purse(&purse_state(SERIAL)).unwrap();
    {
        let mut tap = d.tap(None).unwrap();
        load(&mut tap, 1000);
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        serve_tap(stream, &mut d, None).unwrap();
        d.purses().unwrap()[0].balance
    });
    let mut field = FieldTransport::connect(addr, Duration::from_secs(10)).unwrap();
    let mut sam = Sam::new(GATE, masters().purchase.clone(), 1);
    let r = purchase(&mut field, &mut sam, 400);
    assert_eq!(r.balance_after, 600);
    drop(field);
    assert_eq!(server.join().unwrap(), 600);
}

#[test]
fn a_failed_persist_answers_6581_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut d, key, path) = device(dir.path(), DeviceKind::Band);
    d.install_purse(&purse_state(SERIAL)).unwrap();
    // A directory where the keystore's temporary file goes makes every write fail.
    let blocker = path.with_extension("se.tmp");
    {
        let mut tap = d.tap(None).unwrap();
        let host = Host::new(masters());
        send(&mut tap, &terminal::select());
        let init = send(&mut tap, &terminal::init_load(700, &HOST_TERMINAL));
        let s = host
            .begin_load(
                &SERIAL,
                LoadInit::decode(&init).unwrap(),
                700,
                HOST_TERMINAL,
            )
            .unwrap();
        std::fs::create_dir(&blocker).unwrap();
        let r = tap
            .transceive(&terminal::credit_load(&at(), &s.mac2(&at())))
            .unwrap();
        assert_eq!(r, vec![0x65, 0x81]);
        assert_eq!(send(&mut tap, &terminal::get_balance()), 0u32.to_be_bytes());
        std::fs::remove_dir(&blocker).unwrap();
        load(&mut tap, 700);
    }
    drop(d);
    let d = Device::open(&path, &key).unwrap();
    let p = &d.purses().unwrap()[0];
    assert_eq!((p.balance, p.online_counter), (700, 1));
}

/// What the operator's host answers a pending load: its MAC2 for the
/// card's INITIALIZE FOR LOAD answer.
fn host_answer(p: &paytap_device::transit::PendingLoad) -> paytap_device::transit::LoadAnswer {
    let init = LoadInit::decode(&hex::decode(&p.init).unwrap()).unwrap();
    let terminal: [u8; 6] = hex::decode(&p.terminal).unwrap().try_into().unwrap();
    let s = Host::new(masters())
        .begin_load(&SERIAL, init, p.amount, terminal)
        .unwrap();
    paytap_device::transit::LoadAnswer {
        mac2: s.mac2(&at()),
        at: at(),
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn a_sealed_purse_opens_only_for_what_it_was_sealed_as() {
    let dir = tempfile::tempdir().unwrap();
    let (mut d, _, _) = device(dir.path(), DeviceKind::Band);
    let plain = purse_state(SERIAL).encode();
    let sealed = paytap_seal::seal(&d.public_key(), b"card 42 for dev 1", &plain).unwrap();
    assert!(matches!(
        d.install_sealed_purse(b"card 43 for dev 1", &sealed),
        Err(DeviceError::Payload(_))
    ));
    let mut tampered = sealed.clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert!(
        d.install_sealed_purse(b"card 42 for dev 1", &tampered)
            .is_err()
    );
    assert!(d.purses().unwrap().is_empty());
    let state = d
        .install_sealed_purse(b"card 42 for dev 1", &sealed)
        .unwrap();
    assert_eq!(state.public.serial, SERIAL);
    assert_eq!(d.purses().unwrap().len(), 1);
}

#[test]
fn a_top_up_is_credited_once_and_a_failed_post_is_finished_on_the_next_sync() {
    use paytap_device::transit::{Finished, LoadError, PendingLoad, cancel, resume, top_up};
    let dir = tempfile::tempdir().unwrap();
    let (mut d, key, path) = device(dir.path(), DeviceKind::Band);
    d.install_purse(&purse_state(SERIAL)).unwrap();
    let paid = Some(r#"{"token":"6250940000000010"}"#.to_owned());

    // The operator's answer is credited; the request is gone afterwards.
    let mut sent = Vec::new();
    let balance = block_on(top_up(&mut d, 5_000, paid.clone(), |p: PendingLoad| {
        sent.push(p.clone());
        async move { Ok::<_, LoadError>(host_answer(&p)) }
    }))
    .unwrap();
    assert_eq!(balance, 5_000);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].card_number, hex::encode(SERIAL));
    assert_eq!((sent[0].amount, sent[0].online_counter), (5_000, 0));
    assert_eq!(sent[0].payment, paid);
    assert_eq!(d.pending_load(), None);

    // No answer from the operator: nothing credited, and the request (its
    // load id and payment) stays in the keystore; no other top-up starts.
    let failed = block_on(top_up(
        &mut d,
        1_000,
        paid.clone(),
        |_p: PendingLoad| async {
            Err::<paytap_device::transit::LoadAnswer, _>(LoadError::NoPurse)
        },
    ));
    assert!(failed.is_err());
    drop(d);
    let mut d = Device::open(&path, &key).unwrap();
    assert_eq!(d.purses().unwrap()[0].balance, 5_000);
    let pending = d.pending_load().unwrap().clone();
    assert_eq!((pending.amount, pending.online_counter), (1_000, 1));
    let blocked = block_on(top_up(&mut d, 300, None, |p: PendingLoad| async move {
        Ok::<_, LoadError>(host_answer(&p))
    }));
    assert_eq!(
        blocked.err(),
        Some(LoadError::Pending(pending.load_id.clone()))
    );

    // The sync sends the same load id and payment in a new card session;
    // the card takes the operator's MAC2 for it.
    let mut resent = Vec::new();
    let done = block_on(resume(&mut d, |p: PendingLoad| {
        resent.push(p.clone());
        async move { Ok::<_, LoadError>(host_answer(&p)) }
    }))
    .unwrap();
    assert_eq!(done, Finished::Credited(6_000));
    assert_eq!(
        (resent[0].load_id.as_str(), &resent[0].payment),
        (pending.load_id.as_str(), &paid)
    );
    assert_ne!(resent[0].init, pending.init, "a new card session");
    assert_eq!(d.pending_load(), None);
    let nothing = block_on(resume(&mut d, |p: PendingLoad| async move {
        Ok::<_, LoadError>(host_answer(&p))
    }));
    assert_eq!(nothing.unwrap(), Finished::Nothing);

    // A wrong MAC2 is refused by the card: nothing credited; cancelled,
    // the operator is asked to refund it with the card still at its counter.
    let refused = block_on(top_up(
        &mut d,
        1_000,
        paid.clone(),
        |p: PendingLoad| async move {
            let mut a = host_answer(&p);
            a.mac2[0] ^= 1;
            Ok::<_, LoadError>(a)
        },
    ));
    assert_eq!(
        refused.err(),
        Some(LoadError::Card("CREDIT FOR LOAD", 0x9302))
    );
    assert_eq!(d.purses().unwrap()[0].balance, 6_000);
    let mut refunds = Vec::new();
    let done = block_on(cancel(&mut d, |p: PendingLoad| {
        refunds.push(p);
        async { Ok::<_, LoadError>(()) }
    }))
    .unwrap();
    assert_eq!(done, Finished::Refunded(1_000));
    assert_eq!(refunds[0].online_counter, 2);
    assert_eq!(
        (d.pending_load(), d.purses().unwrap()[0].balance),
        (None, 6_000)
    );
}
