//! `paytap console operator`: an operator's login made in a data
//! directory, its password from standard input, signs in to the console;
//! a password too short is refused with a clear error.

mod common;

use common::paytap;
use paytap_store::Db;
use paytap_types::Secret;

const PASSWORD: &str = "a long operator passphrase";

#[tokio::test]
async fn an_operator_made_on_the_command_line_signs_in() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let args = [
        "console",
        "operator",
        "--data-dir",
        data,
        "--login",
        "ops@paytap.example",
    ];
    let short = paytap(&args, Some("short\n"));
    assert!(!short.status.success());
    let err = String::from_utf8_lossy(&short.stderr);
    assert!(err.contains("12 to 256 characters"), "{err}");
    let out = paytap(&args, Some(&format!("{PASSWORD}\n")));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains(PASSWORD));

    let url = format!("sqlite://{}", dir.path().join("network.db").display());
    let db = Db::connect(&url).await.unwrap();
    let operators = paytap_console::Operators::open(db, paytap_wallet::PasswordParams::default())
        .await
        .unwrap();
    let login = "ops@paytap.example";
    let now = paytap_store::now_millis();
    let signed = operators
        .sign_in(login, &Secret::new(PASSWORD.to_owned()), now)
        .await
        .unwrap();
    assert!(signed.is_some(), "the operator signs in");
    let wrong = operators
        .sign_in(login, &Secret::new("not the passphrase".to_owned()), now)
        .await
        .unwrap();
    assert!(wrong.is_none());
}
