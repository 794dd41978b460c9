//! One offer's budget as a state machine over minor units: reserved at
//! authorization, spent at capture, returned on a decline, reversal or
//! refund. `reserved + spent <= total` holds after every call: a reservation
//! that would break it is refused, and every other call only moves money
//! already counted.

use serde::Serialize;

/// Why a budget refuses a move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    /// Not enough left.
    #[error("budget exhausted: {left} left, {asked} asked")]
    Exhausted {
        /// What is left, minor units.
        left: i64,
        /// What was asked.
        asked: i64,
    },
    /// An amount of zero or below.
    #[error("a budget moves only amounts above zero")]
    NotPositive,
    /// More confirmed or released than reserved, or refunded than spent:
    /// the caller's bookkeeping is wrong, and nothing moved.
    #[error("more returned than was taken")]
    Unbalanced,
}

/// A budget's numbers, minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Budget {
    /// What the funder pays in all.
    pub total: i64,
    /// Held for authorized payments not yet captured.
    pub reserved: i64,
    /// Paid out for captured payments, net of refunds.
    pub spent: i64,
}

impl Budget {
    /// A fresh budget.
    pub fn new(total: i64) -> Budget {
        Budget {
            total: total.max(0),
            reserved: 0,
            spent: 0,
        }
    }

    /// What can still be reserved.
    pub fn left(&self) -> i64 {
        self.total - self.reserved - self.spent
    }

    fn positive(a: i64) -> Result<(), BudgetError> {
        if a <= 0 {
            return Err(BudgetError::NotPositive);
        }
        Ok(())
    }

    /// Holds `a` for an authorized payment.
    pub fn reserve(&mut self, a: i64) -> Result<(), BudgetError> {
        Self::positive(a)?;
        if a > self.left() {
            return Err(BudgetError::Exhausted {
                left: self.left(),
                asked: a,
            });
        }
        self.reserved += a;
        Ok(())
    }

    /// Turns a held `a` into spent (capture).
    pub fn confirm(&mut self, a: i64) -> Result<(), BudgetError> {
        Self::positive(a)?;
        if a > self.reserved {
            return Err(BudgetError::Unbalanced);
        }
        self.reserved -= a;
        self.spent += a;
        Ok(())
    }

    /// Returns a held `a` (decline, reversal before capture).
    pub fn release(&mut self, a: i64) -> Result<(), BudgetError> {
        Self::positive(a)?;
        if a > self.reserved {
            return Err(BudgetError::Unbalanced);
        }
        self.reserved -= a;
        Ok(())
    }

    /// Returns a spent `a` (refund or reversal after capture: the discount
    /// goes back to the budget, the cashback is clawed back).
    pub fn refund(&mut self, a: i64) -> Result<(), BudgetError> {
        Self::positive(a)?;
        if a > self.spent {
            return Err(BudgetError::Unbalanced);
        }
        self.spent -= a;
        Ok(())
    }

    /// Changes the total (an operator's edit); refused below what is
    /// already reserved and spent.
    pub fn set_total(&mut self, total: i64) -> Result<(), BudgetError> {
        if total < self.reserved + self.spent {
            return Err(BudgetError::Exhausted {
                left: self.left(),
                asked: self.total - total,
            });
        }
        self.total = total;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Reserve(i64),
        Confirm(usize),
        Release(usize),
        Refund(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1i64..5_000).prop_map(Op::Reserve),
            any::<usize>().prop_map(Op::Confirm),
            any::<usize>().prop_map(Op::Release),
            any::<usize>().prop_map(Op::Refund),
        ]
    }

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Held {
        Reserved(i64),
        Spent(i64),
        Done,
    }

    proptest! {
        /// Any interleaving of reservations, captures, releases and
        /// refunds (the wrong ones included): reserved + spent never
        /// exceeds the total, the numbers match the holds, and once every
        /// hold is released or refunded everything is back.
        #[test]
        fn a_budget_is_never_overspent(total in 1i64..50_000, ops in proptest::collection::vec(op(), 0..300)) {
            let mut b = Budget::new(total);
            let mut holds: Vec<Held> = Vec::new();
            for op in ops {
                match op {
                    Op::Reserve(a) => {
                        let ok = b.reserve(a).is_ok();
                        prop_assert_eq!(ok, a <= total - sum(&holds));
                        if ok { holds.push(Held::Reserved(a)); }
                    }
                    _ if holds.is_empty() => {}
                    Op::Confirm(i) => {
                        let i = i % holds.len();
                        if let Held::Reserved(a) = holds[i] {
                            b.confirm(a).unwrap();
                            holds[i] = Held::Spent(a);
                        }
                    }
                    Op::Release(i) => {
                        let i = i % holds.len();
                        if let Held::Reserved(a) = holds[i] {
                            b.release(a).unwrap();
                            holds[i] = Held::Done;
                        }
                    }
                    Op::Refund(i) => {
                        let i = i % holds.len();
                        if let Held::Spent(a) = holds[i] {
                            b.refund(a).unwrap();
                            holds[i] = Held::Done;
                        }
                    }
                }
                prop_assert!(b.reserved >= 0 && b.spent >= 0);
                prop_assert!(b.reserved + b.spent <= b.total);
                prop_assert_eq!(b.reserved, holds.iter().map(|h| if let Held::Reserved(a) = h { *a } else { 0 }).sum::<i64>());
                prop_assert_eq!(b.spent, holds.iter().map(|h| if let Held::Spent(a) = h { *a } else { 0 }).sum::<i64>());
            }
            for h in &holds {
                match *h {
                    Held::Reserved(a) => b.release(a).unwrap(),
                    Held::Spent(a) => b.refund(a).unwrap(),
                    Held::Done => {}
                }
            }
            prop_assert_eq!(b, Budget::new(total));
        }
    }

    fn sum(holds: &[Held]) -> i64 {
        holds
            .iter()
            .map(|h| match h {
                Held::Reserved(a) | Held::Spent(a) => *a,
                Held::Done => 0,
            })
            .sum()
    }

    #[test]
    fn wrong_moves_are_refused_and_move_nothing() {
        let mut b = Budget::new(1_000);
        b.reserve(600).unwrap();
        for (r, e) in [
            (
                b.clone().reserve(401),
                BudgetError::Exhausted {
                    left: 400,
                    asked: 401,
                },
            ),
            (b.clone().confirm(601), BudgetError::Unbalanced),
            (b.clone().release(0), BudgetError::NotPositive),
            (b.clone().refund(1), BudgetError::Unbalanced),
        ] {
            assert_eq!(r, Err(e));
        }
        assert!(b.set_total(599).is_err());
        b.set_total(600).unwrap();
        assert_eq!(b.left(), 0);
    }
}
