//! The switch's ports over the token service and the issuer
//! (`paytap_network::adapters`): what the switch receives from each, and the
//! issuer's TCP endpoint answering like the in-process link. SQLite by
//! default; PostgreSQL with PAYTAP_TEST_DATABASE_URL.

mod common;

use common::*;
use paytap_iso8583::{CheckResult, Message, Mti, ResponseCode};
use paytap_issuer::Product;
use paytap_network::adapters::{IssuerAdapter, IssuerServer, TokenServiceAdapter};
use paytap_network::paytap_switch::{
    IssuerLink, LinkError, TcpIssuerLink, TokenDecision, TokenService,
};
use std::sync::Arc;

/// Detokenizes `request` through the adapter and returns the issuer's
/// request with the retrieval reference number the switch would give it,
/// once the accepted ATC is durable.
async fn issuer_request(tokens: &dyn TokenService, request: &Message, rrn: &str) -> Message {
    match tokens.detokenize(request).await {
        TokenDecision::Approved(d) => {
            if let Some(write) = d.durable {
                write.await.unwrap();
            }
            let mut m = d.issuer_request;
            m.set_rrn(rrn).unwrap();
            m
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn token_service_adapter_maps_decisions() {
    let net = start().await;
    let mut phone = net.phone(ICBC, Product::Debit, 10_000).await;
    let (_, req) = net.tap(&mut phone, 100);
    let svc: Arc<dyn TokenService> = Arc::new(TokenServiceAdapter(net.net.tsp().clone()));
    match svc.detokenize(&req).await {
        TokenDecision::Approved(d) => {
            assert_eq!(d.token_ref, phone.token_ref);
            assert_eq!(d.issuer_request.get_str(2), Some(phone.card.pan.expose()));
            let mut resp = d.issuer_request.response().unwrap();
            resp.set_response_code(ResponseCode::InsufficientFunds)
                .unwrap();
            d.completion.complete_response(&mut resp).unwrap();
            let tag91 =
                paytap_tlv::find_flat(resp.icc_data().unwrap(), paytap_tlv::tags::ISSUER_AUTH_DATA)
                    .unwrap()
                    .unwrap();
            assert_eq!(&tag91[8..], b"51");
            d.durable.unwrap().await.unwrap();
        }
        other => panic!("{other:?}"),
    }
    match svc.detokenize(&req).await {
        TokenDecision::Refused(r) => {
            assert_eq!(r.code, ResponseCode::DoNotHonour);
            assert_eq!(r.token_ref.as_deref(), Some(phone.token_ref.as_str()));
            assert_eq!(r.verification.unwrap().atc, Some(CheckResult::Failed));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn issuer_endpoint_answers_like_the_in_process_adapter() {
    let net = start().await;
    let tokens = TokenServiceAdapter(net.net.tsp().clone());
    let mut phone = net.phone(ICBC, Product::Debit, 10_000).await;
    let (_, tap) = net.tap(&mut phone, 1_000);
    let first = issuer_request(&tokens, &tap, "000000000001").await;
    let (_, tap) = net.tap(&mut phone, 20_000);
    let second = issuer_request(&tokens, &tap, "000000000002").await;

    let server = IssuerServer::bind(net.net.issuer().clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let link = TcpIssuerLink::new(server.addr);
    let r = link.exchange(first.clone()).await.unwrap();
    assert_eq!(r.response_code(), Some(ResponseCode::Approved));
    let r2 = link.exchange(second).await.unwrap();
    assert_eq!(r2.response_code(), Some(ResponseCode::InsufficientFunds));

    let in_process = IssuerAdapter(net.net.issuer().clone());
    assert_eq!(in_process.exchange(first).await.unwrap(), r);
    let not_a_request = Message::new(Mti::AUTHORIZATION_RESPONSE);
    assert!(matches!(
        in_process.exchange(not_a_request).await,
        Err(LinkError::BadRequest(_))
    ));
    server.stop().await;
}
