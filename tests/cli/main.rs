//! End-to-end tests of the `latent` binary: the demo and RBMs (`rbm`), the
//! autoencoders' round trips (`ae`), resumption (`ae_resume`) and bad
//! inputs (`ae_errors`), the training data path (`train_data`), the form of
//! every error message over a table of bad invocations (`errors`), predictive
//! sparse decomposition (`psd`), the classifier with predict and eval
//! --labels (`classifier`), semantic hashing (`hashing`: hash, search,
//! --code-noise), what `--distributed` refuses (`distributed`), with the
//! shared helpers in `common`. One test binary.

mod ae;
mod ae_errors;
mod ae_resume;
mod classifier;
mod common;
mod data_rows;
mod dbm;
mod distributed;
mod errors;
mod hashing;
mod limits;
mod lin;
mod messages;
mod outputs;
mod plot;
mod precision;
mod psd;
mod rbm;
mod train_data;
