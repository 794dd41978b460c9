//! T-Union interoperability (JT/T 978): a member card debited under the
//! national purchase key at another city's gate, its TAC under the national
//! TAC key; a card or SAM without the key index refuses it.

use paytap_purse::card::{KEY_INDEX, TUNION_KEY_INDEX, purchase_tac_input};
use paytap_purse::command::PurchaseKind;
use paytap_purse::crypto;
use paytap_purse::host::{Host, LoadInit};
use paytap_purse::records::{DateTime, PublicData};
use paytap_purse::sam::{Sam, SamError};
use paytap_purse::terminal::{self, Next, PurchaseError, PurchaseFlow, Receipt, split};
use paytap_purse::{MasterKeys, Purse, PurseKey, PurseState, TunionMasterKeys};

const SERIAL: [u8; 10] = [0x10, 0x00, 0x31, 0x04, 0x99, 0x00, 0x00, 0x00, 0x12, 0x34];
/// A gate of another city.
const FOREIGN_GATE: [u8; 6] = *b"GT\x00\xC9\x00\x01";
const HOST_TERMINAL: [u8; 6] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];

fn city() -> MasterKeys {
    MasterKeys {
        load: PurseKey::new([0x11; 16]),
        purchase: PurseKey::new([0x22; 16]),
        tac: PurseKey::new(
            [0x33; 8]
                .into_iter()
                .chain([0x44; 8])
                .collect::<Vec<_>>()
                .try_into()
                .unwrap(),
        ),
    }
}

fn tunion() -> TunionMasterKeys {
    TunionMasterKeys {
        purchase: PurseKey::new([0x55; 16]),
        tac: PurseKey::new(*b"national-tac-key"),
    }
}

fn at() -> DateTime {
    DateTime::from_parts(2026, 12, 5, 8, 30, 0).unwrap()
}

/// A card with 50.00 loaded; a member card when `member`.
fn card(member: bool) -> Purse {
    let public = PublicData::adult_card(*b"BEIJING ", SERIAL);
    let mut state = PurseState::new(public, city().derive(&SERIAL), 100_000);
    if member {
        state = state.with_tunion(tunion().derive(&SERIAL));
    }
    let mut p = Purse::new(state);
    let host = Host::new(city());
    let ok = |r: Vec<u8>| split(&r).unwrap().0.to_vec();
    ok(p.process(&terminal::select(), [1; 4]));
    let d = ok(p.process(&terminal::init_load(5000, &HOST_TERMINAL), [1; 4]));
    let s = host
        .begin_load(&SERIAL, LoadInit::decode(&d).unwrap(), 5000, HOST_TERMINAL)
        .unwrap();
    ok(p.process(&terminal::credit_load(&at(), &s.mac2(&at())), [1; 4]));
    assert_eq!(p.state().balance, 5000);
    p
}

fn member_gate_sam() -> Sam {
    // A gate of another member city: its own city's key is not the card's.
    Sam::new(FOREIGN_GATE, PurseKey::new([0x77; 16]), 1).with_tunion(tunion().purchase)
}

fn run(p: &mut Purse, sam: &mut Sam, key_index: u8, amount: u32) -> Result<Receipt, PurchaseError> {
    let (mut flow, mut apdu) = PurchaseFlow::new(PurchaseKind::Simple, amount, at(), None, None);
    flow.use_key_index(key_index);
    p.reset();
    loop {
        let r = p.process(&apdu, [7; 4]);
        match flow.on_response(&r, sam)? {
            Next::Send(a) => apdu = a,
            Next::Done(receipt) => return Ok(receipt),
        }
    }
}

fn sw_of(p: &mut Purse, apdu: &str) -> u16 {
    let r = p.process(&hex::decode(apdu.replace(' ', "")).unwrap(), [9; 4]);
    split(&r).unwrap().1.0
}

#[test]
fn key_indexes_the_card_holds_or_refuses() {
    // (member card, INITIALIZE, status word)
    let table: [(bool, &str, u16); 6] = [
        // Not a member: the T-Union index is refused with 9403, nothing changes.
        (false, "805001020B 02 00000064 00C9474F0001 0F", 0x9403),
        (false, "805003020B 02 00000000 00C9474F0001 0F", 0x9403),
        (false, "805001020B 01 00000064 00C9474F0001 0F", 0x9000),
        // A member: its own index and the T-Union one; never a load under it.
        (true, "805001020B 02 00000064 00C9474F0001 0F", 0x9000),
        (true, "805000020B 02 00000064 001122334455 10", 0x9403),
        (true, "805001020B 03 00000064 00C9474F0001 0F", 0x9403),
    ];
    for (member, apdu, expect) in table {
        let mut p = card(member);
        p.process(&terminal::select(), [0; 4]);
        assert_eq!(sw_of(&mut p, apdu), expect, "member {member}: {apdu}");
        assert_eq!((p.state().balance, p.state().offline_counter), (5000, 0));
    }
}

#[test]
fn a_member_card_pays_at_another_citys_gate_under_the_tunion_keys() {
    let mut p = card(true);
    let mut sam = member_gate_sam();
    let r = run(&mut p, &mut sam, TUNION_KEY_INDEX, 400).unwrap();
    assert_eq!((r.amount, r.balance_after, r.counter), (400, 4600, 0));
    assert_eq!(p.state().balance, 4600);
    // The TAC is under the card's T-Union TAC key, not its city's.
    let data = purchase_tac_input(400, r.type_id, &FOREIGN_GATE, r.terminal_seq, &at());
    let national = crypto::derive_card_key(&tunion().tac, &SERIAL);
    assert_eq!(crypto::tac(&national, &data), r.tac);
    let own = crypto::derive_card_key(&city().tac, &SERIAL);
    assert_ne!(crypto::tac(&own, &data), r.tac);
    // Under its own city's index, the foreign gate's key gives a MAC1 the card refuses.
    let refused = run(&mut p, &mut sam, KEY_INDEX, 400);
    assert_eq!(
        refused,
        Err(PurchaseError::Card(paytap_purse::command::sw::MAC_INVALID))
    );
    assert_eq!(p.state().balance, 4600);
}

#[test]
fn a_non_member_card_or_sam_refuses_the_tunion_index() {
    let mut plain = card(false);
    let refused = run(&mut plain, &mut member_gate_sam(), TUNION_KEY_INDEX, 400);
    assert_eq!(
        refused,
        Err(PurchaseError::Card(
            paytap_purse::command::sw::KEY_INDEX_NOT_SUPPORTED
        ))
    );
    let mut member = card(true);
    let mut own_only = Sam::new(FOREIGN_GATE, PurseKey::new([0x77; 16]), 1);
    let refused = run(&mut member, &mut own_only, TUNION_KEY_INDEX, 400);
    assert_eq!(
        refused,
        Err(PurchaseError::Sam(SamError::NoKey(TUNION_KEY_INDEX)))
    );
    assert_eq!((member.state().balance, own_only.next_seq()), (5000, 1));
}

#[test]
fn a_member_cards_state_keeps_its_tunion_keys() {
    let mut p = card(true);
    run(&mut p, &mut member_gate_sam(), TUNION_KEY_INDEX, 300).unwrap();
    let bytes = p.state().encode();
    assert_eq!(bytes[0], paytap_purse::card::STATE_FORMAT_TUNION);
    assert_eq!(PurseState::decode(&bytes).as_ref(), Ok(p.state()));
    assert!(PurseState::decode(&bytes[..bytes.len() - 1]).is_err());
    let plain = card(false).state().encode();
    assert_eq!(plain[0], paytap_purse::card::STATE_FORMAT);
    assert_eq!(PurseState::decode(&plain).unwrap().tunion, None);
}
