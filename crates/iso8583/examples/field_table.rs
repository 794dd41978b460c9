//! Print the field table as JSON (the source of `docs/iso8583-fields.json`):
//! `cargo run -p paytap-iso8583 --example field_table > docs/iso8583-fields.json`
fn main() {
    let json = paytap_iso8583::field_table_json();
    match serde_json::to_string_pretty(&json) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("{e}"),
    }
}
