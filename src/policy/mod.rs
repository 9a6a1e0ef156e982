//! The rules judged before every call: the Cedar bundle in `policies/` (intellectual property,
//! privacy, liability, access), the facts it is judged on (caller registry, model manifest,
//! declared context, personal data detected in the inputs), and decisions with the ids, reasons
//! and obligations of the rules that decided. Knows nothing of HTTP or storage.
