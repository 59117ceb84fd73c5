//! The `uvc` target's input is a colour stream: payloads, each preceded by its length in one
//! byte (a length past the end takes the rest). Sequences matter to the frame assembler, so a
//! seed is a whole frame's payloads as the emulator sends them.

/// Splits `data` into length-prefixed payloads.
pub fn payloads(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    core::iter::from_fn(move || {
        let (&len, tail) = rest.split_first()?;
        let (payload, next) = tail.split_at(usize::from(len).min(tail.len()));
        rest = next;
        Some(payload)
    })
}

/// The input that [`payloads`] splits back into `payloads`; each must be at most 255 bytes.
pub fn join<'a>(payloads: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for p in payloads {
        out.push(u8::try_from(p.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(&p[..p.len().min(255)]);
    }
    out
}
