#![no_std]
// This file exists so that the crate is a library too: vmscan-user lists it
// as a build-dependency (aya-build rebuilds it when it changes).
