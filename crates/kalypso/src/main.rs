fn main() {
    std::process::exit(kalypso::cli::main());
}
