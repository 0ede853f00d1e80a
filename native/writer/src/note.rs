//! C2SP signed notes with Ed25519 (`regogate.recording.format.note`, golang.org/x/mod/sumdb/note).

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use ed25519_dalek::{Signer as _, SigningKey};
use sha2::{Digest, Sha256};

const ALG_ED25519: u8 = 0x01;
// C2SP tlog-cosignature/v1: a timestamped Ed25519 signature (the signing time)
const ALG_COSIGNATURE_V1: u8 = 0x04;

fn key_id(name: &str, alg: u8, public: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([alg]);
    h.update(public);
    let digest = h.finalize();
    u32::from_be_bytes(digest[..4].try_into().expect("4 bytes"))
}

pub struct Signer {
    name: String,
    id: u32,
    timed_id: u32,
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
        let public = key.verifying_key().to_bytes();
        let id = key_id(&name, ALG_ED25519, &public);
        if format!("{id:08x}") != parts[3].to_ascii_lowercase() {
            return Err("signer key: key id does not match the key".into());
        }
        let timed_id = key_id(&name, ALG_COSIGNATURE_V1, &public);
        Ok(Self {
            name,
            id,
            timed_id,
            key,
        })
    }

    /// The complete signed note for ``text`` (ends in a newline, no blank line), with
    /// the timestamped signature (tlog-cosignature/v1) saying it was signed at ``time``:
    /// `Signer.sign(text, time)` in `regogate.recording.format.note`.
    pub fn sign(&self, text: &str, time: u64) -> String {
        let sig = self.key.sign(text.as_bytes());
        let mut blob = Vec::with_capacity(68);
        blob.extend_from_slice(&self.id.to_be_bytes());
        blob.extend_from_slice(&sig.to_bytes());
        let message = format!("cosignature/v1\ntime {time}\n{text}");
        let timed = self.key.sign(message.as_bytes());
        let mut raw = Vec::with_capacity(76);
        raw.extend_from_slice(&self.timed_id.to_be_bytes());
        raw.extend_from_slice(&time.to_be_bytes());
        raw.extend_from_slice(&timed.to_bytes());
        format!(
            "{text}\n\u{2014} {name} {}\n\u{2014} {name} {}\n",
            B64.encode(blob),
            B64.encode(raw),
            name = self.name
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signature, Verifier};

    #[test]
    fn the_signing_time_is_a_cosignature_v1_line() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let public = key.verifying_key().to_bytes();
        let id = key_id("log.example/a", ALG_ED25519, &public);
        let mut seed = vec![ALG_ED25519];
        seed.extend_from_slice(&[7u8; 32]);
        let skey = format!("PRIVATE+KEY+log.example/a+{id:08x}+{}", B64.encode(seed));
        let signer = Signer::parse(&skey).expect("a signer key");
        let text = "log.example/a\n3\nAAAA\n";
        let note = signer.sign(text, 1_700_000_000);
        let lines: Vec<&str> = note.split('\n').collect();
        assert_eq!(lines.len(), 7); // body (3), blank, two signatures, ""
        let raw = B64
            .decode(lines[5].rsplit(' ').next().expect("a blob"))
            .expect("base64");
        assert_eq!(raw.len(), 4 + 8 + 64);
        let timed = key_id("log.example/a", ALG_COSIGNATURE_V1, &public);
        assert_eq!(u32::from_be_bytes(raw[..4].try_into().unwrap()), timed);
        assert_eq!(
            u64::from_be_bytes(raw[4..12].try_into().unwrap()),
            1_700_000_000
        );
        let message = format!("cosignature/v1\ntime 1700000000\n{text}");
        let sig = Signature::from_slice(&raw[12..]).expect("64 bytes");
        assert!(key.verifying_key().verify(message.as_bytes(), &sig).is_ok());
    }
}
