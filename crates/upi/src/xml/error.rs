//! Why a UPI XML message was refused. No variant carries message content: names
//! of fields and elements are the decoder's own, positions are byte offsets.

use thiserror::Error;

/// Why a UPI XML message could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum XmlError {
    /// Bigger than [`super::MAX_MESSAGE_BYTES`].
    #[error("message larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// Elements nested deeper than [`super::MAX_DEPTH`].
    #[error("elements nested deeper than {limit}")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// More than [`super::MAX_ELEMENTS`] elements.
    #[error("more than {limit} elements")]
    TooManyElements {
        /// The limit.
        limit: usize,
    },
    /// More than [`super::MAX_ATTRIBUTES`] attributes on one element.
    #[error("more than {limit} attributes on one element")]
    TooManyAttributes {
        /// The limit.
        limit: usize,
    },
    /// The bytes are not UTF-8.
    #[error("message is not UTF-8")]
    NotUtf8,
    /// A `<!DOCTYPE ...>`: refused, and with it every `<!ENTITY ...>` declaration.
    #[error("document type declarations (DOCTYPE, ENTITY) are refused")]
    DoctypeRefused,
    /// A `<?...?>` other than the XML declaration.
    #[error("processing instructions are refused")]
    ProcessingInstructionRefused,
    /// An XML declaration after the start of the document.
    #[error("XML declaration not at the start of the document")]
    MisplacedDeclaration,
    /// An entity reference other than `&lt; &gt; &amp; &apos; &quot;`.
    #[error("undeclared entity reference (only the five predefined entities are allowed)")]
    UndeclaredEntity,
    /// A character reference to no valid character.
    #[error("bad character reference")]
    BadCharacterReference,
    /// Not well-formed XML.
    #[error("malformed XML at byte {at}: {reason}")]
    Malformed {
        /// Byte offset where reading stopped.
        at: u64,
        /// What was wrong.
        reason: &'static str,
    },
    /// No root element.
    #[error("no root element")]
    Empty,
    /// A second root element.
    #[error("more than one root element")]
    MoreThanOneRoot,
    /// Text outside the root element.
    #[error("text outside the root element")]
    TextOutsideRoot,
    /// The root is not in `http://npci.org/upi/schema/`.
    #[error("root element is not in the namespace http://npci.org/upi/schema/")]
    WrongNamespace,
    /// A child element with a namespace prefix (UPI's children are unqualified).
    #[error("child elements must be unqualified (no namespace prefix)")]
    QualifiedChild,
    /// A root element that is not one of the messages this codec knows.
    #[error("unknown UPI message")]
    UnknownMessage,
    /// A required element is missing.
    #[error("missing element {element}")]
    MissingElement {
        /// The element.
        element: &'static str,
    },
    /// An element that may appear once appears more than once.
    #[error("element {element} appears more than once")]
    Repeated {
        /// The element.
        element: &'static str,
    },
    /// A required attribute is missing.
    #[error("missing {element}@{attr}")]
    MissingAttr {
        /// The element.
        element: &'static str,
        /// The attribute.
        attr: &'static str,
    },
    /// A value that breaks its field's rules.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field (`Element@attr` or a name).
        field: &'static str,
        /// The rule broken.
        reason: &'static str,
    },
}

impl XmlError {
    /// An invalid-field error.
    pub(crate) fn invalid(field: &'static str, reason: &'static str) -> XmlError {
        XmlError::Invalid { field, reason }
    }
}
