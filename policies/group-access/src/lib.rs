//! group-access policy
