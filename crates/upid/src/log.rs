//! The event log: every event handed to the core, in order, with its instant.
//! Messages are kept as the XML they travel as.

use crate::service::UpidError;
use paytap_store::Db;
use paytap_upi::Vpa;
use paytap_upi::xml::{Account, AccountNumber, Ifsc, Message, Party, TxnId, decode, encode};
use paytap_upiswitch::{Event, PayerFacts, Timer};

/// One logged row: `kind, xml, txn_id, epoch, payee_ifsc, payee_account,
/// bound_at, paid_today, payer_vpa`. A collect approval keeps the payer's
/// account in the `payee_` columns (the approval names no payee).
type Row = (
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

/// Appends `event` at `seq`. Returns `false` for an event not logged (a
/// status request changes nothing).
pub(crate) async fn append(db: &Db, seq: i64, at: i64, event: &Event) -> Result<bool, UpidError> {
    let mut row: Row = (
        String::new(),
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
    );
    match event {
        Event::Request {
            req,
            payee_account,
            payer,
        } => {
            let mut req = req.clone();
            // The encrypted PIN block is not kept: see the crate docs.
            req.payer.creds.clear();
            row.0 = "request".into();
            row.1 = Some(encode(&Message::ReqPay(req))?);
            row.4 = payee_account.as_ref().map(|a| a.ifsc.as_str().to_owned());
            row.5 = payee_account.as_ref().map(|a| a.number.as_str().to_owned());
            row.6 = payer.bound_at;
            row.7 = Some(i64::try_from(payer.p2p_paid_today).unwrap_or(i64::MAX));
        }
        Event::BankResponse(r) => {
            row.0 = "bank".into();
            row.1 = Some(encode(&Message::RespPay(r.clone()))?);
        }
        Event::CheckResponse(r) => {
            row.0 = "check".into();
            row.1 = Some(encode(&Message::RespChkTxn(r.clone()))?);
        }
        Event::Timer(t) => {
            row.0 = "timer".into();
            row.2 = Some(t.txn_id.as_str().to_owned());
            row.3 = Some(i64::from(t.epoch));
        }
        // The payer's PIN block is not kept: see the crate docs.
        Event::CollectApproved {
            txn_id,
            payer,
            facts,
        } => {
            row.0 = "approved".into();
            row.2 = Some(txn_id.as_str().to_owned());
            row.4 = payer.account.as_ref().map(|a| a.ifsc.as_str().to_owned());
            row.5 = payer.account.as_ref().map(|a| a.number.as_str().to_owned());
            row.6 = facts.bound_at;
            row.8 = Some(payer.addr.as_str().to_owned());
        }
        Event::CollectDeclined { txn_id } => {
            row.0 = "declined".into();
            row.2 = Some(txn_id.as_str().to_owned());
        }
        Event::StatusRequest(_) => return Ok(false),
    }
    sqlx::query(
        "INSERT INTO upid_events (seq, at, kind, xml, txn_id, epoch, payee_ifsc, \
         payee_account, bound_at, paid_today, payer_vpa) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(seq)
    .bind(at)
    .bind(row.0)
    .bind(row.1)
    .bind(row.2)
    .bind(row.3)
    .bind(row.4)
    .bind(row.5)
    .bind(row.6)
    .bind(row.7)
    .bind(row.8)
    .execute(db.pool())
    .await?;
    Ok(true)
}

/// A row as read back: `seq, at` and the logged [`Row`].
type ReadRow = (i64, i64, Row);

/// Every logged event, in order: `(seq, at, event)`.
pub(crate) async fn read_all(db: &Db) -> Result<Vec<(i64, i64, Event)>, UpidError> {
    use sqlx::Row as _;
    let rows = sqlx::query(
        "SELECT seq, at, kind, xml, txn_id, epoch, payee_ifsc, payee_account, bound_at, \
         paid_today, payer_vpa FROM upid_events ORDER BY seq",
    )
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let row: ReadRow = (
            r.try_get(0)?,
            r.try_get(1)?,
            (
                r.try_get(2)?,
                r.try_get(3)?,
                r.try_get(4)?,
                r.try_get(5)?,
                r.try_get(6)?,
                r.try_get(7)?,
                r.try_get(8)?,
                r.try_get(9)?,
                r.try_get(10)?,
            ),
        );
        let (seq, at) = (row.0, row.1);
        out.push((seq, at, read_event(row)?));
    }
    Ok(out)
}

fn read_event((seq, _, row): ReadRow) -> Result<Event, UpidError> {
    let (kind, xml, txn_id, epoch, ifsc, number, bound_at, paid, payer_vpa) = row;
    let corrupt = || UpidError::Corrupt(format!("event {seq} ({kind})"));
    let msg = match &xml {
        Some(x) => Some(decode(x.as_bytes()).map_err(|_| corrupt())?),
        None => None,
    };
    Ok(match (kind.as_str(), msg) {
        ("request", Some(Message::ReqPay(req))) => Event::Request {
            req,
            payee_account: payee_account(seq, ifsc, number)?,
            payer: PayerFacts {
                bound_at,
                p2p_paid_today: paid.and_then(|p| u64::try_from(p).ok()).unwrap_or(0),
            },
        },
        ("bank", Some(Message::RespPay(r))) => Event::BankResponse(r),
        ("check", Some(Message::RespChkTxn(r))) => Event::CheckResponse(r),
        ("approved", None) => {
            let addr = payer_vpa.as_deref().ok_or_else(corrupt)?;
            let mut payer = Party::person(Vpa::new(addr).map_err(|_| corrupt())?);
            payer.account = payee_account(seq, ifsc, number)?;
            Event::CollectApproved {
                txn_id: logged_id(txn_id.as_deref()).ok_or_else(corrupt)?,
                payer,
                facts: PayerFacts {
                    bound_at,
                    p2p_paid_today: 0,
                },
            }
        }
        ("declined", None) => Event::CollectDeclined {
            txn_id: logged_id(txn_id.as_deref()).ok_or_else(corrupt)?,
        },
        ("timer", None) => Event::Timer(Timer {
            txn_id: logged_id(txn_id.as_deref()).ok_or_else(corrupt)?,
            epoch: epoch
                .and_then(|e| u32::try_from(e).ok())
                .ok_or_else(corrupt)?,
        }),
        _ => return Err(corrupt()),
    })
}

fn logged_id(id: Option<&str>) -> Option<TxnId> {
    TxnId::new(id?).ok()
}

/// The payee account logged with request `seq`.
fn payee_account(
    seq: i64,
    ifsc: Option<String>,
    number: Option<String>,
) -> Result<Option<Account>, UpidError> {
    let corrupt = |_| UpidError::Corrupt(format!("event {seq}: payee account"));
    let (Some(ifsc), Some(number)) = (ifsc, number) else {
        return Ok(None);
    };
    Ok(Some(Account {
        ifsc: Ifsc::new(&ifsc).map_err(corrupt)?,
        number: AccountNumber::new(&number).map_err(corrupt)?,
        kind: Some("SAVINGS".to_owned()),
    }))
}
