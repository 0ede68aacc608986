//! Ed25519 signing: the key ring (one active key signs, retired keys still verify), the
//! compact JWS carried in every QR code, and the public JWK Set.

mod jws;
mod keyring;
mod rotation;
mod seal;
mod thumbprint;

pub use jws::{
    Claims, JwsError, ParsedJws, ParsedToken, parse_jws, parse_token, sign_jws, sign_token,
};
pub use keyring::{
    KID_LEN, KeyRecord, KeyRing, KeyStatus, RingKey, first_key, is_example_key, kid_of, pem_of,
    record_for, write_pem,
};
pub use rotation::KeyRingError;
pub use seal::{Custody, Kek, Keks, SealedKey};
pub use thumbprint::thumbprint;
