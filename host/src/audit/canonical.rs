//! The one canonical JSON writer, straight from a serializable value: object keys sorted (by
//! their bytes) at every level, no insignificant whitespace, and strings, numbers and
//! literals written exactly as `serde_json` writes them, so that the same event always hashes
//! the same whatever produced it. Events are written with every string value passed through
//! [`chain::redact_text`] ([`to_canonical_json`]); what is already redacted or holds no free
//! text (a stored event being exported, an anchor) is written as it is
//! ([`to_canonical_json_exact`]).
//!
//! Keys are not redacted, only values. A key given twice keeps its last value (as a
//! `serde_json::Map` does), and numbers, `None`, unit values and enum variants are written as
//! `serde_json::to_value` represents them.

use std::borrow::Cow;

use serde::Serialize;
use serde::ser::{self, Error as _};
use serde_json::{Error, Value};

use super::chain::{self, into_text};

/// `value`, redacted and in canonical JSON.
pub fn to_canonical_json<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    let mut out = Vec::with_capacity(256);
    value.serialize(Canonical {
        out: &mut out,
        redact: true,
    })?;
    Ok(into_text(out))
}

/// `value` in canonical JSON, nothing redacted.
pub fn to_canonical_json_exact<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    let mut out = Vec::with_capacity(256);
    value.serialize(Canonical {
        out: &mut out,
        redact: false,
    })?;
    Ok(into_text(out))
}

/// Writes one value into `out`.
struct Canonical<'a> {
    out: &'a mut Vec<u8>,
    /// Whether strings pass through [`chain::redact_text`] (not in keys).
    redact: bool,
}

/// A string (escaped) or another scalar, as `serde_json` writes it.
fn scalar<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), Error> {
    serde_json::to_writer(out, value)
}

/// An array being written; `close` ends it (and the object of a tuple variant).
struct Seq<'a> {
    out: &'a mut Vec<u8>,
    redact: bool,
    first: bool,
    close: &'static [u8],
}

/// An object being written: its entries' values go to `out` as they come, then [`Map::finish`]
/// puts them in key order.
struct Map<'a> {
    out: &'a mut Vec<u8>,
    redact: bool,
    /// Where the first value starts in `out`.
    start: usize,
    /// Each entry's key and where its value ends in `out` (it starts where the previous ends).
    entries: Vec<(Cow<'static, str>, usize)>,
    /// A map's key, until its value comes.
    key: Option<String>,
    /// The struct variant this object is the content of.
    variant: Option<&'static str>,
}

impl<'a> Canonical<'a> {
    fn seq(self, open: &'static [u8], close: &'static [u8]) -> Seq<'a> {
        self.out.extend_from_slice(open);
        Seq {
            out: self.out,
            redact: self.redact,
            first: true,
            close,
        }
    }

    fn map(self, variant: Option<&'static str>) -> Map<'a> {
        let start = self.out.len();
        Map {
            out: self.out,
            redact: self.redact,
            start,
            entries: Vec::new(),
            key: None,
            variant,
        }
    }

    /// Opens `{"variant":`.
    fn variant(&mut self, variant: &'static str) -> Result<(), Error> {
        self.out.push(b'{');
        scalar(self.out, variant)?;
        self.out.push(b':');
        Ok(())
    }
}

impl<'a> ser::Serializer for Canonical<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Seq<'a>;
    type SerializeTuple = Seq<'a>;
    type SerializeTupleStruct = Seq<'a>;
    type SerializeTupleVariant = Seq<'a>;
    type SerializeMap = Map<'a>;
    type SerializeStruct = Map<'a>;
    type SerializeStructVariant = Map<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        scalar(self.out, &v)
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        scalar(self.out, &v)
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        scalar(self.out, &v)
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        scalar(self.out, &v)
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        scalar(self.out, &v)
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        match i64::try_from(v) {
            Ok(v) => scalar(self.out, &v),
            Err(_) => self.serialize_u128(u128::try_from(v).map_err(Error::custom)?),
        }
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        scalar(self.out, &v)
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        scalar(self.out, &v)
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        scalar(self.out, &v)
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        scalar(self.out, &v)
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        scalar(self.out, &u64::try_from(v).map_err(Error::custom)?)
    }
    // Floats as `serde_json::Value` holds them (non-finite ones become `null`).
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        scalar(self.out, &Value::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        scalar(self.out, &Value::from(v))
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        match self.redact.then(|| chain::redact_text(v)).flatten() {
            Some(clean) => scalar(self.out, &clean),
            None => scalar(self.out, v),
        }
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        scalar(self.out, v)
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        mut self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.variant(variant)?;
        value.serialize(Canonical {
            out: &mut *self.out,
            redact: self.redact,
        })?;
        self.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Seq<'a>, Error> {
        Ok(self.seq(b"[", b"]"))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Seq<'a>, Error> {
        Ok(self.seq(b"[", b"]"))
    }
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Seq<'a>, Error> {
        Ok(self.seq(b"[", b"]"))
    }
    fn serialize_tuple_variant(
        mut self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Seq<'a>, Error> {
        self.variant(variant)?;
        Ok(self.seq(b"[", b"]}"))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Map<'a>, Error> {
        Ok(self.map(None))
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Map<'a>, Error> {
        Ok(self.map(None))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Map<'a>, Error> {
        Ok(self.map(Some(variant)))
    }
}

impl Seq<'_> {
    fn item<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
        value.serialize(Canonical {
            out: &mut *self.out,
            redact: self.redact,
        })
    }

    fn finish(self) -> Result<(), Error> {
        self.out.extend_from_slice(self.close);
        Ok(())
    }
}

/// Implements serde's array-like compound traits (their one method is `$method`) with
/// [`Seq::item`] and [`Seq::finish`].
macro_rules! seq_traits {
    ($($tr:ident::$method:ident),*) => {$(
        impl ser::$tr for Seq<'_> {
            type Ok = ();
            type Error = Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                self.item(value)
            }
            fn end(self) -> Result<(), Error> {
                self.finish()
            }
        }
    )*};
}

seq_traits!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl Map<'_> {
    fn entry<T: Serialize + ?Sized>(
        &mut self,
        key: Cow<'static, str>,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(Canonical {
            out: &mut *self.out,
            redact: self.redact,
        })?;
        self.entries.push((key, self.out.len()));
        Ok(())
    }

    /// Replaces the values written since `start` with the object: entries in key order, the
    /// last of a repeated key only.
    fn finish(self) -> Result<(), Error> {
        let values = self.out.split_off(self.start);
        let mut starts = Vec::with_capacity(self.entries.len());
        let mut from = 0;
        for (_, end) in &self.entries {
            starts.push(from..end - self.start);
            from = end - self.start;
        }
        let mut order: Vec<usize> = (0..self.entries.len()).collect();
        // Stable, so a repeated key's entries stay in the order they came.
        order.sort_by(|&a, &b| self.entries[a].0.cmp(&self.entries[b].0));
        if let Some(variant) = self.variant {
            self.out.push(b'{');
            scalar(self.out, variant)?;
            self.out.push(b':');
        }
        self.out.push(b'{');
        let mut first = true;
        for (at, &index) in order.iter().enumerate() {
            let key = &self.entries[index].0;
            if order
                .get(at + 1)
                .is_some_and(|&next| self.entries[next].0 == *key)
            {
                continue;
            }
            if !std::mem::take(&mut first) {
                self.out.push(b',');
            }
            scalar(self.out, key.as_ref())?;
            self.out.push(b':');
            self.out.extend_from_slice(&values[starts[index].clone()]);
        }
        self.out.push(b'}');
        if self.variant.is_some() {
            self.out.push(b'}');
        }
        Ok(())
    }
}

/// A map key's text, as `serde_json` makes one: a string as it is, a number or a boolean as
/// written; anything else is refused.
fn key_text<T: Serialize + ?Sized>(key: &T) -> Result<String, Error> {
    let mut text = Vec::new();
    key.serialize(Canonical {
        out: &mut text,
        redact: false,
    })?;
    match text.first() {
        Some(b'"') => serde_json::from_slice(&text),
        Some(b'-' | b'0'..=b'9' | b't' | b'f') => Ok(into_text(text)),
        _ => Err(Error::custom("key must be a string")),
    }
}

impl ser::SerializeMap for Map<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key = Some(key_text(key)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let key = self
            .key
            .take()
            .ok_or_else(|| Error::custom("a map value came without its key"))?;
        self.entry(Cow::Owned(key), value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

/// Implements serde's struct-like compound traits with [`Map::entry`] and [`Map::finish`].
macro_rules! struct_traits {
    ($($tr:ident),*) => {$(
        impl ser::$tr for Map<'_> {
            type Ok = ();
            type Error = Error;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), Error> {
                self.entry(Cow::Borrowed(key), value)
            }
            fn end(self) -> Result<(), Error> {
                self.finish()
            }
        }
    )*};
}

struct_traits!(SerializeStruct, SerializeStructVariant);
