//! vmalock: placeholder until its issue lands.
