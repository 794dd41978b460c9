//! The operator API over real HTTP, on the configured store (SQLite by
//! default, PostgreSQL with PAYTAP_TEST_DATABASE_URL): a card issued sealed
//! to a device, loaded once whatever is replayed, ridden, its gate's batch
//! uploaded twice and counted once, reported lost and then refused.

mod common;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use paytap_operator::OperatorHost;
use paytap_operator::api::{Operators, router};
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

use common::{fixture, masters};

const LOADER: &str = "00a1b2c3d4e5";
const DEVICE: &str = "band-1";

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn serve(host: OperatorHost) -> Api {
        let mut ops = Operators::new();
        ops.insert(Arc::new(host));
        let app = router(Arc::new(ops));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Api {
            base: format!("http://{addr}/transit/v1"),
            http: reqwest::Client::new(),
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }
}

/// Issues a card to `DEVICE` and opens the sealed purse with its key.
async fn issue(api: &Api, issue_id: &str, key: &DeviceKey) -> (String, Purse) {
    let public = paytap_seal::public_key_to_base64(&key.public());
    let body = json!({"issue_id": issue_id, "device_id": DEVICE, "device_public_key": public});
    let (status, v) = api.post("/beijing/cards", body).await;
    assert_eq!(status, 200, "{v}");
    let issued: WireIssued = serde_json::from_value(v).unwrap();
    let sealed = STANDARD.decode(&issued.sealed_purse).unwrap();
    let aad = purse_aad("beijing", DEVICE, &issued.card_number);
    let state = PurseState::decode(&paytap_seal::open(key, &aad, &sealed).unwrap()).unwrap();
    (issued.card_number, Purse::new(state))
}

fn ok(resp: Vec<u8>) -> Vec<u8> {
    let (data, sw) = split(&resp).unwrap();
    assert!(sw.is_success(), "card said {:04X}", sw.0);
    data.to_vec()
}

/// INITIALIZE FOR LOAD on the card: its 16-byte answer in hex.
fn init_load(p: &mut Purse, amount: u32) -> String {
    ok(p.process(&terminal::select(), [0; 4]));
    let t = hex_array::<6>(LOADER).unwrap();
    hex::encode(ok(p.process(&terminal::init_load(amount, &t), [3, 1, 4, 1])))
}

fn load_body(load_id: &str, card: &str, amount: u32, init: &str) -> Value {
    json!({"load_id": load_id, "card_number": card, "amount": amount, "terminal": LOADER, "init": init})
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
    let api = Api::serve(f.host).await;
    let key = DeviceKey::generate().unwrap();

    // Issue: the first number of the range; the same issue id again is the
    // same card; another device under it is a conflict.
    let (card, mut purse) = issue(&api, "issue-1", &key).await;
    assert_eq!(card, common::beijing().card_first);
    assert_eq!(purse.state().balance, 0);
    let (again, _) = issue(&api, "issue-1", &key).await;
    assert_eq!(again, card);
    let (second, _) = issue(&api, "issue-2", &key).await;
    assert!(second > card);
    let public = paytap_seal::public_key_to_base64(&key.public());
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
    let float = ledger.balance("transit:beijing:float").await.unwrap();
    assert_eq!(float.credits_posted, 5_000, "refused loads moved money");

    // A ride at a gate whose SAM holds the purchase master key; its batch
    // uploaded twice is counted once.
    let mut sam = Sam::new([1, 0, 0, 0, 0, 1], masters().purchase, 1);
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

    // Reported lost: on the hotlist, and refused a load.
    let (status, v) = api
        .send(reqwest::Method::GET, "/beijing/hotlist", None)
        .await;
    assert_eq!(status, 200);
    let list: WireHotlist = serde_json::from_value(v).unwrap();
    assert!(list.cards.is_empty());
    let (status, _) = api
        .post("/beijing/lost", json!({"card_number": card}))
        .await;
    assert_eq!(status, 204);
    let (_, v) = api
        .send(reqwest::Method::GET, "/beijing/hotlist", None)
        .await;
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
