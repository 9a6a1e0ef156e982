//! The HTTP service: actix-web routes for the Open Inference Protocol v2 and the regulator API,
//! authentication, the path of one call (facts → policy → inference → ledger → response), metrics.
//! It knows nothing of file formats: it calls `ledger`, `policy` and `inference`.
