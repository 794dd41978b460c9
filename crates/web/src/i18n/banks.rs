//! What the site knows of the network's banks besides what the wallet
//! records: each bank's name in the site's other languages and its
//! currency. The wallet keeps a card's and a payment's bank by its English
//! name; the pages look it up here. The binary fills it from the issuers'
//! configuration (`banks.toml`), where each bank is defined.

use std::collections::HashMap;

use paytap_types::Currency;

use super::Lang;

/// One bank, as the site shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BankInfo {
    /// The bank's own name in Simplified Chinese (`中国工商银行`).
    pub name_zh: Option<String>,
    /// The currency the bank's cards pay in.
    pub currency: Option<Currency>,
}

/// The network's banks by their English name.
#[derive(Debug, Clone, Default)]
pub struct Banks {
    by_name: HashMap<String, BankInfo>,
}

impl Banks {
    /// No banks: every name is shown as the wallet recorded it.
    pub fn new() -> Banks {
        Banks::default()
    }

    /// Adds (or replaces) the bank whose English name is `english_name`.
    pub fn insert(&mut self, english_name: impl Into<String>, info: BankInfo) {
        self.by_name.insert(english_name.into(), info);
    }

    /// How many banks are known.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether no bank is known.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The bank's name in `lang`: its translation where there is one, else
    /// the English name as recorded.
    pub fn name<'a>(&'a self, lang: Lang, english_name: &'a str) -> &'a str {
        let translated = match lang {
            // Indian banks write their names in Latin letters in Hindi too.
            Lang::En | Lang::Hi => None,
            Lang::Zh => self
                .by_name
                .get(english_name)
                .and_then(|b| b.name_zh.as_deref()),
        };
        translated.unwrap_or(english_name)
    }

    /// The currency the bank's cards pay in, when the bank is known.
    pub fn currency(&self, english_name: &str) -> Option<Currency> {
        self.by_name.get(english_name).and_then(|b| b.currency)
    }
}

impl FromIterator<(String, BankInfo)> for Banks {
    fn from_iter<I: IntoIterator<Item = (String, BankInfo)>>(iter: I) -> Banks {
        Banks {
            by_name: iter.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_translated_where_known() {
        let banks: Banks = [(
            "Bank of China".to_string(),
            BankInfo {
                name_zh: Some("中国银行".into()),
                currency: Some(Currency::CNY),
            },
        )]
        .into_iter()
        .collect();
        assert_eq!(banks.name(Lang::Zh, "Bank of China"), "中国银行");
        assert_eq!(banks.name(Lang::En, "Bank of China"), "Bank of China");
        assert_eq!(banks.name(Lang::Zh, "Pearl River Bank"), "Pearl River Bank");
        assert_eq!(banks.currency("Bank of China"), Some(Currency::CNY));
        assert_eq!(banks.currency("Pearl River Bank"), None);
    }
}
