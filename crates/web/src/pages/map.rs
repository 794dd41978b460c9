//! The device page's map, drawn on the server as a small inline SVG: a
//! latitude/longitude grid around the device's places, the trail of its
//! history, its last place with the accuracy circle. Nothing is fetched
//! from anywhere (no tiles, no script).
//!
//! Projection: equirectangular around the middle latitude (longitude
//! scaled by its cosine), which keeps shapes true at the scale of a city,
//! the only scale the map draws.

use maud::{Markup, html};

/// The drawing's size in SVG units (it scales to the page's width).
pub const MAP_WIDTH: f64 = 360.0;
pub const MAP_HEIGHT: f64 = 220.0;

/// Space kept round the points, in SVG units.
const MARGIN: f64 = 28.0;

/// The smallest span the map shows, degrees of latitude (about 550 m):
/// one place alone is not drawn at the scale of a room.
const MIN_SPAN_DEG: f64 = 0.005;

/// Metres per degree of latitude (mean).
const METRES_PER_DEG: f64 = 111_320.0;

/// Grid steps to choose from, degrees.
const GRID_STEPS: [f64; 15] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0,
];

/// Grid lines wanted across the larger side, at most.
const MAX_GRID_LINES: f64 = 6.0;

/// A place to draw.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MapPoint {
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: f64,
}

/// Degrees to SVG units.
#[derive(Clone, Copy, Debug)]
struct Frame {
    lat0: f64,
    lon0: f64,
    kx: f64,
    scale: f64,
    ox: f64,
    oy: f64,
}

impl Frame {
    /// The frame that fits `points` (their accuracy circles included).
    fn fit(points: &[MapPoint]) -> Option<Frame> {
        let first = points.first()?;
        let mid_lat = points.iter().map(|p| p.lat).sum::<f64>() / points.len() as f64;
        let kx = mid_lat.to_radians().cos().max(0.01);
        let (mut x0, mut x1) = (f64::MAX, f64::MIN);
        let (mut y0, mut y1) = (f64::MAX, f64::MIN);
        for p in points {
            let r = p.accuracy_m / METRES_PER_DEG;
            let (x, y) = ((p.lon - first.lon) * kx, p.lat - first.lat);
            x0 = x0.min(x - r);
            x1 = x1.max(x + r);
            y0 = y0.min(y - r);
            y1 = y1.max(y + r);
        }
        let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
        let w = (x1 - x0).max(MIN_SPAN_DEG);
        let h = (y1 - y0).max(MIN_SPAN_DEG);
        let scale = ((MAP_WIDTH - 2.0 * MARGIN) / w).min((MAP_HEIGHT - 2.0 * MARGIN) / h);
        Some(Frame {
            lat0: first.lat,
            lon0: first.lon,
            kx,
            scale,
            ox: MAP_WIDTH / 2.0 - cx * scale,
            oy: MAP_HEIGHT / 2.0 + cy * scale,
        })
    }

    fn xy(&self, lat: f64, lon: f64) -> (f64, f64) {
        (
            self.ox + (lon - self.lon0) * self.kx * self.scale,
            self.oy - (lat - self.lat0) * self.scale,
        )
    }

    fn lon_at(&self, x: f64) -> f64 {
        self.lon0 + (x - self.ox) / (self.kx * self.scale)
    }

    fn lat_at(&self, y: f64) -> f64 {
        self.lat0 + (self.oy - y) / self.scale
    }

    fn metres(&self, m: f64) -> f64 {
        m / METRES_PER_DEG * self.scale
    }

    /// The grid step for the span the map shows.
    fn step(&self) -> f64 {
        let span = (MAP_WIDTH / (self.kx * self.scale)).max(MAP_HEIGHT / self.scale);
        GRID_STEPS
            .iter()
            .copied()
            .find(|s| span / s <= MAX_GRID_LINES)
            .unwrap_or(45.0)
    }
}

/// Grid values between `a` and `b` (either order) on multiples of `step`.
fn ticks(a: f64, b: f64, step: f64) -> Vec<f64> {
    let (lo, hi) = (a.min(b), a.max(b));
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

fn label(v: f64, step: f64) -> String {
    let decimals = (-step.log10()).ceil().max(0.0) as usize;
    format!("{v:.decimals$}°")
}

fn n(v: f64) -> String {
    format!("{v:.1}")
}

/// The map of `trail` (oldest first) ending at `last`, or `None` without
/// a place. `title` names it for screen readers.
pub fn map_svg(trail: &[MapPoint], last: &MapPoint, title: &str) -> Option<Markup> {
    let mut all: Vec<MapPoint> = trail.to_vec();
    all.push(*last);
    if all.iter().any(|p| !p.lat.is_finite() || !p.lon.is_finite()) {
        return None;
    }
    let f = Frame::fit(&all)?;
    let step = f.step();
    let lons = ticks(f.lon_at(0.0), f.lon_at(MAP_WIDTH), step);
    let lats = ticks(f.lat_at(MAP_HEIGHT), f.lat_at(0.0), step);
    let path: Vec<String> = all
        .iter()
        .map(|p| {
            let (x, y) = f.xy(p.lat, p.lon);
            format!("{},{}", n(x), n(y))
        })
        .collect();
    let (lx, ly) = f.xy(last.lat, last.lon);
    let radius = f.metres(last.accuracy_m).max(3.0);
    Some(html! {
        svg class="map" viewBox=(format!("0 0 {MAP_WIDTH} {MAP_HEIGHT}")) role="img"
            aria-labelledby="map-title" xmlns="http://www.w3.org/2000/svg"
            data-lat=(last.lat) data-lon=(last.lon) {
            title id="map-title" { (title) }
            rect width=(MAP_WIDTH) height=(MAP_HEIGHT) fill="#eef3f8" {}
            g class="map-grid" stroke="#c9d3e0" stroke-width="1" font-size="9" fill="#4b5873" {
                @for lon in &lons {
                    @let (x, _) = f.xy(f.lat0, *lon);
                    line x1=(n(x)) y1="0" x2=(n(x)) y2=(MAP_HEIGHT) {}
                    text x=(n(x + 2.0)) y=(n(MAP_HEIGHT - 4.0)) stroke="none" { (label(*lon, step)) }
                }
                @for lat in &lats {
                    @let (_, y) = f.xy(*lat, f.lon0);
                    line x1="0" y1=(n(y)) x2=(MAP_WIDTH) y2=(n(y)) {}
                    text x="3" y=(n(y - 3.0)) stroke="none" { (label(*lat, step)) }
                }
            }
            @if all.len() > 1 {
                polyline class="map-trail" points=(path.join(" ")) fill="none" stroke="#6b7fa3"
                    stroke-width="1.5" stroke-dasharray="4 3" {}
                @for p in trail {
                    @let (x, y) = f.xy(p.lat, p.lon);
                    circle class="map-past" cx=(n(x)) cy=(n(y)) r="3" fill="#6b7fa3" {}
                }
            }
            circle class="map-accuracy" cx=(n(lx)) cy=(n(ly)) r=(n(radius))
                fill="#0b4f8a" fill-opacity="0.15" stroke="#0b4f8a" stroke-width="1" {}
            circle class="map-last" cx=(n(lx)) cy=(n(ly)) r="5" fill="#0b4f8a" stroke="#ffffff" stroke-width="2" {}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(lat: f64, lon: f64, accuracy_m: f64) -> MapPoint {
        MapPoint {
            lat,
            lon,
            accuracy_m,
        }
    }

    fn inside(f: &Frame, q: &MapPoint) -> bool {
        let (x, y) = f.xy(q.lat, q.lon);
        (0.0..=MAP_WIDTH).contains(&x) && (0.0..=MAP_HEIGHT).contains(&y)
    }

    #[test]
    fn every_point_and_its_circle_is_on_the_map() {
        let check = |pts: Vec<MapPoint>| {
            let f = Frame::fit(&pts).unwrap();
            for q in &pts {
                assert!(inside(&f, q), "{q:?} off the map");
                let (x, y) = f.xy(q.lat, q.lon);
                let r = f.metres(q.accuracy_m);
                assert!(
                    x - r >= MARGIN - 0.5 && x + r <= MAP_WIDTH - MARGIN + 0.5,
                    "{q:?}"
                );
                assert!(
                    y - r >= MARGIN - 0.5 && y + r <= MAP_HEIGHT - MARGIN + 0.5,
                    "{q:?}"
                );
            }
        };
        check(vec![p(31.2304, 121.4737, 15.0)]);
        check(vec![p(31.2304, 121.4737, 15.0), p(31.2196, 121.4454, 8.0)]);
        check(vec![p(28.6139, 77.2090, 2000.0), p(28.5355, 77.3910, 30.0)]);
        check(vec![p(-33.86, 151.21, 10.0), p(-33.87, 151.20, 10.0)]);
        check(vec![p(89.9, 0.0, 10.0)]);
    }

    #[test]
    fn north_is_up_and_east_is_right() {
        let f = Frame::fit(&[p(31.0, 121.0, 0.0), p(31.01, 121.01, 0.0)]).unwrap();
        let (x0, y0) = f.xy(31.0, 121.0);
        let (x1, y1) = f.xy(31.01, 121.01);
        assert!(x1 > x0 && y1 < y0);
        // Distances keep their proportion: 0.01° of longitude at 31° N is
        // cos(31°) of 0.01° of latitude.
        let ratio = (x1 - x0) / (y0 - y1);
        assert!(
            (ratio - 31.005f64.to_radians().cos()).abs() < 1e-3,
            "{ratio}"
        );
    }

    #[test]
    fn the_grid_is_labelled_in_round_degrees() {
        let f = Frame::fit(&[p(31.2304, 121.4737, 15.0)]).unwrap();
        let step = f.step();
        assert_eq!(step, 0.005);
        assert_eq!(ticks(31.2281, 31.2377, step).len(), 2);
        assert_eq!(label(31.23, step), "31.230°");
        assert_eq!(label(121.0, 1.0), "121°");
    }

    #[test]
    fn the_svg_holds_the_last_place_and_the_trail() {
        let trail = [p(31.2196, 121.4454, 8.0)];
        let svg = map_svg(&trail, &p(31.2304, 121.4737, 15.0), "Map")
            .unwrap()
            .into_string();
        assert!(svg.starts_with("<svg class=\"map\""), "{svg}");
        assert!(svg.contains("<title id=\"map-title\">Map</title>"));
        assert_eq!(svg.matches("class=\"map-past\"").count(), 1);
        assert_eq!(svg.matches("class=\"map-accuracy\"").count(), 1);
        assert!(svg.contains("class=\"map-trail\""));
        // Nothing is linked or fetched.
        assert!(!svg.contains("href"), "{svg}");
        assert!(map_svg(&[], &p(f64::NAN, 0.0, 1.0), "Map").is_none());
    }
}
