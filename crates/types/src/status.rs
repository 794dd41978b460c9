//! The wallet's statuses as both of its sides read them: the wallet service
//! stores and answers them, the device's wallet client reads them back.

use serde::{Deserialize, Serialize};

crate::text_enum! {
    /// Whether a device may pay (`wallet_devices.status`, and `status` of
    /// a device in the wallet API).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum DeviceStatus {
        /// Payments on.
        Active = "active",
        /// Reported lost or stolen: every token is suspended at the token service.
        Suspended = "suspended",
    }
}

crate::text_enum! {
    /// A card's token state as the wallet keeps it (`wallet_cards.token_state`,
    /// and `token_state` in the wallet API): the states the wallet asks the
    /// token service for.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum TokenState {
        /// May pay.
        Active = "active",
        /// Paused (the device is reported lost or stolen).
        Suspended = "suspended",
        /// Removed: the device drops the card at its next sync.
        Deleted = "deleted",
    }
}
