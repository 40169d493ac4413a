//! A small BER → DER normaliser for the BER that real signers emit.
//!
//! AWS's PKCS#7 signatures (`/pkcs7`, `/rsa2048`) are BER: indefinite lengths and a
//! constructed OCTET STRING around the content. The `der` crate decodes DER only, so
//! [`to_der`] rewrites the input first:
//!
//! * indefinite lengths become definite, minimal lengths;
//! * non-minimal definite lengths become minimal;
//! * constructed universal string types (OCTET STRING, BIT STRING and the character and time
//!   strings) become one primitive string holding the joined segments.
//!
//! Everything else is copied unchanged. In particular the normaliser does not sort SET OF
//! elements or fix BOOLEAN and INTEGER encodings: it has no schema. The caller decodes the
//! output with a strict DER decoder, which rejects whatever is still not DER.
//!
//! **Invariant:** the normaliser never panics and its recursion is bounded by
//! [`Limits::max_depth`]; every malformed input is a typed [`BerError`].

/// Bounds applied while normalising.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The deepest nesting accepted; the outermost element is at depth 0.
    pub max_depth: usize,
    /// The largest input accepted, in bytes.
    pub max_input: usize,
}

impl Limits {
    /// The limits used by [`to_der`]: nesting depth 32, input size 64 KiB.
    pub const DEFAULT: Limits = Limits {
        max_depth: 32,
        max_input: 64 * 1024,
    };
}

/// Why an input is not acceptable BER. Messages hold byte offsets, never input bytes.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BerError {
    /// The input is larger than [`Limits::max_input`].
    #[error("input is larger than {max} bytes")]
    TooLarge {
        /// The limit that was exceeded.
        max: usize,
    },
    /// Elements are nested deeper than [`Limits::max_depth`].
    #[error("elements are nested deeper than {max} levels")]
    TooDeep {
        /// The limit that was exceeded.
        max: usize,
    },
    /// The input ends inside an element.
    #[error("input ends inside the element at offset {offset}")]
    Truncated {
        /// Offset of the element that is cut short.
        offset: usize,
    },
    /// A tag uses a reserved or non-minimal form, or a tag number this parser refuses.
    #[error("invalid tag at offset {offset}")]
    InvalidTag {
        /// Offset of the tag.
        offset: usize,
    },
    /// A length field is reserved, too long, or does not fit the enclosing element.
    #[error("invalid length at offset {offset}")]
    InvalidLength {
        /// Offset of the element.
        offset: usize,
    },
    /// A primitive element has an indefinite length.
    #[error("indefinite length on a primitive element at offset {offset}")]
    IndefinitePrimitive {
        /// Offset of the element.
        offset: usize,
    },
    /// An end-of-contents marker appears outside an indefinite-length element.
    #[error("misplaced end-of-contents marker at offset {offset}")]
    UnexpectedEndOfContents {
        /// Offset of the marker.
        offset: usize,
    },
    /// A segment of a constructed string is not a string of the same type, or a BIT STRING
    /// segment is malformed.
    #[error("invalid constructed string segment at offset {offset}")]
    InvalidStringSegment {
        /// Offset of the segment.
        offset: usize,
    },
    /// Bytes follow the outermost element.
    #[error("unexpected data after the outermost element at offset {offset}")]
    TrailingData {
        /// Offset of the first extra byte.
        offset: usize,
    },
}

/// Normalises one BER element (the whole input) to DER with [`Limits::DEFAULT`].
pub fn to_der(input: &[u8]) -> Result<Vec<u8>, BerError> {
    to_der_with_limits(input, Limits::DEFAULT)
}

/// Normalises one BER element (the whole input) to DER with the given limits.
pub fn to_der_with_limits(input: &[u8], limits: Limits) -> Result<Vec<u8>, BerError> {
    if input.len() > limits.max_input {
        return Err(BerError::TooLarge {
            max: limits.max_input,
        });
    }
    let mut reader = Reader {
        input,
        pos: 0,
        base: 0,
    };
    let normaliser = Normaliser { limits };
    let mut out = Vec::with_capacity(input.len());
    match normaliser.element(&mut reader, 0, &mut out)? {
        Parsed::Element => {}
        Parsed::EndOfContents { offset } => {
            return Err(BerError::UnexpectedEndOfContents { offset });
        }
    }
    if !reader.is_empty() {
        return Err(BerError::TrailingData {
            offset: reader.offset(),
        });
    }
    Ok(out)
}

/// Universal tag numbers of the string types whose constructed form is joined.
const STRING_TAGS: &[u32] = &[
    3,  // BIT STRING
    4,  // OCTET STRING
    12, // UTF8String
    18, // NumericString
    19, // PrintableString
    20, // TeletexString
    21, // VideotexString
    22, // IA5String
    23, // UTCTime
    24, // GeneralizedTime
    25, // GraphicString
    26, // VisibleString
    27, // GeneralString
    28, // UniversalString
    30, // BMPString
];

const BIT_STRING: u32 = 3;
const CLASS_UNIVERSAL: u8 = 0;
const CONSTRUCTED_BIT: u8 = 0x20;
/// Tag numbers above this are refused (four base-128 bytes at most).
const MAX_TAG_NUMBER: u32 = (1 << 28) - 1;

/// A cursor over part of the input; `base` is the offset of `input[0]` in the whole input,
/// so that errors report absolute offsets.
struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    fn is_empty(&self) -> bool {
        self.pos >= self.input.len()
    }

    fn offset(&self) -> usize {
        self.base + self.pos
    }

    fn byte(&mut self, element_offset: usize) -> Result<u8, BerError> {
        let byte = self
            .input
            .get(self.pos)
            .copied()
            .ok_or(BerError::Truncated {
                offset: element_offset,
            })?;
        self.pos += 1;
        Ok(byte)
    }

    fn take(&mut self, len: usize, element_offset: usize) -> Result<&'a [u8], BerError> {
        let truncated = BerError::Truncated {
            offset: element_offset,
        };
        let end = self.pos.checked_add(len).ok_or(truncated)?;
        let bytes = self.input.get(self.pos..end).ok_or(truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    /// A reader over the next `len` bytes, which this reader skips.
    fn sub_reader(&mut self, len: usize, element_offset: usize) -> Result<Reader<'a>, BerError> {
        let base = self.offset();
        let input = self.take(len, element_offset)?;
        Ok(Reader {
            input,
            pos: 0,
            base,
        })
    }
}

/// An identifier and length, as read.
struct Header<'a> {
    /// Offset of the identifier octets.
    offset: usize,
    /// The identifier octets exactly as read (they are valid DER once checked).
    tag_bytes: &'a [u8],
    class: u8,
    constructed: bool,
    number: u32,
    /// `None` for the indefinite form.
    length: Option<usize>,
}

impl Header<'_> {
    fn is_end_of_contents(&self) -> bool {
        self.tag_bytes == [0x00] && self.length == Some(0)
    }

    fn is_constructed_string(&self) -> bool {
        self.class == CLASS_UNIVERSAL && self.constructed && STRING_TAGS.contains(&self.number)
    }
}

/// What [`Normaliser::element`] or [`Normaliser::string_segment`] read.
enum Parsed {
    /// An element or string segment, now written to the output or collected.
    Element,
    /// An end-of-contents marker (`00 00`), written nowhere.
    EndOfContents { offset: usize },
}

struct Normaliser {
    limits: Limits,
}

impl Normaliser {
    /// An element or string segment at `depth` must be within [`Limits::max_depth`].
    fn check_depth(&self, depth: usize) -> Result<(), BerError> {
        if depth > self.limits.max_depth {
            return Err(BerError::TooDeep {
                max: self.limits.max_depth,
            });
        }
        Ok(())
    }

    /// Reads one element from `reader` and appends its DER form to `out`.
    fn element(
        &self,
        reader: &mut Reader<'_>,
        depth: usize,
        out: &mut Vec<u8>,
    ) -> Result<Parsed, BerError> {
        self.check_depth(depth)?;
        let header = read_header(reader)?;
        if header.is_end_of_contents() {
            return Ok(Parsed::EndOfContents {
                offset: header.offset,
            });
        }
        if header.number == 0 && header.class == CLASS_UNIVERSAL {
            // Universal tag 0 is reserved for end-of-contents, which must be `00 00`.
            return Err(BerError::InvalidTag {
                offset: header.offset,
            });
        }
        if header.is_constructed_string() {
            let mut segments = Vec::new();
            self.string_segments(reader, &header, depth, &mut segments)?;
            let content = join_segments(&header, &segments)?;
            let mut tag_bytes = header.tag_bytes.to_vec();
            if let Some(first) = tag_bytes.first_mut() {
                *first &= !CONSTRUCTED_BIT;
            }
            write_element(out, &tag_bytes, &content);
        } else if header.constructed {
            let mut content = Vec::new();
            self.children(reader, &header, depth, &mut content)?;
            write_element(out, header.tag_bytes, &content);
        } else {
            let len = header.length.ok_or(BerError::IndefinitePrimitive {
                offset: header.offset,
            })?;
            let content = reader.take(len, header.offset)?;
            write_element(out, header.tag_bytes, content);
        }
        Ok(Parsed::Element)
    }

    /// Normalises the children of a constructed, non-string element into `content`.
    fn children(
        &self,
        reader: &mut Reader<'_>,
        header: &Header<'_>,
        depth: usize,
        content: &mut Vec<u8>,
    ) -> Result<(), BerError> {
        read_contents(reader, header, |reader| {
            self.element(reader, depth + 1, content)
        })
    }

    /// Collects the primitive segments of a constructed string, recursing into nested
    /// constructed segments of the same type.
    fn string_segments<'a>(
        &self,
        reader: &mut Reader<'a>,
        header: &Header<'a>,
        depth: usize,
        segments: &mut Vec<&'a [u8]>,
    ) -> Result<(), BerError> {
        read_contents(reader, header, |reader| {
            self.string_segment(reader, header.number, depth + 1, segments)
        })
    }

    /// Reads one segment of a constructed string of type `number`, or an end-of-contents
    /// marker.
    fn string_segment<'a>(
        &self,
        reader: &mut Reader<'a>,
        number: u32,
        depth: usize,
        segments: &mut Vec<&'a [u8]>,
    ) -> Result<Parsed, BerError> {
        self.check_depth(depth)?;
        let segment = read_header(reader)?;
        if segment.is_end_of_contents() {
            return Ok(Parsed::EndOfContents {
                offset: segment.offset,
            });
        }
        if segment.class != CLASS_UNIVERSAL || segment.number != number {
            return Err(BerError::InvalidStringSegment {
                offset: segment.offset,
            });
        }
        if segment.constructed {
            self.string_segments(reader, &segment, depth, segments)?;
        } else {
            let len = segment.length.ok_or(BerError::IndefinitePrimitive {
                offset: segment.offset,
            })?;
            segments.push(reader.take(len, segment.offset)?);
        }
        Ok(Parsed::Element)
    }
}

/// Reads the contents of the constructed element `header`, one child at a time with
/// `read_child`: with a definite length, exactly that many bytes, where an end-of-contents
/// marker is misplaced; with the indefinite form, up to and including its end-of-contents
/// marker.
fn read_contents<'a>(
    reader: &mut Reader<'a>,
    header: &Header<'_>,
    mut read_child: impl FnMut(&mut Reader<'a>) -> Result<Parsed, BerError>,
) -> Result<(), BerError> {
    match header.length {
        Some(len) => {
            let mut inner = reader.sub_reader(len, header.offset)?;
            while !inner.is_empty() {
                if let Parsed::EndOfContents { offset } = read_child(&mut inner)? {
                    return Err(BerError::UnexpectedEndOfContents { offset });
                }
            }
            Ok(())
        }
        None => loop {
            if let Parsed::EndOfContents { .. } = read_child(reader)? {
                return Ok(());
            }
        },
    }
}

/// Reads identifier and length octets.
fn read_header<'a>(reader: &mut Reader<'a>) -> Result<Header<'a>, BerError> {
    let offset = reader.offset();
    let start = reader.pos;
    let first = reader.byte(offset)?;
    let class = first >> 6;
    let constructed = first & CONSTRUCTED_BIT != 0;
    let mut number = u32::from(first & 0x1f);
    if number == 0x1f {
        number = read_high_tag_number(reader, offset)?;
    }
    let tag_bytes = reader.input.get(start..reader.pos).unwrap_or_default();
    let length = read_length(reader, offset)?;
    Ok(Header {
        offset,
        tag_bytes,
        class,
        constructed,
        number,
        length,
    })
}

/// Reads the base-128 tag number that follows a `0x1f` low tag; it must be minimal.
fn read_high_tag_number(reader: &mut Reader<'_>, offset: usize) -> Result<u32, BerError> {
    let invalid = BerError::InvalidTag { offset };
    let mut number: u32 = 0;
    let mut first = true;
    loop {
        let byte = reader.byte(offset)?;
        if first && byte == 0x80 {
            // A leading zero group is not minimal.
            return Err(invalid);
        }
        first = false;
        if number > MAX_TAG_NUMBER >> 7 {
            return Err(invalid);
        }
        number = (number << 7) | u32::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            break;
        }
    }
    if number < 0x1f {
        // Numbers below 31 must use the one-byte form.
        return Err(invalid);
    }
    Ok(number)
}

/// Reads a length: `None` for the indefinite form.
fn read_length(reader: &mut Reader<'_>, offset: usize) -> Result<Option<usize>, BerError> {
    let first = reader.byte(offset)?;
    if first < 0x80 {
        return Ok(Some(usize::from(first)));
    }
    if first == 0x80 {
        return Ok(None);
    }
    let count = usize::from(first & 0x7f);
    // 0xff is reserved; more than four length bytes cannot describe anything we accept.
    if first == 0xff || count > 4 {
        return Err(BerError::InvalidLength { offset });
    }
    let mut length: usize = 0;
    for _ in 0..count {
        let byte = reader.byte(offset)?;
        length = length
            .checked_mul(256)
            .and_then(|shifted| shifted.checked_add(usize::from(byte)))
            .ok_or(BerError::InvalidLength { offset })?;
    }
    Ok(Some(length))
}

/// Joins the segments of a constructed string into the content of the primitive form.
fn join_segments(header: &Header<'_>, segments: &[&[u8]]) -> Result<Vec<u8>, BerError> {
    if header.number != BIT_STRING {
        return Ok(segments.concat());
    }
    // Each BIT STRING segment starts with its count of unused bits; only the last segment may
    // have unused bits, and a segment without data must have none.
    let invalid = BerError::InvalidStringSegment {
        offset: header.offset,
    };
    let mut content = vec![0u8];
    let last_index = segments.len().saturating_sub(1);
    for (index, segment) in segments.iter().enumerate() {
        let (&unused, data) = segment.split_first().ok_or(invalid)?;
        let unused_allowed = index == last_index && !data.is_empty();
        if unused > 7 || (unused != 0 && !unused_allowed) {
            return Err(invalid);
        }
        content.extend_from_slice(data);
        if index == last_index {
            content[0] = unused;
        }
    }
    Ok(content)
}

/// Appends a DER element: identifier, minimal definite length, content.
fn write_element(out: &mut Vec<u8>, tag_bytes: &[u8], content: &[u8]) {
    out.extend_from_slice(tag_bytes);
    write_length(out, content.len());
    out.extend_from_slice(content);
}

fn write_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        // `len` fits in seven bits here.
        out.push(len as u8);
        return;
    }
    let bytes = len.to_be_bytes();
    let skip = bytes.iter().take_while(|&&byte| byte == 0).count();
    let significant = &bytes[skip..];
    out.push(0x80 | significant.len() as u8);
    out.extend_from_slice(significant);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &[u8], expected: Result<&[u8], BerError>) {
        let actual = to_der(input);
        assert_eq!(
            actual.as_deref().map_err(|error| *error),
            expected,
            "input {input:02x?}"
        );
    }

    #[test]
    fn definite_der_passes_through_unchanged() {
        // SEQUENCE { INTEGER 5, OCTET STRING "ab", [0] { NULL } }
        let der = [
            0x30, 0x0b, 0x02, 0x01, 0x05, 0x04, 0x02, b'a', b'b', 0xa0, 0x02, 0x05, 0x00,
        ];
        check(&der, Ok(&der));
    }

    #[test]
    fn indefinite_lengths_become_definite() {
        // SEQUENCE (indefinite) { INTEGER 1, SEQUENCE (indefinite) { NULL } }
        let ber = [
            0x30, 0x80, 0x02, 0x01, 0x01, 0x30, 0x80, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00,
        ];
        let der = [0x30, 0x07, 0x02, 0x01, 0x01, 0x30, 0x02, 0x05, 0x00];
        check(&ber, Ok(&der));
    }

    #[test]
    fn context_tags_keep_their_identifier() {
        // [0] (indefinite) { [1] IMPLICIT primitive "x" }
        let ber = [0xa0, 0x80, 0x81, 0x01, b'x', 0x00, 0x00];
        check(&ber, Ok(&[0xa0, 0x03, 0x81, 0x01, b'x']));
    }

    #[test]
    fn constructed_octet_strings_are_joined() {
        // OCTET STRING (constructed, indefinite) { "ab", OCTET STRING (constructed,
        // definite) { "c", "" }, "de" }
        let ber = [
            0x24, 0x80, //
            0x04, 0x02, b'a', b'b', //
            0x24, 0x05, 0x04, 0x01, b'c', 0x04, 0x00, //
            0x04, 0x02, b'd', b'e', //
            0x00, 0x00,
        ];
        check(&ber, Ok(&[0x04, 0x05, b'a', b'b', b'c', b'd', b'e']));
    }

    #[test]
    fn aws_shape_explicit_tag_around_constructed_octet_string() {
        // [0] (indefinite) { OCTET STRING (constructed, indefinite) { "{}" } }
        let ber = [
            0xa0, 0x80, 0x24, 0x80, 0x04, 0x02, b'{', b'}', 0x00, 0x00, 0x00, 0x00,
        ];
        check(&ber, Ok(&[0xa0, 0x04, 0x04, 0x02, b'{', b'}']));
    }

    #[test]
    fn constructed_character_strings_are_joined() {
        // UTF8String (constructed) { UTF8String "h", UTF8String "i" }
        let ber = [0x2c, 0x06, 0x0c, 0x01, b'h', 0x0c, 0x01, b'i'];
        check(&ber, Ok(&[0x0c, 0x02, b'h', b'i']));
    }

    #[test]
    fn constructed_bit_strings_are_joined() {
        // BIT STRING (constructed) { (0 unused) 0xaa, (4 unused) 0xf0 }
        let ber = [0x23, 0x08, 0x03, 0x02, 0x00, 0xaa, 0x03, 0x02, 0x04, 0xf0];
        check(&ber, Ok(&[0x03, 0x03, 0x04, 0xaa, 0xf0]));
        // Unused bits in a segment other than the last are refused.
        let ber = [0x23, 0x08, 0x03, 0x02, 0x04, 0xa0, 0x03, 0x02, 0x00, 0xf0];
        check(&ber, Err(BerError::InvalidStringSegment { offset: 0 }));
        // An empty segment (without the unused-bits byte) is refused.
        let ber = [0x23, 0x02, 0x03, 0x00];
        check(&ber, Err(BerError::InvalidStringSegment { offset: 0 }));
    }

    #[test]
    fn string_segments_must_have_the_same_type() {
        // OCTET STRING (constructed) { UTF8String "a" }
        check(
            &[0x24, 0x03, 0x0c, 0x01, b'a'],
            Err(BerError::InvalidStringSegment { offset: 2 }),
        );
    }

    #[test]
    fn non_minimal_lengths_become_minimal() {
        check(&[0x04, 0x82, 0x00, 0x01, b'z'], Ok(&[0x04, 0x01, b'z']));
    }

    #[test]
    fn long_lengths_are_encoded_minimally() {
        let mut ber = vec![0x24, 0x80, 0x04, 0x81, 0xc8];
        ber.extend(std::iter::repeat_n(7u8, 200));
        ber.extend([0x04, 0x82, 0x01, 0x00]);
        ber.extend(std::iter::repeat_n(8u8, 256));
        ber.extend([0x00, 0x00]);
        let der = to_der(&ber).expect("valid BER");
        assert_eq!(der[..4], [0x04, 0x82, 0x01, 0xc8]);
        assert_eq!(der.len(), 4 + 456);
    }

    #[test]
    fn high_tag_numbers_are_copied_and_checked() {
        // [APPLICATION 100] primitive "q"
        check(&[0x5f, 0x64, 0x01, b'q'], Ok(&[0x5f, 0x64, 0x01, b'q']));
        // Non-minimal: a leading 0x80 group, or a number below 31 in the long form.
        check(
            &[0x5f, 0x80, 0x64, 0x01, b'q'],
            Err(BerError::InvalidTag { offset: 0 }),
        );
        check(&[0x5f, 0x1e, 0x00], Err(BerError::InvalidTag { offset: 0 }));
        // A tag number that never ends.
        check(
            &[0x5f, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00],
            Err(BerError::InvalidTag { offset: 0 }),
        );
    }

    #[test]
    fn depth_limit_is_enforced() {
        let limits = Limits {
            max_depth: 3,
            max_input: 1024,
        };
        // Four nested indefinite SEQUENCEs around a NULL: depth 4 > 3.
        let mut ber = vec![0x30, 0x80, 0x30, 0x80, 0x30, 0x80, 0x30, 0x80, 0x05, 0x00];
        ber.extend([0u8; 8]);
        assert_eq!(
            to_der_with_limits(&ber, limits),
            Err(BerError::TooDeep { max: 3 })
        );
        // Deeply nested constructed strings hit the same limit.
        let mut ber = vec![0x24, 0x80, 0x24, 0x80, 0x24, 0x80, 0x24, 0x80, 0x04, 0x00];
        ber.extend([0u8; 8]);
        assert_eq!(
            to_der_with_limits(&ber, limits),
            Err(BerError::TooDeep { max: 3 })
        );
        // Thousands of levels with the default limits: refused, and no stack overflow.
        let deep: Vec<u8> = std::iter::repeat_n([0x30, 0x80], 5000).flatten().collect();
        assert_eq!(to_der(&deep), Err(BerError::TooDeep { max: 32 }));
    }

    #[test]
    fn size_limit_is_enforced() {
        let big = vec![0u8; Limits::DEFAULT.max_input + 1];
        check(&big, Err(BerError::TooLarge { max: 64 * 1024 }));
    }

    #[test]
    fn truncated_input_is_refused() {
        check(&[], Err(BerError::Truncated { offset: 0 }));
        check(&[0x30], Err(BerError::Truncated { offset: 0 }));
        check(&[0x04, 0x05, b'a'], Err(BerError::Truncated { offset: 0 }));
        check(&[0x04, 0x82, 0x01], Err(BerError::Truncated { offset: 0 }));
        // An indefinite SEQUENCE without its end-of-contents marker.
        check(
            &[0x30, 0x80, 0x05, 0x00],
            Err(BerError::Truncated { offset: 4 }),
        );
        // A child that runs past the end of its definite-length parent.
        check(
            &[0x30, 0x02, 0x04, 0x05, b'a', b'b', b'c', b'd', b'e'],
            Err(BerError::Truncated { offset: 2 }),
        );
    }

    #[test]
    fn length_overflow_is_refused() {
        check(
            &[0x04, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            Err(BerError::InvalidLength { offset: 0 }),
        );
        check(&[0x04, 0xff], Err(BerError::InvalidLength { offset: 0 }));
        // Four length bytes are parsed, but the length exceeds the input.
        check(
            &[0x04, 0x84, 0xff, 0xff, 0xff, 0xff],
            Err(BerError::Truncated { offset: 0 }),
        );
    }

    #[test]
    fn misplaced_end_of_contents_is_refused() {
        check(
            &[0x00, 0x00],
            Err(BerError::UnexpectedEndOfContents { offset: 0 }),
        );
        // Inside a definite-length SEQUENCE.
        check(
            &[0x30, 0x02, 0x00, 0x00],
            Err(BerError::UnexpectedEndOfContents { offset: 2 }),
        );
        // Inside a definite-length constructed OCTET STRING.
        check(
            &[0x24, 0x02, 0x00, 0x00],
            Err(BerError::UnexpectedEndOfContents { offset: 2 }),
        );
        // Universal tag 0 with content is not an end-of-contents marker.
        check(&[0x00, 0x01, 0x00], Err(BerError::InvalidTag { offset: 0 }));
    }

    #[test]
    fn indefinite_primitive_is_refused() {
        check(
            &[0x04, 0x80, 0x00, 0x00],
            Err(BerError::IndefinitePrimitive { offset: 0 }),
        );
        check(
            &[0x24, 0x80, 0x04, 0x80, 0x00, 0x00],
            Err(BerError::IndefinitePrimitive { offset: 2 }),
        );
    }

    #[test]
    fn trailing_data_is_refused() {
        check(
            &[0x05, 0x00, 0x05, 0x00],
            Err(BerError::TrailingData { offset: 2 }),
        );
    }

    #[test]
    fn output_is_a_fixed_point() {
        let ber = [
            0x30, 0x80, 0x24, 0x80, 0x04, 0x01, b'a', 0x04, 0x01, b'b', 0x00, 0x00, 0x00, 0x00,
        ];
        let der = to_der(&ber).expect("valid BER");
        assert_eq!(to_der(&der), Ok(der));
    }
}
