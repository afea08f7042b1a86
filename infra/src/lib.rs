//! Local stand-ins for the outside world: simulators of Northpass and
//! Impartner, the seeded data generator, the local AWS emulator start-up.

pub mod datagen;
pub mod dev;
pub mod emulator;
pub mod sim;
