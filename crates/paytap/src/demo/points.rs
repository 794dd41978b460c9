//! The demo's rewards points: every payment earned points by its bank and
//! channel (ICBC by tap: two a yuan); Li redeems some as cashback through
//! the wallet, paid by the platform on the ledger.

use anyhow::{Context, ensure};

use super::Demo;

/// Points Li redeems (the smallest redemption of the default rules).
const REDEEMED: u64 = 100;
/// What they pay: a point is worth 0.01 CNY.
const CASHBACK_MINOR: i64 = 100;

fn held(v: &serde_json::Value) -> anyhow::Result<u64> {
    v["points"].as_u64().context("the wallet's points answer")
}

impl Demo {
    /// Li's points, and 100 of them redeemed as 1 CNY cashback.
    pub(super) async fn points_redeemed(&mut self) -> anyhow::Result<()> {
        let before = held(&self.client.points().await?)?;
        ensure!(before >= REDEEMED, "Li holds only {before} points");
        let paid = self.client.redeem_points(REDEEMED, "CNY").await?;
        let cashback = paid["cashback"]["minor"].as_i64().unwrap_or(0);
        ensure!(
            cashback == CASHBACK_MINOR,
            "{REDEEMED} points paid {cashback} fen, not {CASHBACK_MINOR}"
        );
        let after = held(&self.client.points().await?)?;
        ensure!(
            after == before - REDEEMED,
            "the points did not leave: {before} -> {after}"
        );
        self.story.say(format!(
            "Every payment earned rewards points by its bank and channel (ICBC by tap: two a yuan): the wallet shows {before}. Li redeems {REDEEMED} as 1.00 CNY cashback, paid from offers:points:CNY on the ledger; {after} are left."
        ));
        Ok(())
    }
}
