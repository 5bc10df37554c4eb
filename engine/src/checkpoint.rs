//! Checkpoints: a versioned, checksummed binary format, written atomically.
//!
//! # Format (version 1)
//!
//! All integers and floats are little-endian.
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 8 | magic `b"LATENTCK"` |
//! | 8 | 4 | format version (`u32`, currently 1) |
//! | 12 | 4 | reserved, 0 |
//! | 16 | 8 | payload length `P` (`u64`) |
//! | 24 | `P` | payload (below) |
//! | 24 + `P` | 8 | FNV-1a 64 checksum of bytes `0 .. 24 + P` |
//!
//! The file is exactly `32 + P` bytes. Within the payload a *string* is a
//! `u32` byte length and UTF-8 bytes; a *tensor* is a string name, a `u8`
//! role (0 weight, 1 bias, 2 other), `u64` rows, `u64` cols and
//! `rows·cols` `f32` values; a *tensor list* is a `u32` count and that many
//! tensors. The payload is, in order:
//!
//! 1. model kind (string) and the model's hyper-parameters (string, free
//!    text), then the trainer's configuration (string, free text) — the
//!    header a person can read with `strings`;
//! 2. epochs completed (`u64`) and optimiser steps taken (`u64`);
//! 3. the parameters (tensor list);
//! 4. the optimiser: kind (string), step count (`u64`), state (tensor list);
//! 5. persistent model state, e.g. PCD chains (tensor list);
//! 6. RNG states: a `u32` count, then per stream a string name and 32
//!    state bytes;
//! 7. training history: a `u32` count, then per epoch `u64` epoch, `f64`
//!    training loss, `u8` has-validation flag and `f64` validation metric,
//!    `u64` samples, `f64` seconds, and a `u32` count of `(string, f64)`
//!    metrics.
//!
//! Loading checks the magic (a foreign file), the version, the length (a
//! truncated or extended file) and the checksum (a corrupted one) before
//! parsing, and every length while parsing.

use std::path::Path;

use crate::error::{EngineError, Result};
use crate::fsutil::write_atomic;
use crate::matrix::Matrix;
use crate::params::{ParamSet, Role, Tensor};

/// The first eight bytes of every checkpoint.
pub const MAGIC: &[u8; 8] = b"LATENTCK";
/// The format version this build writes (and the newest it reads).
pub const VERSION: u32 = 1;
const HEADER: usize = 24;

/// FNV-1a, 64-bit, over `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// One epoch of training history.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochRecord {
    /// 0-based epoch.
    pub epoch: u64,
    /// Mean training loss over the epoch's samples.
    pub train_loss: f64,
    /// The validation metric, when there was validation data.
    pub valid_metric: Option<f64>,
    /// Samples seen in the epoch.
    pub samples: u64,
    /// Wall-clock seconds the epoch took.
    pub seconds: f64,
    /// Epoch means of the model's other metrics.
    pub metrics: Vec<(String, f64)>,
}

/// The optimiser part of a checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct OptimizerState {
    /// `"sgd"` or `"adam"`.
    pub kind: String,
    /// Steps taken.
    pub step: u64,
    /// Its buffers.
    pub tensors: Vec<Tensor>,
}

/// Everything needed to resume training.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// The model's kind, e.g. `"bernoulli-rbm"`.
    pub model_kind: String,
    /// The model's hyper-parameters, as text.
    pub hyperparameters: String,
    /// The trainer's configuration, as text.
    pub trainer: String,
    /// Epochs completed.
    pub epoch: u64,
    /// Optimiser steps taken.
    pub step: u64,
    /// The parameters.
    pub params: ParamSet,
    /// The optimiser state.
    pub optimizer: OptimizerState,
    /// Persistent model state (e.g. PCD chains).
    pub persistent: Vec<Tensor>,
    /// Named RNG states.
    pub rngs: Vec<(String, [u8; 32])>,
    /// Per-epoch history.
    pub history: Vec<EpochRecord>,
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn f64(&mut self, v: f64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.0.extend_from_slice(s.as_bytes());
    }
    fn tensor(&mut self, t: &Tensor) {
        self.str(&t.name);
        self.u8(t.role.code());
        self.u64(t.value.rows() as u64);
        self.u64(t.value.cols() as u64);
        if cfg!(target_endian = "little") {
            self.0
                .extend_from_slice(bytemuck::cast_slice(t.value.as_slice()));
        } else {
            for v in t.value.as_slice() {
                self.0.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    fn tensors<'a>(&mut self, ts: impl ExactSizeIterator<Item = &'a Tensor>) {
        self.u32(ts.len() as u32);
        for t in ts {
            self.tensor(t);
        }
    }
}

struct Reader<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn err(&self, expected: impl Into<String>) -> EngineError {
        EngineError::Truncated {
            path: self.path.to_path_buf(),
            offset: self.pos as u64,
            expected: expected.into(),
        }
    }
    fn take(&mut self, n: usize, what: &str) -> Result<&[u8]> {
        if self.bytes.len() - self.pos < n {
            return Err(self.err(format!("{n} bytes of {what}")));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4, what)?.try_into().unwrap_or_default(),
        ))
    }
    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8, what)?.try_into().unwrap_or_default(),
        ))
    }
    fn f64(&mut self, what: &str) -> Result<f64> {
        Ok(f64::from_bits(self.u64(what)?))
    }
    fn bad(&self, offset: usize, expected: &str, found: String) -> EngineError {
        EngineError::BadHeader {
            path: self.path.to_path_buf(),
            offset: offset as u64,
            expected: expected.into(),
            found,
        }
    }
    fn str(&mut self, what: &str) -> Result<String> {
        let at = self.pos;
        let n = self.u32(what)? as usize;
        let b = self.take(n, what)?;
        String::from_utf8(b.to_vec())
            .map_err(|_| self.bad(at, "UTF-8 text", format!("invalid {what}")))
    }
    fn tensor(&mut self) -> Result<Tensor> {
        let name = self.str("a tensor name")?;
        let at = self.pos;
        let code = self.u8("a tensor role")?;
        let role = Role::from_code(code)
            .ok_or_else(|| self.bad(at, "a tensor role 0, 1 or 2", code.to_string()))?;
        let at = self.pos;
        let rows = self.u64("tensor rows")?;
        let cols = self.u64("tensor columns")?;
        let len = rows
            .checked_mul(cols)
            .and_then(|n| n.checked_mul(4))
            .filter(|&n| n <= (self.bytes.len() - self.pos) as u64)
            .ok_or_else(|| {
                self.err(format!(
                    "{rows}x{cols} f32 values of tensor {name:?} (shape at offset {at})"
                ))
            })? as usize;
        let data = self.take(len, "tensor data")?;
        let mut value = Matrix::zeros(rows as usize, cols as usize)?;
        if cfg!(target_endian = "little") {
            bytemuck::cast_slice_mut::<f32, u8>(value.as_mut_slice()).copy_from_slice(data);
        } else {
            for (v, b) in value.as_mut_slice().iter_mut().zip(data.chunks_exact(4)) {
                *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        Ok(Tensor { name, role, value })
    }
    fn tensors(&mut self) -> Result<Vec<Tensor>> {
        let n = self.u32("a tensor count")?;
        (0..n).map(|_| self.tensor()).collect()
    }
}

impl Checkpoint {
    /// The checkpoint's bytes in the format above.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(
            HEADER + 8 + 4 * self.params.num_elements() * 3 + 4096,
        ));
        w.0.extend_from_slice(MAGIC);
        w.u32(VERSION);
        w.u32(0);
        w.u64(0); // payload length, patched below
        w.str(&self.model_kind);
        w.str(&self.hyperparameters);
        w.str(&self.trainer);
        w.u64(self.epoch);
        w.u64(self.step);
        w.tensors(self.params.tensors().iter());
        w.str(&self.optimizer.kind);
        w.u64(self.optimizer.step);
        w.tensors(self.optimizer.tensors.iter());
        w.tensors(self.persistent.iter());
        w.u32(self.rngs.len() as u32);
        for (name, state) in &self.rngs {
            w.str(name);
            w.0.extend_from_slice(state);
        }
        w.u32(self.history.len() as u32);
        for h in &self.history {
            w.u64(h.epoch);
            w.f64(h.train_loss);
            w.u8(h.valid_metric.is_some() as u8);
            w.f64(h.valid_metric.unwrap_or(0.0));
            w.u64(h.samples);
            w.f64(h.seconds);
            w.u32(h.metrics.len() as u32);
            for (k, v) in &h.metrics {
                w.str(k);
                w.f64(*v);
            }
        }
        let payload = (w.0.len() - HEADER) as u64;
        w.0[16..24].copy_from_slice(&payload.to_le_bytes());
        let sum = fnv1a64(&w.0);
        w.u64(sum);
        w.0
    }

    /// Parses checkpoint bytes; `path` names the source in errors.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self> {
        let p = || path.to_path_buf();
        if bytes.is_empty() {
            return Err(EngineError::Empty {
                path: p(),
                expected: "a latent checkpoint",
            });
        }
        if bytes.len() < 8 || &bytes[..8] != MAGIC {
            let n = bytes.len().min(8);
            return Err(EngineError::BadMagic {
                path: p(),
                expected: "\"LATENTCK\" (a latent checkpoint)".into(),
                found: format!("{:?}", String::from_utf8_lossy(&bytes[..n])),
            });
        }
        if bytes.len() < HEADER {
            return Err(EngineError::Truncated {
                path: p(),
                offset: bytes.len() as u64,
                expected: format!("the {HEADER}-byte checkpoint header"),
            });
        }
        let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        if version == 0 || version > VERSION {
            return Err(EngineError::UnsupportedVersion {
                path: p(),
                found: version,
                supported: VERSION,
            });
        }
        let payload = u64::from_le_bytes(bytes[16..24].try_into().unwrap_or_default());
        let total = payload.checked_add(HEADER as u64 + 8);
        match total {
            Some(t) if t == bytes.len() as u64 => {}
            Some(t) if t > bytes.len() as u64 => {
                return Err(EngineError::Truncated {
                    path: p(),
                    offset: bytes.len() as u64,
                    expected: format!("{t} bytes (a {payload}-byte payload and the checksum)"),
                });
            }
            Some(t) => {
                return Err(EngineError::TrailingData {
                    path: p(),
                    offset: t,
                    extra: bytes.len() as u64 - t,
                });
            }
            None => {
                return Err(EngineError::BadHeader {
                    path: p(),
                    offset: 16,
                    expected: "a payload length that fits the file".into(),
                    found: payload.to_string(),
                });
            }
        }
        let body = bytes.len() - 8;
        let stored = u64::from_le_bytes(bytes[body..].try_into().unwrap_or_default());
        let computed = fnv1a64(&bytes[..body]);
        if stored != computed {
            return Err(EngineError::Checksum {
                path: p(),
                stored,
                computed,
            });
        }
        let mut r = Reader {
            path,
            bytes: &bytes[..body],
            pos: HEADER,
        };
        let model_kind = r.str("the model kind")?;
        let hyperparameters = r.str("the hyper-parameters")?;
        let trainer = r.str("the trainer configuration")?;
        let epoch = r.u64("the epoch count")?;
        let step = r.u64("the step count")?;
        let mut params = ParamSet::new();
        for t in r.tensors()? {
            params.push(t.name, t.role, t.value)?;
        }
        let optimizer = OptimizerState {
            kind: r.str("the optimiser kind")?,
            step: r.u64("the optimiser step")?,
            tensors: r.tensors()?,
        };
        let persistent = r.tensors()?;
        let n = r.u32("the RNG count")?;
        let mut rngs = Vec::new();
        for _ in 0..n {
            let name = r.str("an RNG name")?;
            let state: [u8; 32] = r.take(32, "an RNG state")?.try_into().unwrap_or_default();
            rngs.push((name, state));
        }
        let n = r.u32("the history length")?;
        let mut history = Vec::new();
        for _ in 0..n {
            let epoch = r.u64("a history epoch")?;
            let train_loss = r.f64("a history loss")?;
            let has_valid = r.u8("a history flag")? != 0;
            let valid = r.f64("a history validation metric")?;
            let samples = r.u64("a history sample count")?;
            let seconds = r.f64("a history duration")?;
            let m = r.u32("a metric count")?;
            let mut metrics = Vec::new();
            for _ in 0..m {
                metrics.push((r.str("a metric name")?, r.f64("a metric value")?));
            }
            history.push(EpochRecord {
                epoch,
                train_loss,
                valid_metric: has_valid.then_some(valid),
                samples,
                seconds,
                metrics,
            });
        }
        if r.pos != r.bytes.len() {
            return Err(EngineError::TrailingData {
                path: p(),
                offset: r.pos as u64,
                extra: (r.bytes.len() - r.pos) as u64,
            });
        }
        Ok(Checkpoint {
            model_kind,
            hyperparameters,
            trainer,
            epoch,
            step,
            params,
            optimizer,
            persistent,
            rngs,
            history,
        })
    }

    /// Writes the checkpoint to `path` atomically (temporary file in the same
    /// directory, fsync, rename): a crash mid-write leaves the previous
    /// checkpoint intact.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        write_atomic(path.as_ref(), &self.to_bytes())
    }

    /// Reads and checks a checkpoint.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = crate::fsutil::read_file(path)?;
        Self::from_bytes(path, &bytes)
    }

    /// The RNG state saved under `name`.
    pub fn rng(&self, name: &str) -> Option<[u8; 32]> {
        self.rngs.iter().find(|(n, _)| n == name).map(|(_, s)| *s)
    }
}
