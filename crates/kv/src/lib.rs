//! The key/value state machine of raftkv, its client sessions and request tracker. No IO.
