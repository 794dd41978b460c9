//! The operator API over real HTTP, on the configured store (SQLite by
//! default, PostgreSQL with PAYTAP_TEST_DATABASE_URL): a card issued sealed
//! to a device, loaded once whatever is replayed, ridden, its gate's batch
//! uploaded twice and counted once, reported lost and then refused. Loads
//! are paid through the operator's payment port (an in-memory network): a
//! load that failed after payment is completed in a new card session or
//! refunded, never paid or credited twice.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use paytap_operator::OperatorHost;
use paytap_operator::api::{Operators, router};
use paytap_operator::auth::{
    ApiKeys, CLIENT_HEADER, MAC_HEADER, STAFF, gate_client, gate_key, sign,
};
use paytap_operator::wire::{
    WireBatch, WireHotlist, WireIssued, WireLoaded, WireRecord, hex_array, purse_aad,
};
use paytap_purse::command::PurchaseKind;
use paytap_purse::records::DateTime;
use paytap_purse::sam::Sam;
use paytap_purse::terminal::{self, split};
use paytap_purse::{Purse, PurseState};
use paytap_seal::DeviceKey;
use paytap_transit::tap;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use common::{DECLINED_TOKEN, TOKEN, TestNetwork, card_payment, fixture, masters};

const LOADER: &str = "00a1b2c3d4e5";
const DEVICE: &str = "band-1";

struct Api {
    base: String,
    http: reqwest::Client,
    host: Arc<OperatorHost>,
}

impl Api {
    async fn serve(host: OperatorHost, network: &TestNetwork) -> Api {
        let mut ops = Operators::new();
        let keys = ApiKeys::new(Zeroizing::new(GATE_MASTER), Zeroizing::new(STAFF_KEY));
        let host = Arc::new(host.with_payments(Arc::new(network.clone())));
        ops.insert(host.clone(), keys);
        let app = router(Arc::new(ops));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Api {
            base: format!("http://{addr}/transit/v1"),
            http: reqwest::Client::new(),
            host,
        }
    }

    async fn send(
        &self,
        who: Who,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let bytes = body
            .map(|b| serde_json::to_vec(&b).unwrap())
            .unwrap_or_default();
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        let signed_path = format!("/transit/v1{path}");
        let signer = match who {
            Who::Nobody => None,
            Who::Gate(t) => Some((gate_client(&t), gate_key(&GATE_MASTER, &t))),
            Who::Staff => Some((STAFF.to_owned(), Zeroizing::new(STAFF_KEY))),
        };
        if let Some((client, key)) = signer {
            let mac = sign(&key, method.as_str(), &signed_path, &bytes);
            req = req.header(CLIENT_HEADER, client).header(MAC_HEADER, mac);
        }
        if !bytes.is_empty() {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(Who::Nobody, reqwest::Method::POST, path, Some(body))
            .await
    }
}

/// Who signs a request.
#[derive(Clone, Copy)]
enum Who {
    Nobody,
    Gate([u8; 6]),
    Staff,
}

/// The gate the rides are at, and another.
const GATE: [u8; 6] = [1, 0, 0, 0, 0, 1];
const OTHER_GATE: [u8; 6] = [1, 0, 0, 0, 0, 2];
const GATE_MASTER: [u8; 32] = [7; 32];
const STAFF_KEY: [u8; 32] = [8; 32];

/// Issues a card to `DEVICE` and opens the sealed purse with its key.
async fn issue(api: &Api, issue_id: &str, key: &DeviceKey) -> (String, Purse) {
    issue_to(api, issue_id, DEVICE, key).await
}

/// Issues a card to `device` and opens the sealed purse with its key.
async fn issue_to(api: &Api, issue_id: &str, device: &str, key: &DeviceKey) -> (String, Purse) {
    let public = paytap_seal::public_key_to_base64(&key.public());
    let body = json!({"issue_id": issue_id, "device_id": device, "device_public_key": public,
                      "payment": card_payment(TOKEN)});
    let (status, v) = api.post("/beijing/cards", body).await;
    assert_eq!(status, 200, "{v}");
    let issued: WireIssued = serde_json::from_value(v).unwrap();
    let sealed = STANDARD.decode(&issued.sealed_purse).unwrap();
    let aad = purse_aad("beijing", device, &issued.card_number);
    let state = PurseState::decode(&paytap_seal::open(key, &aad, &sealed).unwrap()).unwrap();
    (issued.card_number, Purse::new(state))
}

fn ok(resp: Vec<u8>) -> Vec<u8> {
    let (data, sw) = split(&resp).unwrap();
    assert!(sw.is_success(), "card said {:04X}", sw.0);
    data.to_vec()
}

/// INITIALIZE FOR LOAD on the card: its 16-byte answer in hex. Each
/// session has its own card random, as on a real card.
fn init_load(p: &mut Purse, amount: u32) -> String {
    static RANDOM: AtomicU32 = AtomicU32::new(0x0314_1592);
    ok(p.process(&terminal::select(), [0; 4]));
    let t = hex_array::<6>(LOADER).unwrap();
    let random = RANDOM.fetch_add(1, Ordering::Relaxed).to_be_bytes();
    hex::encode(ok(p.process(&terminal::init_load(amount, &t), random)))
}

fn load_body(load_id: &str, card: &str, amount: u32, init: &str) -> Value {
    paid_by(load_id, card, amount, init, TOKEN)
}

fn paid_by(load_id: &str, card: &str, amount: u32, init: &str, token: &str) -> Value {
    json!({"load_id": load_id, "card_number": card, "amount": amount, "terminal": LOADER,
           "init": init, "payment": card_payment(token)})
}

/// CREDIT FOR LOAD with the host's answer; the card's status word.
fn credit(p: &mut Purse, l: &WireLoaded) -> u16 {
    let at = hex::decode(&l.at).unwrap();
    let at = DateTime::parse(at[..4].try_into().unwrap(), at[4..].try_into().unwrap()).unwrap();
    let mac2 = hex_array::<4>(&l.mac2).unwrap();
    let resp = p.process(&terminal::credit_load(&at, &mac2), [0; 4]);
    split(&resp).unwrap().1.0
}

#[tokio::test]
async fn a_card_is_issued_loaded_ridden_cleared_and_hotlisted_over_http() {
    let f = fixture().await;
    let ledger = f.ledger.clone();
    let network = TestNetwork::open(&ledger).await;
    let api = Api::serve(f.host, &network).await;
    let key = DeviceKey::generate().unwrap();

    // Issue: the first number of the range; the same issue id again is the
    // same card; another device under it is a conflict.
    let (card, mut purse) = issue(&api, "issue-1", &key).await;
    assert_eq!(card, common::beijing().card_first);
    assert_eq!(purse.state().balance, 0);
    let (again, _) = issue(&api, "issue-1", &key).await;
    assert_eq!(again, card);
    let (second, _) = issue_to(&api, "issue-2", "phone-2", &key).await;
    assert!(second > card);
    let public = paytap_seal::public_key_to_base64(&key.public());
    // Beijing charges a card fee: an issue without the bank card paying it
    // is refused, and no number is taken.
    let (status, v) = api
        .post(
            "/beijing/cards",
            json!({"issue_id": "issue-9", "device_id": "phone-9", "device_public_key": public}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (422, Some("payment_required")),
        "{v}"
    );
    // One card per city per device: a second Beijing card for the band is
    // refused, naming the card it holds.
    let (status, v) = api
        .post(
            "/beijing/cards",
            json!({"issue_id": "issue-3", "device_id": DEVICE, "device_public_key": public}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("device_has_card"))
    );
    assert!(
        v["error"]["message"].as_str().unwrap().contains(&card),
        "{v}"
    );
    let (status, v) = api
        .post(
            "/beijing/cards",
            json!({"issue_id": "issue-1", "device_id": "phone-9", "device_public_key": public}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("id_conflict"))
    );

    // Load 50 CNY: the card takes MAC2 and its balance is 5000.
    let init = init_load(&mut purse, 5_000);
    let (status, v) = api
        .post("/beijing/loads", load_body("load-1", &card, 5_000, &init))
        .await;
    assert_eq!(status, 200, "{v}");
    let loaded: WireLoaded = serde_json::from_value(v).unwrap();
    assert_eq!(loaded.new_balance, 5_000);
    assert_eq!(credit(&mut purse, &loaded), 0x9000);
    assert_eq!(purse.state().balance, 5_000);

    // The replayed load id answers the stored MAC2; the card, whose online
    // counter moved on, refuses it: nothing is loaded twice.
    let (status, v) = api
        .post("/beijing/loads", load_body("load-1", &card, 5_000, &init))
        .await;
    assert_eq!(status, 200);
    let replay: WireLoaded = serde_json::from_value(v).unwrap();
    assert_eq!(replay, loaded);
    let _ = init_load(&mut purse, 5_000);
    assert_ne!(credit(&mut purse, &replay), 0x9000);
    assert_eq!(purse.state().balance, 5_000);
    let float = ledger.balance("transit:beijing:float").await.unwrap();
    assert_eq!(float.credits_posted, 5_000);

    // The same load id for another load is a conflict; a forged MAC1, a
    // balance above the maximum and a malformed body are refused.
    let init = init_load(&mut purse, 1_000);
    let (status, v) = api
        .post("/beijing/loads", load_body("load-1", &card, 1_000, &init))
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("id_conflict"))
    );
    let mut forged = hex::decode(&init).unwrap();
    forged[15] ^= 1;
    let (status, v) = api
        .post(
            "/beijing/loads",
            load_body("load-2", &card, 1_000, &hex::encode(forged)),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (422, Some("mac1_invalid"))
    );
    // (the card itself refuses to start such a load: the host does not
    // rely on it)
    let max = common::beijing().max_balance;
    let (status, v) = api
        .post("/beijing/loads", load_body("load-3", &card, max, &init))
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (422, Some("above_maximum"))
    );
    let (status, v) = api.post("/beijing/loads", json!({"load_id": 7})).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (422, Some("invalid"))
    );
    let (status, v) = api
        .post("/nowhere/loads", load_body("x", &card, 1, &init))
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("unknown_operator"))
    );
    let mut unpaid = load_body("load-5", &card, 1_000, &init);
    unpaid.as_object_mut().unwrap().remove("payment");
    let (status, v) = api.post("/beijing/loads", unpaid).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (422, Some("payment_required"))
    );
    let float = ledger.balance("transit:beijing:float").await.unwrap();
    assert_eq!(float.credits_posted, 5_000, "refused loads moved money");
    assert_eq!(network.load_counts(), (1, 0), "refused loads were paid");

    // A ride at a gate whose SAM holds the purchase master key; its batch
    // uploaded twice is counted once.
    let mut sam = Sam::new(GATE, masters().purchase, 1);
    let at = DateTime::from_parts(2026, 12, 5, 9, 0, 0).unwrap();
    let rec = tap::purchase(&mut purse, &mut sam, PurchaseKind::Simple, 300, at, || {
        [5; 4]
    })
    .unwrap();
    assert_eq!(purse.state().balance, 4_700);
    let batch = serde_json::to_value(WireBatch {
        records: vec![WireRecord::from(&rec)],
    })
    .unwrap();
    let mut answers = Vec::new();
    for _ in 0..2 {
        let (status, v) = api
            .send(
                Who::Gate(GATE),
                reqwest::Method::PUT,
                "/beijing/batches/gate1-0001",
                Some(batch.clone()),
            )
            .await;
        assert_eq!(status, 200, "{v}");
        answers.push(v);
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0]["accepted"], 1);
    let mut tampered = batch.clone();
    tampered["records"][0]["amount"] = json!(30);
    let (status, v) = api
        .send(
            Who::Gate(GATE),
            reqwest::Method::PUT,
            "/beijing/batches/gate1-0001",
            Some(tampered),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("id_conflict"))
    );
    let mut bad = batch.clone();
    bad["records"][0]["tac"] = json!("xyz");
    let (status, v) = api
        .send(
            Who::Gate(GATE),
            reqwest::Method::PUT,
            "/beijing/batches/gate1-0002",
            Some(bad),
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("records[0].tac")
    );

    // Only a gate uploads, and only its own records: unsigned, signed by
    // another gate or by the back office, a batch is refused unread.
    let put = reqwest::Method::PUT;
    for (who, status, code) in [
        (Who::Nobody, 401, "unauthenticated"),
        (Who::Gate(OTHER_GATE), 403, "forbidden"),
        (Who::Staff, 403, "forbidden"),
    ] {
        let (s, v) = api
            .send(
                who,
                put.clone(),
                "/beijing/batches/x-1",
                Some(batch.clone()),
            )
            .await;
        assert_eq!((s, v["error"]["code"].as_str()), (status, Some(code)));
    }
    // A MAC for another body does not verify.
    let other_body = serde_json::to_vec(&json!({"records": []})).unwrap();
    let mac = sign(
        &gate_key(&GATE_MASTER, &GATE),
        "PUT",
        "/transit/v1/beijing/batches/x-2",
        &other_body,
    );
    let resp = reqwest::Client::new()
        .put(format!("{}/beijing/batches/x-2", api.base))
        .header(CLIENT_HEADER, gate_client(&GATE))
        .header(MAC_HEADER, mac)
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);

    // Reported lost by the back office (not a gate, not anyone): on the
    // hotlist, and refused a load.
    let get = reqwest::Method::GET;
    let (status, _) = api
        .send(Who::Nobody, get.clone(), "/beijing/hotlist", None)
        .await;
    assert_eq!(status, 401);
    let (status, v) = api
        .send(Who::Gate(GATE), get.clone(), "/beijing/hotlist", None)
        .await;
    assert_eq!(status, 200);
    let list: WireHotlist = serde_json::from_value(v).unwrap();
    assert!(list.cards.is_empty());
    let lost = json!({"card_number": card});
    let post = reqwest::Method::POST;
    for (who, status) in [
        (Who::Nobody, 401),
        (Who::Gate(GATE), 403),
        (Who::Staff, 204),
    ] {
        let (s, _) = api
            .send(who, post.clone(), "/beijing/lost", Some(lost.clone()))
            .await;
        assert_eq!(s, status);
    }
    let (_, v) = api.send(Who::Staff, get, "/beijing/hotlist", None).await;
    let list: WireHotlist = serde_json::from_value(v).unwrap();
    assert_eq!(list.cards.len(), 1);
    assert_eq!(list.cards[0].card_number, card);
    let init = init_load(&mut purse, 1_000);
    let (status, v) = api
        .post("/beijing/loads", load_body("load-4", &card, 1_000, &init))
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("hotlisted"))
    );
}

/// A fresh INITIALIZE FOR LOAD of `amount` posted to `path` under load
/// `id`: the status and the answer.
async fn post_init(
    api: &Api,
    purse: &mut Purse,
    (path, id, card): (&str, &str, &str),
    amount: u32,
) -> (u16, Value) {
    let init = init_load(purse, amount);
    api.post(path, load_body(id, card, amount, &init)).await
}

/// A load answered with its MAC2.
async fn answered(api: &Api, purse: &mut Purse, id: &str, card: &str, amount: u32) -> WireLoaded {
    let (status, v) = post_init(api, purse, ("/beijing/loads", id, card), amount).await;
    assert_eq!(status, 200, "{v}");
    serde_json::from_value(v).unwrap()
}

/// A refusal's status and error code.
fn refusal((status, v): (u16, Value)) -> (u16, String) {
    (status, v["error"]["code"].as_str().unwrap_or("").to_owned())
}

async fn float(ledger: &paytap_ledger::Ledger) -> i64 {
    let b = ledger.balance("transit:beijing:float").await.unwrap();
    b.credits_posted - b.debits_posted
}

#[tokio::test]
async fn a_paid_load_the_card_never_took_is_completed_or_refunded_never_twice() {
    let f = fixture().await;
    let ledger = f.ledger.clone();
    let network = TestNetwork::open(&ledger).await;
    let api = Api::serve(f.host, &network).await;
    let key = DeviceKey::generate().unwrap();
    let (card, mut purse) = issue(&api, "issue-1", &key).await;
    let p = &mut purse;
    let code = |s: u16, c: &str| (s, c.to_owned());

    // Paid and answered, but the card left the field before CREDIT FOR
    // LOAD: its load session is gone. Another top-up of the card waits
    // until this one is finished.
    let lost = answered(&api, p, "a", &card, 2_000).await;
    let other = post_init(&api, p, ("/beijing/loads", "b", &card), 500).await;
    assert_eq!(refusal(other), code(409, "load_pending"));
    // The device syncs: the same load id in a new session gets a new
    // MAC2, the card takes it; the old MAC2 is dead.
    let renewed = answered(&api, p, "a", &card, 2_000).await;
    assert_ne!(renewed.mac2, lost.mac2);
    assert_ne!(credit(p, &lost), 0x9000);
    let renewed = answered(&api, p, "a", &card, 2_000).await;
    assert_eq!(credit(p, &renewed), 0x9000);
    assert_eq!(p.state().balance, 2_000);
    assert_eq!(
        network.load_counts(),
        (1, 0),
        "completed without paying again"
    );
    // Past its counter, the load is the card's: neither answered nor
    // refunded again.
    for path in ["/beijing/loads", "/beijing/refunds"] {
        let again = post_init(&api, p, (path, "a", &card), 2_000).await;
        assert_eq!(refusal(again), code(409, "already_credited"), "{path}");
    }

    // Paid and never taken: refunded with the card's proof that it is
    // still at the counter; the money goes back once, however often asked.
    answered(&api, p, "c", &card, 3_000).await;
    assert_eq!(float(&ledger).await, 5_000);
    for _ in 0..2 {
        let (status, v) = post_init(&api, p, ("/beijing/refunds", "c", &card), 3_000).await;
        assert_eq!((status, &v["amount"]), (200, &json!(3_000)), "{v}");
    }
    assert_eq!(network.load_counts(), (2, 1));
    assert_eq!(float(&ledger).await, 2_000);
    let again = post_init(&api, p, ("/beijing/loads", "c", &card), 3_000).await;
    assert_eq!(refusal(again), code(409, "refunded"));
    let unknown = post_init(&api, p, ("/beijing/refunds", "z", &card), 3_000).await;
    assert_eq!(refusal(unknown), code(404, "unknown_load"));

    // A declined payment loads nothing and keeps no load.
    let init = init_load(p, 1_000);
    let body = paid_by("d", &card, 1_000, &init, DECLINED_TOKEN);
    for _ in 0..2 {
        let declined = api.post("/beijing/loads", body.clone()).await;
        assert_eq!(refusal(declined), code(402, "payment_declined"));
    }
    assert_eq!(float(&ledger).await, 2_000);
    let e = answered(&api, p, "e", &card, 1_000).await;
    assert_eq!(credit(p, &e), 0x9000);
    assert_eq!((p.state().balance, float(&ledger).await), (3_000, 3_000));
    let r = ledger.check_invariants().await.unwrap();
    for (cur, b) in &r.totals {
        assert_eq!(b.debits_posted, b.credits_posted, "{cur}");
    }
}

/// A gate's batch of `records` under `id`, signed by the gate.
async fn upload(api: &Api, id: &str, records: &[paytap_transit::GateRecord]) -> u16 {
    let batch = WireBatch {
        records: records.iter().map(WireRecord::from).collect(),
    };
    let body = serde_json::to_value(batch).unwrap();
    let path = format!("/beijing/batches/{id}");
    let put = reqwest::Method::PUT;
    api.send(Who::Gate(GATE), put, &path, Some(body)).await.0
}

/// What the back office sees of a lost card.
async fn movable(api: &Api, card: &str) -> Value {
    let path = format!("/beijing/cards/{card}/movable");
    let (status, v) = api
        .send(Who::Staff, reqwest::Method::GET, &path, None)
        .await;
    assert_eq!(status, 200, "{v}");
    v
}

/// The back office moves `from`'s balance onto `to` under `move_id`.
async fn move_to(api: &Api, move_id: &str, from: &str, load: Value) -> (u16, Value) {
    let body = json!({"move_id": move_id, "from_card_number": from, "load": load});
    api.send(
        Who::Staff,
        reqwest::Method::POST,
        "/beijing/moves",
        Some(body),
    )
    .await
}

#[tokio::test]
async fn a_lost_cards_balance_moves_once_minus_what_gates_uploaded() {
    let f = fixture().await;
    let ledger = f.ledger.clone();
    let network = TestNetwork::open(&ledger).await;
    let api = Api::serve(f.host, &network).await;
    let key = DeviceKey::generate().unwrap();
    let (lost, mut band) = issue(&api, "band", &key).await;
    let loaded = answered(&api, &mut band, "l-1", &lost, 5_000).await;
    assert_eq!(credit(&mut band, &loaded), 0x9000);
    // A top-up paid whose answer never reached the card: the rider paid
    // for it, so it moves with the balance (and is never also refunded).
    let unfinished = answered(&api, &mut band, "l-2", &lost, 1_000).await;
    // Two rides at the gate: one uploaded before the loss, one still in
    // the gate when the card is reported lost.
    let mut sam = Sam::new(GATE, masters().purchase, 1);
    let mut ride = |minute: u8| {
        let at = DateTime::from_parts(2026, 12, 5, 9, minute, 0).unwrap();
        tap::purchase(&mut band, &mut sam, PurchaseKind::Simple, 300, at, || {
            [5; 4]
        })
        .unwrap()
    };
    let (first, second) = (ride(0), ride(5));
    assert_eq!(upload(&api, "g-1", &[first]).await, 200);
    let lost_body = json!({"card_number": lost});
    let post = reqwest::Method::POST;
    let (status, _) = api
        .send(Who::Staff, post, "/beijing/lost", Some(lost_body))
        .await;
    assert_eq!(status, 204);
    // The lost band's card is dead: the band may hold a new Beijing card.
    let (renewed, _) = issue(&api, "band-again", &key).await;
    assert!(renewed > lost);
    let refund = post_init(&api, &mut band, ("/beijing/refunds", "l-2", &lost), 1_000).await;
    assert_eq!(refusal(refund), (403, "hotlisted".to_owned()));
    assert_ne!(credit(&mut band, &unfinished), 0x9000);

    // The gate has not confirmed the hotlist: the balance waits.
    let m = movable(&api, &lost).await;
    assert_eq!(
        (m["balance"].as_u64(), m["gates_waiting"].as_u64()),
        (Some(5_700), Some(1))
    );
    let (new, mut phone) = issue_to(&api, "phone", "phone-1", &key).await;
    let load = |phone: &mut Purse, id: &str, amount: u32| {
        let init = init_load(phone, amount);
        json!({"load_id": id, "card_number": new, "amount": amount, "terminal": LOADER, "init": init})
    };
    let early = move_to(&api, "m-1", &lost, load(&mut phone, "n-1", 5_700)).await;
    assert_eq!(refusal(early), (409, "move_waiting".to_owned()));
    // It confirms while still holding the second ride: still waiting; it
    // uploads and confirms with nothing left: the ride is taken off.
    let get = reqwest::Method::GET;
    let (status, _) = api
        .send(
            Who::Gate(GATE),
            get.clone(),
            "/beijing/hotlist?unsent=1",
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(movable(&api, &lost).await["gates_waiting"], 1);
    assert_eq!(upload(&api, "g-2", &[second]).await, 200);
    let (status, _) = api
        .send(Who::Gate(GATE), get, "/beijing/hotlist?unsent=0", None)
        .await;
    assert_eq!(status, 200);
    let m = movable(&api, &lost).await;
    assert_eq!(
        (m["balance"].as_u64(), m["gates_waiting"].as_u64()),
        (Some(5_400), Some(0))
    );

    // The wrong amount is refused; the balance moves onto the phone's card
    // once, whatever asks again; the ledger moves nothing.
    let wrong = move_to(&api, "m-1", &lost, load(&mut phone, "n-1", 5_700)).await;
    assert_eq!(refusal(wrong), (409, "move_amount".to_owned()));
    let body = load(&mut phone, "n-1", 5_400);
    let (status, v) = move_to(&api, "m-1", &lost, body.clone()).await;
    assert_eq!(status, 200, "{v}");
    let moved: WireLoaded = serde_json::from_value(v).unwrap();
    assert_eq!(credit(&mut phone, &moved), 0x9000);
    assert_eq!(phone.state().balance, 5_400);
    let (status, v) = move_to(&api, "m-1", &lost, body).await;
    assert_eq!(
        (status, serde_json::from_value::<WireLoaded>(v).unwrap()),
        (200, moved)
    );
    let again = move_to(&api, "m-2", &lost, load(&mut phone, "n-2", 5_400)).await;
    assert_eq!(refusal(again), (409, "already_moved".to_owned()));
    assert!(movable(&api, &lost).await["moved"].as_bool().unwrap());
    assert_eq!(float(&ledger).await, 6_000);
    assert_eq!(network.load_counts(), (2, 0));
}

#[tokio::test]
async fn a_riders_view_of_a_devices_cards_and_a_lost_device_hotlisted() {
    use paytap_operator::rider::{CardStatus, TopUpState, TripKind};
    let f = fixture().await;
    let network = TestNetwork::open(&f.ledger).await;
    let api = Api::serve(f.host, &network).await;
    let key = DeviceKey::generate().unwrap();
    assert!(api.host.device_cards(DEVICE).await.unwrap().is_empty());

    // A card on the band, topped up and ridden; another on a phone.
    let (card, mut band) = issue(&api, "band", &key).await;
    let loaded = answered(&api, &mut band, "l-1", &card, 5_000).await;
    assert_eq!(credit(&mut band, &loaded), 0x9000);
    let (other, _) = issue_to(&api, "phone", "phone-1", &key).await;
    let mut sam = Sam::new(GATE, masters().purchase, 1);
    let at = DateTime::from_parts(2026, 12, 5, 9, 0, 0).unwrap();
    let ride = tap::purchase(&mut band, &mut sam, PurchaseKind::Simple, 300, at, || {
        [5; 4]
    })
    .unwrap();
    assert_eq!(upload(&api, "g-1", &[ride]).await, 200);

    // The band's card only, with what clearing and the top-up told.
    let seen = api.host.device_cards(DEVICE).await.unwrap();
    assert_eq!(seen.len(), 1);
    let c = &seen[0];
    assert_eq!(c.last_digits, card[card.len() - 4..]);
    assert_ne!(c.last_digits, other[other.len() - 4..]);
    assert_eq!(
        (c.balance, c.status, c.moved),
        (4_700, CardStatus::Active, false)
    );
    assert_eq!(c.trips.len(), 1);
    let trip = &c.trips[0];
    assert_eq!(
        (trip.kind, trip.amount, trip.balance_after, trip.at.as_str()),
        (TripKind::Fare, 300, 4_700, "20261205090000")
    );
    assert_eq!(hex::decode(&trip.terminal).unwrap(), GATE);
    assert_eq!(c.top_ups.len(), 1);
    assert_eq!(
        (c.top_ups[0].amount, c.top_ups[0].state),
        (5_000, TopUpState::Paid)
    );
    let json = serde_json::to_string(&seen).unwrap();
    assert!(
        !json.contains(&card),
        "the card number is in the view: {json}"
    );

    // The band reported lost: its card is hotlisted, once however often
    // it is said; the phone's card is not.
    assert_eq!(api.host.report_device_lost(DEVICE).await.unwrap(), 1);
    assert_eq!(api.host.report_device_lost(DEVICE).await.unwrap(), 1);
    let hot = api.host.hotlist().await.unwrap();
    assert_eq!(hot.len(), 1);
    assert_eq!(hex::encode(hot[0].serial), card);
    assert_eq!(
        api.host.device_cards(DEVICE).await.unwrap()[0].status,
        CardStatus::Lost
    );
    assert_eq!(
        api.host.device_cards("phone-1").await.unwrap()[0].status,
        CardStatus::Active
    );
    assert_eq!(api.host.report_device_lost("nobody").await.unwrap(), 0);
    assert!(api.host.device_cards("").await.is_err());

    // The band may hold a new card: both are listed, newest first.
    let (renewed, _) = issue(&api, "band-again", &key).await;
    let seen = api.host.device_cards(DEVICE).await.unwrap();
    let digits: Vec<&str> = seen.iter().map(|c| c.last_digits.as_str()).collect();
    assert_eq!(
        digits,
        [&renewed[renewed.len() - 4..], &card[card.len() - 4..]]
    );
    assert_eq!((seen[0].status, seen[0].balance), (CardStatus::Active, 0));
}

#[tokio::test]
async fn a_rider_orders_a_lost_cards_balance_which_the_receiving_device_takes_once() {
    use paytap_operator::OperatorError;
    let f = fixture().await;
    let network = TestNetwork::open(&f.ledger).await;
    let api = Api::serve(f.host, &network).await;
    let key = DeviceKey::generate().unwrap();
    let (lost, mut band) = issue(&api, "band", &key).await;
    let loaded = answered(&api, &mut band, "l-1", &lost, 5_000).await;
    assert_eq!(credit(&mut band, &loaded), 0x9000);
    let (new, mut phone) = issue_to(&api, "phone", "phone-1", &key).await;
    let (third, _) = issue_to(&api, "watch", "watch-1", &key).await;
    let id_of = |device: &'static str| {
        let host = api.host.clone();
        async move { host.device_cards(device).await.unwrap()[0].card_id.clone() }
    };
    let (band_id, phone_id, watch_id) = (
        id_of(DEVICE).await,
        id_of("phone-1").await,
        id_of("watch-1").await,
    );
    assert!(!third.is_empty());

    // Not lost yet: nothing to order. Unknown ids and a move onto itself
    // are refused.
    let refused = api.host.order_move(&band_id, &phone_id).await;
    assert!(
        matches!(refused, Err(OperatorError::NotLost)),
        "{refused:?}"
    );
    assert!(matches!(
        api.host.order_move("nope", &phone_id).await,
        Err(OperatorError::UnknownCard(_))
    ));
    assert_eq!(api.host.report_device_lost(DEVICE).await.unwrap(), 1);
    assert!(matches!(
        api.host.order_move(&band_id, &band_id).await,
        Err(OperatorError::MoveTarget(_))
    ));

    // Ordered onto the phone's card: the same order again answers the same;
    // to the watch's card it is refused; the phone's card sees it.
    let order = api.host.order_move(&band_id, &phone_id).await.unwrap();
    assert_eq!((order.amount, order.moved), (5_000, false));
    assert_eq!(
        api.host.order_move(&band_id, &phone_id).await.unwrap(),
        order
    );
    assert!(matches!(
        api.host.order_move(&band_id, &watch_id).await,
        Err(OperatorError::MoveOrdered)
    ));
    assert_eq!(
        api.host.device_cards(DEVICE).await.unwrap()[0].move_ordered_to,
        Some(phone_id.clone())
    );
    let (status, v) = api
        .send(
            Who::Nobody,
            reqwest::Method::GET,
            &format!("/beijing/cards/{new}/moves"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["moves"][0]["move_id"].as_str(),
        Some(order.move_id.as_str())
    );
    assert_eq!(v["moves"][0]["amount"], 5_000);

    // Another card cannot take it; a payment with it is refused.
    let take = |purse: &mut Purse, card: &str, id: &str, amount: u32| {
        let init = init_load(purse, amount);
        json!({"load_id": id, "card_number": card, "amount": amount, "terminal": LOADER, "init": init})
    };
    let path = format!("/beijing/moves/{}/load", order.move_id);
    let (_, mut watch) = issue_to(&api, "watch", "watch-1", &key).await;
    let wrong = api
        .post(&path, take(&mut watch, &third, "w-1", 5_000))
        .await;
    assert_eq!(refusal(wrong), (409, "move_target".to_owned()));
    let mut paid = take(&mut phone, &new, "n-1", 5_000);
    paid["payment"] = serde_json::to_value(common::card_payment(common::TOKEN)).unwrap();
    assert_eq!(refusal(api.post(&path, paid).await).0, 422);
    let unknown = api
        .post(
            "/beijing/moves/order-x/load",
            take(&mut phone, &new, "n-1", 5_000),
        )
        .await;
    assert_eq!(refusal(unknown), (404, "unknown_move".to_owned()));

    // The phone's card takes it: once; the order is then done.
    let body = take(&mut phone, &new, "n-1", 5_000);
    let (status, v) = api.post(&path, body.clone()).await;
    assert_eq!(status, 200, "{v}");
    let moved: WireLoaded = serde_json::from_value(v).unwrap();
    assert_eq!(credit(&mut phone, &moved), 0x9000);
    assert_eq!(phone.state().balance, 5_000);
    let (status, v) = api
        .send(
            Who::Nobody,
            reqwest::Method::GET,
            &format!("/beijing/cards/{new}/moves"),
            None,
        )
        .await;
    assert_eq!(
        (status, v["moves"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    assert!(api.host.device_cards(DEVICE).await.unwrap()[0].moved);
    let again = api.post(&path, take(&mut phone, &new, "n-2", 5_000)).await;
    assert_eq!(refusal(again), (409, "id_conflict".to_owned()));
    assert_eq!(phone.state().balance, 5_000);
    let float = f.ledger.balance("transit:beijing:float").await.unwrap();
    assert_eq!(
        float.credits_posted, 5_000,
        "a move moved money on the ledger"
    );
}
