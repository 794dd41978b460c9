//! A bounded element tree read from UPI XML with `quick-xml`, and written back.
//!
//! Reading refuses what a UPI message never needs and an attacker would like: a
//! document type declaration (and so any entity declaration), processing
//! instructions, entity references other than the five predefined ones and
//! character references, more than one root, and anything past the limits in
//! [`super::limits`].

use super::error::XmlError;
use super::limits::{MAX_ATTRIBUTES, MAX_DEPTH, MAX_ELEMENTS, MAX_MESSAGE_BYTES};
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

/// One element: its name as written (prefix included), attributes in document
/// order, child elements, and its text (references resolved, outer whitespace
/// trimmed).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    /// An element with no attributes, children or text.
    pub fn new(name: &str) -> Element {
        Element {
            name: name.to_owned(),
            ..Element::default()
        }
    }

    /// Add an attribute (builder style).
    pub fn attr(mut self, name: &str, value: impl Into<String>) -> Element {
        self.attrs.push((name.to_owned(), value.into()));
        self
    }

    /// Add an attribute when the value is present.
    pub fn attr_opt(self, name: &str, value: Option<impl Into<String>>) -> Element {
        match value {
            Some(v) => self.attr(name, v),
            None => self,
        }
    }

    /// Add a child element.
    pub fn child(mut self, child: Element) -> Element {
        self.children.push(child);
        self
    }

    /// Set the text.
    pub fn text(mut self, text: impl Into<String>) -> Element {
        self.text = text.into();
        self
    }

    /// The value of attribute `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The one child named `name`, if any; two of them is an error.
    pub fn only_child(&self, name: &'static str) -> Result<Option<&Element>, XmlError> {
        let mut found = self.children.iter().filter(|c| c.name == name);
        let first = found.next();
        if found.next().is_some() {
            return Err(XmlError::Repeated { element: name });
        }
        Ok(first)
    }

    /// The one child named `name`, which must be there.
    pub fn required_child(&self, name: &'static str) -> Result<&Element, XmlError> {
        self.only_child(name)?
            .ok_or(XmlError::MissingElement { element: name })
    }

    /// Every child named `name`, in order.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Write the element as XML.
    pub fn write(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.name);
        for (k, v) in &self.attrs {
            out.push(' ');
            out.push_str(k);
            out.push_str("=\"");
            write_attr_value(v, out);
            out.push('"');
        }
        if self.children.is_empty() && self.text.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        out.push_str(&quick_xml::escape::escape(self.text.as_str()));
        for c in &self.children {
            c.write(out);
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }
}

/// An attribute value, escaped, with tabs and line breaks as character
/// references so that reading does not normalise them to spaces.
fn write_attr_value(v: &str, out: &mut String) {
    let escaped = quick_xml::escape::escape(v);
    for c in escaped.chars() {
        match c {
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

/// Read one document into its root element, within the limits.
pub(crate) fn read(input: &[u8]) -> Result<Element, XmlError> {
    if input.len() > MAX_MESSAGE_BYTES {
        return Err(XmlError::TooLarge {
            limit: MAX_MESSAGE_BYTES,
        });
    }
    let text = std::str::from_utf8(input).map_err(|_| XmlError::NotUtf8)?;
    let mut reader = Reader::from_str(text);
    let mut tree = TreeBuilder::default();
    loop {
        let at = reader.buffer_position();
        let event = reader.read_event().map_err(|e| malformed(&e, at))?;
        match event {
            Event::Eof => return tree.finish(at),
            Event::Decl(_) if tree.seen_anything => return Err(XmlError::MisplacedDeclaration),
            Event::Decl(_) | Event::Comment(_) => {}
            Event::DocType(_) => return Err(XmlError::DoctypeRefused),
            Event::PI(_) => return Err(XmlError::ProcessingInstructionRefused),
            Event::Start(e) => tree.open(start(&e, at)?)?,
            Event::Empty(e) => {
                tree.open(start(&e, at)?)?;
                tree.close()?;
            }
            Event::End(_) => tree.close()?,
            Event::Text(t) => tree.text(&t.xml10_content())?,
            Event::CData(t) => {
                tree.text(&t.xml10_content())?;
            }
            Event::GeneralRef(r) => {
                let c = reference(&r)?;
                tree.text(c.encode_utf8(&mut [0; 4]))?;
            }
        }
        tree.seen_anything = true;
    }
}

/// The character a reference stands for: a character reference, or one of the
/// five entities XML predefines. Any other entity is undeclared (there is no
/// DTD to declare it) and refused.
fn reference(r: &quick_xml::events::BytesRef<'_>) -> Result<char, XmlError> {
    if r.is_char_ref() {
        return r
            .resolve_char_ref()
            .ok()
            .flatten()
            .ok_or(XmlError::BadCharacterReference);
    }
    match r.xml10_content().as_ref() {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        _ => Err(XmlError::UndeclaredEntity),
    }
}

fn malformed(e: &quick_xml::Error, at: u64) -> XmlError {
    let reason = match e {
        quick_xml::Error::Syntax(_) => "syntax error",
        quick_xml::Error::IllFormed(_) => "not well-formed (mismatched or missing tags)",
        quick_xml::Error::InvalidAttr(_) => "bad attribute",
        quick_xml::Error::Escape(_) => "bad escape or undeclared entity",
        quick_xml::Error::Encoding(_) => "bad encoding",
        _ => "unreadable",
    };
    XmlError::Malformed { at, reason }
}

fn start(e: &BytesStart<'_>, at: u64) -> Result<Element, XmlError> {
    let mut el = Element::new(e.name().as_ref());
    for a in e.attributes() {
        let a = a.map_err(|_| XmlError::Malformed {
            at,
            reason: "bad attribute",
        })?;
        if el.attrs.len() == MAX_ATTRIBUTES {
            return Err(XmlError::TooManyAttributes {
                limit: MAX_ATTRIBUTES,
            });
        }
        let key: &str = a.key.as_ref();
        let value =
            a.normalized_value(XmlVersion::Implicit1_0)
                .map_err(|_| XmlError::Malformed {
                    at,
                    reason: "bad escape or undeclared entity in an attribute",
                })?;
        el.attrs.push((key.to_owned(), value.into_owned()));
    }
    Ok(el)
}

/// The open elements, innermost last, and the root once closed.
#[derive(Default)]
struct TreeBuilder {
    open: Vec<Element>,
    root: Option<Element>,
    elements: usize,
    seen_anything: bool,
}

impl TreeBuilder {
    fn open(&mut self, el: Element) -> Result<(), XmlError> {
        if self.root.is_some() {
            return Err(XmlError::MoreThanOneRoot);
        }
        if self.open.len() == MAX_DEPTH {
            return Err(XmlError::TooDeep { limit: MAX_DEPTH });
        }
        self.elements += 1;
        if self.elements > MAX_ELEMENTS {
            return Err(XmlError::TooManyElements {
                limit: MAX_ELEMENTS,
            });
        }
        self.open.push(el);
        Ok(())
    }

    fn close(&mut self) -> Result<(), XmlError> {
        let mut el = self.open.pop().ok_or(XmlError::Malformed {
            at: 0,
            reason: "end tag without a start tag",
        })?;
        // Text is kept trimmed: no UPI value has meaningful outer whitespace,
        // and indentation between elements is not content.
        let trimmed = el.text.trim();
        if trimmed.len() != el.text.len() {
            el.text = trimmed.to_owned();
        }
        match self.open.last_mut() {
            Some(parent) => parent.children.push(el),
            None => self.root = Some(el),
        }
        Ok(())
    }

    fn text(&mut self, s: &str) -> Result<(), XmlError> {
        match self.open.last_mut() {
            Some(el) => {
                el.text.push_str(s);
                Ok(())
            }
            None if s.trim().is_empty() => Ok(()),
            None => Err(XmlError::TextOutsideRoot),
        }
    }

    fn finish(self, at: u64) -> Result<Element, XmlError> {
        if !self.open.is_empty() {
            return Err(XmlError::Malformed {
                at,
                reason: "document ends inside an element",
            });
        }
        self.root.ok_or(XmlError::Empty)
    }
}
