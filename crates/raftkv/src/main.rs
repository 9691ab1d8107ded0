//! The `raftkv` command line.

fn main() {
    eprintln!("raftkv: the server and CLI are being built (see issue 4)");
    std::process::exit(2);
}
