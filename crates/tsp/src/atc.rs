//! The application transaction counter window (EMV Book 2 §8.1 and the
//! replay protection of EMV Payment Tokenisation §5): a cryptogram is
//! accepted once, only when its ATC is above the last accepted ATC of the
//! token and at most `window` ahead of it (a card may spend counters on
//! offline declines or failed taps, but not thousands of them).

/// Why an ATC is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AtcError {
    #[error("ATC {atc} was already used (last accepted {last})")]
    Replayed { atc: u16, last: u16 },
    #[error("ATC {atc} is more than {window} ahead of the last accepted {last}")]
    TooFarAhead { atc: u16, last: u16, window: u16 },
}

/// Checks `atc` against the last accepted counter (`None` for a new token).
pub fn check_atc(last: Option<u16>, atc: u16, window: u16) -> Result<(), AtcError> {
    let window_u32 = u32::from(window);
    match last {
        None => {
            // A fresh token starts at ATC 1 (0 is never sent by paytap cards);
            // allow the first `window` counters.
            if atc == 0 {
                Err(AtcError::Replayed { atc, last: 0 })
            } else if u32::from(atc) > window_u32 {
                Err(AtcError::TooFarAhead {
                    atc,
                    last: 0,
                    window,
                })
            } else {
                Ok(())
            }
        }
        Some(last) if atc <= last => Err(AtcError::Replayed { atc, last }),
        Some(last) if u32::from(atc) > u32::from(last) + window_u32 => {
            Err(AtcError::TooFarAhead { atc, last, window })
        }
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn window_edges() {
        assert_eq!(check_atc(None, 1, 64), Ok(()));
        assert_eq!(check_atc(None, 64, 64), Ok(()));
        assert!(matches!(
            check_atc(None, 65, 64),
            Err(AtcError::TooFarAhead { .. })
        ));
        assert!(matches!(
            check_atc(None, 0, 64),
            Err(AtcError::Replayed { .. })
        ));
        assert_eq!(check_atc(Some(10), 11, 64), Ok(()));
        assert_eq!(check_atc(Some(10), 74, 64), Ok(()));
        assert_eq!(
            check_atc(Some(10), 75, 64),
            Err(AtcError::TooFarAhead {
                atc: 75,
                last: 10,
                window: 64
            })
        );
        assert_eq!(
            check_atc(Some(10), 10, 64),
            Err(AtcError::Replayed { atc: 10, last: 10 })
        );
        assert_eq!(
            check_atc(Some(10), 3, 64),
            Err(AtcError::Replayed { atc: 3, last: 10 })
        );
        // No wrap-around at the top of the counter.
        assert_eq!(check_atc(Some(u16::MAX - 1), u16::MAX, 64), Ok(()));
        assert!(check_atc(Some(u16::MAX), 0, 64).is_err());
    }

    proptest! {
        #[test]
        fn accepted_iff_strictly_inside_window(last in any::<u16>(), atc in any::<u16>(), window in 1u16..512) {
            let ok = check_atc(Some(last), atc, window).is_ok();
            prop_assert_eq!(ok, atc > last && u32::from(atc) <= u32::from(last) + u32::from(window));
        }
    }
}
