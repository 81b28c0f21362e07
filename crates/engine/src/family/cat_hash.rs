//! CatBoost's hash of a categorical value: `CalcCatFeatureHash`, the low 32 bits of
//! CityHash64 (version 1.0, as CatBoost's `util/digest/city` computes it) of the value's text.
//! A one-hot split of an OBLIVIOUS stage compares a feature with such a hash; a front end
//! that receives a category as text hashes it with [`cat_feature_hash`] (CatBoost turns an
//! integer category into its decimal text first: hash `"42"` for 42).
//!
//! Checked against the hashes CatBoost itself exports (`fixtures/catboost/hashes.json`,
//! strings of 0 to 1000 bytes, UTF-8 included) by
//! `fidelity_catboost::category_hashes_are_catboosts` in the converter's tests.

/// The bits of a row value that carries a category given as text (front ends that read
/// text, such as `icebreak predict`, write one with [`category_value`]): a quiet NaN whose
/// payload's bit 50 is set and whose low 32 bits are the category's hash. A plain NaN (a
/// missing value) has none of these payload bits, so the two never meet.
pub const CATEGORY_TAG: u64 = 0x7FFC_0000_0000_0000;

/// The row value for a category given as text: [`CATEGORY_TAG`] with its hash.
pub fn category_value(text: &[u8]) -> f64 {
    f64::from_bits(CATEGORY_TAG | u64::from(cat_feature_hash(text)))
}

/// The hash of the category a row value holds at a categorical feature: the tagged hash of
/// a category given as text ([`category_value`]), or, for an integer (a number with no
/// fraction, below 2^63 in magnitude), the hash of its decimal text, as CatBoost hashes an
/// integer category. `None` for anything else: a missing value, a fraction, an infinity.
pub fn category_hash(v: f64) -> Option<u32> {
    let bits = v.to_bits();
    if bits & 0xFFFF_FFFF_0000_0000 == CATEGORY_TAG {
        return Some(bits as u32);
    }
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 9_223_372_036_854_775_808.0 {
        // An i64 has at most 20 characters.
        let mut buf = [0u8; 24];
        let text = format_i64(v as i64, &mut buf);
        return Some(cat_feature_hash(text));
    }
    None
}

/// `n` in decimal, into the end of `buf`.
fn format_i64(n: i64, buf: &mut [u8; 24]) -> &[u8] {
    let mut at = buf.len();
    let mut m = n.unsigned_abs();
    loop {
        at -= 1;
        buf[at] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    if n < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    &buf[at..]
}

const K0: u64 = 0xc3a5_c85c_97cb_3127;
const K1: u64 = 0xb492_b66f_be98_f273;
const K2: u64 = 0x9ae1_6a3b_2f90_404f;
const K3: u64 = 0xc949_d7c7_509e_6557;

/// CatBoost's hash of a category given as text.
pub fn cat_feature_hash(text: &[u8]) -> u32 {
    city_hash64(text) as u32
}

fn u64_at(s: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&s[at..at + 8]);
    u64::from_le_bytes(b)
}

fn u32_at(s: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&s[at..at + 4]);
    u64::from(u32::from_le_bytes(b))
}

fn rotate(v: u64, shift: u32) -> u64 {
    v.rotate_right(shift)
}

fn shift_mix(v: u64) -> u64 {
    v ^ (v >> 47)
}

fn hash_len16(u: u64, v: u64) -> u64 {
    const MUL: u64 = 0x9ddf_ea08_eb38_2d69;
    let mut a = (u ^ v).wrapping_mul(MUL);
    a ^= a >> 47;
    let mut b = (v ^ a).wrapping_mul(MUL);
    b ^= b >> 47;
    b.wrapping_mul(MUL)
}

fn hash_len0to16(s: &[u8]) -> u64 {
    let len = s.len();
    if len > 8 {
        let a = u64_at(s, 0);
        let b = u64_at(s, len - 8);
        // `len` is at most 16 here: the rotation is by 9 to 16 bits.
        return hash_len16(a, rotate(b.wrapping_add(len as u64), len as u32)) ^ b;
    }
    if len >= 4 {
        let a = u32_at(s, 0);
        return hash_len16((len as u64).wrapping_add(a << 3), u32_at(s, len - 4));
    }
    if len > 0 {
        let (a, b, c) = (s[0], s[len >> 1], s[len - 1]);
        let y = u32::from(a).wrapping_add(u32::from(b) << 8);
        let z = (len as u32).wrapping_add(u32::from(c) << 2);
        return shift_mix(u64::from(y).wrapping_mul(K2) ^ u64::from(z).wrapping_mul(K3))
            .wrapping_mul(K2);
    }
    K2
}

fn hash_len17to32(s: &[u8]) -> u64 {
    let len = s.len();
    let a = u64_at(s, 0).wrapping_mul(K1);
    let b = u64_at(s, 8);
    let c = u64_at(s, len - 8).wrapping_mul(K2);
    let d = u64_at(s, len - 16).wrapping_mul(K0);
    hash_len16(
        rotate(a.wrapping_sub(b), 43)
            .wrapping_add(rotate(c, 30))
            .wrapping_add(d),
        a.wrapping_add(rotate(b ^ K3, 20))
            .wrapping_sub(c)
            .wrapping_add(len as u64),
    )
}

fn weak(w: u64, x: u64, y: u64, z: u64, mut a: u64, mut b: u64) -> (u64, u64) {
    a = a.wrapping_add(w);
    b = rotate(b.wrapping_add(a).wrapping_add(z), 21);
    let c = a;
    a = a.wrapping_add(x).wrapping_add(y);
    b = b.wrapping_add(rotate(a, 44));
    (a.wrapping_add(z), b.wrapping_add(c))
}

fn weak_at(s: &[u8], at: usize, a: u64, b: u64) -> (u64, u64) {
    weak(
        u64_at(s, at),
        u64_at(s, at + 8),
        u64_at(s, at + 16),
        u64_at(s, at + 24),
        a,
        b,
    )
}

fn hash_len33to64(s: &[u8]) -> u64 {
    let len = s.len();
    let mut z = u64_at(s, 24);
    let mut a = u64_at(s, 0).wrapping_add(
        (len as u64)
            .wrapping_add(u64_at(s, len - 16))
            .wrapping_mul(K0),
    );
    let mut b = rotate(a.wrapping_add(z), 52);
    let mut c = rotate(a, 37);
    a = a.wrapping_add(u64_at(s, 8));
    c = c.wrapping_add(rotate(a, 7));
    a = a.wrapping_add(u64_at(s, 16));
    let vf = a.wrapping_add(z);
    let vs = b.wrapping_add(rotate(a, 31)).wrapping_add(c);
    a = u64_at(s, 16).wrapping_add(u64_at(s, len - 32));
    z = u64_at(s, len - 8);
    b = rotate(a.wrapping_add(z), 52);
    c = rotate(a, 37);
    a = a.wrapping_add(u64_at(s, len - 24));
    c = c.wrapping_add(rotate(a, 7));
    a = a.wrapping_add(u64_at(s, len - 16));
    let wf = a.wrapping_add(z);
    let ws = b.wrapping_add(rotate(a, 31)).wrapping_add(c);
    let r = shift_mix(
        vf.wrapping_add(ws)
            .wrapping_mul(K2)
            .wrapping_add(wf.wrapping_add(vs).wrapping_mul(K0)),
    );
    shift_mix(r.wrapping_mul(K0).wrapping_add(vs)).wrapping_mul(K2)
}

/// CityHash64, version 1.0.
fn city_hash64(s: &[u8]) -> u64 {
    let len = s.len();
    if len <= 16 {
        return hash_len0to16(s);
    }
    if len <= 32 {
        return hash_len17to32(s);
    }
    if len <= 64 {
        return hash_len33to64(s);
    }
    let mut x = u64_at(s, 0);
    let mut y = u64_at(s, len - 16) ^ K1;
    let mut z = u64_at(s, len - 56) ^ K0;
    let mut v = weak_at(s, len - 64, len as u64, y);
    let mut w = weak_at(s, len - 32, (len as u64).wrapping_mul(K1), K0);
    z = z.wrapping_add(shift_mix(v.1).wrapping_mul(K1));
    x = rotate(z.wrapping_add(x), 39).wrapping_mul(K1);
    y = rotate(y, 33).wrapping_mul(K1);
    // Whole 64-byte blocks from the start, the last one ending before or at `len - 1`.
    let blocks = (len - 1) / 64;
    for i in 0..blocks {
        let at = i * 64;
        x = rotate(
            x.wrapping_add(y)
                .wrapping_add(v.0)
                .wrapping_add(u64_at(s, at + 16)),
            37,
        )
        .wrapping_mul(K1);
        y = rotate(y.wrapping_add(v.1).wrapping_add(u64_at(s, at + 48)), 42).wrapping_mul(K1);
        x ^= w.1;
        y ^= v.0;
        z = rotate(z ^ w.0, 33);
        v = weak_at(s, at, v.1.wrapping_mul(K1), x.wrapping_add(w.0));
        w = weak_at(s, at + 32, z.wrapping_add(w.1), y);
        std::mem::swap(&mut z, &mut x);
    }
    hash_len16(
        hash_len16(v.0, w.0)
            .wrapping_add(shift_mix(y).wrapping_mul(K1))
            .wrapping_add(z),
        hash_len16(v.1, w.1).wrapping_add(x),
    )
}
