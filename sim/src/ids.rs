//! Random identifiers: activation keys, ARN suffixes, request ids.

/// Uniformly random bytes from the OS.
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // The OS RNG failing is an unusable machine, not a condition a test peer can handle.
    getrandom::getrandom(&mut buf).expect("OS random number generator failed");
    buf
}

/// A random index below `n` (`n` ≤ 256; slight bias is irrelevant for test data).
pub(crate) fn random_index(n: usize) -> usize {
    usize::from(random_bytes::<1>()[0]) % n.max(1)
}

/// `n` random lowercase hex digits.
pub(crate) fn random_hex(n: usize) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    (0..n)
        .map(|_| char::from(HEX[usize::from(random_bytes::<1>()[0] & 15)]))
        .collect()
}

/// A fresh key shaped like a real one: five groups of five `[A-Z0-9]`.
pub(crate) fn random_key() -> String {
    const ALPHABET: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut out = String::with_capacity(29);
    let mut n = 0;
    while n < 25 {
        let b = random_bytes::<1>()[0];
        // Rejection sampling keeps the 36 symbols equally likely.
        if b >= 252 {
            continue;
        }
        if n > 0 && n % 5 == 0 {
            out.push('-');
        }
        out.push(char::from(ALPHABET[usize::from(b % 36)]));
        n += 1;
    }
    out
}
