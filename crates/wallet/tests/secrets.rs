//! No card number, CVV, password or passcode in a log line, a response or
//! a database row, whatever the request.

mod common;

use paytap_testkit::LogCapture;

use common::*;
use serde_json::json;
use sqlx::Row;

/// Where `secret` occurs in `text` not glued to other letters or digits
/// (so a CVV is not "found" inside a timestamp).
fn find_isolated(text: &str, secret: &str) -> Option<usize> {
    text.match_indices(secret).map(|(i, _)| i).find(|&i| {
        let before = text[..i].chars().next_back();
        let after = text[i + secret.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric())
            && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

/// Every text and blob value of every wallet table, as one string.
async fn dump(db: &paytap_store::Db) -> String {
    let mut out = String::new();
    for table in [
        "wallet_accounts",
        "wallet_sessions",
        "wallet_devices",
        "wallet_cards",
        "wallet_pending",
        "wallet_transactions",
        "wallet_idempotency",
    ] {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {table}")))
            .fetch_all(db.pool())
            .await
            .unwrap();
        for row in rows {
            for (i, _) in row.columns().iter().enumerate() {
                if let Ok(Some(s)) = row.try_get::<Option<String>, _>(i) {
                    out.push_str(&s);
                } else if let Ok(Some(b)) = row.try_get::<Option<Vec<u8>>, _>(i) {
                    out.push_str(&String::from_utf8_lossy(&b));
                }
                out.push('|');
            }
        }
    }
    out
}

#[tokio::test]
async fn secrets_stay_out_of_logs_responses_and_storage() {
    let captured = LogCapture::default();
    // Everything paytap, axum and hyper log, at every level (the SQL
    // driver logs statement text and timings only, never bound values).
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace,sqlx=off"))
        .with_ansi(false)
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let s = server().await;
    let password = "s3cret-passw0rd-xyz";
    let r = s
        .send(s.http.post(s.url("/api/v1/accounts")).json(&json!({
            "login": "secret@example.com", "password": password, "display_name": "S"
        })))
        .await;
    assert_eq!(r.status, 201);
    let r = s.login("secret@example.com", "wrong-passw0rd-abc").await;
    assert_eq!(r.status, 401);
    let r = s.login("secret@example.com", password).await;
    let token = r.body["token"].as_str().unwrap().to_string();
    let (dev, _) = s.device(&token, "phone").await;

    let green = pan("7300000000001");
    let yellow = pan("7300000000002");
    s.net.issue(&green, "Bank S", Path::Green);
    s.net.issue(
        &yellow,
        "Bank S",
        Path::Yellow {
            otp: "735194".into(),
        },
    );
    let mut responses = String::new();
    // Good cards, a bad Luhn, a number as a JSON number, bad CVVs.
    let mut bad = green.clone();
    bad.pop();
    bad.push(if green.ends_with('0') { '1' } else { '0' });
    let digits: u64 = green.parse().unwrap();
    for body in [
        json!({"pan": green, "expiry": "12/30", "cvv": "123", "cardholder_name": "S"}),
        json!({"pan": bad, "expiry": "12/30", "cvv": "123", "cardholder_name": "S"}),
        json!({"pan": digits, "expiry": "12/30", "cvv": "123", "cardholder_name": "S"}),
        json!({"pan": green, "expiry": "12/30", "cvv": 987, "cardholder_name": "S"}),
        json!({"pan": yellow, "expiry": "12/30", "cvv": "123", "cardholder_name": "S"}),
    ] {
        let r = s
            .post(&token, &format!("/api/v1/devices/{dev}/cards"), body)
            .await;
        responses.push_str(&r.body.to_string());
        if r.status == 202 {
            let pid = r.body["pending"]["id"].as_str().unwrap();
            let url = format!("/api/v1/devices/{dev}/pending-cards/{pid}/otp");
            for code in ["111111", "735194"] {
                let r = s.post(&token, &url, json!({"code": code})).await;
                responses.push_str(&r.body.to_string());
            }
        }
    }
    assert_eq!(s.cards(&token, &dev).await.len(), 2);

    let logs = captured.text();
    assert!(logs.contains("card provisioned"), "logging is captured");
    let stored = dump(&s.cn).await;
    for (what, text) in [
        ("logs", &logs),
        ("responses", &responses),
        ("database", &stored),
    ] {
        for secret in [
            green.as_str(),
            yellow.as_str(),
            bad.as_str(),
            password,
            "wrong-passw0rd-abc",
            "735194",
            "987",
        ] {
            if let Some(i) = find_isolated(text, secret) {
                let ctx = &text[i.saturating_sub(200)..(i + 50).min(text.len())];
                panic!("{secret} found in {what}: ...{ctx}...");
            }
        }
        assert!(!text.contains(&token), "session token found in {what}");
    }
}
