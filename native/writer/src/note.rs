//! C2SP signed notes with Ed25519 (`regogate.recording.note`, golang.org/x/mod/sumdb/note).

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use ed25519_dalek::{Signer as _, SigningKey};
use sha2::{Digest, Sha256};

const ALG_ED25519: u8 = 0x01;

pub struct Signer {
    name: String,
    id: u32,
    key: SigningKey,
}

impl Signer {
    /// ``PRIVATE+KEY+name+keyid+base64(0x01 || seed)``; the key id must match the key.
    /// Errors never repeat the key.
    pub fn parse(skey: &str) -> Result<Self, String> {
        let parts: Vec<&str> = skey.trim().splitn(5, '+').collect();
        if parts.len() != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
            return Err("malformed signer key (want PRIVATE+KEY+name+keyid+base64)".into());
        }
        let raw = B64
            .decode(parts[4])
            .map_err(|_| "malformed signer key: bad base64".to_string())?;
        if raw.len() != 33 || raw[0] != ALG_ED25519 {
            return Err("signer key is not an Ed25519 key".into());
        }
        let seed: [u8; 32] = raw[1..].try_into().expect("33 bytes");
        let key = SigningKey::from_bytes(&seed);
        let name = parts[2].to_string();
        let mut h = Sha256::new();
        h.update(name.as_bytes());
        h.update(b"\n");
        h.update([ALG_ED25519]);
        h.update(key.verifying_key().as_bytes());
        let digest = h.finalize();
        let id = u32::from_be_bytes(digest[..4].try_into().expect("4 bytes"));
        if format!("{id:08x}") != parts[3].to_ascii_lowercase() {
            return Err("signer key: key id does not match the key".into());
        }
        Ok(Self { name, id, key })
    }

    /// The complete signed note for ``text`` (ends in a newline, no blank line).
    pub fn sign(&self, text: &str) -> String {
        let sig = self.key.sign(text.as_bytes());
        let mut blob = Vec::with_capacity(68);
        blob.extend_from_slice(&self.id.to_be_bytes());
        blob.extend_from_slice(&sig.to_bytes());
        format!("{text}\n\u{2014} {} {}\n", self.name, B64.encode(blob))
    }
}
