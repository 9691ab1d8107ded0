//! The MIT 6.824 Raft test suite (2024 names 3A-3D), ported scenario by scenario, and
//! the registry through which the cargo tests and the `sim` binary run them.

pub mod figure8_targeted;
pub mod part_3a;
pub mod part_3b;
pub mod part_3c;
pub mod part_3d;
pub mod runner;

use crate::tester::Tester;

/// The reference solution's published "Passed" figures (catalogue §7).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reference {
    /// Seconds.
    pub seconds: f64,
    /// RPCs sent.
    pub rpcs: u64,
    /// Bytes sent.
    pub bytes: u64,
    /// Agreements.
    pub commits: u64,
}

/// What a test's commits column must be, where the scenario fixes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Commits {
    /// Not fixed (depends on timing).
    Any,
    /// Exactly this many.
    Exactly(u64),
    /// One of these.
    OneOf(&'static [u64]),
    /// At least this many (retries may add more).
    AtLeast(u64),
}

impl Commits {
    /// True if `commits` satisfies the expectation.
    pub fn accepts(self, commits: u64) -> bool {
        match self {
            Commits::Any => true,
            Commits::Exactly(n) => commits == n,
            Commits::OneOf(set) => set.contains(&commits),
            Commits::AtLeast(n) => commits >= n,
        }
    }
}

/// One ported lab test.
#[derive(Debug)]
pub struct LabTest {
    /// Name of the cargo test function (e.g. `figure8_3c`).
    pub name: &'static str,
    /// Integration test file holding it (e.g. `lab_3c`).
    pub file: &'static str,
    /// The lab's printed title.
    pub title: &'static str,
    /// Number of Raft peers.
    pub servers: usize,
    /// The network starts unreliable.
    pub unreliable: bool,
    /// The servers run `applierSnap`.
    pub snapshot: bool,
    /// The scenario.
    pub run: fn(&mut Tester),
    /// The commits column the scenario fixes.
    pub commits: Commits,
    /// Published reference figures, if any.
    pub reference: Option<Reference>,
}

const fn r(seconds: f64, rpcs: u64, bytes: u64, commits: u64) -> Option<Reference> {
    Some(Reference {
        seconds,
        rpcs,
        bytes,
        commits,
    })
}

macro_rules! lab {
    ($name:literal, $file:literal, $title:literal, $n:expr, $unrel:expr, $snap:expr, $run:path, $commits:expr, $reference:expr) => {
        LabTest {
            name: $name,
            file: $file,
            title: $title,
            servers: $n,
            unreliable: $unrel,
            snapshot: $snap,
            run: $run,
            commits: $commits,
            reference: $reference,
        }
    };
}

use Commits::{Any, AtLeast, Exactly, OneOf};

/// All 28 tests, in the lab's order.
pub const TESTS: &[LabTest] = &[
    lab!(
        "initial_election_3a",
        "lab_3a",
        "initial election",
        3,
        false,
        false,
        part_3a::initial_election,
        Exactly(0),
        r(3.5, 58, 16840, 0)
    ),
    lab!(
        "re_election_3a",
        "lab_3a",
        "election after network failure",
        3,
        false,
        false,
        part_3a::re_election,
        Exactly(0),
        r(5.4, 118, 25269, 0)
    ),
    lab!(
        "many_elections_3a",
        "lab_3a",
        "multiple elections",
        7,
        false,
        false,
        part_3a::many_elections,
        Exactly(0),
        r(7.3, 624, 138014, 0)
    ),
    lab!(
        "basic_agree_3b",
        "lab_3b",
        "basic agreement",
        3,
        false,
        false,
        part_3b::basic_agree,
        Exactly(3),
        r(0.9, 16, 4572, 3)
    ),
    lab!(
        "rpc_bytes_3b",
        "lab_3b",
        "RPC byte count",
        3,
        false,
        false,
        part_3b::rpc_bytes,
        Exactly(11),
        r(1.7, 48, 114536, 11)
    ),
    lab!(
        "follower_failure_3b",
        "lab_3b",
        "test progressive failure of followers",
        3,
        false,
        false,
        part_3b::follower_failure,
        Exactly(3),
        None
    ),
    lab!(
        "leader_failure_3b",
        "lab_3b",
        "test failure of leaders",
        3,
        false,
        false,
        part_3b::leader_failure,
        Exactly(3),
        None
    ),
    lab!(
        "fail_agree_3b",
        "lab_3b",
        "agreement after follower reconnects",
        3,
        false,
        false,
        part_3b::fail_agree,
        Exactly(7),
        r(3.6, 78, 22131, 7)
    ),
    lab!(
        "fail_no_agree_3b",
        "lab_3b",
        "no agreement if too many followers disconnect",
        5,
        false,
        false,
        part_3b::fail_no_agree,
        OneOf(&[3, 4]),
        r(3.8, 172, 40935, 3)
    ),
    lab!(
        "concurrent_starts_3b",
        "lab_3b",
        "concurrent Start()s",
        3,
        false,
        false,
        part_3b::concurrent_starts,
        AtLeast(6),
        r(1.1, 24, 7379, 6)
    ),
    lab!(
        "rejoin_3b",
        "lab_3b",
        "rejoin of partitioned leader",
        3,
        false,
        false,
        part_3b::rejoin,
        Exactly(4),
        r(5.1, 152, 37021, 4)
    ),
    lab!(
        "backup_3b",
        "lab_3b",
        "leader backs up quickly over incorrect follower logs",
        5,
        false,
        false,
        part_3b::backup,
        Exactly(102),
        r(17.2, 2080, 1587388, 102)
    ),
    lab!(
        "count_3b",
        "lab_3b",
        "RPC counts aren't too high",
        3,
        false,
        false,
        part_3b::count,
        AtLeast(12),
        r(2.2, 60, 20119, 12)
    ),
    lab!(
        "persist1_3c",
        "lab_3c",
        "basic persistence",
        3,
        false,
        false,
        part_3c::persist1,
        Exactly(6),
        r(5.0, 86, 22849, 6)
    ),
    lab!(
        "persist2_3c",
        "lab_3c",
        "more persistence",
        5,
        false,
        false,
        part_3c::persist2,
        Exactly(16),
        r(17.6, 952, 218854, 16)
    ),
    lab!(
        "persist3_3c",
        "lab_3c",
        "partitioned leader and one follower crash, leader restarts",
        3,
        false,
        false,
        part_3c::persist3,
        Exactly(4),
        r(2.0, 34, 8937, 4)
    ),
    lab!(
        "figure8_3c",
        "lab_3c",
        "Figure 8",
        5,
        false,
        false,
        part_3c::figure8,
        Any,
        r(31.2, 580, 130675, 32)
    ),
    lab!(
        "unreliable_agree_3c",
        "lab_3c",
        "unreliable agreement",
        5,
        true,
        false,
        part_3c::unreliable_agree,
        AtLeast(246),
        r(1.7, 1044, 366392, 246)
    ),
    lab!(
        "figure8_unreliable_3c",
        "lab_3c",
        "Figure 8 (unreliable)",
        5,
        true,
        false,
        part_3c::figure8_unreliable,
        Any,
        r(33.6, 10700, 33695245, 308)
    ),
    lab!(
        "reliable_churn_3c",
        "lab_3c",
        "churn",
        5,
        false,
        false,
        part_3c::reliable_churn,
        Any,
        r(16.1, 8864, 44771259, 1544)
    ),
    lab!(
        "unreliable_churn_3c",
        "lab_3c",
        "unreliable churn",
        5,
        true,
        false,
        part_3c::unreliable_churn,
        Any,
        r(16.5, 4220, 6414632, 906)
    ),
    lab!(
        "snapshot_basic_3d",
        "lab_3d",
        "snapshots basic",
        3,
        false,
        true,
        part_3d::snapshot_basic,
        Any,
        r(11.6, 176, 61716, 192)
    ),
    lab!(
        "snapshot_install_3d",
        "lab_3d",
        "install snapshots (disconnect)",
        3,
        false,
        true,
        part_3d::snapshot_install,
        Any,
        r(64.2, 878, 320610, 336)
    ),
    lab!(
        "snapshot_install_unreliable_3d",
        "lab_3d",
        "install snapshots (disconnect+unreliable)",
        3,
        true,
        true,
        part_3d::snapshot_install_unreliable,
        Any,
        r(81.1, 1059, 375850, 341)
    ),
    lab!(
        "snapshot_install_crash_3d",
        "lab_3d",
        "install snapshots (crash)",
        3,
        false,
        true,
        part_3d::snapshot_install_crash,
        Any,
        r(53.5, 601, 256638, 339)
    ),
    lab!(
        "snapshot_install_un_crash_3d",
        "lab_3d",
        "install snapshots (unreliable+crash)",
        3,
        true,
        true,
        part_3d::snapshot_install_un_crash,
        Any,
        r(63.5, 687, 288294, 336)
    ),
    lab!(
        "snapshot_all_crash_3d",
        "lab_3d",
        "crash and restart all servers",
        3,
        false,
        true,
        part_3d::snapshot_all_crash,
        Any,
        r(19.5, 268, 81352, 58)
    ),
    lab!(
        "snapshot_init_3d",
        "lab_3d",
        "snapshot initialization after crash",
        3,
        false,
        true,
        part_3d::snapshot_init,
        Exactly(14),
        None
    ),
];

/// Scenarios beyond the lab's 28, runnable by name (`sim replay`, `sim sweep --test`).
pub const EXTRAS: &[LabTest] = &[lab!(
    "figure8_targeted",
    "canary",
    "figure 8, targeted schedule",
    5,
    false,
    false,
    figure8_targeted::figure8_targeted,
    Exactly(3),
    None
)];

/// The test named `name` (a lab test or an extra).
pub fn find(name: &str) -> Option<&'static LabTest> {
    TESTS.iter().chain(EXTRAS).find(|test| test.name == name)
}
