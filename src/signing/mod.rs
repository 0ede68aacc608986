//! Ed25519 signing: the key ring (one active key signs, retired keys still verify), the
//! compact JWS carried in every QR code, and the public JWK Set.

mod jws;
mod keyring;
mod rotation;

pub use jws::{
    Claims, JwsError, ParsedJws, ParsedToken, parse_jws, parse_token, sign_jws, sign_token,
};
pub use keyring::{
    KID_LEN, KeyRecord, KeyRing, KeyStatus, RingKey, first_key, is_example_key, kid_of, record_for,
    thumbprint, write_pem,
};
pub use rotation::KeyRingError;
