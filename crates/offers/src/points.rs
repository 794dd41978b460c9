//! Rewards points: earned on each captured payment by bank and channel,
//! reversed on a refund, redeemable as cashback. Balances per account,
//! bounded by [`MAX_ACCOUNTS`]; the service that runs this keeps them.

use paytap_types::{Channel, Currency, Money};
use std::collections::HashMap;

use crate::config::PointsConfig;

/// Most accounts one book holds in memory (the service pages the rest in).
pub const MAX_ACCOUNTS: usize = 1_000_000;

/// Why points do not move.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PointsError {
    /// Fewer points than asked.
    #[error("{held} points held, {asked} asked")]
    NotEnough {
        /// Points held.
        held: u64,
        /// Points asked.
        asked: u64,
    },
    /// Below the smallest redemption.
    #[error("at least {0} points are redeemed at once")]
    BelowMinimum(u64),
    /// Points have no value in this currency.
    #[error("points are not redeemable in {0}")]
    NoValue(Currency),
    /// The book holds [`MAX_ACCOUNTS`] accounts.
    #[error("the points book is full")]
    Full,
}

/// Points per account.
#[derive(Debug, Clone, Default)]
pub struct PointsBook {
    config: PointsConfig,
    balances: HashMap<Box<str>, u64>,
}

impl PointsBook {
    /// An empty book under these rules.
    pub fn new(config: PointsConfig) -> PointsBook {
        PointsBook {
            config,
            balances: HashMap::new(),
        }
    }

    /// Points a payment earns: the first rule matching its bank and
    /// channel, on the amount charged (whole points, rounded down).
    pub fn earned(&self, bank: Option<&str>, channel: Channel, charged: Money) -> u64 {
        let Some(rule) = self.config.rules.iter().find(|r| {
            r.bank.as_deref().is_none_or(|b| Some(b) == bank)
                && r.channel.is_none_or(|c| c == channel)
        }) else {
            return 0;
        };
        let unit = 10i128.pow(u32::from(charged.currency.exponent()));
        let points = i128::from(charged.minor.max(0)) * i128::from(rule.rate_bp) / (10_000 * unit);
        u64::try_from(points).unwrap_or(0)
    }

    /// An account's balance.
    pub fn balance(&self, account: &str) -> u64 {
        self.balances.get(account).copied().unwrap_or(0)
    }

    /// Sets every balance from a durable record (a service's start): the
    /// balances held before are dropped.
    pub fn restore(
        &mut self,
        balances: impl IntoIterator<Item = (String, u64)>,
    ) -> Result<(), PointsError> {
        self.balances.clear();
        for (account, points) in balances {
            if self.balances.len() >= MAX_ACCOUNTS {
                return Err(PointsError::Full);
            }
            if points > 0 {
                self.balances.insert(Box::from(account.as_str()), points);
            }
        }
        Ok(())
    }

    /// Gives back points a redemption took when its record could not be
    /// written (nothing was paid).
    pub fn undo_redeem(&mut self, account: &str, points: u64) {
        let b = self.balances.entry(Box::from(account)).or_insert(0);
        *b = b.saturating_add(points);
    }

    /// The currencies points are redeemable in, with a point's worth in
    /// minor units.
    pub fn values(&self) -> &[(Currency, i64)] {
        &self.config.value
    }

    /// Credits points (a capture).
    pub fn credit(&mut self, account: &str, points: u64) -> Result<(), PointsError> {
        if points == 0 {
            return Ok(());
        }
        if !self.balances.contains_key(account) && self.balances.len() >= MAX_ACCOUNTS {
            return Err(PointsError::Full);
        }
        let b = self.balances.entry(Box::from(account)).or_insert(0);
        *b = b.saturating_add(points);
        Ok(())
    }

    /// Takes back points a refunded payment earned; returns the points that
    /// could not be taken back because they were redeemed already.
    pub fn reverse(&mut self, account: &str, points: u64) -> u64 {
        let Some(b) = self.balances.get_mut(account) else {
            return points;
        };
        let taken = points.min(*b);
        *b -= taken;
        points - taken
    }

    /// Redeems points as cashback in `currency`.
    pub fn redeem(
        &mut self,
        account: &str,
        points: u64,
        currency: Currency,
    ) -> Result<Money, PointsError> {
        if points < self.config.min_redeem {
            return Err(PointsError::BelowMinimum(self.config.min_redeem));
        }
        let value = self
            .config
            .value
            .iter()
            .find(|(c, _)| *c == currency)
            .map(|(_, v)| *v)
            .ok_or(PointsError::NoValue(currency))?;
        let held = self.balance(account);
        if held < points {
            return Err(PointsError::NotEnough {
                held,
                asked: points,
            });
        }
        let minor = i64::try_from(i128::from(points) * i128::from(value)).map_err(|_| {
            PointsError::NotEnough {
                held,
                asked: points,
            }
        })?;
        if let Some(b) = self.balances.get_mut(account) {
            *b -= points;
        }
        Ok(Money::new(minor, currency))
    }
}
