//! The demo's transit chapter: a Beijing card on the band. Li pays the
//! operator's card fee with the bank card in the phone, the operator
//! issues the card sealed to the band's key, the band tops it up with 50 CNY
//! paid with the bank card in Li's phone (the card's MAC1, the payment
//! approved through the network with the operator as merchant, then the
//! operator's MAC2), rides from Pingguoyuan to Guomao
//! through two gates that never reach the operator while the rider passes
//! (each keeps its transaction and TAC first), the gates upload later and
//! the operator's clearing checks every TAC, and Li sees the card's
//! balance and trips on the wallet; the band is reported lost on the
//! wallet, which puts its card on the hotlist, the gate downloads it and
//! refuses the next tap (before that, the card rides in Shanghai too: a
//! T-Union member card, accepted at Shanghai's gates at Shanghai's fare,
//! cleared by Shanghai and paid from Beijing's float);
//! once both gates have confirmed the hotlist with nothing left
//! to upload, Li orders what the card held, less the fare, onto a new
//! Beijing card in the phone on the wallet, and the phone's sync takes it.

use anyhow::{Context, ensure};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use paytap_device::transit::{PendingLoad, top_up};
use paytap_operator::wire::{WireIssued, purse_aad};
use paytap_transit::TransitConfig;
use paytap_transit::fare::metro_fare;
use paytap_types::{Currency, Money};
use serde_json::json;

use super::{Demo, getrandom_fill, show};
use crate::device::transit::{card_payment, operator_load, post_async, take_ordered_moves};
use crate::gate::{Station, keyring};

/// The operator of the chapter.
const OPERATOR: &str = "beijing";
/// The top-up, in fen.
const TOP_UP_MINOR: u32 = 5_000;
/// Where the ride starts and ends (operators.toml).
const ENTRY: u16 = 101;
const EXIT: u16 = 105;
/// The gate's number at each station.
const GATE: u8 = 1;
/// The T-Union ride in another city: its operator, entry and exit.
const AWAY: &str = "shanghai";
const AWAY_ENTRY: u16 = 201;
const AWAY_EXIT: u16 = 203;

fn cny(minor: u32) -> String {
    show(Money::new(i64::from(minor), Currency::CNY))
}

/// A transit card number as the rider's screen shows it.
fn masked(number: &str) -> String {
    format!("•••• {}", &number[number.len().saturating_sub(4)..])
}

impl Demo {
    /// The operators' API of the platform being played against.
    fn operator_url(&self, what: &str) -> String {
        format!(
            "{}/transit/v1/{OPERATOR}/{what}",
            self.transit_url.trim_end_matches('/')
        )
    }

    /// The gate of the chapter at `station`, its store in the demo's
    /// directory, its keys and operators those of the platform played
    /// against.
    fn station(&self, station: u16) -> anyhow::Result<Station> {
        self.station_of(OPERATOR, station)
    }

    /// A gate of `operator` at `station`, as [`Demo::station`].
    fn station_of(&self, operator: &str, station: u16) -> anyhow::Result<Station> {
        let config = TransitConfig::for_data_dir(&self.keys_dir)?;
        let dir = self.dir.join("gates").join(station.to_string());
        let keys = keyring(&self.keys_dir)?;
        Station::open(&config, operator, (station, GATE), &dir, &keys)
    }

    /// The Beijing card rides in Shanghai: a T-Union member card at a
    /// member's gates, Shanghai's fare, Shanghai's clearing. The fare.
    async fn ride_in_shanghai(&mut self, balance: u32) -> anyhow::Result<u32> {
        let mut entry = self.station_of(AWAY, AWAY_ENTRY)?;
        let mut exit = self.station_of(AWAY, AWAY_EXIT)?;
        let band = self.band.as_mut().context("no band")?;
        entry
            .tap(band, false)?
            .map_err(|why| anyhow::anyhow!("Shanghai's entry gate refused: {why}"))?;
        let out = exit
            .tap(band, true)?
            .map_err(|why| anyhow::anyhow!("Shanghai's exit gate refused: {why}"))?;
        let shanghai = TransitConfig::default_operators()
            .operator(AWAY)
            .cloned()
            .context("no Shanghai operator")?;
        let expected = metro_fare(&shanghai.metro, AWAY_ENTRY, AWAY_EXIT)?;
        ensure!(
            out.fare == expected && out.balance == balance - expected,
            "Shanghai's exit charged {} leaving {}",
            out.fare,
            out.balance
        );
        let a = entry.upload(&self.transit_url).await?;
        let b = exit.upload(&self.transit_url).await?;
        ensure!(
            a.accepted + b.accepted == 2 && a.rejected + b.rejected == 0,
            "Shanghai's clearing accepted {} and rejected {}",
            a.accepted + b.accepted,
            a.rejected + b.rejected
        );
        self.story.say(format!(
            "On a trip to Shanghai the same band opens the gates from {} to {}: the Beijing card is a T-Union member card, debited under the national T-Union key at Shanghai's fare, {}. Balance {}. Shanghai's clearing checks the TAC under the T-Union TAC key; its day's settlement takes the fare from Beijing's float, and Beijing learns of the trip for the card's history.",
            entry.name(),
            exit.name(),
            cny(out.fare),
            cny(out.balance)
        ));
        Ok(out.fare)
    }

    /// A Beijing card on the band: top up, ride offline, lost (module
    /// documentation).
    pub(super) async fn ride_the_metro(&mut self) -> anyhow::Result<()> {
        self.story
            .title("A Beijing transit card on the band: top up, ride offline, lose it");
        let number = self.issue_to_band().await?;
        let url = self.operator_url("loads");
        let phone = self.phone.as_mut().context("no phone")?;
        let payment = serde_json::to_string(&card_payment(phone, true, TOP_UP_MINOR)?)?;
        let band = self.band.as_mut().context("no band")?;
        let balance = top_up(band, TOP_UP_MINOR, Some(payment), |p: PendingLoad| {
            operator_load(&url, p)
        })
        .await?;
        ensure!(
            balance == TOP_UP_MINOR,
            "the card holds {balance} after the top-up"
        );
        self.story.say(format!(
            "Li tops it up with {}, paid with the bank card in the phone (finger on the sensor): the card signs the request (MAC1), the network approves the payment to Beijing Yikatong as merchant, the operator takes the money into its float and only then answers MAC2, the card credits itself. Balance {}.",
            cny(TOP_UP_MINOR),
            cny(balance)
        ));
        let fare = self.ride(&number).await?;
        let ledger = self.lab.ledger().await?;
        ensure!(
            ledger
                .totals
                .iter()
                .all(|t| t.debits_posted == t.credits_posted
                    && t.debits_pending == t.credits_pending),
            "the ledger does not balance after the ride"
        );
        self.story.say(format!(
            "The ledger still balances: the top-up moved from Li's card to the operator's merchant account and on to transit:{OPERATOR}:float ({} transfers in all, every currency summing to zero); the day's settlement pays the fares out of the float once the day is over.",
            ledger.transfers
        ));
        let away = self.ride_in_shanghai(TOP_UP_MINOR - fare).await?;
        self.lose_the_band(&number).await?;
        let moved = self
            .move_to_phone(&number, TOP_UP_MINOR - fare - away)
            .await?;
        self.story.ok(format!(
            "the ride cost {} and was cleared once, the one in Shanghai {}; the lost band's card is refused at the gate; {} moved to the phone",
            cny(fare),
            cny(away),
            cny(moved)
        ));
        Ok(())
    }

    /// The operator's card fee, paid with the bank card in the phone (the
    /// owner's finger on it), then the card issued sealed to the band (or
    /// the phone); the device installs it. Its number and the fee.
    async fn issue_to(&mut self, phone: bool) -> anyhow::Result<(String, u32)> {
        let mut tag = [0u8; 8];
        getrandom_fill(&mut tag)?;
        let url = self.operator_url("cards");
        let fee = TransitConfig::for_data_dir(&self.keys_dir)?
            .operator(OPERATOR)
            .context("no Beijing operator")?
            .card_fee;
        let payment = match fee {
            0 => None,
            _ => Some(card_payment(
                self.phone.as_mut().context("no phone")?,
                true,
                fee,
            )?),
        };
        let (device, id) = match phone {
            true => (self.phone.as_mut(), &self.phone_id),
            false => (self.band.as_mut(), &self.band_id),
        };
        let device = device.context("no such device")?;
        let body = json!({
            "issue_id": format!("demo-{}", hex::encode(tag)),
            "device_id": id,
            "device_public_key": paytap_seal::public_key_to_base64(&device.public_key()),
            "payment": payment,
        });
        let v = post_async(&url, &body).await?;
        let issued: WireIssued = serde_json::from_value(v).context("the issued card")?;
        ensure!(
            issued.fee == fee,
            "the operator charged {} for the card",
            issued.fee
        );
        let sealed = STANDARD.decode(&issued.sealed_purse)?;
        let aad = purse_aad(OPERATOR, id, &issued.card_number);
        device.install_sealed_purse(&aad, &sealed)?;
        Ok((issued.card_number, fee))
    }

    /// The operator issues a card sealed to the band; the band installs it.
    async fn issue_to_band(&mut self) -> anyhow::Result<String> {
        let (number, fee) = self.issue_to(false).await?;
        self.story.say(format!(
            "Li pays Beijing Yikatong's card fee of {} with the bank card in the phone (finger on the sensor; the fee stays with the operator, it is not stored value). The operator issues card {} to Li's band, personalised with its own keys and sealed to the band's key; the band's secure element installs it.",
            cny(fee),
            masked(&number)
        ));
        Ok(number)
    }

    /// In at one station, out at another, both gates offline; then they
    /// upload. The fare.
    async fn ride(&mut self, number: &str) -> anyhow::Result<u32> {
        let mut entry = self.station(ENTRY)?;
        let mut exit = self.station(EXIT)?;
        let band = self.band.as_mut().context("no band")?;
        let inside = entry
            .tap(band, false)?
            .map_err(|why| anyhow::anyhow!("the entry gate refused: {why}"))?;
        self.story.say(format!(
            "At {} Li holds the band to the gate: no finger, no unlock, no network. The gate writes the entry on the card, keeps the transaction with its TAC {}, and opens.",
            entry.name(),
            hex::encode_upper(inside.tac)
        ));
        let out = exit
            .tap(band, true)?
            .map_err(|why| anyhow::anyhow!("the exit gate refused: {why}"))?;
        let beijing = TransitConfig::default_operators()
            .operator(OPERATOR)
            .cloned()
            .context("no Beijing operator")?;
        let expected = metro_fare(&beijing.metro, ENTRY, EXIT)?;
        ensure!(
            out.fare == expected && out.balance == TOP_UP_MINOR - expected,
            "the exit charged {} leaving {}",
            out.fare,
            out.balance
        );
        ensure!(out.card_number == number, "the exit read another card");
        self.story.say(format!(
            "At {} the gate reads the entry back from the card and charges the fare by distance: {}. Balance {}.",
            exit.name(),
            cny(out.fare),
            cny(out.balance)
        ));
        let a = entry.upload(&self.transit_url).await?;
        let b = exit.upload(&self.transit_url).await?;
        ensure!(
            a.accepted + b.accepted == 2 && a.rejected + b.rejected == 0,
            "clearing accepted {} and rejected {}",
            a.accepted + b.accepted,
            a.rejected + b.rejected
        );
        self.story.say(
            "Later the gates reach the operator and upload their batches; clearing checks each TAC with the card's key: 2 records accepted, none refused.",
        );
        self.riders_view(number, TOP_UP_MINOR - out.fare).await?;
        Ok(out.fare)
    }

    /// Every gate the card rode through uploads and confirms the hotlist; Li
    /// orders the lost card's `expected` balance onto a new card in the
    /// phone on the wallet, and the phone's sync takes it. The amount moved.
    async fn move_to_phone(&mut self, lost: &str, expected: u32) -> anyhow::Result<u32> {
        let gates = [(OPERATOR, ENTRY), (OPERATOR, EXIT)];
        // The card rode in Shanghai too: its gates are waited for as well.
        let away = [(AWAY, AWAY_ENTRY), (AWAY, AWAY_EXIT)];
        for (operator, station) in gates.into_iter().chain(away) {
            let mut gate = self.station_of(operator, station)?;
            gate.upload(&self.transit_url).await?;
            gate.hotlist(&self.transit_url).await?;
        }
        let (number, _) = self.issue_to(true).await?;
        let cards = self.client.transit_cards().await?;
        let id_of = |number: &str, device: &str| {
            let last = &number[number.len().saturating_sub(4)..];
            cards
                .iter()
                .find(|c| c["last_digits"] == last && c["device_id"] == device)
                .and_then(|c| c["card_id"].as_str())
                .map(str::to_owned)
                .context("a card is not in the wallet")
        };
        let from = id_of(lost, &self.band_id)?;
        let to = id_of(&number, &self.phone_id)?;
        let order = self.client.order_transit_move(&from, &to).await?;
        ensure!(
            order["amount"] == expected && order["gates_waiting"] == 0,
            "the wallet ordered {order}"
        );
        let phone = self.phone.as_mut().context("no phone")?;
        let taken = take_ordered_moves(phone, &self.transit_url, OPERATOR).await?;
        let balance = taken.first().and_then(|m| m.balance).unwrap_or(0);
        ensure!(
            balance == expected,
            "the phone's card holds {balance} after the move"
        );
        self.story.say(format!(
            "The four gates, Beijing's and Shanghai's, upload what they hold and confirm the hotlist (Shanghai's names Beijing's lost cards too) with nothing left to send. On the web site's Transit page Li moves what the lost card held, the top-up less the fares, {}, onto a new Beijing card {} in the phone; the phone's next sync takes it (a load under the move's id, MAC1 from the phone's card): no new payment, the money was on the float already.",
            cny(expected),
            masked(&number)
        ));
        Ok(balance)
    }

    /// What Li sees of the card on the wallet once the gates uploaded:
    /// the balance as cleared, the entry and the exit.
    async fn riders_view(&mut self, number: &str, balance: u32) -> anyhow::Result<()> {
        let cards = self.client.transit_cards().await?;
        let last = &number[number.len().saturating_sub(4)..];
        let card = cards
            .iter()
            .find(|c| c["last_digits"] == last && c["device_id"] == self.band_id.as_str())
            .context("the band's card is not in the wallet")?;
        ensure!(
            card["balance"] == balance && card["status"] == "active",
            "the wallet shows {card}"
        );
        let trips: Vec<&str> = card["trips"]
            .as_array()
            .map(|t| t.iter().filter_map(|t| t["kind"].as_str()).collect())
            .unwrap_or_default();
        ensure!(
            trips == ["exit", "entry"],
            "the wallet shows the trips {trips:?}"
        );
        self.story.say(format!(
            "On the web site's Transit page Li sees card {} on the band as the operator cleared it: balance {}, the metro entry and the exit with its fare, the 50 CNY top-up.",
            masked(number),
            cny(balance)
        ));
        Ok(())
    }

    /// The band is reported lost on the wallet, which hotlists its card;
    /// the gate downloads the hotlist and refuses the card.
    async fn lose_the_band(&mut self, number: &str) -> anyhow::Result<()> {
        let d = self.client.report_lost(&self.band_id).await?;
        ensure!(
            d.status == paytap_types::DeviceStatus::Suspended,
            "the band is {} after being reported lost",
            d.status
        );
        let cards = self.client.transit_cards().await?;
        ensure!(
            cards
                .iter()
                .filter(|c| c["device_id"] == self.band_id.as_str())
                .all(|c| c["status"] == "lost"),
            "the lost band's transit cards are not hotlisted"
        );
        let gate = self.station(ENTRY)?;
        let listed = gate.hotlist(&self.transit_url).await?;
        ensure!(listed >= 1, "the hotlist is empty");
        self.story.say(format!(
            "Li loses the band and reports it lost on the web site, as for the phone: the wallet asks the operator to put card {} on its hotlist, and the gate at {} downloads it ({listed} card(s)).",
            masked(number),
            gate.name()
        ));
        let band = self.band.as_mut().context("no band")?;
        let before = band.purses()?.first().map(|p| p.balance);
        match gate.tap(band, false)? {
            Ok(_) => anyhow::bail!("the gate let a hotlisted card in"),
            Err(why) => self.story.say(format!(
                "Whoever holds the band now taps it: the gate stays closed ({why})."
            )),
        }
        let band = self.band.as_ref().context("no band")?;
        ensure!(
            band.purses()?.first().map(|p| p.balance) == before,
            "a refused tap moved money"
        );
        Ok(())
    }
}
