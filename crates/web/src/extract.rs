//! Reading request bodies: media type, size limit, and decoding into request types with
//! one 422 that names every wrong field at once.
//!
//! Every JSON and form body goes the same way:
//!
//! 1. The bytes are parsed into a tree ([`serde_json::Value`]); only a body that does not
//!    parse is a 400. A key given twice is remembered, not silently overwritten.
//! 2. The request type's derived `Deserialize` reads that tree through a lenient
//!    deserializer ([`Lenient`]) that never stops at the first problem: where a value
//!    does not fit (a number where a string belongs), a required field is absent, or a
//!    key is not one of the type's fields, it records a [`FieldError`] and hands serde a
//!    neutral stand-in, so that every field is still read and checked.
//! 3. The request type's [`RequestBody::validate`] parses the fields into domain values
//!    through the same [`FieldErrors`], skipping fields that already failed, so a type
//!    error and a domain error land in one 422.
//!
//! Messages speak the API's language (`must be a string`, `is required`, `is not
//! allowed`): serde's own messages name Rust types and are never sent.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::web::BytesMut;
use actix_web::{FromRequest, HttpRequest};
use futures_util::StreamExt as _;
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde::de::value::BorrowedStrDeserializer;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer as _,
    MapAccess, SeqAccess, VariantAccess, Visitor,
};
use serde_json::{Map, Number, Value};

use crate::error::{ApiError, FieldError};
use crate::state::HttpSettings;

/// How a body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/json` or any `application/*+json`.
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
}

/// The format of a request's body according to its `Content-Type`, if it is one we read.
pub fn body_format(request: &HttpRequest) -> Option<BodyFormat> {
    let content_type = request.headers().get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        Some(BodyFormat::Json)
    } else if essence == "application/x-www-form-urlencoded" {
        Some(BodyFormat::Form)
    } else {
        None
    }
}

/// What a 400 says of a body that could not be read in full. The transport's own
/// message ("payload reached EOF before completing: None") means nothing to a client.
pub const UNREADABLE_BODY: &str =
    "the body ended before it was complete, or its transfer encoding is invalid";

/// Reads a whole body, refusing it as soon as it exceeds the configured limit (first by
/// its `Content-Length`, then by what actually arrives). A body that breaks off or
/// whose chunked encoding is corrupt is a 400.
pub async fn read_body(request: &HttpRequest, payload: &mut Payload) -> Result<BytesMut, ApiError> {
    let limit = request
        .app_data::<HttpSettings>()
        .map_or(HttpSettings::DEFAULT_BODY_LIMIT, |settings| {
            settings.body_limit
        });
    read_body_within(request, payload, limit).await
}

/// [`read_body`] with a limit of `limit` bytes, for a route whose bodies may be larger.
async fn read_body_within(
    request: &HttpRequest,
    payload: &mut Payload,
    limit: usize,
) -> Result<BytesMut, ApiError> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| match error {
            PayloadError::Overflow => ApiError::PayloadTooLarge(limit),
            error => {
                tracing::debug!(%error, "the request body could not be read");
                ApiError::MalformedRequest(UNREADABLE_BODY.to_owned())
            }
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A request body type: read by its derived `Deserialize` (see the module docs), then
/// parsed into what the handler needs.
pub trait RequestBody: DeserializeOwned {
    /// What a handler receives: the body's values, every one of them valid.
    type Valid;

    /// The largest body of this type accepted: `HTTP_BODY_LIMIT`, unless the type's
    /// route takes larger ones.
    fn body_limit(settings: &HttpSettings) -> usize {
        settings.body_limit
    }

    /// Parses the decoded fields into domain values, recording each invalid one in
    /// `errors` (whose [`FieldErrors::check`] skips fields that already failed to
    /// decode); `None` when any failed.
    fn validate(self, errors: &mut FieldErrors) -> Option<Self::Valid>;
}

/// Decodes and validates a JSON body: malformed JSON is a 400; anything well-formed
/// that is not a valid `T` is one 422 listing every invalid, missing or unknown field.
pub fn decode_json<T: RequestBody>(body: &[u8]) -> Result<T::Valid, ApiError> {
    let (tree, duplicates) = parse_json(body)?;
    decode_tree::<T>(&tree, Source::Json, &duplicates)
}

/// Decodes and validates a URL-encoded form. Every value is text; a field the type does
/// not read is ignored, since OAuth2 clients send `grant_type`, `scope` and client
/// credentials along with the credentials (RFC 6749 §4.3.2).
pub fn decode_form<T: RequestBody>(body: &[u8]) -> Result<T::Valid, ApiError> {
    let (tree, duplicates) = parse_form(body);
    decode_tree::<T>(&tree, Source::Form, &duplicates)
}

/// A JSON request body decoded as `T` and validated into `T::Valid`. Any other media
/// type is a 415; see [`decode_json`] for the rest.
pub struct Json<T: RequestBody>(pub T::Valid);

impl<T: RequestBody + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let request = request.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            if body_format(&request) != Some(BodyFormat::Json) {
                return Err(ApiError::UnsupportedMediaType("application/json"));
            }
            let limit = request
                .app_data::<HttpSettings>()
                .map_or(HttpSettings::DEFAULT_BODY_LIMIT, T::body_limit);
            let body = read_body_within(&request, &mut payload, limit).await?;
            decode_json::<T>(&body).map(Json)
        })
    }
}

/// Collects field errors while a request is decoded and parsed into domain types, so
/// that one 422 lists every invalid field at once.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    /// Keeps the value, or records the error against `field`. A field that already has
    /// an error (its value did not decode, so what was parsed is a stand-in) is skipped:
    /// `None`, and nothing more is recorded.
    pub fn check<T, E: fmt::Display>(&mut self, field: &str, parsed: Result<T, E>) -> Option<T> {
        if self.has_error_at(field) {
            return None;
        }
        parsed.map_err(|error| self.push(field, error)).ok()
    }

    /// The 422 when any field failed, otherwise what `build` makes of the parsed values.
    pub fn finish<T>(self, build: impl FnOnce() -> Option<T>) -> Result<T, ApiError> {
        if !self.0.is_empty() {
            return Err(ApiError::Validation(self.0));
        }
        // Every `check` succeeded, so every value `build` reads is present.
        build().ok_or_else(|| ApiError::internal("a parsed field went missing"))
    }

    /// Records an error against `field`.
    fn push(&mut self, field: &str, message: impl fmt::Display) {
        self.0.push(FieldError {
            field: field.to_owned(),
            message: message.to_string(),
        });
    }

    /// Whether `field`, or something inside it (`field.x`, `field[0]`), has an error.
    fn has_error_at(&self, field: &str) -> bool {
        self.0.iter().any(|error| {
            error.field.strip_prefix(field).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with('.') || rest.starts_with('[')
            })
        })
    }
}

/// A secret as it arrives in a body (a password, a refresh token), before it is parsed
/// into a domain type. Its `Debug` prints no secret, so neither a log line nor a panic
/// message that formats a request can carry one.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the parser that turns it into a domain type.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(secret: String) -> Self {
        Self(secret)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

// ---------------------------------------------------------------------------------------
// Step 1: bytes to a tree.

/// What a 400 says of a JSON syntax error: where it is, in our words, not serde_json's.
fn malformed_json(body: &[u8], error: &serde_json::Error) -> ApiError {
    let (line, column) = (error.line(), error.column());
    ApiError::MalformedRequest(match error.classify() {
        _ if body.iter().all(u8::is_ascii_whitespace) => {
            "the body is empty; a JSON object was expected".to_owned()
        }
        serde_json::error::Category::Eof => {
            format!("the JSON ends too early (line {line}, column {column})")
        }
        _ => format!("the body is not valid JSON (line {line}, column {column})"),
    })
}

/// Parses a whole JSON body; also returns the path of every key an object repeats.
fn parse_json(body: &[u8]) -> Result<(Value, BTreeSet<String>), ApiError> {
    let duplicates = RefCell::new(BTreeSet::new());
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let tree = Tree {
        path: String::new(),
        duplicates: &duplicates,
    }
    .deserialize(&mut deserializer)
    .map_err(|error| malformed_json(body, &error))?;
    // Syntax over the whole body: `{}x` is malformed, not an object missing fields.
    deserializer
        .end()
        .map_err(|error| malformed_json(body, &error))?;
    Ok((tree, duplicates.into_inner()))
}

/// Parses a URL-encoded form into an object of strings; also returns every repeated key.
fn parse_form(body: &[u8]) -> (Value, BTreeSet<String>) {
    let mut fields = Map::new();
    let mut duplicates = BTreeSet::new();
    for (key, value) in form_urlencoded::parse(body) {
        let key = key.into_owned();
        if fields.contains_key(&key) {
            duplicates.insert(key.clone());
        }
        fields.insert(key, Value::String(value.into_owned()));
    }
    (Value::Object(fields), duplicates)
}

/// Builds a [`Value`] like `serde_json::Value`'s own `Deserialize`, also noting the
/// path of every key an object repeats (which `Value` would silently overwrite).
struct Tree<'a> {
    path: String,
    duplicates: &'a RefCell<BTreeSet<String>>,
}

impl<'de> DeserializeSeed<'de> for Tree<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Tree<'_> {
    type Value = Value;

    // coverage: excluded-begin: serde_json hands every value to a visit_* method Tree has
    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    } // coverage: excluded-end

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    // serde_json reading a slice calls neither `visit_none` nor `visit_some` (`null` is
    // `visit_unit`) and hands escaped strings to `visit_str`; the defaults cover the rest.
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Value, A::Error> {
        let mut values = Vec::new();
        while let Some(value) = items.next_element_seed(Tree {
            path: index_path(&self.path, values.len()),
            duplicates: self.duplicates,
        })? {
            values.push(value);
        }
        Ok(Value::Array(values))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = entries.next_key::<String>()? {
            let path = field_path(&self.path, &key);
            let value = entries.next_value_seed(Tree {
                path: path.clone(),
                duplicates: self.duplicates,
            })?;
            if object.insert(key, value).is_some() {
                self.duplicates.borrow_mut().insert(path);
            }
        }
        Ok(Value::Object(object))
    }
}

/// The path of `key` inside the value at `parent` (`""` is the body itself).
fn field_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// The path of item `index` of the array at `parent`.
fn index_path(parent: &str, index: usize) -> String {
    format!(
        "{}[{index}]",
        if parent.is_empty() { "body" } else { parent }
    )
}

// ---------------------------------------------------------------------------------------
// Step 2: the tree to a request type, collecting every problem.

/// Where a tree came from: it decides how scalars are read and unknown keys treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// Typed values; an unknown key is an error (SPEC §3).
    Json,
    /// Every value is text, read as a number or boolean where one is expected; unknown
    /// keys are ignored.
    Form,
}

/// The most passes [`decode`] makes over a tree before it reports what it has.
const MAX_PASSES: usize = 16;

/// Decodes `tree` as `T`, then validates it, in one collection of field errors.
fn decode_tree<T: RequestBody>(
    tree: &Value,
    source: Source,
    duplicates: &BTreeSet<String>,
) -> Result<T::Valid, ApiError> {
    let (decoded, mut errors, fields) = decode::<T>(tree, source, duplicates);
    let valid = decoded.and_then(|body| body.validate(&mut errors));
    // Decoding and validation each go field by field; together they follow the type's
    // declared order, so that a client sees the same list for the same body every time.
    let position = |error: &FieldError| {
        let top = error.field.split(['.', '[']).next().unwrap_or_default();
        fields
            .iter()
            .position(|field| *field == top)
            .unwrap_or(fields.len())
    };
    errors.0.sort_by_key(position);
    errors.finish(|| valid)
}

/// Reads `tree` as a `T`, recording every problem; also returns the fields of `T` in
/// their declared order. The value is `None` only when the body as a whole is of the
/// wrong kind (an array where an object belongs: nothing inside it is worth reporting)
/// or when `T` refuses even a stand-in.
///
/// Most bodies take one pass. Serde stops at the first required field it finds absent
/// and at a value its own code refuses (beyond the checks [`Lenient`] makes itself), so
/// such a path is remembered and the tree read again with a stand-in there, until a
/// pass completes or makes no progress. A value that a hand-written `Deserialize`
/// refuses even as a stand-in (a UUID is not the empty string) ends the reading: it is
/// read last among its siblings so that they are all checked first, but required
/// fields not yet found absent are then not reported. The request types of this API
/// hold only strings, which never end it.
fn decode<T: DeserializeOwned>(
    tree: &Value,
    source: Source,
    duplicates: &BTreeSet<String>,
) -> (Option<T>, FieldErrors, &'static [&'static str]) {
    let mut absent = BTreeSet::new();
    let mut refused = BTreeMap::new();
    let mut passes = 0;
    loop {
        passes += 1;
        let pass = Pass {
            source,
            duplicates,
            absent: &absent,
            refused: &refused,
            errors: RefCell::new(Vec::new()),
            fields: Cell::new(&[]),
        };
        let result = T::deserialize(Lenient::new(&pass, Input::Value(tree), String::new()));
        let fields = pass.fields.get();
        let mut errors = pass.errors.into_inner();
        let body_refused = errors.iter().any(|(path, _)| path.is_empty());
        let failure = match result {
            Ok(decoded) if !body_refused => return (Some(decoded), field_errors(errors), fields),
            Ok(_) => return (None, field_errors(errors), fields),
            Err(failure) => failure,
        };
        let path = failure.path();
        let retry = passes < MAX_PASSES
            && match failure {
                Stop::Missing { .. } => absent.insert(path.clone()),
                Stop::Refused { .. } if !refused.contains_key(&path) => {
                    // What this pass said of the value (`must be a string`) is still
                    // the best description when a stand-in takes its place.
                    let said = errors
                        .iter()
                        .find(|(known, _)| *known == path)
                        .map(|(_, message)| message.clone());
                    refused.insert(path.clone(), said);
                    true
                }
                Stop::Refused { .. } => false,
            };
        if !retry {
            let message = failure.to_string();
            if !errors.iter().any(|(known, _)| *known == path) {
                errors.push((path, message.into()));
            }
            return (None, field_errors(errors), fields);
        }
    }
}

/// Field errors from `(path, message)` pairs; the body itself is called `body`.
fn field_errors(errors: Vec<(String, Cow<'static, str>)>) -> FieldErrors {
    let mut fields = FieldErrors::default();
    for (path, message) in errors {
        fields.push(if path.is_empty() { "body" } else { &path }, message);
    }
    fields
}

/// One reading of a tree: what earlier passes learnt, and the errors found so far.
struct Pass<'a> {
    source: Source,
    /// Keys given twice: refused, since which one was meant is unknowable.
    duplicates: &'a BTreeSet<String>,
    /// Required fields found absent by earlier passes: presented now, as absent.
    absent: &'a BTreeSet<String>,
    /// Values the request type's own code refused in earlier passes, with what was
    /// said of them then: a stand-in is presented in their place now.
    refused: &'a BTreeMap<String, Option<Cow<'static, str>>>,
    /// `(path, message)`, at most one per path.
    errors: RefCell<Vec<(String, Cow<'static, str>)>>,
    /// The fields of the body's type, once it is read as a struct.
    fields: Cell<&'static [&'static str]>,
}

impl Pass<'_> {
    fn record(&self, path: &str, message: impl Into<Cow<'static, str>>) {
        let mut errors = self.errors.borrow_mut();
        if !errors.iter().any(|(known, _)| known == path) {
            errors.push((path.to_owned(), message.into()));
        }
    }
}

/// What is said of a value refused for a reason the API has no better words for.
const NOT_VALID: &str = "is not valid";

/// [`NOT_VALID`], where a message is built only when needed.
fn not_valid() -> Cow<'static, str> {
    Cow::Borrowed(NOT_VALID)
}

/// Why serde stopped reading, and where (`None` until the deserializer that was reading
/// places it). Serde's own message is dropped: it names Rust types.
#[derive(Debug)]
enum Stop {
    /// A required field is absent.
    Missing {
        path: Option<String>,
        field: &'static str,
    },
    /// A value was refused by the type's own code (a hand-written `Deserialize`).
    Refused { path: Option<String> },
}

impl Stop {
    /// Places a stop raised while the value at `here` was read: a missing field is
    /// inside that object, anything else is that value.
    fn at(self, here: &str) -> Self {
        match self {
            Self::Missing { path: None, field } => Self::Missing {
                path: Some(field_path(here, field)),
                field,
            },
            Self::Refused { path: None } => Self::Refused {
                path: Some(here.to_owned()),
            },
            placed => placed,
        }
    }

    /// Where it happened (`""` is the body itself).
    fn path(&self) -> String {
        match self {
            Self::Missing { path, field } => path.clone().unwrap_or_else(|| (*field).to_owned()),
            Self::Refused { path } => path.clone().unwrap_or_default(),
        }
    }
}

/// What a 422 says of the path where the reading stopped.
impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Missing { .. } => "is required",
            Self::Refused { .. } => NOT_VALID,
        })
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: fmt::Display>(_message: T) -> Self {
        Self::Refused { path: None }
    }

    fn missing_field(field: &'static str) -> Self {
        Self::Missing { path: None, field }
    }
}

/// What stands at a path.
#[derive(Clone, Copy)]
enum Input<'v> {
    /// A value from the tree.
    Value(&'v Value),
    /// Nothing: a required field the body lacks.
    Absent,
    /// A value already reported (or needing no report): serde gets a neutral stand-in.
    StandIn,
    /// A value the type's own code refused in an earlier pass.
    Refused,
}

/// A deserializer over one value of the tree that never fails on a value of the wrong
/// kind: it records what was expected and lets serde carry on with a stand-in (an empty
/// string, zero, `None`, an empty list, an object of stand-ins).
struct Lenient<'p, 'v> {
    pass: &'p Pass<'p>,
    input: Input<'v>,
    path: String,
}

impl<'p, 'v> Lenient<'p, 'v> {
    fn new(pass: &'p Pass<'p>, input: Input<'v>, path: String) -> Self {
        let input = match input {
            Input::Value(_) if pass.refused.contains_key(&path) => Input::Refused,
            input => input,
        };
        Self { pass, input, path }
    }

    /// Visits the value if `accept` takes it; otherwise records `expected` (or why
    /// there is no value) and visits `stand_in` instead. Whatever serde then refuses is
    /// placed at this path.
    fn read<V>(
        self,
        visitor: V,
        expected: impl FnOnce() -> Cow<'static, str>,
        accept: impl FnOnce(&'v Value, Source, V) -> Result<Result<V::Value, Stop>, V>,
        stand_in: impl FnOnce(V) -> Result<V::Value, Stop>,
    ) -> Result<V::Value, Stop>
    where
        V: Visitor<'v>,
    {
        let result = match self.input {
            Input::Value(value) => match accept(value, self.pass.source, visitor) {
                Ok(visited) => visited,
                Err(visitor) => {
                    self.pass.record(&self.path, expected());
                    stand_in(visitor)
                }
            },
            Input::Absent => {
                self.pass.record(&self.path, "is required");
                stand_in(visitor)
            }
            Input::Refused => {
                let said = self.pass.refused.get(&self.path).cloned().flatten();
                self.pass.record(&self.path, said.unwrap_or_else(not_valid));
                stand_in(visitor)
            }
            Input::StandIn => stand_in(visitor),
        };
        result.map_err(|stop| stop.at(&self.path))
    }

    /// Stand-ins for the items of a sequence of `count`.
    fn stand_in_items(&self, count: usize) -> Items<'p, 'v> {
        Items {
            pass: self.pass,
            path: self.path.clone(),
            values: None,
            remaining: count,
            index: 0,
        }
    }

    /// The items of `values`.
    fn items(pass: &'p Pass<'p>, path: &str, values: &'v [Value]) -> Items<'p, 'v> {
        Items {
            pass,
            path: path.to_owned(),
            values: Some(values.iter()),
            remaining: values.len(),
            index: 0,
        }
    }
}

/// Integers: in range, from a JSON number or a form's text.
macro_rules! integer {
    ($method:ident, $type:ty, $visit:ident) => {
        fn $method<V: Visitor<'v>>(self, visitor: V) -> Result<V::Value, Stop> {
            self.read(
                visitor,
                || {
                    format!(
                        "must be an integer from {} to {}",
                        <$type>::MIN,
                        <$type>::MAX
                    )
                    .into()
                },
                |value, source, visitor| {
                    let number = match (value, source) {
                        (Value::Number(number), _) => number
                            .as_i64()
                            .and_then(|n| <$type>::try_from(n).ok())
                            .or_else(|| number.as_u64().and_then(|n| <$type>::try_from(n).ok())),
                        (Value::String(text), Source::Form) => text.trim().parse::<$type>().ok(),
                        _ => None,
                    };
                    match number {
                        Some(number) => Ok(visitor.$visit(number)),
                        None => Err(visitor),
                    }
                },
                |visitor| visitor.$visit(0),
            )
        }
    };
}

impl<'v> Deserializer<'v> for Lenient<'_, 'v> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'v>>(self, visitor: V) -> Result<V::Value, Stop> {
        let pass = self.pass;
        let path = self.path.clone();
        self.read(
            visitor,
            not_valid,
            |value, _, visitor| {
                Ok(match value {
                    Value::Null => visitor.visit_unit(),
                    Value::Bool(flag) => visitor.visit_bool(*flag),
                    Value::Number(number) => match (number.as_u64(), number.as_i64()) {
                        (Some(n), _) => visitor.visit_u64(n),
                        (None, Some(n)) => visitor.visit_i64(n),
                        (None, None) => visitor.visit_f64(number.as_f64().unwrap_or_default()),
                    },
                    Value::String(text) => visitor.visit_borrowed_str(text),
                    Value::Array(values) => visitor.visit_seq(Lenient::items(pass, &path, values)),
                    Value::Object(object) => visitor.visit_map(Entries::all(pass, &path, object)),
                })
            },
            |visitor| visitor.visit_unit(),
        )
    }

    fn deserialize_bool<V: Visitor<'v>>(self, visitor: V) -> Result<V::Value, Stop> {
        self.read(
            visitor,
            || "must be true or false".into(),
            |value, source, visitor| match (value, source) {
                (Value::Bool(flag), _) => Ok(visitor.visit_bool(*flag)),
                (Value::String(text), Source::Form) if text == "true" || text == "false" => {
                    Ok(visitor.visit_bool(text == "true"))
                }
                _ => Err(visitor),
            },
            |visitor| visitor.visit_bool(false),
        )
    }

    integer!(deserialize_i8, i8, visit_i8);
    integer!(deserialize_i16, i16, visit_i16);
    integer!(deserialize_i32, i32, visit_i32);
    integer!(deserialize_i64, i64, visit_i64);
    integer!(deserialize_u8, u8, visit_u8);
    integer!(deserialize_u16, u16, visit_u16);
    integer!(deserialize_u32, u32, visit_u32);
    integer!(deserialize_u64, u64, visit_u64);

    fn deserialize_f32<V: Visitor<'v>>(self, visitor: V) -> Result<V::Value, Stop> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'v>>(self, visitor: V) -> Result<V::Value, Stop> {
        self.read(
            visitor,
            || "must be a number".into(),
            |value, source, visitor| {
                let number = match (value, source) {
                    (Value::Number(number), _) => number.as_f64(),
                    (Value::String(text), Source::Form) => {
                        text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
                    }
                    _ => None,
                };
                match number {
                    Some(number) => Ok(visitor.visit_f64(number)),
                    None => Err(visitor),
                }
            },
            |visitor| visitor.visit_f64(0.0),
        )
    }

    fn deserialize_char<V: Visitor<'v>>(self, visitor: V) -> Result<V::Value, Stop> {
        self.read(
            visitor,
            || "must be a single character".into(),
            |value, _, visitor| {
                let mut chars = value.as_str().unwrap_or_default().chars();
                match (chars.next(), chars.next()) {
                    (Some(only), None) => Ok(visitor.visit_char(only)),
                    _ => Err(visitor),
                }
            },
            |visitor| visitor.visit_char(' '),
        )
    }

    fn deserialize_str<V: Visitor<'v>>(self, visitor: V) -> Result<V::Value, Stop> {
        self.read(
            visitor,
            || "must be a string".into(),
            |value, _, visitor| match value.as_str() {
                Some(text) => Ok(visitor.visit_borrowed_str(text)),
                None => Err(visitor),
            },
            |visitor| visitor.visit_str(""),
        )
    }

    fn deserialize_string<V: Visitor<'v>>(self, visitor: V) -> Result<V::Value, Stop> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'v>>(self, visitor: V) -> Result<V::Value, Stop> {
        self.read(
            visitor,
            || "must be a string".into(),
            |value, _, visitor| match value.as_str() {
                Some(text) => Ok(visitor.visit_borrowed_bytes(text.as_bytes())),
                None => Err(visitor),
            },
            |visitor| visitor.visit_bytes(&[]),
        )
    }

    fn deserialize_byte_buf<V: Visitor<'v>>(self, visitor: V) -> Result<V::Value, Stop> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'v>>(self, visitor: V) -> Result<V::Value, Stop> {
        match self.input {
            Input::Value(Value::Null) | Input::Absent | Input::StandIn => visitor.visit_none(),
            Input::Value(_) | Input::Refused => {
                let path = self.path.clone();
                visitor.visit_some(self).map_err(|stop| stop.at(&path))
            }
        }
    }

    fn deserialize_unit<V: Visitor<'v>>(self, visitor: V) -> Result<V::Value, Stop> {
        self.read(
            visitor,
            || "must be null".into(),
            |value, _, visitor| match value {
                Value::Null => Ok(visitor.visit_unit()),
                _ => Err(visitor),
            },
            |visitor| visitor.visit_unit(),
        )
    }

    fn deserialize_unit_struct<V: Visitor<'v>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Stop> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'v>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Stop> {
        let path = self.path.clone();
        visitor
            .visit_newtype_struct(self)
            .map_err(|stop| stop.at(&path))
    }

    fn deserialize_seq<V: Visitor<'v>>(self, visitor: V) -> Result<V::Value, Stop> {
        let pass = self.pass;
        let path = self.path.clone();
        let stand_in = self.stand_in_items(0);
        self.read(
            visitor,
            || "must be an array".into(),
            |value, _, visitor| match value {
                Value::Array(values) => Ok(visitor.visit_seq(Lenient::items(pass, &path, values))),
                _ => Err(visitor),
            },
            |visitor| visitor.visit_seq(stand_in),
        )
    }

    fn deserialize_tuple<V: Visitor<'v>>(self, len: usize, visitor: V) -> Result<V::Value, Stop> {
        let pass = self.pass;
        let path = self.path.clone();
        let stand_in = self.stand_in_items(len);
        self.read(
            visitor,
            || format!("must be an array of {len} items").into(),
            |value, _, visitor| match value {
                Value::Array(values) if values.len() == len => {
                    Ok(visitor.visit_seq(Lenient::items(pass, &path, values)))
                }
                _ => Err(visitor),
            },
            |visitor| visitor.visit_seq(stand_in),
        )
    }

    fn deserialize_tuple_struct<V: Visitor<'v>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Stop> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'v>>(self, visitor: V) -> Result<V::Value, Stop> {
        let pass = self.pass;
        let path = self.path.clone();
        self.read(
            visitor,
            || "must be a JSON object".into(),
            |value, _, visitor| match value {
                Value::Object(object) => Ok(visitor.visit_map(Entries::all(pass, &path, object))),
                _ => Err(visitor),
            },
            |visitor| visitor.visit_map(Entries::none(pass, &path)),
        )
    }

    fn deserialize_struct<V: Visitor<'v>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Stop> {
        let pass = self.pass;
        let path = self.path.clone();
        self.read(
            visitor,
            || "must be a JSON object".into(),
            |value, _, visitor| match value {
                Value::Object(object) => {
                    Ok(visitor.visit_map(Entries::fields(pass, &path, fields, object)))
                }
                _ => Err(visitor),
            },
            |visitor| visitor.visit_map(Entries::stand_ins(pass, &path, fields)),
        )
    }

    fn deserialize_enum<V: Visitor<'v>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Stop> {
        let pass = self.pass;
        let path = self.path.clone();
        let first = variants.first().copied().unwrap_or_default();
        let stand_in = Variant {
            pass,
            path: path.clone(),
            name: first,
            content: Input::StandIn,
        };
        self.read(
            visitor,
            || format!("must be one of: {}", variants.join(", ")).into(),
            |value, _, visitor| {
                // A bare name carries no content: a variant that wants some lacks it.
                let (name, content) = match value {
                    Value::String(name) => (name.as_str(), Input::Absent),
                    Value::Object(object) => {
                        let mut entries = object.iter();
                        match (entries.next(), entries.next()) {
                            (Some((name, content)), None) => (name.as_str(), Input::Value(content)),
                            _ => return Err(visitor),
                        }
                    }
                    _ => return Err(visitor),
                };
                let Some(name) = variants.iter().copied().find(|variant| *variant == name) else {
                    return Err(visitor);
                };
                Ok(visitor.visit_enum(Variant {
                    pass,
                    path: field_path(&path, name),
                    name,
                    content,
                }))
            },
            |visitor| visitor.visit_enum(stand_in),
        )
    }

    fn deserialize_identifier<V: Visitor<'v>>(self, visitor: V) -> Result<V::Value, Stop> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'v>>(self, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_unit()
    }
}

/// The items of an array, or stand-ins for them.
struct Items<'p, 'v> {
    pass: &'p Pass<'p>,
    path: String,
    values: Option<std::slice::Iter<'v, Value>>,
    remaining: usize,
    index: usize,
}

impl<'v> SeqAccess<'v> for Items<'_, 'v> {
    type Error = Stop;

    fn next_element_seed<T: DeserializeSeed<'v>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Stop> {
        if self.remaining == 0 {
            return Ok(None);
        }
        self.remaining -= 1;
        let input = match &mut self.values {
            Some(values) => values.next().map_or(Input::StandIn, Input::Value),
            None => Input::StandIn,
        };
        let path = index_path(&self.path, self.index);
        self.index += 1;
        seed.deserialize(Lenient::new(self.pass, input, path))
            .map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.remaining)
    }
}

/// The entries of an object as serde is shown them.
struct Entries<'p, 'v> {
    pass: &'p Pass<'p>,
    path: String,
    entries: std::vec::IntoIter<(&'v str, Input<'v>)>,
    /// The value of the key just handed out.
    pending: Option<(&'v str, Input<'v>)>,
    /// Keys the type does not know: recorded as not allowed when serde is done with
    /// the object (see `Drop`), after its fields' own errors.
    unknown: Vec<&'v str>,
}

impl<'p, 'v> Entries<'p, 'v> {
    fn new(pass: &'p Pass<'p>, path: &str, entries: Vec<(&'v str, Input<'v>)>) -> Self {
        Self {
            pass,
            path: path.to_owned(),
            entries: entries.into_iter(),
            pending: None,
            unknown: Vec::new(),
        }
    }

    /// Every entry, as it is (a map, or an object read as "any value").
    fn all(pass: &'p Pass<'p>, path: &str, object: &'v Map<String, Value>) -> Self {
        let entries = object
            .iter()
            .map(|(key, value)| (key.as_str(), Input::Value(value)))
            .collect();
        Self::new(pass, path, entries)
    }

    /// No entries at all.
    fn none(pass: &'p Pass<'p>, path: &str) -> Self {
        Self::new(pass, path, Vec::new())
    }

    /// The object of a struct with these fields, in their declared order: each present
    /// field's value (a stand-in for one given twice), a required field earlier passes
    /// found absent as absent, and any other key recorded as not allowed (JSON) or left
    /// out (a form). A value refused in an earlier pass comes last, so that if it ends
    /// the reading, its siblings have been checked.
    fn fields(
        pass: &'p Pass<'p>,
        path: &str,
        fields: &'static [&'static str],
        object: &'v Map<String, Value>,
    ) -> Self {
        if path.is_empty() {
            pass.fields.set(fields);
        }
        let mut entries = Vec::with_capacity(fields.len());
        let mut refused = Vec::new();
        for &field in fields {
            let field_path = field_path(path, field);
            match object.get(field) {
                Some(_) if pass.duplicates.contains(&field_path) => {
                    pass.record(&field_path, "must appear only once");
                    entries.push((field, Input::StandIn));
                }
                Some(value) if pass.refused.contains_key(&field_path) => {
                    refused.push((field, Input::Value(value)));
                }
                Some(value) => entries.push((field, Input::Value(value))),
                None if pass.absent.contains(&field_path) => entries.push((field, Input::Absent)),
                None => {}
            }
        }
        entries.append(&mut refused);
        let mut entries = Self::new(pass, path, entries);
        if pass.source == Source::Json {
            entries.unknown = object
                .keys()
                .map(String::as_str)
                .filter(|key| !fields.contains(key))
                .collect();
        }
        entries
    }

    /// A stand-in for a struct: every field a stand-in.
    fn stand_ins(pass: &'p Pass<'p>, path: &str, fields: &'static [&'static str]) -> Self {
        let entries = fields
            .iter()
            .map(|&field| (field, Input::StandIn))
            .collect();
        Self::new(pass, path, entries)
    }
}

/// Serde's visitor owns the entries and drops them when it is done with the object,
/// whether it read them all or stopped early: the one moment after every field's own
/// error that is sure to come.
impl Drop for Entries<'_, '_> {
    fn drop(&mut self) {
        for key in &self.unknown {
            self.pass
                .record(&field_path(&self.path, key), "is not allowed");
        }
    }
}

impl<'v> MapAccess<'v> for Entries<'_, 'v> {
    type Error = Stop;

    fn next_key_seed<K: DeserializeSeed<'v>>(&mut self, seed: K) -> Result<Option<K::Value>, Stop> {
        let Some((key, input)) = self.entries.next() else {
            return Ok(None);
        };
        self.pending = Some((key, input));
        seed.deserialize(BorrowedStrDeserializer::new(key))
            .map(Some)
            .map_err(|stop: Stop| stop.at(&field_path(&self.path, key)))
    }

    fn next_value_seed<T: DeserializeSeed<'v>>(&mut self, seed: T) -> Result<T::Value, Stop> {
        let (key, input) = self.pending.take().unwrap_or(("", Input::StandIn));
        seed.deserialize(Lenient::new(self.pass, input, field_path(&self.path, key)))
    }
}

/// An enum's variant and its content.
struct Variant<'p, 'v> {
    pass: &'p Pass<'p>,
    /// The path of the content.
    path: String,
    name: &'static str,
    content: Input<'v>,
}

impl<'p, 'v> EnumAccess<'v> for Variant<'p, 'v> {
    type Error = Stop;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'v>>(self, seed: S) -> Result<(S::Value, Self), Stop> {
        let name = seed.deserialize(self.name.into_deserializer())?;
        Ok((name, self))
    }
}

impl<'v> VariantAccess<'v> for Variant<'_, 'v> {
    type Error = Stop;

    fn unit_variant(self) -> Result<(), Stop> {
        if let Input::Value(content) = self.content
            && !content.is_null()
        {
            self.pass.record(&self.path, "must be null");
        }
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'v>>(self, seed: T) -> Result<T::Value, Stop> {
        seed.deserialize(Lenient::new(self.pass, self.content, self.path))
    }

    fn tuple_variant<V: Visitor<'v>>(self, len: usize, visitor: V) -> Result<V::Value, Stop> {
        Lenient::new(self.pass, self.content, self.path).deserialize_tuple(len, visitor)
    }

    fn struct_variant<V: Visitor<'v>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Stop> {
        Lenient::new(self.pass, self.content, self.path).deserialize_struct("", fields, visitor)
    }
}
