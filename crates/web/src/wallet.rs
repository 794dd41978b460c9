//! [`AccountPort`] over the wallet's service layer ([`paytap_wallet::Wallet`]):
//! the site calls the wallet's plain async methods in-process, with the
//! wallet's own session, so the site and the JSON API share accounts,
//! sessions, lockouts and ownership checks.

use std::net::IpAddr;

use futures::StreamExt;
use paytap_wallet::{
    Card, Device, DeviceKind as WDeviceKind, DeviceStatus, Language, Principal, SuspendReason,
    TokenState, Transaction, Wallet, WalletError,
};
use zeroize::Zeroizing;

use crate::i18n::Lang;
use crate::port::*;

/// The web site's port implemented by the wallet service.
#[derive(Clone, Debug)]
pub struct WalletPort {
    wallet: Wallet,
}

impl WalletPort {
    pub fn new(wallet: Wallet) -> WalletPort {
        WalletPort { wallet }
    }
}

fn lang_of(l: Language) -> Lang {
    match l {
        Language::En => Lang::En,
        Language::Zh => Lang::Zh,
    }
}

fn language_of(l: Lang) -> Language {
    match l {
        Lang::En => Language::En,
        Lang::Zh => Language::Zh,
    }
}

fn principal(v: &Viewer) -> Principal {
    Principal {
        account_id: v.account_id.clone(),
        region: v.region.clone(),
        language: language_of(v.language),
        session_expires_at: v.session_expires_at,
    }
}

fn port_error(e: WalletError) -> PortError {
    match e {
        WalletError::Unauthenticated => PortError::Unauthenticated,
        WalletError::InvalidCredentials => PortError::InvalidCredentials,
        WalletError::TooManyAttempts { retry_after_secs } => PortError::Locked { retry_after_secs },
        WalletError::Busy { retry_after_secs } => PortError::Busy { retry_after_secs },
        WalletError::NotFound(_) => PortError::NotFound,
        WalletError::Network(n) => PortError::Unavailable(n.to_string()),
        WalletError::Store(s) => PortError::Internal(s.to_string()),
        WalletError::Internal(m) => PortError::Internal(m),
        other => PortError::Refused(other.public_message()),
    }
}

fn card_view(c: Card, device_name: &str) -> CardView {
    CardView {
        id: c.id,
        device_id: c.device_id,
        device_name: device_name.to_string(),
        bank_name: c.bank_name,
        last4: c.card_last4,
        is_default: c.is_default,
        suspended: c.token_state == TokenState::Suspended,
    }
}

fn device_view(d: Device, cards: Vec<Card>) -> DeviceView {
    let last_seen = d.last_seen_at.map(|at| LastSeen {
        at,
        place: d.location.as_ref().and_then(|l| l.place.clone()),
        coordinates: d.location.as_ref().map(|l| (l.lat, l.lon)),
    });
    let payments_off = match d.status {
        DeviceStatus::Active => None,
        DeviceStatus::Suspended => Some(match d.suspend_reason {
            Some(SuspendReason::Stolen) => LossReason::Stolen,
            _ => LossReason::Lost,
        }),
    };
    let cards = cards
        .into_iter()
        .filter(|c| c.token_state != TokenState::Deleted)
        .map(|c| card_view(c, &d.name))
        .collect();
    DeviceView {
        kind: match d.kind {
            WDeviceKind::Phone => DeviceKind::Phone,
            WDeviceKind::Watch => DeviceKind::Watch,
            WDeviceKind::Band => DeviceKind::Band,
        },
        holds_cards: d.capabilities.card_tokens,
        id: d.id,
        name: d.name,
        model: d.model,
        payments_off,
        last_seen,
        cards,
    }
}

fn payment_view(t: Transaction) -> PaymentView {
    PaymentView {
        id: t.id,
        at: t.at,
        merchant_name: t.merchant_name,
        amount: t.amount,
        approved: t.approved,
        response_code: t.response_code,
        reason: t.reason,
        card_last4: t.card_last4,
        bank_name: t.bank_name,
        device_id: t.device_id,
    }
}

impl WalletPort {
    async fn device_with_cards(&self, p: &Principal, d: Device) -> Result<DeviceView, PortError> {
        let cards = if d.capabilities.card_tokens {
            self.wallet.cards(p, &d.id).await.map_err(port_error)?
        } else {
            Vec::new()
        };
        Ok(device_view(d, cards))
    }
}

impl AccountPort for WalletPort {
    fn login<'a>(
        &'a self,
        login: &'a str,
        password: &'a str,
        client: Option<IpAddr>,
    ) -> BoxFuture<'a, Result<SignedIn, PortError>> {
        Box::pin(async move {
            match self.wallet.login(login, password, client).await {
                Ok(s) => Ok(SignedIn {
                    token: Zeroizing::new(s.token.clone()),
                    expires_at: s.expires_at,
                    language: lang_of(s.account.language),
                }),
                // A malformed login is a wrong login to the person signing in.
                Err(WalletError::Invalid { .. }) => Err(PortError::InvalidCredentials),
                Err(e) => Err(port_error(e)),
            }
        })
    }

    fn authenticate<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Viewer, PortError>> {
        Box::pin(async move {
            let p = self.wallet.authenticate(token).await.map_err(port_error)?;
            let account = self.wallet.account(&p).await.map_err(port_error)?;
            Ok(Viewer {
                account_id: p.account_id,
                login: account.login,
                display_name: account.display_name,
                language: lang_of(p.language),
                region: p.region,
                session_expires_at: p.session_expires_at,
            })
        })
    }

    fn logout<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<(), PortError>> {
        Box::pin(async move { self.wallet.logout(token).await.map_err(port_error) })
    }

    fn devices<'a>(
        &'a self,
        viewer: &'a Viewer,
    ) -> BoxFuture<'a, Result<Vec<DeviceView>, PortError>> {
        Box::pin(async move {
            let p = principal(viewer);
            let list = self.wallet.devices(&p).await.map_err(port_error)?;
            let mut out = Vec::with_capacity(list.len());
            for d in list {
                out.push(self.device_with_cards(&p, d).await?);
            }
            Ok(out)
        })
    }

    fn device<'a>(
        &'a self,
        viewer: &'a Viewer,
        device_id: &'a str,
    ) -> BoxFuture<'a, Result<DeviceView, PortError>> {
        Box::pin(async move {
            let p = principal(viewer);
            let d = self
                .wallet
                .device(&p, device_id)
                .await
                .map_err(port_error)?;
            self.device_with_cards(&p, d).await
        })
    }

    fn turn_off_payments<'a>(
        &'a self,
        viewer: &'a Viewer,
        device_id: &'a str,
        reason: LossReason,
    ) -> BoxFuture<'a, Result<(), PortError>> {
        Box::pin(async move {
            let reason = match reason {
                LossReason::Lost => SuspendReason::Lost,
                LossReason::Stolen => SuspendReason::Stolen,
            };
            self.wallet
                .suspend_device(&principal(viewer), device_id, reason)
                .await
                .map(|_| ())
                .map_err(port_error)
        })
    }

    fn turn_on_payments<'a>(
        &'a self,
        viewer: &'a Viewer,
        device_id: &'a str,
    ) -> BoxFuture<'a, Result<(), PortError>> {
        Box::pin(async move {
            self.wallet
                .resume_device(&principal(viewer), device_id)
                .await
                .map(|_| ())
                .map_err(port_error)
        })
    }

    fn remove_all_cards<'a>(
        &'a self,
        viewer: &'a Viewer,
        device_id: &'a str,
    ) -> BoxFuture<'a, Result<u32, PortError>> {
        Box::pin(async move {
            let p = principal(viewer);
            let before = self
                .wallet
                .device(&p, device_id)
                .await
                .map_err(port_error)?;
            let after = self
                .wallet
                .wipe_device(&p, device_id)
                .await
                .map_err(port_error)?;
            Ok(before.card_count.saturating_sub(after.card_count))
        })
    }

    fn set_default_card<'a>(
        &'a self,
        viewer: &'a Viewer,
        device_id: &'a str,
        card_id: &'a str,
    ) -> BoxFuture<'a, Result<(), PortError>> {
        Box::pin(async move {
            self.wallet
                .set_default_card(&principal(viewer), device_id, card_id)
                .await
                .map(|_| ())
                .map_err(port_error)
        })
    }

    fn remove_card<'a>(
        &'a self,
        viewer: &'a Viewer,
        device_id: &'a str,
        card_id: &'a str,
    ) -> BoxFuture<'a, Result<(), PortError>> {
        Box::pin(async move {
            self.wallet
                .remove_card(&principal(viewer), device_id, card_id)
                .await
                .map(|_| ())
                .map_err(port_error)
        })
    }

    fn payments<'a>(
        &'a self,
        viewer: &'a Viewer,
        cursor: Option<&'a str>,
        limit: u32,
    ) -> BoxFuture<'a, Result<PaymentPage, PortError>> {
        Box::pin(async move {
            let page = self
                .wallet
                .transactions(&principal(viewer), limit, cursor)
                .await
                .map_err(port_error)?;
            Ok(PaymentPage {
                items: page.items.into_iter().map(payment_view).collect(),
                next_cursor: page.next_cursor,
            })
        })
    }

    fn payment_feed<'a>(
        &'a self,
        viewer: &'a Viewer,
    ) -> BoxFuture<'a, Result<PaymentFeed, PortError>> {
        Box::pin(async move {
            let feed = self.wallet.subscribe_payments(&principal(viewer));
            let stream: PaymentFeed = Box::pin(feed.into_stream().map(payment_view));
            Ok(stream)
        })
    }
}
