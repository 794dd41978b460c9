//! Great-circle distance (haversine) for the impossible-travel rule.

use paytap_types::GeoPoint;

/// Mean Earth radius (IUGG), km.
pub const EARTH_RADIUS_KM: f64 = 6_371.008_8;

/// Distance between two points along the Earth's surface, km (haversine,
/// on a sphere: within 0.5 % of the ellipsoid, ample for a fraud rule).
pub fn distance_km(a: GeoPoint, b: GeoPoint) -> f64 {
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = la2 - la1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(a: (f64, f64), b: (f64, f64), expect_km: f64, tolerance_km: f64) {
        let d = distance_km(
            GeoPoint { lat: a.0, lon: a.1 },
            GeoPoint { lat: b.0, lon: b.1 },
        );
        assert!(
            (d - expect_km).abs() <= tolerance_km,
            "{a:?} to {b:?}: {d} km, expected {expect_km}"
        );
    }

    #[test]
    fn known_distances() {
        // Beijing to Shanghai, about 1,067 km; Mumbai to Delhi about 1,150 km.
        check((39.9042, 116.4074), (31.2304, 121.4737), 1_067.0, 5.0);
        check((19.0760, 72.8777), (28.7041, 77.1025), 1_150.0, 10.0);
        check((10.0, 20.0), (10.0, 20.0), 0.0, 1e-9);
        // Antipodes: half the circumference.
        check(
            (0.0, 0.0),
            (0.0, 180.0),
            std::f64::consts::PI * EARTH_RADIUS_KM,
            1e-6,
        );
    }
}
