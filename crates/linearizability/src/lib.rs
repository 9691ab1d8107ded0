//! A linearizability checker for recorded histories (Wing-Gong / Lowe search).
