//! WCAG 2.2 success criterion 1.4.3 (contrast, minimum) checked on the
//! stylesheet's own colours: every text/background pair the pages use has
//! a contrast ratio of at least 4.5:1 (normal text), computed with the
//! WCAG relative-luminance formula from the hex values in `site.css`.

use std::collections::HashMap;

const CSS: &str = include_str!("../assets/site.css");

fn hex(s: &str) -> (u8, u8, u8) {
    let h = s.trim().trim_start_matches('#');
    assert_eq!(h.len(), 6, "{s}");
    let p = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).unwrap();
    (p(0), p(2), p(4))
}

fn luminance((r, g, b): (u8, u8, u8)) -> f64 {
    let lin = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
}

fn ratio(a: &str, b: &str) -> f64 {
    let (la, lb) = (luminance(hex(a)), luminance(hex(b)));
    let (hi, lo) = if la > lb { (la, lb) } else { (lb, la) };
    (hi + 0.05) / (lo + 0.05)
}

/// The `--name: #rrggbb;` custom properties of `:root`.
fn vars() -> HashMap<String, String> {
    let mut out = HashMap::new();
    for line in CSS.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("--")
            && let Some((name, value)) = rest.split_once(':')
        {
            let value = value.trim().trim_end_matches(';').trim();
            if value.starts_with('#') && value.len() == 7 {
                out.insert(name.trim().to_string(), value.to_string());
            }
        }
    }
    out
}

#[test]
fn the_formula_matches_known_values() {
    assert!((ratio("#000000", "#ffffff") - 21.0).abs() < 1e-9);
    assert!((ratio("#ffffff", "#ffffff") - 1.0).abs() < 1e-9);
    // #767676 on white is the classic 4.54:1 grey.
    assert!((ratio("#767676", "#ffffff") - 4.54).abs() < 0.01);
}

#[test]
fn text_colours_meet_aa_on_their_backgrounds() {
    let v = vars();
    let c = |n: &str| {
        v.get(n)
            .unwrap_or_else(|| panic!("--{n} in site.css"))
            .clone()
    };
    let white = "#ffffff".to_string();
    let pairs = [
        ("ink", c("ink"), c("bg")),
        ("ink", c("ink"), c("panel")),
        ("ink-2", c("ink-2"), c("panel")),
        ("ink-2", c("ink-2"), c("bg")),
        ("muted", c("muted"), c("panel")),
        ("muted", c("muted"), c("bg")),
        ("link", c("brand"), c("panel")),
        ("link", c("brand"), c("bg")),
        ("current nav", c("brand-dark"), c("brand-tint")),
        ("notice", c("brand-dark"), c("brand-tint")),
        ("approved", c("ok"), c("ok-bg")),
        ("declined", c("off"), c("off-bg")),
        ("primary button", white.clone(), c("brand")),
        ("danger button", white.clone(), c("off")),
        ("focus ring", c("focus"), c("panel")),
    ];
    for (what, fg, bg) in pairs {
        let r = ratio(&fg, &bg);
        assert!(r >= 4.5, "{what}: {fg} on {bg} is {r:.2}:1");
    }
}

#[test]
fn card_art_keeps_white_text_readable_on_every_gradient_stop() {
    let mut stops = 0;
    for line in CSS.lines().filter(|l| l.trim_start().starts_with(".art-")) {
        for part in line.split('#').skip(1) {
            let colour = format!("#{}", &part[..6]);
            let r = ratio("#ffffff", &colour);
            assert!(r >= 4.5, "white on {colour} is {r:.2}:1 ({line})");
            stops += 1;
        }
    }
    assert_eq!(stops, 16, "eight palettes of two stops");
}
