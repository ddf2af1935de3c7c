//! The browser chat client (SPEC §7): `GET /` and the files under
//! [`ASSETS_PREFIX`], compiled into the binary, so a fresh `cargo run` serves the page
//! with nothing fetched at run time and no build step (`docs/browser-client.md`).
//!
//! Caching: every answer says `Cache-Control: no-cache` and carries a strong `ETag` (a
//! hash of the file, computed at compile time). A browser keeps the files but asks again
//! each time, and a matching `If-None-Match` gets a bodiless 304. File names stay plain
//! (no content hash in them), so `index.html` and the modules importing each other need
//! no rewriting step, and a new binary's files are picked up on the next load.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::ApiError;

/// The path under which the page's scripts and style sheet are served.
pub const ASSETS_PREFIX: &str = "/assets/chat/";

/// One file of the client, as compiled in.
struct Asset {
    /// Its name under [`ASSETS_PREFIX`] (the page itself is `index.html`).
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
    /// The strong validator of `bytes`, quoted as `ETag` wants it.
    etag: &'static str,
}

/// A file of `assets/chat/`, with its `ETag` worked out by the compiler.
macro_rules! asset {
    ($name:literal, $content_type:literal) => {{
        const BYTES: &[u8] = include_bytes!(concat!("../../assets/chat/", $name));
        const ETAG: &str = {
            const HEX: [u8; 16] = etag_of(BYTES);
            match std::str::from_utf8(&HEX) {
                Ok(hex) => hex,
                Err(_) => panic!("an ETag is ASCII hex"),
            }
        };
        Asset {
            name: $name,
            content_type: $content_type,
            bytes: BYTES,
            etag: ETAG,
        }
    }};
}

/// Every file of the client. A module the page imports must be listed here, or the
/// browser gets a 404 for it (a test loads each file `index.html` and the modules name).
const ASSETS: [Asset; 6] = [
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("api.js", "text/javascript; charset=utf-8"),
    asset!("connection.js", "text/javascript; charset=utf-8"),
    asset!("timeline.js", "text/javascript; charset=utf-8"),
];

/// 64-bit FNV-1a of `bytes` as 16 lower-case hex digits. Not a security hash: it only has
/// to change when a file does, and a `const fn` can compute it at compile time.
const fn etag_of(bytes: &[u8]) -> [u8; 16] {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut index = 0;
    while index < bytes.len() {
        hash ^= bytes[index] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        index += 1;
    }
    let digits = b"0123456789abcdef";
    let mut hex = [0u8; 16];
    let mut position = 0;
    while position < 16 {
        hex[position] = digits[((hash >> (60 - 4 * position)) & 0xf) as usize];
        position += 1;
    }
    hex
}

/// The file named `name`, if the client has one.
fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.name == name)
}

/// Whether the request's `If-None-Match` names this version of the file (or `*`).
fn is_fresh(request: &HttpRequest, etag: &str) -> bool {
    request
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|list| list.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|tag| tag == "*" || tag == etag)
}

/// The answer for one file: 304 when the browser holds this version, else the file.
fn serve(request: &HttpRequest, asset: &Asset) -> HttpResponse {
    let mut response = if is_fresh(request, asset.etag) {
        HttpResponse::NotModified().finish()
    } else {
        HttpResponse::Ok()
            .content_type(asset.content_type)
            .body(asset.bytes)
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", asset.etag)) {
        headers.insert(header::ETAG, etag);
    }
    response
}

/// `GET /`: the chat page.
pub async fn page(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let page = find("index.html").ok_or(ApiError::NotFound)?;
    Ok(serve(&request, page))
}

/// `GET /assets/chat/{file}`: one of the page's scripts or its style sheet; any other
/// name is a 404 problem document.
pub async fn asset(
    request: HttpRequest,
    file: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let asset = find(&file)
        .filter(|asset| asset.name != "index.html")
        .ok_or(ApiError::NotFound)?;
    Ok(serve(&request, asset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_has_a_distinct_etag_of_sixteen_hex_digits() {
        for asset in &ASSETS {
            assert_eq!(asset.etag.len(), 16, "{}", asset.name);
            assert!(
                asset.etag.bytes().all(|b| b.is_ascii_hexdigit()),
                "{}",
                asset.name
            );
        }
        let mut etags: Vec<_> = ASSETS.iter().map(|asset| asset.etag).collect();
        etags.sort_unstable();
        etags.dedup();
        assert_eq!(etags.len(), ASSETS.len());
    }

    #[test]
    fn the_etag_is_fnv_1a_of_the_bytes() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(&etag_of(b""), b"cbf29ce484222325");
        assert_eq!(&etag_of(b"a"), b"af63dc4c8601ec8c");
    }

    #[test]
    fn every_module_the_page_and_the_scripts_import_is_served() {
        for asset in &ASSETS {
            let text = std::str::from_utf8(asset.bytes).unwrap_or_default();
            for reference in text
                .split(['"', '\''])
                .filter(|part| part.starts_with(ASSETS_PREFIX) || part.starts_with("./"))
                .filter(|part| part.ends_with(".js") || part.ends_with(".css"))
            {
                let name = reference
                    .trim_start_matches(ASSETS_PREFIX)
                    .trim_start_matches("./");
                assert!(
                    find(name).is_some(),
                    "{} names {reference}, which is not served",
                    asset.name
                );
            }
        }
    }
}
