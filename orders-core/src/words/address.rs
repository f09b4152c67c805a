//! Addresses laid out as the destination country writes them.
//!
//! - United States, Canada, Australia: `Springfield, IL 62704` (city,
//!   region and postal code on one line).
//! - United Kingdom (and Ireland): the town, then the county when given,
//!   then the postcode on its own line.
//! - Most of continental Europe (Germany, France, ...): `10115 Berlin`
//!   (postal code before the city), the region, if any, on its own line.
//! - Anywhere else: `City, Region` then the postal code.
//!
//! The country's name ends the address; the phone number is not part of it.

use crate::checkout::Address;

use super::country_name;

/// Where the postal code goes.
enum Layout {
    /// `City, RG 12345`.
    CityRegionCode,
    /// City, county and postcode each on a line.
    Lines,
    /// `12345 City`.
    CodeCity,
    /// `City, Region` then the code.
    Default,
}

fn layout(code: &str) -> Layout {
    match code {
        "US" | "CA" | "AU" | "PR" | "GU" | "VI" | "AS" | "MP" | "UM" => Layout::CityRegionCode,
        "GB" | "IE" | "IM" | "JE" | "GG" | "GI" => Layout::Lines,
        "DE" | "FR" | "AT" | "CH" | "BE" | "NL" | "LU" | "LI" | "ES" | "IT" | "PT" | "DK"
        | "SE" | "NO" | "FI" | "IS" | "PL" | "CZ" | "SK" | "HU" | "SI" | "HR" | "MC" | "AD"
        | "SM" | "VA" | "GR" | "RO" | "BG" | "EE" | "LT" | "MT" | "CY" | "RE" | "GP" | "MQ"
        | "GF" | "YT" => Layout::CodeCity,
        _ => Layout::Default,
    }
}

/// The address as lines, ready to show one under the other: name, street
/// lines, the locality lines of the country's layout, the country's name.
///
/// ```
/// use orders_core::checkout::AddressForm;
/// use orders_core::words::address_lines;
///
/// let address = AddressForm {
///     full_name: Some("Homer Simpson".into()),
///     line1: Some("742 Evergreen Terrace".into()),
///     city: Some("Springfield".into()),
///     region: Some("IL".into()),
///     postal_code: Some("62704".into()),
///     country: Some("US".into()),
///     ..AddressForm::default()
/// }
/// .validate()
/// .unwrap();
/// assert_eq!(
///     address_lines(&address),
///     ["Homer Simpson", "742 Evergreen Terrace", "Springfield, IL 62704", "United States"]
/// );
/// ```
pub fn address_lines(address: &Address) -> Vec<String> {
    let mut lines = vec![address.full_name().to_string(), address.line1().to_string()];
    lines.extend(address.line2().map(ToString::to_string));
    let city = address.city().to_string();
    let region = address.region().map(ToString::to_string);
    let code = address.postal_code().as_str().to_owned();
    let country = address.country();
    match layout(country.code()) {
        Layout::CityRegionCode => lines.push(match region {
            Some(region) => format!("{city}, {region} {code}"),
            None => format!("{city} {code}"),
        }),
        Layout::Lines => {
            lines.push(city);
            lines.extend(region);
            lines.push(code);
        }
        Layout::CodeCity => {
            lines.push(format!("{code} {city}"));
            lines.extend(region);
        }
        Layout::Default => {
            lines.push(match region {
                Some(region) => format!("{city}, {region}"),
                None => city,
            });
            lines.push(code);
        }
    }
    lines.push(country_name(country).to_owned());
    lines.retain(|line| !line.trim().is_empty());
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkout::AddressForm;

    fn address(city: &str, region: Option<&str>, code: &str, country: &str) -> Address {
        AddressForm {
            full_name: Some("Ada Lovelace".into()),
            line1: Some("1 Main Street".into()),
            line2: Some("Flat 2".into()),
            city: Some(city.into()),
            region: region.map(Into::into),
            postal_code: Some(code.into()),
            country: Some(country.into()),
            ..AddressForm::default()
        }
        .validate()
        .expect("a valid address")
    }

    fn locality(lines: &[String]) -> Vec<&str> {
        lines[3..].iter().map(String::as_str).collect()
    }

    #[test]
    fn united_states_city_state_zip_on_one_line() {
        let lines = address_lines(&address("Springfield", Some("IL"), "62704", "US"));
        assert_eq!(locality(&lines), ["Springfield, IL 62704", "United States"]);
        assert_eq!(lines[..3], ["Ada Lovelace", "1 Main Street", "Flat 2"]);
    }

    #[test]
    fn united_kingdom_town_then_postcode_on_its_own_line() {
        let lines = address_lines(&address("London", None, "SW1Y 4JH", "GB"));
        assert_eq!(locality(&lines), ["London", "SW1Y 4JH", "United Kingdom"]);
    }

    #[test]
    fn germany_and_france_postcode_before_city() {
        let de = address_lines(&address("Berlin", None, "10115", "DE"));
        assert_eq!(locality(&de), ["10115 Berlin", "Germany"]);
        let fr = address_lines(&address("Paris", None, "75001", "FR"));
        assert_eq!(locality(&fr), ["75001 Paris", "France"]);
    }

    #[test]
    fn elsewhere_city_region_then_code() {
        let jp = address_lines(&address("Tokyo", Some("Tokyo-to"), "100-0001", "JP"));
        assert_eq!(locality(&jp), ["Tokyo, Tokyo-to", "100-0001", "Japan"]);
    }
}
