//! The live feed across instances: on PostgreSQL, a payment recorded by
//! one wallet instance reaches an account holder's feed opened on another
//! instance sharing the database, once; on SQLite, the instance's own feed.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use paytap_store::Regions;
use paytap_wallet::{Wallet, WalletConfig};

/// How long a feed is given to hear a payment.
const HEAR_WITHIN: Duration = Duration::from_secs(10);
/// How long a feed is watched for a second copy that must not come.
const QUIET_FOR: Duration = Duration::from_millis(500);

/// A second instance over the first one's databases.
async fn second_instance(s: &Server) -> Wallet {
    let mut regions = Regions::new();
    regions.insert("cn", s.cn.clone());
    regions.insert("in", s.india.clone());
    let config = WalletConfig {
        clock: Arc::new(s.clock.clone()),
        ..WalletConfig::default()
    };
    Wallet::new(regions, Arc::new(s.net.clone()), config)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_payment_recorded_by_one_instance_reaches_feeds_on_every_instance_once() {
    let s = server().await;
    let t = s.account("feed@example.com").await;
    let (dev, _) = s.device(&t, "phone").await;
    let p = pan("8000000000002");
    s.net.issue(&p, "Bank G", Path::Green);
    let card = s.add_card(&t, &dev, &p).await.body["card"].clone();
    let token_ref = card["token_ref"].as_str().unwrap().to_string();
    let holder = s.wallet.authenticate(&t).await.unwrap();
    let other = second_instance(&s).await;
    let shared = s.cn.channel("paytap_wallet_feed").is_some();

    let mut here = s.wallet.subscribe_payments(&holder).await.unwrap();
    let mut there = other.subscribe_payments(&holder).await.unwrap();
    let recorded = s
        .wallet
        .record_payment(&event("e1", &token_ref, 1250, true, 1_795_000_000_000))
        .await;
    assert!(recorded.unwrap().is_some());

    let heard = tokio::time::timeout(HEAR_WITHIN, here.next()).await;
    assert_eq!(
        heard.expect("heard here").expect("a payment").amount.minor,
        1250
    );
    let again = tokio::time::timeout(QUIET_FOR, here.next()).await;
    assert!(again.is_err(), "a payment is heard once");
    let heard_there =
        tokio::time::timeout(if shared { HEAR_WITHIN } else { QUIET_FOR }, there.next()).await;
    if shared {
        let t = heard_there
            .expect("heard on the other instance")
            .expect("a payment");
        assert_eq!(
            (t.amount.minor, t.merchant_name.as_str()),
            (1250, "Lawson Shanghai")
        );
    } else {
        // SQLite: one process owns the file; another instance is not told.
        assert!(heard_there.is_err());
    }
}
