//! A minimal acquirer terminal for tests, benches and the demo: installs a
//! provisioned token in an emulated secure element, runs the contactless
//! kernel (paytap-emv) against it, builds the ISO 8583:1987 `0100` a POS
//! sends (DE 2/14/23/35 from the card, DE 55 ICC data, DE 22 `071`
//! contactless chip), and talks to the switch over TCP with
//! [`AcquirerClient`] (2-byte length-prefixed frames, many requests in
//! flight, answers matched by DE 41 + DE 11).

use paytap_emv::card::CardError;
use paytap_emv::kernel::KernelError;
use paytap_emv::{
    CardProfile, ContactlessCard, DirectTransport, EmvKey, Expiry, Kernel, Outcome, SecureElement,
    TdesKey, TerminalConfig, TokenPan, Transaction, TxnDate,
};
use paytap_iso8583::mac::{self, AcquirerKey};
use paytap_iso8583::{
    FrameDecoder, Message, Mti, NetworkManagementCode, ResponseCode, encode_frame,
};
use paytap_seal::ProvisioningPayload;
use paytap_switch::frames::{Burst, spawn_frame_writer};
use paytap_types::{Money, Secret};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// Why a tap could not produce an authorization request.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    #[error("provisioning payload: {0}")]
    Payload(&'static str),
    #[error("card: {0:?}")]
    Card(CardError),
    #[error("kernel: {0}")]
    Kernel(#[from] KernelError),
    #[error("the card did not ask to go online: {0}")]
    NotOnline(String),
    #[error("message: {0}")]
    Message(#[from] paytap_iso8583::Error),
}

/// Install the token of `payload` in a secure element as a contactless
/// card application.
pub fn card_from_payload(payload: &ProvisioningPayload) -> Result<ContactlessCard, TapError> {
    let aid = hex::decode(&payload.aid_hex).map_err(|_| TapError::Payload("aid"))?;
    let pan =
        TokenPan::new(payload.token_pan.expose()).map_err(|_| TapError::Payload("token number"))?;
    let yymm = payload.expiry_yymm.as_bytes();
    let num = |i: usize| -> Option<u8> {
        let s = std::str::from_utf8(yymm.get(i..i + 2)?).ok()?;
        s.parse().ok()
    };
    let (Some(yy), Some(mm)) = (num(0), num(2)) else {
        return Err(TapError::Payload("expiry"));
    };
    let expiry = Expiry::new(yy, mm).map_err(|e| TapError::Card(e.into()))?;
    let key = match payload.key_kind.as_str() {
        "tdes" | "tdes-option-a" => EmvKey::Tdes(
            TdesKey::from_hex(payload.icc_mk_hex.expose()).map_err(|_| TapError::Payload("key"))?,
        ),
        _ => return Err(TapError::Payload("key kind")),
    };
    let mut profile = CardProfile::new(aid, &payload.app_label, pan, expiry, payload.psn, key);
    profile.initial_atc = payload.atc_start.saturating_sub(1);
    profile.requires_cdcvm = payload.cdcvm_required;
    ContactlessCard::new(profile).map_err(TapError::Card)
}

/// What a tap produced: the card data a POS puts into its `0100`. The
/// token number and track 2 are wiped on drop and never printed.
#[derive(Clone, Debug)]
pub struct TapData {
    pub icc_data: Vec<u8>,
    pub pan: Secret<String>,
    pub track2: Secret<String>,
    pub psn: Option<u8>,
    pub expiry: Expiry,
    pub atc: u16,
}

/// Run the kernel once against `se` (the user verified on the device when
/// `verified`).
pub fn tap(
    se: &mut SecureElement,
    amount: Money,
    verified: bool,
    unpredictable_number: [u8; 4],
) -> Result<TapData, TapError> {
    se.set_user_verified(verified);
    let now = time::OffsetDateTime::now_utc();
    let txn = Transaction::purchase(
        u64::try_from(amount.minor).map_err(|_| TapError::Payload("amount"))?,
        amount.currency.numeric(),
        TxnDate {
            yy: (now.year() % 100) as u8,
            mm: u8::from(now.month()),
            dd: now.day(),
        },
        unpredictable_number,
    );
    let kernel = Kernel::new(TerminalConfig::default());
    match kernel.run(&mut DirectTransport(se), &txn)? {
        Outcome::OnlineRequest {
            icc_data,
            pan,
            track2,
            psn,
            expiry,
            atc,
            ..
        } => {
            let t2: String = hex::encode_upper(&track2).trim_end_matches('F').to_owned();
            Ok(TapData {
                icc_data,
                pan: Secret::new(pan.expose().to_owned()),
                track2: Secret::new(t2),
                psn,
                expiry,
                atc,
            })
        }
        Outcome::Declined { .. } => Err(TapError::NotOnline("declined offline".into())),
        Outcome::TryAgain { reason } => Err(TapError::NotOnline(format!("{reason:?}"))),
    }
}

/// Where the terminal is.
#[derive(Debug, Clone)]
pub struct Merchant {
    pub acquirer_id: String,
    pub terminal_id: String,
    pub merchant_id: String,
    pub name: String,
    pub city: String,
    pub mcc: String,
}

impl Default for Merchant {
    fn default() -> Self {
        Merchant {
            acquirer_id: paytap_types::DEMO_ACQUIRER_ID.into(),
            terminal_id: "PT000001".into(),
            merchant_id: "MER000000000001".into(),
            name: "paytap demo store".into(),
            city: "Beijing".into(),
            mcc: "5411".into(),
        }
    }
}

/// The `0100` a contactless POS sends for `tap` (DE 22 `071`: contactless
/// chip, PIN capable).
pub fn authorization_request(
    tap: &TapData,
    amount: Money,
    stan: u32,
    merchant: &Merchant,
) -> Result<Message, TapError> {
    let now = time::OffsetDateTime::now_utc();
    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
    m.set(2, tap.pan.expose().as_str())?;
    m.set_processing_code("000000")?;
    m.set_amount(u64::try_from(amount.minor).map_err(|_| TapError::Payload("amount"))?)?;
    m.set_transmission_datetime_at(now)?;
    m.set_stan(stan)?;
    m.set_local_datetime_at(now)?;
    m.set_expiry(tap.expiry.year(), tap.expiry.month())?;
    m.set_merchant_type(&merchant.mcc)?;
    m.set_pos_entry_mode("071")?;
    if let Some(psn) = tap.psn {
        m.set_pan_sequence_number(u16::from(psn))?;
    }
    m.set(25, "00")?;
    m.set_acquirer_id(&merchant.acquirer_id)?;
    m.set_track2(tap.track2.expose())?;
    m.set_terminal_id(&merchant.terminal_id)?;
    m.set_merchant_id(&merchant.merchant_id)?;
    m.set_name_location(&merchant.name, &merchant.city, "CN")?;
    m.set_currency(amount.currency.numeric())?;
    m.set_icc_data(&tap.icc_data)?;
    Ok(m)
}

/// Why an exchange with the switch failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    #[error("connection: {0}")]
    Io(String),
    #[error("request lacks DE 11 or DE 41")]
    Unmatchable,
    #[error("connection closed before the answer")]
    Closed,
    #[error("the switch refused the sign-on ({0})")]
    SignOn(String),
    #[error("the answer's MAC or DE 7 does not match the request: treated as no answer")]
    Unauthentic,
}

/// A request waiting for its answer: where to hand it, and the request's
/// DE 7 the answer must echo.
struct Waiter {
    answer: oneshot::Sender<Result<Message, ClientError>>,
    de7: [u8; 10],
}

type Waiters = Arc<Mutex<HashMap<(String, Vec<u8>), Waiter>>>;

fn de7_of(m: &Message) -> [u8; 10] {
    let mut out = [0u8; 10];
    if let Some(v) = m.get(7) {
        for (o, b) in out.iter_mut().zip(v) {
            *o = *b;
        }
    }
    out
}

/// An acquirer connection to the switch, signed on as one acquirer: every
/// request is signed with its key (DE 64/128), every answer's MAC is
/// checked and must echo the request's DE 7, DE 11 and DE 41; many
/// requests in flight, answers matched by (DE 41, DE 11).
#[derive(Clone)]
pub struct AcquirerClient {
    tx: mpsc::Sender<Vec<u8>>,
    waiting: Waiters,
    key: Arc<AcquirerKey>,
    acquirer_id: Arc<str>,
}

/// The terminal id the client signs on under (DE 41 of its `0800`).
const SIGN_ON_TERMINAL: &str = "SIGNON00";

/// Requests a client connection queues for its writer (a bench drives
/// thousands in flight over a few connections).
const TERMINAL_QUEUE_FRAMES: usize = 4096;

impl AcquirerClient {
    /// Connect to the switch's acquirer port and sign on as `acquirer_id`
    /// with `key`.
    pub async fn connect(
        addr: SocketAddr,
        acquirer_id: &str,
        key: AcquirerKey,
    ) -> Result<AcquirerClient, ClientError> {
        let client = AcquirerClient::open(addr, acquirer_id, key).await?;
        let mut on = Message::new(Mti::NETWORK_REQUEST);
        let now = time::OffsetDateTime::now_utc();
        let fail = |e: paytap_iso8583::Error| ClientError::Io(e.to_string());
        on.set_transmission_datetime_at(now).map_err(fail)?;
        on.set_stan(1).map_err(fail)?;
        on.set_terminal_id(SIGN_ON_TERMINAL).map_err(fail)?;
        on.set_network_management_code(NetworkManagementCode::SignOn)
            .map_err(fail)?;
        let answer = client.send(&on).await?;
        match answer.response_code() {
            Some(ResponseCode::Approved) => Ok(client),
            other => Err(ClientError::SignOn(
                other.map_or("no response code", |c| c.code()).to_owned(),
            )),
        }
    }

    async fn open(
        addr: SocketAddr,
        acquirer_id: &str,
        key: AcquirerKey,
    ) -> Result<AcquirerClient, ClientError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| ClientError::Io(e.to_string()))?;
        // Without TCP_NODELAY small frames only wait longer.
        let _ = stream.set_nodelay(true);
        let (mut rd, wr) = stream.into_split();
        // Requests come in bursts (a burst of answers sets its terminals
        // sending again): one write carries a burst.
        let (tx, _writer) = spawn_frame_writer(wr, TERMINAL_QUEUE_FRAMES, Burst::YieldFirst);
        let waiting: Waiters = Arc::default();
        let w = waiting.clone();
        let key = Arc::new(key);
        let k = key.clone();
        tokio::spawn(async move {
            let mut dec = FrameDecoder::new(paytap_iso8583::MAX_FRAME);
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                dec.push(buf.get(..n).unwrap_or(&[]));
                while let Ok(Some(frame)) = dec.next_frame() {
                    let Ok(msg) = Message::decode(&frame) else {
                        continue;
                    };
                    let key = (
                        msg.terminal_id().unwrap_or("").to_owned(),
                        msg.get(11).unwrap_or(&[]).to_vec(),
                    );
                    let waiter = paytap_types::sync::lock(&w, "terminal waiters").remove(&key);
                    if let Some(waiter) = waiter {
                        let authentic =
                            mac::verify(&msg, &k).is_ok() && msg.get(7) == Some(&waiter.de7[..]);
                        if !authentic {
                            tracing::warn!(
                                "answer from the switch with a bad MAC or DE 7: treated as no answer"
                            );
                        }
                        // The caller may have given up waiting; its answer is then not needed.
                        let _ = waiter.answer.send(if authentic {
                            Ok(msg)
                        } else {
                            Err(ClientError::Unauthentic)
                        });
                    }
                }
            }
            paytap_types::sync::lock(&w, "terminal waiters").clear();
        });
        Ok(AcquirerClient {
            tx,
            waiting,
            key,
            acquirer_id: Arc::from(acquirer_id),
        })
    }

    /// The acquirer this client signed on as.
    pub fn acquirer_id(&self) -> &str {
        &self.acquirer_id
    }

    /// Sign `request` as this acquirer (DE 32 set when absent).
    pub fn sign(&self, request: &mut Message) {
        if !request.has(32)
            && let Err(e) = request.set_acquirer_id(&self.acquirer_id)
        {
            tracing::warn!(error = %e, "acquirer id not set on the request; the switch will refuse it");
        }
        mac::sign(request, &self.key);
    }

    /// Sign and send `request`, and wait for its authentic answer.
    pub async fn send(&self, request: &Message) -> Result<Message, ClientError> {
        let mut request = request.clone();
        self.sign(&mut request);
        let key = (
            request
                .terminal_id()
                .ok_or(ClientError::Unmatchable)?
                .to_owned(),
            request.get(11).ok_or(ClientError::Unmatchable)?.to_vec(),
        );
        let mut frame = Vec::with_capacity(request.encoded_len() + 2);
        encode_frame(&request.encode(), &mut frame).map_err(|e| ClientError::Io(e.to_string()))?;
        self.exchange(frame, key, de7_of(&request)).await
    }

    /// Send an already signed and encoded frame (prefix included) and wait
    /// for the authentic answer to (`terminal_id`, `stan`), which must echo
    /// `de7`: the bench's pre-encoded requests.
    pub async fn send_frame(
        &self,
        frame: Vec<u8>,
        terminal_id: &str,
        stan: u32,
        de7: [u8; 10],
    ) -> Result<Message, ClientError> {
        let key = (terminal_id.to_owned(), format!("{stan:06}").into_bytes());
        self.exchange(frame, key, de7).await
    }

    async fn exchange(
        &self,
        frame: Vec<u8>,
        key: (String, Vec<u8>),
        de7: [u8; 10],
    ) -> Result<Message, ClientError> {
        let (tx, rx) = oneshot::channel();
        paytap_types::sync::lock(&self.waiting, "terminal waiters")
            .insert(key, Waiter { answer: tx, de7 });
        self.tx.send(frame).await.map_err(|_| ClientError::Closed)?;
        rx.await.map_err(|_| ClientError::Closed)?
    }
}
