//! Named parameter tensors and their groups.
//!
//! A model's parameters are an ordered [`ParamSet`] of named [`Tensor`]s,
//! each tagged with a [`Role`] so optimisers know which ones are weights
//! (decayed by L2) and which are biases (never decayed). Gradients use a
//! `ParamSet` of the same layout ([`ParamSet::zeros_like`]).

use crate::error::{EngineError, Result};
use crate::matrix::{Matrix, first_non_finite};

/// What a tensor is, for the optimiser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A weight matrix: L2 weight decay applies.
    Weight,
    /// A bias vector: no weight decay.
    Bias,
    /// Any other trained tensor (e.g. learned variances): no weight decay.
    Other,
}

impl Role {
    /// The role's one-byte code in checkpoints.
    pub fn code(self) -> u8 {
        match self {
            Role::Weight => 0,
            Role::Bias => 1,
            Role::Other => 2,
        }
    }

    /// The role for a checkpoint code.
    pub fn from_code(c: u8) -> Option<Self> {
        match c {
            0 => Some(Role::Weight),
            1 => Some(Role::Bias),
            2 => Some(Role::Other),
            _ => None,
        }
    }
}

/// A named matrix with a role.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// The tensor's name, unique in its set (e.g. `"W"`, `"b"`, `"c"`).
    pub name: String,
    /// Weight, bias or other.
    pub role: Role,
    /// The values.
    pub value: Matrix,
}

/// An ordered set of uniquely named tensors.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParamSet {
    tensors: Vec<Tensor>,
}

impl ParamSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tensor; errors if the name is taken. Returns its index.
    pub fn push(&mut self, name: impl Into<String>, role: Role, value: Matrix) -> Result<usize> {
        let name = name.into();
        if self.index_of(&name).is_some() {
            return Err(EngineError::InvalidArgument {
                what: "ParamSet::push: tensor name",
                value: name,
                expected: "a name not already in the set",
            });
        }
        self.tensors.push(Tensor { name, role, value });
        Ok(self.tensors.len() - 1)
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Total number of scalars.
    pub fn num_elements(&self) -> usize {
        self.tensors.iter().map(|t| t.value.len()).sum()
    }

    /// The tensors, in order.
    pub fn tensors(&self) -> &[Tensor] {
        &self.tensors
    }

    /// The tensors, mutable (names and roles should not be changed).
    pub fn tensors_mut(&mut self) -> &mut [Tensor] {
        &mut self.tensors
    }

    /// The index of the tensor called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.tensors.iter().position(|t| t.name == name)
    }

    /// The values of the tensor called `name`.
    pub fn get(&self, name: &str) -> Option<&Matrix> {
        self.tensors
            .iter()
            .find(|t| t.name == name)
            .map(|t| &t.value)
    }

    /// The values of the tensor called `name`, mutable.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Matrix> {
        self.tensors
            .iter_mut()
            .find(|t| t.name == name)
            .map(|t| &mut t.value)
    }

    /// Tensor `i`'s values (panics if out of range, like indexing).
    pub fn value(&self, i: usize) -> &Matrix {
        &self.tensors[i].value
    }

    /// Tensor `i`'s values, mutable (panics if out of range).
    pub fn value_mut(&mut self, i: usize) -> &mut Matrix {
        &mut self.tensors[i].value
    }

    /// A set with the same names, roles and shapes, all zero.
    pub fn zeros_like(&self) -> Result<Self> {
        let tensors = self
            .tensors
            .iter()
            .map(|t| {
                Ok(Tensor {
                    name: t.name.clone(),
                    role: t.role,
                    value: Matrix::zeros(t.value.rows(), t.value.cols())?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(ParamSet { tensors })
    }

    /// Checks that `other` has the same names, roles and shapes, in order.
    pub fn check_same_layout(&self, other: &ParamSet, what: &str) -> Result<()> {
        let describe = |s: &ParamSet| {
            s.tensors
                .iter()
                .map(|t| {
                    format!(
                        "{}:{:?}:{}x{}",
                        t.name,
                        t.role,
                        t.value.rows(),
                        t.value.cols()
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let same = self.tensors.len() == other.tensors.len()
            && self.tensors.iter().zip(&other.tensors).all(|(a, b)| {
                a.name == b.name && a.role == b.role && a.value.shape() == b.value.shape()
            });
        if same {
            Ok(())
        } else {
            Err(EngineError::Mismatch {
                what: what.to_string(),
                expected: describe(self),
                found: describe(other),
            })
        }
    }

    /// Copies every value from `other` (same layout). Allocates nothing.
    pub fn copy_from(&mut self, other: &ParamSet) -> Result<()> {
        self.check_same_layout(other, "ParamSet::copy_from")?;
        for (a, b) in self.tensors.iter_mut().zip(&other.tensors) {
            a.value.as_mut_slice().copy_from_slice(b.value.as_slice());
        }
        Ok(())
    }

    /// Sets every value to zero.
    pub fn fill_zero(&mut self) {
        for t in &mut self.tensors {
            t.value.as_mut_slice().fill(0.0);
        }
    }

    /// The first non-finite value: `(tensor index, flat index, value)`.
    pub fn first_non_finite(&self) -> Option<(usize, usize, f32)> {
        self.tensors
            .iter()
            .enumerate()
            .find_map(|(t, x)| first_non_finite(x.value.as_slice()).map(|(i, v)| (t, i, v)))
    }
}
