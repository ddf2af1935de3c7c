//! The pure helpers behind the extractors: which media type a request declares, how a
//! body decodes and which fields a 422 names, and where a bearer token is.

use std::fmt::Debug;

use actix_web::http::header::{self, HeaderValue};
use actix_web::test::TestRequest;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::auth::bearer_token;
use crate::error::{ApiError, FieldError};
use crate::extract::{
    BodyFormat, FieldErrors, RequestBody, Secret, body_format, decode_form, decode_json,
};
use crate::routes::accounts::{ChangePasswordRequest, RegisterRequest, UpdateProfileRequest};
use crate::routes::sessions::{LoginForm, LoginRequest, RefreshRequest};

/// A request type with nesting, to see how deep field names go.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Only decoded, never read: the tests are about the errors.
struct Order {
    reference: String,
    customer: Customer,
    quantities: Vec<u8>,
    note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Customer {
    age: u8,
}

/// A request type whose nested object has a field named like the object itself.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Shipment {
    address: Address,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Address {
    address: String,
    city: String,
}

/// A request type whose fields serde's own code checks further: a UUID's syntax, an
/// enumeration's names, a default.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Ticket {
    id: Uuid,
    size: Size,
    label: String,
    #[serde(default)]
    urgent: bool,
}

#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Size {
    Small,
    Large,
}

/// The test types have no domain rules: what decodes is valid.
macro_rules! valid_as_decoded {
    ($($type:ty),*) => {$(
        impl RequestBody for $type {
            type Valid = Self;

            fn validate(self, _errors: &mut FieldErrors) -> Option<Self> {
                Some(self)
            }
        }
    )*};
}

valid_as_decoded!(Order, Customer, Shipment, Ticket);

/// The field errors of a 422, or a failure naming what came back instead.
fn field_errors<T: Debug>(sent: &str, result: Result<T, ApiError>) -> Vec<FieldError> {
    match result {
        Err(ApiError::Validation(errors)) => errors,
        other => panic!("sent {sent}: expected a 422, got {other:?}"),
    }
}

/// `(field, message)` pairs, to compare with a 422's errors.
fn pairs(expected: &[(&str, &str)]) -> Vec<FieldError> {
    expected
        .iter()
        .map(|(field, message)| FieldError {
            field: (*field).to_owned(),
            message: (*message).to_owned(),
        })
        .collect()
}

/// Asserts that decoding `sent` as JSON into `T` is a 422 with exactly these errors, in
/// this order.
fn assert_json_errors<T: RequestBody>(sent: &str, expected: &[(&str, &str)])
where
    T::Valid: Debug,
{
    let errors = field_errors(sent, decode_json::<T>(sent.as_bytes()));
    assert_eq!(errors, pairs(expected), "sent {sent}");
}

#[test]
fn every_type_error_missing_field_and_unknown_field_is_listed_at_once_in_field_order() {
    let cases: [(&str, &[(&str, &str)]); 4] = [
        (
            r#"{"extra": true, "quantities": [1, "two", 300], "customer": {"age": "old", "colour": "red"}, "reference": 7}"#,
            &[
                ("reference", "must be a string"),
                ("customer.age", "must be an integer from 0 to 255"),
                ("customer.colour", "is not allowed"),
                ("quantities[1]", "must be an integer from 0 to 255"),
                ("quantities[2]", "must be an integer from 0 to 255"),
                ("extra", "is not allowed"),
            ],
        ),
        (
            "{}",
            &[
                ("reference", "is required"),
                ("customer", "is required"),
                ("quantities", "is required"),
            ],
        ),
        (
            r#"{"customer": {}, "note": 5}"#,
            &[
                ("reference", "is required"),
                ("customer.age", "is required"),
                ("quantities", "is required"),
                ("note", "must be a string"),
            ],
        ),
        (
            r#"{"reference": null, "customer": [], "quantities": {}, "note": null}"#,
            &[
                ("reference", "must be a string"),
                ("customer", "must be a JSON object"),
                ("quantities", "must be an array"),
            ],
        ),
    ];
    for (sent, expected) in cases {
        assert_json_errors::<Order>(sent, expected);
    }
}

#[test]
fn a_body_that_is_not_an_object_is_one_error_about_the_body() {
    for sent in [
        "[]",
        r#"["x@example.com", "password123", "A", "B"]"#,
        r#"["x@example.com", "password123"]"#,
        r#""x@example.com""#,
        "42",
        "-1.5",
        "null",
        "true",
        "false",
    ] {
        let expected: &[(&str, &str)] = &[("body", "must be a JSON object")];
        assert_json_errors::<RegisterRequest>(sent, expected);
        assert_json_errors::<LoginRequest>(sent, expected);
        assert_json_errors::<UpdateProfileRequest>(sent, expected);
        assert_json_errors::<ChangePasswordRequest>(sent, expected);
        assert_json_errors::<RefreshRequest>(sent, expected);
        assert_json_errors::<Order>(sent, expected);
    }
}

#[test]
fn type_errors_and_domain_errors_land_in_one_422_each_field_once() {
    let cases: [(&str, &[(&str, &str)]); 4] = [
        (
            r#"{"email": "bad", "password": "short", "first_name": 5}"#,
            &[
                ("email", "is not a valid e-mail address"),
                ("password", "must be at least 8 bytes long"),
                ("first_name", "must be a string"),
            ],
        ),
        (
            r#"{"password": 12345678, "last_name": "a\u0007b", "admin": true}"#,
            &[
                ("email", "is required"),
                ("password", "must be a string"),
                (
                    "last_name",
                    "must not contain control or formatting characters",
                ),
                ("admin", "is not allowed"),
            ],
        ),
        (
            r#"{"email": "", "password": "short", "first_name": null, "last_name": []}"#,
            &[
                ("email", "must not be empty"),
                ("password", "must be at least 8 bytes long"),
                ("last_name", "must be a string"),
            ],
        ),
        (
            r#"{"email": "ada@example.com", "email": "eve@example.com", "password": "analytical engine"}"#,
            &[("email", "must appear only once")],
        ),
    ];
    for (sent, expected) in cases {
        assert_json_errors::<RegisterRequest>(sent, expected);
    }
    assert_json_errors::<LoginRequest>(
        r#"{"email": 1}"#,
        &[("email", "must be a string"), ("password", "is required")],
    );
    assert_json_errors::<ChangePasswordRequest>(
        r#"{"current_password": "short", "new_password": false}"#,
        &[
            ("current_password", "must be at least 8 bytes long"),
            ("new_password", "must be a string"),
        ],
    );
    assert_json_errors::<UpdateProfileRequest>(
        r#"{"first_name": 1, "last_name": "x", "email": "e@example.com"}"#,
        &[
            ("first_name", "must be a string"),
            ("email", "is not allowed"),
        ],
    );
    assert_json_errors::<RefreshRequest>(
        r#"{"refresh_token": ""}"#,
        &[("refresh_token", "must not be empty")],
    );
}

/// Serde's own messages ("invalid type: integer `5`, expected a string", "expected
/// struct RegisterRequest with 4 elements", "missing field `password`") name Rust types
/// and are never sent: every message is one of the API's own.
#[test]
fn no_message_names_a_rust_type_or_repeats_a_library_message() {
    let bodies = [
        r#"{"email": 5, "password": [], "first_name": {}, "last_name": 1.5}"#,
        r#"{"email": true, "current_password": 1, "new_password": null, "refresh_token": 2}"#,
        r#"{"username": 1, "first_name": false, "nickname": "x"}"#,
        r#"{"password": "analytical engine"}"#,
        "[1, 2, 3, 4]",
        r#"["ada@example.com", "analytical engine"]"#,
        "{}",
    ];
    let mut messages = Vec::new();
    for sent in bodies {
        let bytes = sent.as_bytes();
        for result in [
            decode_json::<RegisterRequest>(bytes).err(),
            decode_json::<LoginRequest>(bytes).err(),
            decode_json::<UpdateProfileRequest>(bytes).err(),
            decode_json::<ChangePasswordRequest>(bytes).err(),
            decode_json::<RefreshRequest>(bytes).err(),
        ] {
            if let Some(ApiError::Validation(errors)) = result {
                messages.extend(errors.into_iter().map(|error| (sent, error.message)));
            }
        }
    }
    assert!(!messages.is_empty());
    for (sent, message) in messages {
        for leak in [
            "`",
            "struct",
            "Request",
            "String",
            "string \"",
            "expected",
            "invalid",
            "u8",
            "i64",
            "sequence",
            "map",
            "Option",
        ] {
            assert!(
                !message.contains(leak),
                "sent {sent}: {message:?} contains {leak:?}"
            );
        }
    }
}

#[test]
fn a_missing_field_named_like_its_parent_is_named_by_its_full_path() {
    assert_json_errors::<Shipment>(
        r#"{"address": {"city": "London"}}"#,
        &[("address.address", "is required")],
    );
}

/// Values that serde's own code refuses (a UUID's syntax, an unknown enumeration name)
/// are reported too, beside every other value's problem. (A required field that is
/// absent beside a UUID refused even as a stand-in would not be, as `size` is not in
/// the second case: see `extract::decode`.)
#[test]
fn values_refused_by_serde_itself_are_listed_with_the_others() {
    let cases: [(&str, &[(&str, &str)]); 3] = [
        (
            r#"{"id": "not-a-uuid", "size": "medium", "label": 5}"#,
            &[
                ("id", "is not valid"),
                ("size", "must be one of: small, large"),
                ("label", "must be a string"),
            ],
        ),
        (
            r#"{"urgent": "yes", "label": 5, "id": 5}"#,
            &[
                ("id", "must be a string"),
                ("label", "must be a string"),
                ("urgent", "must be true or false"),
            ],
        ),
        (
            r#"{"size": {"large": 1}, "label": "l", "id": "936DA01F-9ABD-4D9D-80C7-02AF85C822A8"}"#,
            &[("size.large", "must be null")],
        ),
    ];
    for (sent, expected) in cases {
        assert_json_errors::<Ticket>(sent, expected);
    }

    let sent = r#"{"id": "936DA01F-9ABD-4D9D-80C7-02AF85C822A8", "size": "large", "label": ""}"#;
    let decoded = decode_json::<Ticket>(sent.as_bytes());
    let Ok(ticket) = decoded else {
        panic!("sent {sent}: got {decoded:?}");
    };
    assert_eq!(ticket.size, Size::Large);
    assert!(!ticket.urgent, "sent {sent}: the default applies");
}

#[test]
fn json_that_does_not_parse_is_malformed_and_said_so_in_our_words() {
    for sent in [
        "",
        "   ",
        "{",
        r#"{"reference": "#,
        "{'reference': 'r'}",
        r#"{"reference": "r", "customer": {"age": 36}, "quantities": []} trailing"#,
        r#"{"reference": "r", "customer": {"age": 36}, "quantities": []}{}"#,
        "{}x",
        "[1, 2,]",
    ] {
        let result = decode_json::<Order>(sent.as_bytes());

        let Err(ApiError::MalformedRequest(detail)) = &result else {
            panic!("sent {sent:?}: expected a 400, got {result:?}");
        };
        assert!(
            detail.contains("JSON") && !detail.contains("EOF") && !detail.contains(" at line "),
            "sent {sent:?}: {detail:?}"
        );
    }
}

#[test]
fn decode_json_decodes_a_well_formed_body_with_surrounding_whitespace() {
    let sent = "\n  {\"email\": \" Ada@Example.com \", \"password\": \"analytical engine\"}  \n";

    let decoded = decode_json::<RegisterRequest>(sent.as_bytes());

    let Ok(command) = decoded else {
        panic!("sent {sent:?}: got {decoded:?}");
    };
    assert_eq!(command.email.as_ref(), "ada@example.com");
    assert_eq!(command.password.expose(), "analytical engine");
    assert_eq!(command.first_name.to_string(), "");
}

#[test]
fn decode_form_decodes_the_oauth2_password_form_and_ignores_its_other_fields() {
    let sent = "grant_type=password&username=ada%40example.com&password=analytical+engine&scope=&client_id=x";

    let decoded = decode_form::<LoginForm>(sent.as_bytes());

    let Ok(command) = decoded else {
        panic!("sent {sent:?}: got {decoded:?}");
    };
    assert_eq!(command.email.as_ref(), "ada@example.com");
    assert_eq!(command.password.expose(), "analytical engine");
}

#[test]
fn decode_form_lists_every_field_it_could_not_decode_or_parse() {
    let cases: [(&str, &[(&str, &str)]); 4] = [
        ("username=ada%40example.com", &[("password", "is required")]),
        (
            "grant_type=password",
            &[("username", "is required"), ("password", "is required")],
        ),
        (
            "username=ada&password=short",
            &[
                ("username", "is not a valid e-mail address"),
                ("password", "must be at least 8 bytes long"),
            ],
        ),
        (
            "username=ada%40example.com&password=analytical+engine&password=other+password",
            &[("password", "must appear only once")],
        ),
    ];
    for (sent, expected) in cases {
        let errors = field_errors(sent, decode_form::<LoginForm>(sent.as_bytes()));
        assert_eq!(errors, pairs(expected), "sent {sent}");
    }

    // A form's values are text, read as numbers where numbers belong.
    let errors = field_errors("age=old", decode_form::<Customer>(b"age=old"));
    assert_eq!(
        errors,
        pairs(&[("age", "must be an integer from 0 to 255")])
    );
    let decoded = decode_form::<Customer>(b"age=36&colour=red");
    assert!(
        matches!(decoded, Ok(Customer { age: 36 })),
        "age=36&colour=red: got {decoded:?}"
    );
}

/// The request types are what a handler or a panic might format; none may show a
/// password or a refresh token.
#[test]
fn request_types_print_no_secret_in_their_debug_output() {
    const SECRET: &str = "analytical engine 1843";
    let register: RegisterRequest = serde_json::from_value(json!({
        "email": "ada@example.com", "password": SECRET, "first_name": "Ada"
    }))
    .unwrap();
    let login: LoginRequest =
        serde_json::from_value(json!({"email": "ada@example.com", "password": SECRET})).unwrap();
    let form: LoginForm =
        serde_json::from_value(json!({"username": "ada@example.com", "password": SECRET})).unwrap();
    let change: ChangePasswordRequest = serde_json::from_value(json!({
        "current_password": SECRET, "new_password": format!("new {SECRET}")
    }))
    .unwrap();
    let refresh: RefreshRequest = serde_json::from_value(json!({"refresh_token": SECRET})).unwrap();
    let printed = [
        format!("{register:?}"),
        format!("{register:#?}"),
        format!("{login:?}"),
        format!("{form:?}"),
        format!("{change:?}"),
        format!("{refresh:?}"),
        format!("{:?}", Secret::from(SECRET.to_owned())),
    ];
    for output in printed {
        assert!(!output.contains(SECRET), "{output}");
        assert!(!output.contains("analytical"), "{output}");
    }
    // The rest of the request is still there to debug with.
    assert!(format!("{register:?}").contains("ada@example.com"));
    assert_eq!(register.password.expose(), SECRET);
}

#[test]
fn body_format_reads_json_and_its_suffixes_and_forms_and_nothing_else() {
    let cases = [
        (Some("application/json"), Some(BodyFormat::Json)),
        (
            Some("application/json; charset=utf-8"),
            Some(BodyFormat::Json),
        ),
        (
            Some(" APPLICATION/JSON ; charset=utf-8"),
            Some(BodyFormat::Json),
        ),
        (Some("application/merge-patch+json"), Some(BodyFormat::Json)),
        (Some("application/problem+json"), Some(BodyFormat::Json)),
        (
            Some("application/x-www-form-urlencoded"),
            Some(BodyFormat::Form),
        ),
        (
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            Some(BodyFormat::Form),
        ),
        (Some("text/json"), None),
        (Some("text/plain+json"), None),
        (Some("application/json-seq"), None),
        (Some("multipart/form-data; boundary=x"), None),
        (Some(""), None),
        (None, None),
    ];
    for (content_type, expected) in cases {
        let mut request = TestRequest::post();
        if let Some(content_type) = content_type {
            request = request.insert_header((header::CONTENT_TYPE, content_type));
        }

        let format = body_format(&request.to_http_request());

        assert_eq!(format, expected, "Content-Type: {content_type:?}");
    }
}

#[test]
fn bearer_token_takes_the_token_of_a_bearer_authorization_in_any_case() {
    let cases = [
        (Some("Bearer abc.def"), Some("abc.def")),
        (Some("bearer abc.def"), Some("abc.def")),
        (Some("BEARER abc.def"), Some("abc.def")),
        (Some("Bearer   abc.def  "), Some("abc.def")),
        (Some("Bearer "), None),
        (Some("Bearer    "), None),
        (Some("Bearer"), None),
        (Some("Bearerabc.def"), None),
        (Some("Basic YWRhOmFuYWx5dGljYWw="), None),
        (Some("abc.def"), None),
        (None, None),
    ];
    for (authorization, expected) in cases {
        let mut request = TestRequest::get();
        if let Some(value) = authorization {
            request = request.insert_header((header::AUTHORIZATION, value));
        }
        let request = request.to_http_request();

        assert_eq!(
            bearer_token(&request),
            expected,
            "Authorization: {authorization:?}"
        );
    }
}

#[test]
fn bearer_token_ignores_an_authorization_that_is_not_visible_ascii() {
    let value = HeaderValue::from_bytes(b"Bearer caf\xc3\xa9").unwrap();
    let request = TestRequest::get()
        .insert_header((header::AUTHORIZATION, value))
        .to_http_request();

    assert_eq!(bearer_token(&request), None);
}

/// A request type with every shape serde can ask a deserializer for, so that the
/// decoder's answer to each is pinned: the value when it fits, the API's own words when
/// it does not.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct EveryShape {
    ratio: f64,
    small_ratio: f32,
    initial: char,
    raw: serde_bytes_like::Bytes,
    nothing: (),
    marker: Marker,
    wrapped: Wrapped,
    pair: (u8, String),
    point: Point,
    tags: std::collections::BTreeMap<String, u8>,
    anything: serde_json::Value,
    optional: Option<i64>,
    negative: i64,
    shape: Shape,
    flag: bool,
    name: serde_identifier_like::Identifier,
    ignored: serde::de::IgnoredAny,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Marker;

#[derive(Debug, Deserialize, PartialEq)]
struct Wrapped(String);

#[derive(Debug, Deserialize, PartialEq)]
struct Point(i32, i32);

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Shape {
    Circle(f64),
    Rectangle(u8, u8),
    Polygon { sides: u8 },
}

mod serde_bytes_like {
    //! A field read through `deserialize_bytes`, as `serde_bytes` would.

    use serde::de::{Deserializer, Visitor};

    #[derive(Debug, PartialEq, Eq)]
    pub(super) struct Bytes(pub(super) Vec<u8>);

    impl<'de> serde::Deserialize<'de> for Bytes {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct Seen;
            impl Visitor<'_> for Seen {
                type Value = Bytes;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_bytes<E>(self, value: &[u8]) -> Result<Bytes, E> {
                    Ok(Bytes(value.to_vec()))
                }
            }
            deserializer.deserialize_byte_buf(Seen)
        }
    }
}

mod serde_identifier_like {
    //! A field read through `deserialize_identifier`, as a name among a type's own
    //! would be.

    use serde::de::{Deserializer, Visitor};

    #[derive(Debug, PartialEq, Eq)]
    pub(super) struct Identifier(pub(super) String);

    impl<'de> serde::Deserialize<'de> for Identifier {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct Seen;
            impl Visitor<'_> for Seen {
                type Value = Identifier;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an identifier")
                }
                fn visit_str<E>(self, value: &str) -> Result<Identifier, E> {
                    Ok(Identifier(value.to_owned()))
                }
            }
            deserializer.deserialize_identifier(Seen)
        }
    }
}

valid_as_decoded!(EveryShape);

#[test]
fn every_shape_decodes_when_it_fits() {
    let sent = r#"{
        "ratio": 0.5, "small_ratio": 2, "initial": "é", "raw": "abc", "nothing": null,
        "marker": null, "wrapped": "inside", "pair": [7, "seven"], "point": [-1, 2],
        "tags": {"a": 1, "b": 2}, "anything": {"x": [1, -2, 2.5, "s", true, null]},
        "optional": null, "negative": -5, "shape": {"polygon": {"sides": 6}},
        "flag": true, "name": "circle", "ignored": {"whatever": [1, "x"]}
    }"#;
    let decoded = decode_json::<EveryShape>(sent.as_bytes());
    let Ok(shape) = decoded else {
        panic!("sent {sent}: got {decoded:?}");
    };
    assert_eq!(shape.ratio, 0.5);
    assert_eq!(shape.small_ratio, 2.0);
    assert_eq!(shape.initial, 'é');
    assert_eq!(shape.raw, serde_bytes_like::Bytes(b"abc".to_vec()));
    assert_eq!(shape.wrapped, Wrapped("inside".into()));
    assert_eq!(shape.pair, (7, "seven".into()));
    assert_eq!(shape.point, Point(-1, 2));
    assert_eq!(shape.tags.get("b"), Some(&2));
    assert_eq!(shape.anything, json!({"x": [1, -2, 2.5, "s", true, null]}));
    assert_eq!(shape.optional, None);
    assert_eq!(shape.negative, -5);
    assert_eq!(shape.shape, Shape::Polygon { sides: 6 });
    assert!(shape.flag);
    assert_eq!(
        shape.name,
        serde_identifier_like::Identifier("circle".into())
    );

    for (variant, expected) in [
        (r#"{"circle": 1.5}"#, Shape::Circle(1.5)),
        (r#"{"rectangle": [2, 3]}"#, Shape::Rectangle(2, 3)),
    ] {
        let sent = sent.replace(r#"{"polygon": {"sides": 6}}"#, variant);
        let decoded = decode_json::<EveryShape>(sent.as_bytes());
        assert_eq!(
            decoded.map(|shape| shape.shape).ok(),
            Some(expected),
            "{variant}"
        );
    }
}

#[test]
fn every_shape_that_does_not_fit_is_named_in_the_apis_words() {
    let sent = r#"{
        "ratio": "half", "small_ratio": [], "initial": "ab", "raw": 5, "nothing": 0,
        "marker": 1, "wrapped": 2, "pair": [1], "point": "x", "tags": [],
        "optional": "x", "negative": "minus", "shape": 3, "flag": "yes", "name": 5,
        "ignored": [1, "x"]
    }"#;
    let errors = field_errors(sent, decode_json::<EveryShape>(sent.as_bytes()));
    let named: Vec<&str> = errors.iter().map(|error| error.field.as_str()).collect();
    for field in [
        "ratio",
        "small_ratio",
        "initial",
        "raw",
        "nothing",
        "marker",
        "wrapped",
        "pair",
        "point",
        "tags",
        // Absent: a value of any kind is still required.
        "anything",
        "optional",
        "negative",
        "shape",
        "flag",
        "name",
    ] {
        assert!(named.contains(&field), "{field} is named: {errors:?}");
    }
    assert!(
        !named.contains(&"ignored"),
        "a value the type ignores is never refused: {errors:?}"
    );
    for error in &errors {
        assert!(
            !error.message.contains("EveryShape") && !error.message.contains("invalid type"),
            "{error:?} speaks the API's language"
        );
    }
}

#[test]
fn form_values_are_text_that_reads_as_numbers_and_flags() {
    #[derive(Debug, Deserialize, PartialEq)]
    struct Settings {
        ratio: f64,
        enabled: bool,
    }
    valid_as_decoded!(Settings);

    let decoded = decode_form::<Settings>(b"ratio=0.25&enabled=true");
    assert_eq!(
        decoded.ok(),
        Some(Settings {
            ratio: 0.25,
            enabled: true
        })
    );
    let errors = field_errors("form", decode_form::<Settings>(b"ratio=NaN&enabled=yes"));
    let named: Vec<&str> = errors.iter().map(|error| error.field.as_str()).collect();
    assert_eq!(named, ["ratio", "enabled"], "{errors:?}");
}

#[test]
fn an_enumeration_given_as_an_object_needs_exactly_one_variant() {
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Drawing {
        shape: Shape,
    }
    valid_as_decoded!(Drawing);

    for shape in ["{}", r#"{"circle": 1.5, "rectangle": [2, 3]}"#] {
        let sent = format!(r#"{{"shape": {shape}}}"#);
        assert_eq!(
            field_errors(&sent, decode_json::<Drawing>(sent.as_bytes())),
            pairs(&[("shape", "must be one of: circle, rectangle, polygon")]),
            "{sent}"
        );
    }
}

#[test]
fn a_json_field_the_type_does_not_name_is_refused_even_where_serde_would_skip_it() {
    // The API's contract (docs/api.md): every JSON field the endpoint does not have is
    // a 422, whether or not the Rust type says `deny_unknown_fields`.
    #[derive(Debug, Deserialize, PartialEq)]
    struct Lenient {
        known: u8,
    }
    valid_as_decoded!(Lenient);

    let sent = r#"{"extra": {"deep": [1, "two", null]}, "known": 7, "more": "x"}"#;
    assert_eq!(
        field_errors(sent, decode_json::<Lenient>(sent.as_bytes())),
        pairs(&[("extra", "is not allowed"), ("more", "is not allowed")])
    );
}

/// Seventeen required fields: one more than the passes the decoder makes.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Wide {
    f01: u8,
    f02: u8,
    f03: u8,
    f04: u8,
    f05: u8,
    f06: u8,
    f07: u8,
    f08: u8,
    f09: u8,
    f10: u8,
    f11: u8,
    f12: u8,
    f13: u8,
    f14: u8,
    f15: u8,
    f16: u8,
    f17: u8,
}

valid_as_decoded!(Wide);

#[test]
fn a_body_missing_more_required_fields_than_the_decoder_makes_passes_is_refused_with_those_it_found()
 {
    // Serde stops at the first absent field, so each pass finds one; the decoder stops
    // after sixteen, still refusing the body, with what it found in field order.
    let found: Vec<String> = (1..=16).map(|n| format!("f{n:02}")).collect();
    let expected: Vec<(&str, &str)> = found
        .iter()
        .map(|field| (field.as_str(), "is required"))
        .collect();

    assert_eq!(
        field_errors("{}", decode_json::<Wide>(b"{}")),
        pairs(&expected)
    );
}
